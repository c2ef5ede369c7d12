package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

func newHS256Verifier(t *testing.T, cfg auth.Config) *auth.Verifier {
	t.Helper()

	cfg.HS256Secret = testSecret
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return baseTime }
	}
	verifier, err := auth.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New with HS256 secret: %v", err)
	}

	return verifier
}

func TestVerifyHS256(t *testing.T) {
	t.Parallel()

	verifier := newHS256Verifier(t, auth.Config{})
	now := baseTime
	rsaKey := testKeys(t)["rsa-1"]
	hs256 := func(t *testing.T, edits map[string]any) string {
		return signToken(t, jwa.HS256, testSecret, validClaims(now, edits), nil)
	}

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		want   auth.Claims
		reason string // non-empty: the token is rejected with this reason
	}{
		{
			name:  "valid token returns claims",
			token: func(t *testing.T) string { return hs256(t, nil) },
			want: auth.Claims{
				OrgID: "org_abc123", Subject: "user-1", Issuer: "https://issuer.test",
				ExpiresAt: now.Add(5 * time.Minute),
			},
		},
		{
			name:  "expired within skew is accepted",
			token: func(t *testing.T) string { return hs256(t, map[string]any{"exp": now.Add(-29 * time.Second).Unix()}) },
			want: auth.Claims{
				OrgID: "org_abc123", Subject: "user-1", Issuer: "https://issuer.test",
				ExpiresAt: now.Add(-29 * time.Second),
			},
		},
		{
			name: "nbf and iat within skew are accepted",
			token: func(t *testing.T) string {
				return hs256(t, map[string]any{"nbf": now.Add(29 * time.Second).Unix(), "iat": now.Add(29 * time.Second).Unix()})
			},
			want: auth.Claims{
				OrgID: "org_abc123", Subject: "user-1", Issuer: "https://issuer.test",
				ExpiresAt: now.Add(5 * time.Minute),
			},
		},
		{
			name:  "missing org-id gives empty OrgID",
			token: func(t *testing.T) string { return hs256(t, map[string]any{"org-id": nil}) },
			want:  auth.Claims{Subject: "user-1", Issuer: "https://issuer.test", ExpiresAt: now.Add(5 * time.Minute)},
		},
		{
			name:  "numeric org-id gives empty OrgID",
			token: func(t *testing.T) string { return hs256(t, map[string]any{"org-id": 12345}) },
			want:  auth.Claims{Subject: "user-1", Issuer: "https://issuer.test", ExpiresAt: now.Add(5 * time.Minute)},
		},
		{
			name:  "list org-id gives empty OrgID",
			token: func(t *testing.T) string { return hs256(t, map[string]any{"org-id": []string{"org_abc123"}}) },
			want:  auth.Claims{Subject: "user-1", Issuer: "https://issuer.test", ExpiresAt: now.Add(5 * time.Minute)},
		},
		{
			name:  "empty org-id gives empty OrgID",
			token: func(t *testing.T) string { return hs256(t, map[string]any{"org-id": ""}) },
			want:  auth.Claims{Subject: "user-1", Issuer: "https://issuer.test", ExpiresAt: now.Add(5 * time.Minute)},
		},
		{
			name:   "missing exp is rejected",
			token:  func(t *testing.T) string { return hs256(t, map[string]any{"exp": nil}) },
			reason: "claim exp is missing",
		},
		{
			name:   "exp of zero is rejected",
			token:  func(t *testing.T) string { return hs256(t, map[string]any{"exp": 0}) },
			reason: "claim exp is 0",
		},
		{
			name:   "exp that is not a number is rejected",
			token:  func(t *testing.T) string { return hs256(t, map[string]any{"exp": "tomorrow"}) },
			reason: "claims are not a valid JSON object",
		},
		{
			name:   "expired beyond skew is rejected",
			token:  func(t *testing.T) string { return hs256(t, map[string]any{"exp": now.Add(-31 * time.Second).Unix()}) },
			reason: "token has expired",
		},
		{
			name:   "nbf in the future is rejected",
			token:  func(t *testing.T) string { return hs256(t, map[string]any{"nbf": now.Add(time.Minute).Unix()}) },
			reason: "token is not valid yet",
		},
		{
			name:   "iat far in the future is rejected",
			token:  func(t *testing.T) string { return hs256(t, map[string]any{"iat": now.Add(time.Hour).Unix()}) },
			reason: "token is issued in the future",
		},
		{
			name: "alg none is rejected",
			token: func(t *testing.T) string {
				return encodeSegment(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." +
					encodeSegment(t, validClaims(now, nil)) + "."
			},
			reason: `algorithm "none" is not accepted`,
		},
		{
			name: "alg none with a signature is rejected",
			token: func(t *testing.T) string {
				return encodeSegment(t, map[string]any{"alg": "none"}) + "." +
					encodeSegment(t, validClaims(now, nil)) + "." + encodeSegment(t, []byte("signature"))
			},
			reason: `algorithm "none" is not accepted`,
		},
		{
			name: "HS256 header with empty signature is rejected",
			token: func(t *testing.T) string {
				token := hs256(t, nil)
				return token[:strings.LastIndex(token, ".")+1]
			},
			reason: "signature is missing",
		},
		{
			name: "other secret is rejected",
			token: func(t *testing.T) string {
				return signToken(t, jwa.HS256, []byte("another-secret-of-at-least-32-bytes!!"), validClaims(now, nil), nil)
			},
			reason: "signature verification failed",
		},
		{
			name: "tampered payload is rejected",
			token: func(t *testing.T) string {
				parts := strings.Split(hs256(t, nil), ".")
				parts[1] = encodeSegment(t, validClaims(now, map[string]any{"org-id": "org_other"}))
				return strings.Join(parts, ".")
			},
			reason: "signature verification failed",
		},
		{
			name:   "HS384 is rejected in HS256 mode",
			token:  func(t *testing.T) string { return signToken(t, jwa.HS384, testSecret, validClaims(now, nil), nil) },
			reason: `algorithm "HS384" is not accepted`,
		},
		{
			name:   "RS256 is rejected in HS256 mode",
			token:  func(t *testing.T) string { return signToken(t, jwa.RS256, rsaKey, validClaims(now, nil), nil) },
			reason: `algorithm "RS256" is not accepted`,
		},
		{
			name:   "empty token is rejected",
			token:  func(*testing.T) string { return "" },
			reason: "token is empty",
		},
		{
			name:   "two parts are rejected",
			token:  func(t *testing.T) string { return strings.Join(strings.Split(hs256(t, nil), ".")[:2], ".") },
			reason: "2 dot-separated parts, expected 3",
		},
		{
			name:   "four parts are rejected",
			token:  func(t *testing.T) string { return hs256(t, nil) + ".extra" },
			reason: "4 dot-separated parts, expected 3",
		},
		{
			name: "header that is not base64url is rejected",
			token: func(t *testing.T) string {
				parts := strings.Split(hs256(t, nil), ".")
				return "eyJ*bad*" + "." + parts[1] + "." + parts[2]
			},
			reason: "header is not valid base64url",
		},
		{
			name: "padded payload is rejected",
			token: func(t *testing.T) string {
				parts := strings.Split(hs256(t, nil), ".")
				return parts[0] + "." + parts[1] + "==." + parts[2]
			},
			reason: "payload is not valid base64url",
		},
		{
			name: "header that is not JSON is rejected",
			token: func(t *testing.T) string {
				parts := strings.Split(hs256(t, nil), ".")
				return encodeSegment(t, []byte(`{"alg":"HS256"`)) + "." + parts[1] + "." + parts[2]
			},
			reason: "header is not a valid JSON object",
		},
		{
			name: "signed payload that is not JSON is rejected",
			token: func(t *testing.T) string {
				return signPayload(t, jwa.HS256, testSecret, []byte("not json at all"), nil)
			},
			reason: "claims are not a valid JSON object",
		},
		{
			name: "critical header extension is rejected",
			token: func(t *testing.T) string {
				return signToken(t, jwa.HS256, testSecret, validClaims(now, nil), map[string]any{"crit": []string{"exp"}})
			},
			reason: "critical header extensions are not supported",
		},
		{
			name:   "token over 8 KiB is rejected",
			token:  func(t *testing.T) string { return hs256(t, map[string]any{"padding": strings.Repeat("x", 9000)}) },
			reason: "the maximum is 8192",
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			token := tt.token(t)
			claims, err := verifier.Verify(t.Context(), token)

			if tt.reason != "" {
				checkRejected(t, err, tt.reason, token)
				if claims != (auth.Claims{}) {
					t.Errorf("claims = %+v, want zero Claims on error", claims)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			checkClaims(t, claims, tt.want)
		})
	}
}

func checkClaims(t *testing.T, got, want auth.Claims) {
	t.Helper()

	if got.OrgID != want.OrgID {
		t.Errorf("OrgID = %q, want %q", got.OrgID, want.OrgID)
	}
	if got.Subject != want.Subject {
		t.Errorf("Subject = %q, want %q", got.Subject, want.Subject)
	}
	if got.Issuer != want.Issuer {
		t.Errorf("Issuer = %q, want %q", got.Issuer, want.Issuer)
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("ExpiresAt = %s, want %s", got.ExpiresAt, want.ExpiresAt)
	}
}

func TestVerifyIssuerAudienceSkew(t *testing.T) {
	t.Parallel()

	verifier := newHS256Verifier(t, auth.Config{
		Issuer:   "https://issuer.test",
		Audience: "onboarding-api",
		Skew:     5 * time.Second,
	})
	now := baseTime

	tests := []struct {
		name   string
		edits  map[string]any
		reason string
	}{
		{name: "matching issuer and audience are accepted"},
		{name: "audience as a string is accepted", edits: map[string]any{"aud": "onboarding-api"}},
		{name: "audience among several is accepted", edits: map[string]any{"aud": []string{"other", "onboarding-api"}}},
		{name: "other issuer is rejected", edits: map[string]any{"iss": "https://evil.test"}, reason: "issuer does not match"},
		{name: "missing issuer is rejected", edits: map[string]any{"iss": nil}, reason: "issuer does not match"},
		{name: "other audience is rejected", edits: map[string]any{"aud": []string{"other"}}, reason: "audience does not match"},
		{name: "missing audience is rejected", edits: map[string]any{"aud": nil}, reason: "audience does not match"},
		{
			name:   "expiry beyond configured skew is rejected",
			edits:  map[string]any{"exp": now.Add(-6 * time.Second).Unix()},
			reason: "token has expired",
		},
		{name: "expiry within configured skew is accepted", edits: map[string]any{"exp": now.Add(-4 * time.Second).Unix()}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			token := signToken(t, jwa.HS256, testSecret, validClaims(now, tt.edits), nil)
			claims, err := verifier.Verify(t.Context(), token)

			if tt.reason != "" {
				checkRejected(t, err, tt.reason, token)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if claims.OrgID != "org_abc123" {
				t.Errorf("OrgID = %q, want %q", claims.OrgID, "org_abc123")
			}
		})
	}
}
