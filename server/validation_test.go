package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// batchBody returns a batch request body with n valid items.
func batchBody(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"configID":"cfg-%d","cloudProvider":"aws"}`, i)
	}
	return `{"scanners":[` + strings.Join(items, ",") + `]}`
}

func TestValidationMessages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	longID := strings.Repeat("a", 129)

	tests := []struct {
		name    string
		method  string
		target  string
		body    string
		message string
	}{
		{"missing body field", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`{"cloudProvider":"aws"}`, "configId is required"},
		{"missing query parameter", http.MethodPost, "/api/v1/org_test/management/pause",
			"", "config-id is required"},
		{"empty query parameter", http.MethodPost, "/api/v1/org_test/management/pause?config-id=",
			"", "config-id must not be empty"},
		{"query parameter pattern", http.MethodPost, "/api/v1/org_test/management/unpause?config-id=bad%20id",
			"", `config-id must match ^[A-Za-z0-9._-]+$ (got "bad id")`},
		{"enum", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`{"configId":"cfg-1","cloudProvider":"foo"}`, `cloudProvider must be one of aws, azure, gcp, oracle (got "foo")`},
		{"pattern", http.MethodPost, "/api/v1/org_test/scanner/region/disable",
			`{"configId":"bad id","cloudProvider":"aws"}`, `configId must match ^[A-Za-z0-9._-]+$ (got "bad id")`},
		{"max length", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`{"configId":"` + longID + `","cloudProvider":"aws"}`, "configId must be at most 128 characters"},
		{"empty string", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`{"configId":"","cloudProvider":"aws"}`, "configId must not be empty"},
		{"wrong type", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`{"configId":42,"cloudProvider":"aws"}`, "configId must be a string"},
		{"body not an object", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`["cfg-1"]`, "request body must be an object"},
		{"empty batch", http.MethodPost, "/api/v1/org_test/scanner/batch/remove",
			`{"scanners":[]}`, "scanners must contain at least 1 item"},
		{"batch over 1000 items", http.MethodPost, "/api/v1/org_test/scanner/batch/pause",
			batchBody(1001), "scanners must contain at most 1000 items"},
		{"batch item field missing", http.MethodPost, "/api/v1/org_test/scanner/batch/reinstall",
			`{"scanners":[{"configID":"a","cloudProvider":"aws"},{"configID":"b","cloudProvider":"aws"},{"configID":"c","cloudProvider":"aws"},{"cloudProvider":"aws"}]}`,
			"scanners[3].configID is required"},
		{"missing batch field", http.MethodPost, "/api/v1/org_test/scanner/batch/unpause",
			`{"items":[]}`, "scanners is required"},
		{"missing body", http.MethodPost, "/api/v1/org_test/scanner/remove",
			"", "request body is required"},
		{"invalid JSON", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`{"configId":"cfg-1",}`, "invalid JSON body: invalid character '}' looking for beginning of object key string at offset 21"},
		{"truncated JSON", http.MethodPost, "/api/v1/org_test/scanner/remove",
			`{"configId":`, "invalid JSON body: unexpected end of input"},
		{"minimum", http.MethodGet, "/api/v1/jobs?config-id=cfg-1&limit=0",
			"", "limit must be at least 1 (got 0)"},
		{"maximum", http.MethodGet, "/api/v1/org_test/scanners?limit=5000",
			"", "limit must be at most 1000 (got 5000)"},
		{"integer parse", http.MethodGet, "/api/v1/jobs?config-id=cfg-1&limit=ten",
			"", `limit must be an integer (got "ten")`},
		{"path enum", http.MethodDelete, "/api/v1/org_test/cloud-provider/ibm",
			"", `cloudProvider must be one of aws, azure, gcp, oracle (got "ibm")`},
		{"path pattern", http.MethodGet, "/api/v1/jobs/bad%20job",
			"", `jobId must match ^[A-Za-z0-9._-]+$ (got "bad job")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := s.serve(authorised(t, newRequest(tc.method, tc.target, tc.body), testOrgID))
			wantError(t, rec, http.StatusBadRequest, tc.message)
		})
	}
}

func TestValidationShortensReceivedValues(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	value := strings.Repeat("x", 100) + " " + strings.Repeat("y", 20)

	rec := s.serve(authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/remove",
		`{"configId":"`+value+`","cloudProvider":"aws"}`), testOrgID))

	msg := decodeError(t, rec).Error
	want := fmt.Sprintf(`configId must match ^[A-Za-z0-9._-]+$ (got "%s...")`, strings.Repeat("x", maxEchoedValue))
	if msg != want {
		t.Errorf("error = %q, want %q", msg, want)
	}
}

func TestValidationMessagesNameNoGoTypes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	bodies := []string{
		`{"configId":{"a":1},"cloudProvider":"aws"}`,
		`{"configId":"cfg-1","cloudProvider":["aws"]}`,
		`{"configId":null,"cloudProvider":"aws"}`,
		`"text"`,
		`null`,
		`{"configId":"cfg-1","cloudProvider":"aws"`,
	}
	for _, body := range bodies {
		rec := s.serve(authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/remove", body), testOrgID))
		msg := decodeError(t, rec).Error
		if rec.Code != http.StatusBadRequest {
			t.Errorf("body %s: status = %d, want 400 (%q)", body, rec.Code, msg)
		}
		for _, leak := range []string{"map[", "[]interface", "interface {}", "openapi3", "Schema:", "Value:", "*", "\n"} {
			if strings.Contains(msg, leak) {
				t.Errorf("body %s: message %q contains %q", body, msg, leak)
			}
		}
	}
}

func TestValidationAllowsUnknownProperties(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	rec := s.serve(authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/region/disable",
		`{"configId":"cfg-unknown","cloudProvider":"aws","comment":"added by a newer client"}`), testOrgID))

	// The request reaches the handler, which does not know the config.
	wantError(t, rec, http.StatusNotFound, "Config not found")
}

func TestValidationRejectsNonJSONBody(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	tests := []struct {
		name        string
		contentType string
		message     string
	}{
		{"text", "text/plain", `unsupported Content-Type "text/plain": send application/json`},
		{"form", "application/x-www-form-urlencoded", `unsupported Content-Type "application/x-www-form-urlencoded": send application/json`},
		{"missing", "", "missing Content-Type: send application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/remove", `configId=cfg-1`), testOrgID)
			req.Header.Del(echo.HeaderContentType)
			if tc.contentType != "" {
				req.Header.Set(echo.HeaderContentType, tc.contentType)
			}
			wantError(t, s.serve(req), http.StatusUnsupportedMediaType, tc.message)
		})
	}

	t.Run("JSON with charset is accepted", func(t *testing.T) {
		req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/remove", `{"cloudProvider":"aws"}`), testOrgID)
		req.Header.Set(echo.HeaderContentType, "application/json; charset=utf-8")
		wantError(t, s.serve(req), http.StatusBadRequest, "configId is required")
	})
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	big := `{"scanners":[` + strings.Repeat(`{"configID":"cfg-1","cloudProvider":"aws"},`, 30000) + `{"configID":"cfg-1","cloudProvider":"aws"}]}`
	if len(big) <= 1<<20 {
		t.Fatalf("test body is %d bytes, want more than 1 MiB", len(big))
	}

	t.Run("announced length", func(t *testing.T) {
		rec := s.serve(authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/batch/remove", big), testOrgID))
		wantError(t, rec, http.StatusRequestEntityTooLarge, "request body is larger than the limit of 1 MiB")
	})

	t.Run("streamed body", func(t *testing.T) {
		req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/batch/remove", big), testOrgID)
		req.ContentLength = -1
		wantError(t, s.serve(req), http.StatusRequestEntityTooLarge, "request body is larger than the limit of 1 MiB")
	})

	t.Run("configured limit", func(t *testing.T) {
		small := newTestServer(t, func(d *Deps) { d.BodyLimit = 2 << 10 })
		req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_test/scanner/batch/remove", batchBody(100)), testOrgID)
		req.ContentLength = -1
		wantError(t, small.serve(req), http.StatusRequestEntityTooLarge, "request body is larger than the limit of 2 KiB")
	})
}

func TestValidationRejectsTrailingData(t *testing.T) {
	srv := newTestServer(t)
	for _, body := range []string{
		`{"configId":"cfg-scanner-001","cloudProvider":"aws"} trailing`,
		`{"configId":"cfg-scanner-001","cloudProvider":"aws"}{}`,
	} {
		req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_abc123/scanner/region/disable", body), "org_abc123")
		rec := srv.serve(req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("body %q: status %d, want 400", body, rec.Code)
			continue
		}
		if msg := decodeError(t, rec).Error; !strings.HasPrefix(msg, "invalid JSON body:") {
			t.Errorf("body %q: error %q, want an invalid JSON body message", body, msg)
		}
	}

	req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_abc123/scanner/region/disable",
		"{\"configId\":\"cfg-missing\",\"cloudProvider\":\"aws\"}\n  \n"), "org_abc123")
	if rec := srv.serve(req); rec.Code != http.StatusNotFound {
		t.Errorf("body with trailing white space: status %d, want 404 for the unknown config", rec.Code)
	}
}

func TestValidationRejectsUndecodableQuery(t *testing.T) {
	srv := newTestServer(t)
	req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_abc123/management/pause?config-id=%zz", ""), "org_abc123")
	rec := srv.serve(req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", rec.Code)
	}
	if msg := decodeError(t, rec).Error; !strings.HasPrefix(msg, "invalid query string:") || !strings.Contains(msg, "%zz") {
		t.Errorf("error %q, want it to name the bad escape", msg)
	}
}

func TestCheckDuplicateKeys(t *testing.T) {
	cases := []struct {
		body string
		dup  string
	}{
		{`{"a":1,"b":2}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":{"b":1},"c":{"b":2}}`, ""},
		{`{"a":{"b":1,"b":2}}`, "b"},
		{`{"scanners":[{"configID":"x"},{"configID":"y"}]}`, ""},
		{`{"scanners":[{"configID":"x","configID":"y"}]}`, "configID"},
		{`[{"a":1},{"a":1}]`, ""},
		{`{"a":[1,{"b":[2,3]},"a"],"b":"a"}`, ""},
		{`{"a":[],"a":{}}`, "a"},
	}
	for _, c := range cases {
		err := checkDuplicateKeys([]byte(c.body))
		switch {
		case c.dup == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.body, err)
		case c.dup != "" && (err == nil || !strings.Contains(err.Error(), `duplicate key "`+c.dup+`"`)):
			t.Errorf("%s: err = %v, want duplicate key %q", c.body, err, c.dup)
		}
	}
}

func TestValidationRejectsDuplicateKeys(t *testing.T) {
	srv := newTestServer(t)
	body := `{"configId":"cfg-missing","cloudProvider":"aws","configId":"cfg-scanner-001"}`
	req := authorised(t, newRequest(http.MethodPost, "/api/v1/org_abc123/scanner/region/disable", body), "org_abc123")
	rec := srv.serve(req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", rec.Code)
	}
	if msg := decodeError(t, rec).Error; !strings.HasPrefix(msg, `invalid JSON body: duplicate key "configId"`) {
		t.Errorf("error %q, want it to name the duplicate key", msg)
	}
}
