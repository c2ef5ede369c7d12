package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

func TestMintRoundTrip(t *testing.T) {
	t.Parallel()

	issuedAt := baseTime.Add(-time.Minute)
	token, err := auth.Mint(testSecret, "org_abc123", time.Hour, issuedAt)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}

	verifier := newHS256Verifier(t, auth.Config{})
	claims, err := verifier.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("Verify of minted token: %v", err)
	}
	checkClaims(t, claims, auth.Claims{OrgID: "org_abc123", Subject: auth.CLISubject, ExpiresAt: issuedAt.Add(time.Hour)})

	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	header := decodeJSONSegment(t, parts[0])
	if header["alg"] != "HS256" {
		t.Errorf("header alg = %v, want HS256", header["alg"])
	}
	payload := decodeJSONSegment(t, parts[1])
	wantPayload := map[string]any{
		"org-id": "org_abc123",
		"sub":    "onboarding-service-cli",
		"iat":    float64(issuedAt.Unix()),
		"nbf":    float64(issuedAt.Unix()),
		"exp":    float64(issuedAt.Add(time.Hour).Unix()),
	}
	if len(payload) != len(wantPayload) {
		t.Errorf("payload has claims %v, want exactly %v", payload, wantPayload)
	}
	for name, want := range wantPayload {
		if payload[name] != want {
			t.Errorf("claim %s = %v, want %v", name, payload[name], want)
		}
	}
}

func TestMintExpiredTokenIsRejected(t *testing.T) {
	t.Parallel()

	token, err := auth.Mint(testSecret, "org_abc123", time.Minute, baseTime.Add(-2*time.Minute))
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}

	_, err = newHS256Verifier(t, auth.Config{}).Verify(t.Context(), token)
	checkRejected(t, err, "token has expired", token)
}

func TestMintErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		secret  []byte
		orgID   string
		ttl     time.Duration
		message string
	}{
		{name: "zero ttl is rejected", secret: testSecret, orgID: "org_abc123", ttl: 0, message: "ttl 0s is not positive"},
		{name: "negative ttl is rejected", secret: testSecret, orgID: "org_abc123", ttl: -time.Minute, message: "ttl -1m0s is not positive"},
		{name: "short secret is rejected", secret: []byte("short"), orgID: "org_abc123", ttl: time.Minute, message: "secret is 5 bytes, the minimum is 32 bytes"},
		{name: "empty organisation is rejected", secret: testSecret, orgID: "", ttl: time.Minute, message: "organisation id is empty"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			token, err := auth.Mint(tt.secret, tt.orgID, tt.ttl, baseTime)
			if err == nil {
				t.Fatalf("Mint returned token %q, want an error containing %q", token, tt.message)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error = %q, want it to contain %q", err, tt.message)
			}
		})
	}
}

func decodeJSONSegment(t *testing.T, segment string) map[string]any {
	t.Helper()

	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		t.Fatalf("decoding segment: %v", err)
	}
	var value map[string]any
	if err := json.Unmarshal(raw, &value); err != nil {
		t.Fatalf("parsing segment %s: %v", raw, err)
	}

	return value
}
