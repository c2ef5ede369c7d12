package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/scanner-ops/onboarding-service/store"
)

func TestErrorHandlerMapsErrors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	routes := map[string]error{
		"/test/conflict":         conflict("config cfg-1 has a running workflow rm-scan-cfg-1-1; retry when it has finished", "rm-scan-cfg-1-1"),
		"/test/unavailable":      unavailable("lock service unavailable; retry later", errors.New("dial tcp: connection refused")),
		"/test/not-found":        notFound("Config not found"),
		"/test/wrapped-sentinel": &APIError{Message: "Job not found", Err: fmt.Errorf("reading job j-1: %w", store.ErrNotFound)},
		"/test/bare-sentinel":    fmt.Errorf("reading config cfg-1: %w", store.ErrNotFound),
		"/test/store-conflict":   fmt.Errorf("updating config cfg-1: %w", store.ErrConflict),
		"/test/bad-request":      badRequest("configId %q is unknown", "cfg-1"),
		"/test/unknown":          errors.New("database is locked"),
		"/test/database-down":    fmt.Errorf("reading config cfg-1: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
		"/test/api-500":          &APIError{Status: http.StatusInternalServerError, Message: "secret detail", Err: errors.New("boom")},
	}
	for path, err := range routes {
		s.echo.GET(path, func(echo.Context) error { return err })
	}

	tests := []struct {
		path       string
		status     int
		message    string
		jobID      string
		retryAfter string
	}{
		{"/test/conflict", http.StatusConflict, "config cfg-1 has a running workflow rm-scan-cfg-1-1; retry when it has finished", "rm-scan-cfg-1-1", "30"},
		{"/test/unavailable", http.StatusServiceUnavailable, "lock service unavailable; retry later", "", "30"},
		{"/test/not-found", http.StatusNotFound, "Config not found", "", ""},
		{"/test/wrapped-sentinel", http.StatusNotFound, "Job not found", "", ""},
		{"/test/bare-sentinel", http.StatusNotFound, "Not found", "", ""},
		{"/test/store-conflict", http.StatusConflict, "Conflict", "", "30"},
		{"/test/bad-request", http.StatusBadRequest, `configId "cfg-1" is unknown`, "", ""},
		{"/test/unknown", http.StatusInternalServerError, "Internal server error", "", ""},
		{"/test/database-down", http.StatusServiceUnavailable, "database unavailable; retry later", "", "30"},
		{"/test/api-500", http.StatusInternalServerError, "Internal server error", "", ""},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.path, "/test/"), func(t *testing.T) {
			rec := s.serve(newRequest(http.MethodGet, tc.path, ""))

			wantError(t, rec, tc.status, tc.message)
			body := decodeError(t, rec)
			gotJobID := ""
			if body.JobID != nil {
				gotJobID = *body.JobID
			}
			if gotJobID != tc.jobID {
				t.Errorf("jobId = %q, want %q", gotJobID, tc.jobID)
			}
			if got := rec.Header().Get(echo.HeaderRetryAfter); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
		})
	}
}

func TestErrorHandlerLogsByStatus(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.echo.GET("/test/client-error", func(c echo.Context) error {
		addLogAttrs(c.Request().Context(), slog.String("config_id", "cfg-7"))
		return conflict("config cfg-7 is busy", "rm-scan-cfg-7-1")
	})
	s.echo.GET("/test/server-error", func(echo.Context) error {
		return fmt.Errorf("reading config cfg-8: %w", errors.New("disk I/O error"))
	})

	t.Run("client error at info with ids", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/test/client-error", ""))
		entry := findLog(t, s.logs, "request failed", "path", "/test/client-error")

		if entry["level"] != "INFO" {
			t.Errorf("level = %v, want INFO", entry["level"])
		}
		if entry["status"] != float64(http.StatusConflict) {
			t.Errorf("status = %v, want 409", entry["status"])
		}
		if entry["request_id"] != rec.Header().Get(echo.HeaderXRequestID) || entry["request_id"] == "" {
			t.Errorf("request_id = %v, want the X-Request-ID %q", entry["request_id"], rec.Header().Get(echo.HeaderXRequestID))
		}
		if entry["config_id"] != "cfg-7" {
			t.Errorf("config_id = %v, want cfg-7", entry["config_id"])
		}
		if entry["job_id"] != "rm-scan-cfg-7-1" {
			t.Errorf("job_id = %v, want rm-scan-cfg-7-1", entry["job_id"])
		}
	})

	t.Run("server error at error with cause", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/test/server-error", ""))
		entry := findLog(t, s.logs, "request failed", "path", "/test/server-error")

		wantError(t, rec, http.StatusInternalServerError, "Internal server error")
		if entry["level"] != "ERROR" {
			t.Errorf("level = %v, want ERROR", entry["level"])
		}
		if entry["error"] != "reading config cfg-8: disk I/O error" {
			t.Errorf("error = %v, want the cause", entry["error"])
		}
	})
}

func TestErrorHandlerSkipsCancelledRequests(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.echo.GET("/test/cancelled", func(c echo.Context) error {
		<-c.Request().Context().Done()
		return fmt.Errorf("listing jobs: %w", c.Request().Context().Err())
	})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := s.serve(newRequest(http.MethodGet, "/test/cancelled", "").WithContext(ctx))

	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
	if got := s.logs.entries(t, "request failed"); len(got) != 0 {
		t.Errorf("got %d error log lines for a cancelled request, want 0: %v", len(got), got)
	}
}

func TestEchoErrorsAreJSON(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	t.Run("unknown route is 404", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/api/v1/nope", ""))
		wantError(t, rec, http.StatusNotFound, "Not found: GET /api/v1/nope")
	})

	t.Run("unknown route with token is 404", func(t *testing.T) {
		rec := s.serve(authorised(t, newRequest(http.MethodGet, "/api/v1/nope/deeper", ""), testOrgID))
		wantError(t, rec, http.StatusNotFound, "Not found: GET /api/v1/nope/deeper")
	})

	t.Run("long unknown path is shortened", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodGet, "/"+strings.Repeat("a", 5000), ""))
		body := decodeError(t, rec)
		if rec.Code != http.StatusNotFound || len(body.Error) > 200 {
			t.Errorf("status %d, message of %d bytes, want 404 and at most 200 bytes", rec.Code, len(body.Error))
		}
	})

	t.Run("wrong method is 405 with Allow", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodPost, "/api/v1/jobs", ""))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status = %d, want 405", rec.Code)
		}
		allow := rec.Header().Get(echo.HeaderAllow)
		if !strings.Contains(allow, http.MethodGet) {
			t.Errorf("Allow = %q, want it to list GET", allow)
		}
		if msg := decodeError(t, rec).Error; !strings.HasPrefix(msg, "Method not allowed: POST /api/v1/jobs") {
			t.Errorf("error = %q, want it to name POST /api/v1/jobs", msg)
		}
	})

	t.Run("HEAD error has no body", func(t *testing.T) {
		rec := s.serve(newRequest(http.MethodHead, "/api/v1/nope", ""))
		if rec.Code != http.StatusNotFound {
			t.Errorf("status = %d, want 404", rec.Code)
		}
		if rec.Body.Len() != 0 {
			t.Errorf("body = %q, want none", rec.Body.String())
		}
	})
}

func TestPanicIsInternalError(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.echo.GET("/test/panic", func(echo.Context) error { panic("nil map in handler") })

	rec := s.serve(newRequest(http.MethodGet, "/test/panic", ""))

	wantError(t, rec, http.StatusInternalServerError, "Internal server error")
	entry := findLog(t, s.logs, "request failed", "path", "/test/panic")
	if entry["level"] != "ERROR" {
		t.Errorf("level = %v, want ERROR", entry["level"])
	}
	if entry["error"] != "panic: nil map in handler" {
		t.Errorf("error = %v, want the panic value", entry["error"])
	}
	if stack, _ := entry["stack"].(string); !strings.Contains(stack, "errors_test.go") {
		t.Errorf("stack does not name the panicking file:\n%s", stack)
	}
	if entry["request_id"] == "" || entry["request_id"] != rec.Header().Get(echo.HeaderXRequestID) {
		t.Errorf("request_id = %v, want %q", entry["request_id"], rec.Header().Get(echo.HeaderXRequestID))
	}
	line := findLog(t, s.logs, "request", "path", "/test/panic")
	if line["status"] != float64(http.StatusInternalServerError) {
		t.Errorf("request line status = %v, want 500", line["status"])
	}
}

func TestCommittedResponseIsKept(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.echo.GET("/test/committed", func(c echo.Context) error {
		if err := c.String(http.StatusOK, "partial"); err != nil {
			return err
		}
		return errors.New("encoding the rest failed")
	})

	rec := s.serve(newRequest(http.MethodGet, "/test/committed", ""))

	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Errorf("got %d %q, want the committed 200 \"partial\"", rec.Code, rec.Body.String())
	}
	entry := findLog(t, s.logs, "request failed", "path", "/test/committed")
	if entry["response_committed"] != true {
		t.Errorf("response_committed = %v, want true", entry["response_committed"])
	}
}

func TestBinderErrorsAreWorded(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.echo.POST("/test/bind", func(c echo.Context) error {
		var body struct {
			Limit int `json:"limit"`
		}
		return c.Bind(&body)
	})

	tests := []struct {
		name    string
		body    string
		message string
	}{
		{"wrong type", `{"limit":"ten"}`, "invalid JSON body: limit must be an integer, not string (offset 14)"},
		{"syntax", `{"limit":1,}`, "invalid JSON body: invalid character '}' looking for beginning of object key string at offset 12"},
		{"truncated", `{"limit":`, "invalid JSON body: unexpected end of input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.serve(newRequest(http.MethodPost, "/test/bind", tc.body))
			wantError(t, rec, http.StatusBadRequest, tc.message)
		})
	}

	t.Run("non-JSON body is 415", func(t *testing.T) {
		req := newRequest(http.MethodPost, "/test/bind", "limit=1")
		req.Header.Set(echo.HeaderContentType, "text/csv")
		wantError(t, s.serve(req), http.StatusUnsupportedMediaType, `unsupported Content-Type "text/csv": send application/json`)
	})
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	tests := map[int64]string{
		1 << 20:        "1 MiB",
		3 << 20:        "3 MiB",
		2048:           "2 KiB",
		1000:           "1000 bytes",
		(1 << 20) + 1:  "1048577 bytes",
		(1 << 20) / 2:  "512 KiB",
		(5 << 20) * 10: "50 MiB",
	}
	for n, want := range tests {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// findLog returns the single log line with message msg whose attribute key
// equals value.
func findLog(t *testing.T, logs *logBuffer, msg, key string, value any) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, entry := range logs.entries(t, msg) {
		if entry[key] == value {
			found = append(found, entry)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d log lines %q with %s=%v, want 1; log:\n%s", len(found), msg, key, value, logs.String())
	}
	return found[0]
}
