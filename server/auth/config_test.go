package auth_test

import (
	"crypto/elliptic"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()

	jwks := startJWKSServer(t, newECKey(t, elliptic.P256(), "ec-1"))

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)

	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>login</html>"))
	}))
	t.Cleanup(notJSON.Close)

	onlyHMAC := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}`))
	}))
	t.Cleanup(onlyHMAC.Close)

	tooLarge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[],"padding":"` + strings.Repeat("x", 2<<20) + `"}`))
	}))
	t.Cleanup(tooLarge.Close)

	tests := []struct {
		name          string
		cfg           auth.Config
		wantConfigErr bool // the error wraps ErrInvalidConfig
		message       string
	}{
		{
			name:          "short secret is rejected",
			cfg:           auth.Config{HS256Secret: []byte(strings.Repeat("s", 31))},
			wantConfigErr: true,
			message:       "HS256 secret is 31 bytes, the minimum is 32 bytes",
		},
		{
			name:          "no secret and no JWKS URL are rejected",
			cfg:           auth.Config{},
			wantConfigErr: true,
			message:       "neither an HS256 secret nor a JWKS URL is set",
		},
		{
			name:          "secret and JWKS URL together are rejected",
			cfg:           auth.Config{HS256Secret: testSecret, JWKSURL: jwks.URL},
			wantConfigErr: true,
			message:       "both an HS256 secret and a JWKS URL are set",
		},
		{
			name:          "negative skew is rejected",
			cfg:           auth.Config{HS256Secret: testSecret, Skew: -time.Second},
			wantConfigErr: true,
			message:       "clock skew -1s is negative",
		},
		{
			name:          "refresh interval below 1 s is rejected",
			cfg:           auth.Config{JWKSURL: jwks.URL, JWKSRefreshInterval: 500 * time.Millisecond},
			wantConfigErr: true,
			message:       "JWKS refresh interval 500ms is below the minimum of 1s",
		},
		{
			name:          "relative JWKS URL is rejected",
			cfg:           auth.Config{JWKSURL: "/keys.json"},
			wantConfigErr: true,
			message:       `JWKS URL "/keys.json" is not an absolute http or https URL`,
		},
		{
			name:          "JWKS URL password is redacted",
			cfg:           auth.Config{JWKSURL: "ftp://user:hunter2@keys.test/jwks.json"},
			wantConfigErr: true,
			message:       `JWKS URL "ftp://user:xxxxx@keys.test/jwks.json" is not`,
		},
		{
			name:    "unreachable JWKS fails start-up",
			cfg:     auth.Config{JWKSURL: closedURL},
			message: "fetching JWKS from \"" + closedURL + "\"",
		},
		{
			name:    "JWKS server error fails start-up",
			cfg:     auth.Config{JWKSURL: failing.URL},
			message: "503 Service Unavailable",
		},
		{
			name:    "JWKS that is not JSON fails start-up",
			cfg:     auth.Config{JWKSURL: notJSON.URL},
			message: "failed to parse JWK set",
		},
		{
			name:    "JWKS over 1 MiB fails start-up",
			cfg:     auth.Config{JWKSURL: tooLarge.URL},
			message: "JWKS response exceeds 1048576 bytes",
		},
		{
			name:    "JWKS without RSA or EC key fails start-up",
			cfg:     auth.Config{JWKSURL: onlyHMAC.URL},
			message: "contains no RSA or EC signing key",
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			verifier, err := auth.New(t.Context(), tt.cfg)
			if err == nil {
				t.Fatalf("New returned a Verifier (%v), want an error containing %q", verifier, tt.message)
			}
			if got := errors.Is(err, auth.ErrInvalidConfig); got != tt.wantConfigErr {
				t.Errorf("errors.Is(%q, ErrInvalidConfig) = %t, want %t", err, got, tt.wantConfigErr)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error = %q, want it to contain %q", err, tt.message)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q contains the URL password", err)
			}
		})
	}
}

func TestNewCopiesSecret(t *testing.T) {
	t.Parallel()

	secret := append([]byte(nil), testSecret...)
	verifier, err := auth.New(t.Context(), auth.Config{HS256Secret: secret, Now: func() time.Time { return baseTime }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	secret[0] ^= 0xff

	token, err := auth.Mint(testSecret, "org_abc123", time.Minute, baseTime)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if _, err := verifier.Verify(t.Context(), token); err != nil {
		t.Errorf("Verify after the caller changed its secret slice: %v", err)
	}
}
