package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"valid id is kept", "req-1.A_b", true},
		{"128 characters are kept", strings.Repeat("a", 128), true},
		{"missing id is generated", "", false},
		{"129 characters are replaced", strings.Repeat("a", 129), false},
		{"space is replaced", "req 1", false},
		{"log injection is replaced", "req-1\",\"level\":\"ERROR", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(http.MethodGet, "/api/v1/nope", "")
			if tc.incoming != "" {
				req.Header.Set(echo.HeaderXRequestID, tc.incoming)
			}
			rec := s.serve(req)

			got := rec.Header().Get(echo.HeaderXRequestID)
			if tc.keep && got != tc.incoming {
				t.Errorf("X-Request-ID = %q, want the incoming %q", got, tc.incoming)
			}
			if !tc.keep && (got == tc.incoming || !isValidRequestID(got)) {
				t.Errorf("X-Request-ID = %q, want a generated id", got)
			}
			findLog(t, s.logs, "request", "request_id", got)
		})
	}
}

func TestRequestLogLine(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	token := mintToken(t, testOrgID)

	req := newRequest(http.MethodPost, "/api/v1/org_test/scanner/remove?token="+token, `{"configId":"bad id","cloudProvider":"aws"}`)
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
	rec := s.serve(req)

	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", rec.Code)
	}
	requestID := rec.Header().Get(echo.HeaderXRequestID)
	line := findLog(t, s.logs, "request", "request_id", requestID)
	wantAttrs := map[string]any{
		"level":  "INFO",
		"method": http.MethodPost,
		"path":   "/api/v1/org_test/scanner/remove",
		"route":  "/api/v1/:orgID/scanner/remove",
		"status": float64(http.StatusBadRequest),
		"org_id": testOrgID,
	}
	for key, want := range wantAttrs {
		if line[key] != want {
			t.Errorf("request line %s = %v, want %v", key, line[key], want)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("request line duration_ms = %v, want a number", line["duration_ms"])
	}

	failure := findLog(t, s.logs, "request failed", "request_id", requestID)
	if failure["org_id"] != testOrgID {
		t.Errorf("error line org_id = %v, want %s", failure["org_id"], testOrgID)
	}
	if strings.Contains(s.logs.String(), token) {
		t.Errorf("log contains the token:\n%s", s.logs.String())
	}
}

func TestHandlerLogAttributes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.echo.GET("/test/attrs", func(c echo.Context) error {
		ctx := c.Request().Context()
		addLogAttrs(ctx, slog.String("config_id", "cfg-old"))
		addLogAttrs(ctx, slog.String("config_id", "cfg-9"), slog.String("job_id", "rm-scan-cfg-9-1"))
		return badRequest("config cfg-9 is not of provider gcp")
	})

	rec := s.serve(newRequest(http.MethodGet, "/test/attrs", ""))
	requestID := rec.Header().Get(echo.HeaderXRequestID)

	for _, msg := range []string{"request", "request failed"} {
		entry := findLog(t, s.logs, msg, "request_id", requestID)
		if entry["config_id"] != "cfg-9" {
			t.Errorf("%q line config_id = %v, want cfg-9", msg, entry["config_id"])
		}
		if entry["job_id"] != "rm-scan-cfg-9-1" {
			t.Errorf("%q line job_id = %v, want rm-scan-cfg-9-1", msg, entry["job_id"])
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		if n := strings.Count(line, `"request_id"`); n != 1 {
			t.Errorf("log line has request_id %d times, want once: %s", n, line)
		}
	}
}

func TestContextHelpersOutsideRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	addLogAttrs(ctx, slog.String("config_id", "cfg-1"))
	if got := logAttrs(ctx); got != nil {
		t.Errorf("logAttrs = %v, want nil outside a request", got)
	}
	if got := orgIDFromContext(ctx); got != "" {
		t.Errorf("orgIDFromContext = %q, want empty", got)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const allowed = "https://console.example.com"
	s := newTestServer(t, func(d *Deps) { d.CORSAllowOrigins = []string{allowed} })

	preflight := func(origin string) *http.Request {
		req := newRequest(http.MethodOptions, "/api/v1/org_test/scanner/remove", "")
		req.Header.Set(echo.HeaderOrigin, origin)
		req.Header.Set(echo.HeaderAccessControlRequestMethod, http.MethodPost)
		req.Header.Set(echo.HeaderAccessControlRequestHeaders, "authorization,content-type")
		return req
	}

	t.Run("preflight from allowed origin", func(t *testing.T) {
		rec := s.serve(preflight(allowed))

		if rec.Code != http.StatusNoContent {
			t.Errorf("status = %d, want 204", rec.Code)
		}
		if got := rec.Header().Get(echo.HeaderAccessControlAllowOrigin); got != allowed {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, allowed)
		}
		if got := rec.Header().Get(echo.HeaderAccessControlAllowMethods); !strings.Contains(got, http.MethodPost) {
			t.Errorf("Access-Control-Allow-Methods = %q, want POST", got)
		}
		headers := rec.Header().Get(echo.HeaderAccessControlAllowHeaders)
		for _, want := range []string{echo.HeaderAuthorization, echo.HeaderContentType} {
			if !strings.Contains(headers, want) {
				t.Errorf("Access-Control-Allow-Headers = %q, want %s", headers, want)
			}
		}
	})

	t.Run("preflight from other origin", func(t *testing.T) {
		rec := s.serve(preflight("https://evil.example.net"))
		if got := rec.Header().Get(echo.HeaderAccessControlAllowOrigin); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q, want none", got)
		}
	})

	t.Run("request exposes polling headers", func(t *testing.T) {
		req := newRequest(http.MethodGet, "/api/v1/jobs?config-id=cfg-1", "")
		req.Header.Set(echo.HeaderOrigin, allowed)
		rec := s.serve(req)

		if got := rec.Header().Get(echo.HeaderAccessControlAllowOrigin); got != allowed {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, allowed)
		}
		exposed := rec.Header().Get(echo.HeaderAccessControlExposeHeaders)
		for _, want := range []string{echo.HeaderLocation, echo.HeaderRetryAfter, echo.HeaderXRequestID} {
			if !strings.Contains(exposed, want) {
				t.Errorf("Access-Control-Expose-Headers = %q, want %s", exposed, want)
			}
		}
	})

	t.Run("disabled without origins", func(t *testing.T) {
		plain := newTestServer(t)
		req := newRequest(http.MethodGet, "/healthz", "")
		req.Header.Set(echo.HeaderOrigin, allowed)
		if got := plain.serve(req).Header().Get(echo.HeaderAccessControlAllowOrigin); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q, want none", got)
		}
	})
}

func TestHeadServesGetRoutes(t *testing.T) {
	srv := newTestServer(t)
	for _, path := range []string{"/healthz", "/openapi.json"} {
		rec := srv.serve(newRequest(http.MethodHead, path, ""))
		if rec.Code != http.StatusOK {
			t.Errorf("HEAD %s: status %d, want 200", path, rec.Code)
		}
		if rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d body bytes, want none", path, rec.Body.Len())
		}
	}
	req := authorised(t, newRequest(http.MethodHead, "/api/v1/org_abc123/scanners", ""), "org_abc123")
	if rec := srv.serve(req); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD scanners: status %d with %d body bytes, want 200 and none", rec.Code, rec.Body.Len())
	}
}

func TestPathParametersAreDecoded(t *testing.T) {
	srv := newTestServer(t)

	req := authorised(t, newRequest(http.MethodGet, "/api/v1/org%5Fabc123/scanners/cfg%2Dmissing", ""), "org_abc123")
	rec := srv.serve(req)
	if rec.Code != http.StatusNotFound || decodeError(t, rec).Error != "Config not found" {
		t.Errorf("encoded ids: status %d, body %s; want 404 Config not found", rec.Code, rec.Body)
	}

	req = authorised(t, newRequest(http.MethodGet, "/api/v1/org_abc123/scanners/a/b", ""), "org_abc123")
	rec = srv.serve(req)
	if rec.Code != http.StatusNotFound || !strings.HasPrefix(decodeError(t, rec).Error, "Not found: GET ") {
		t.Errorf("extra path segment: status %d, body %s; want a route 404", rec.Code, rec.Body)
	}
}
