package server

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/scanner-ops/onboarding-service/server/auth"
)

// signToken signs claims with HS256 and secret, with an exp an hour ahead
// unless claims set one.
func signToken(t *testing.T, secret []byte, claims map[string]any) string {
	t.Helper()
	token := jwt.New()
	if err := token.Set(jwt.ExpirationKey, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("setting exp: %v", err)
	}
	for name, value := range claims {
		if err := token.Set(name, value); err != nil {
			t.Fatalf("setting claim %s: %v", name, err)
		}
	}
	signed, err := jwt.Sign(token, jwt.WithKey(jwa.HS256, secret))
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return string(signed)
}

// unsignedToken returns a token with "alg": "none" for orgID.
func unsignedToken(orgID string) string {
	encode := base64.RawURLEncoding.EncodeToString
	header := encode([]byte(`{"alg":"none","typ":"JWT"}`))
	payload := encode([]byte(`{"org-id":"` + orgID + `","exp":4102444800}`))
	return header + "." + payload + "."
}

func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	expired, err := auth.Mint(testSecret, testOrgID, time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatalf("minting an expired token: %v", err)
	}
	otherSecret := []byte("another-secret-of-at-least-32-bytes-long")

	tests := []struct {
		name          string
		authorization string
	}{
		{"missing header", ""},
		{"basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:hunter2hunter2"))},
		{"malformed token", "Bearer not-a-jwt"},
		{"empty bearer", "Bearer "},
		{"alg none", "Bearer " + unsignedToken(testOrgID)},
		{"wrong signature", "Bearer " + signToken(t, otherSecret, map[string]any{"org-id": testOrgID})},
		{"expired", "Bearer " + expired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(http.MethodPost, "/api/v1/org_test/management/pause?config-id=cfg-1", "")
			if tc.authorization != "" {
				req.Header.Set(echo.HeaderAuthorization, tc.authorization)
			}
			rec := s.serve(req)

			wantError(t, rec, http.StatusUnauthorized, "Unauthorised")
			if got := rec.Header().Get(echo.HeaderWWWAuthenticate); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want it to start with Bearer", got)
			}

			entry := findLog(t, s.logs, "request failed", "request_id", rec.Header().Get(echo.HeaderXRequestID))
			if entry["level"] != "INFO" {
				t.Errorf("level = %v, want INFO", entry["level"])
			}
			if reason, _ := entry["error"].(string); !strings.Contains(reason, "invalid token") {
				t.Errorf("error = %q, want the verifier's reason", reason)
			}
			if credential := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(tc.authorization, "Bearer"), "Basic")); credential != "" && strings.Contains(s.logs.String(), credential) {
				t.Errorf("log contains the credential %q", credential)
			}
		})
	}
}

func TestAuthenticationRunsBeforeValidation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	req := newRequest(http.MethodPost, "/api/v1/org_test/scanner/remove", `{"configId":`)
	req.Header.Set(echo.HeaderAuthorization, "Bearer not-a-jwt")

	wantError(t, s.serve(req), http.StatusUnauthorized, "Unauthorised")
}

func TestAuthorisationFailures(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	t.Run("org mismatch is 403", func(t *testing.T) {
		req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_other/management/pause?config-id=cfg-1", ""), testOrgID)
		rec := s.serve(req)

		wantError(t, rec, http.StatusForbidden, "Access denied")
		entry := findLog(t, s.logs, "request failed", "request_id", rec.Header().Get(echo.HeaderXRequestID))
		if entry["org_id"] != testOrgID || entry["path_org_id"] != "org_other" {
			t.Errorf("org_id = %v, path_org_id = %v, want %s and org_other", entry["org_id"], entry["path_org_id"], testOrgID)
		}
	})

	t.Run("missing claim is 403", func(t *testing.T) {
		req := newRequest(http.MethodPost, "/api/v1/org_test/management/pause?config-id=cfg-1", "")
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+signToken(t, testSecret, map[string]any{"sub": "svc"}))
		wantError(t, s.serve(req), http.StatusForbidden, "Access denied")
	})

	t.Run("non-string claim is 403", func(t *testing.T) {
		req := newRequest(http.MethodGet, "/api/v1/jobs?config-id=cfg-1", "")
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+signToken(t, testSecret, map[string]any{"org-id": 42}))
		wantError(t, s.serve(req), http.StatusForbidden, "Access denied")
	})

	t.Run("jobs route takes org from claim", func(t *testing.T) {
		rec := s.serve(authorised(t, newRequest(http.MethodGet, "/api/v1/jobs/rm-scan-cfg-1-1", ""), testOrgID))
		if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			t.Errorf("status = %d, want the request to pass authentication", rec.Code)
		}
	})
}

func TestAuthenticateStoresOrganisation(t *testing.T) {
	t.Parallel()
	verifier, err := auth.New(context.Background(), auth.Config{HS256Secret: testSecret})
	if err != nil {
		t.Fatalf("creating the verifier: %v", err)
	}
	e := echo.New()
	e.HTTPErrorHandler = newErrorHandler(discardLogger(), DefaultBodyLimit)
	whoami := func(c echo.Context) error {
		return c.String(http.StatusOK, orgIDFromContext(c.Request().Context()))
	}
	e.GET("/api/v1/:orgID/whoami", whoami)
	e.GET("/api/v1/whoami", whoami)
	e.Use(authenticate(verifier, newRouteSet(e, apiPrefix)))

	for _, path := range []string{"/api/v1/org_test/whoami", "/api/v1/whoami"} {
		rec := httptestServe(e, authorised(t, newRequest(http.MethodGet, path, ""), testOrgID))
		if rec.Code != http.StatusOK || rec.Body.String() != testOrgID {
			t.Errorf("GET %s = %d %q, want 200 %q", path, rec.Code, rec.Body.String(), testOrgID)
		}
	}
}
