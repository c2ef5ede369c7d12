package tests

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// bodyLimit is the request body limit of the service, 1 MiB.
const bodyLimit = 1 << 20

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("unknown route is a JSON 404", func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/api/v1/org_abc123/nothing", "/api/v1/org_abc123/scanner", "/nothing"} {
				resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: path, Token: token(t, demoOrgID)})
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: status %d, expected 404; body: %s", path, resp.StatusCode, body)
				}
				expectFields(t, "GET "+path, body, "error")
			}
		})

		t.Run("wrong method is a JSON 405 with Allow", func(t *testing.T) {
			t.Parallel()
			cases := []struct{ method, path, allow string }{
				{http.MethodGet, "/api/v1/org_abc123/scanner/remove", http.MethodPost},
				{http.MethodDelete, "/api/v1/org_abc123/scanners", http.MethodGet},
				{http.MethodPost, "/api/v1/jobs/rm-scan-cfg-scanner-001-1733980800", http.MethodGet},
			}
			for _, tc := range cases {
				call := tc.method + " " + tc.path
				resp, body := s.send(t, rawRequest{Method: tc.method, Path: tc.path, Token: token(t, demoOrgID)})
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("%s: status %d, expected 405; body: %s", call, resp.StatusCode, body)
				}
				expectFields(t, call, body, "error")
				if allow := resp.Header.Get("Allow"); !strings.Contains(allow, tc.allow) {
					t.Errorf("%s: Allow %q, expected it to contain %s", call, allow, tc.allow)
				}
			}
		})

		t.Run("body over 1 MiB is a JSON 413", func(t *testing.T) {
			t.Parallel()
			path := "/api/v1/org_abc123/scanner/batch/pause"
			oversized := paddedBatch(bodyLimit + 1)

			resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID), Body: oversized})
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("with Content-Length: status %d, expected 413; body: %.300s", resp.StatusCode, body)
			}
			expectFields(t, "with Content-Length", body, "error")

			// Without Content-Length the limit applies while the body is read.
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path,
				io.MultiReader(strings.NewReader(oversized)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token(t, demoOrgID))
			chunked, err := s.RawClient(t).Do(req)
			if err != nil {
				t.Fatalf("chunked request: %v", err)
			}
			defer chunked.Body.Close()
			chunkedBody, _ := io.ReadAll(chunked.Body)
			if chunked.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked: status %d, expected 413; body: %.300s", chunked.StatusCode, chunkedBody)
			}
			expectFields(t, "chunked", chunkedBody, "error")
		})

		t.Run("body of exactly 1 MiB is accepted", func(t *testing.T) {
			t.Parallel()
			path := "/api/v1/org_abc123/scanner/batch/pause"
			resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID),
				Body: paddedBatch(bodyLimit)})
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, expected 200; body: %.300s", resp.StatusCode, body)
			}
		})

		t.Run("non-JSON Content-Type is a JSON 415", func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/api/v1/org_abc123/scanner/region/disable", "/api/v1/org_abc123/scanner/batch/pause"} {
				for _, contentType := range []string{"text/plain", "application/x-www-form-urlencoded"} {
					resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID),
						ContentType: contentType, Body: `{"configId":"cfg-missing","cloudProvider":"aws"}`})
					call := "POST " + path + " as " + contentType
					if resp.StatusCode != http.StatusUnsupportedMediaType {
						t.Errorf("%s: status %d, expected 415; body: %s", call, resp.StatusCode, body)
					}
					expectFields(t, call, body, "error")
				}
			}
		})

		t.Run("invalid JSON is a JSON 400", func(t *testing.T) {
			t.Parallel()
			path := "/api/v1/org_abc123/scanner/region/disable"
			// The configs do not exist, so a body that got past validation
			// would get a 404 instead.
			for _, invalid := range []string{
				`{"configId": "cfg-missing",`,
				`{"configId": 'cfg-missing', "cloudProvider": "aws"}`,
				`{"configId": "cfg-missing", "cloudProvider": "aws"} trailing`,
				`not json`,
			} {
				resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID), Body: invalid})
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("body %s: status %d, expected 400; body: %s", invalid, resp.StatusCode, body)
				}
				expectFields(t, "body "+invalid, body, "error")
			}
		})

		t.Run("request id comes back", func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/healthz", "/api/v1/org_abc123/scanners", "/api/v1/org_abc123/scanners/cfg-missing", "/nothing"} {
				resp, _ := s.send(t, rawRequest{Method: http.MethodGet, Path: path, Token: token(t, demoOrgID)})
				if resp.Header.Get("X-Request-ID") == "" {
					t.Errorf("GET %s (status %d): no X-Request-ID", path, resp.StatusCode)
				}
			}

			const clientID = "trace-0123.abc_XYZ"
			resp, _ := s.send(t, rawRequest{Method: http.MethodGet, Path: "/api/v1/org_abc123/scanners", Token: token(t, demoOrgID),
				Header: http.Header{"X-Request-Id": {clientID}}})
			if got := resp.Header.Get("X-Request-ID"); got != clientID {
				t.Errorf("X-Request-ID %q, expected the client's %q", got, clientID)
			}

			for _, unusable := range []string{"id with spaces", strings.Repeat("x", 129), "id\"quote"} {
				resp, _ := s.send(t, rawRequest{Method: http.MethodGet, Path: "/healthz", Header: http.Header{"X-Request-Id": {unusable}}})
				if got := resp.Header.Get("X-Request-ID"); got == "" || got == unusable {
					t.Errorf("client X-Request-ID %.40q came back as %.40q, expected a generated one", unusable, got)
				}
			}
		})
	})
}

// paddedBatch returns a batch request of exactly size bytes: one unknown
// config, padded with spaces inside the JSON object.
func paddedBatch(size int) string {
	const item = `{"scanners": [{"configID": "cfg-missing", "cloudProvider": "aws"}]`
	return item + strings.Repeat(" ", size-len(item)-1) + "}"
}

func TestJobLookupErrors(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		cases := []struct {
			name    string
			path    string
			status  int
			message string   // the whole error message, when set
			names   []string // words the error message contains
		}{
			{"unknown job", "/api/v1/jobs/rm-scan-cfg-scanner-001-1733980800", http.StatusNotFound, "Job not found", nil},
			{"invalid job id", "/api/v1/jobs/rm%20scan", http.StatusBadRequest, "", []string{"jobId"}},
			{"unknown parent", "/api/v1/jobs?parent-id=rm-scan-550e8400-e29b-41d4-a716-446655440000", http.StatusNotFound, "", nil},
			{"unknown config", "/api/v1/jobs?config-id=cfg-missing", http.StatusNotFound, "", nil},
			{"neither parent-id nor config-id", "/api/v1/jobs", http.StatusBadRequest, "", []string{"parent-id", "config-id"}},
			{"both parent-id and config-id", "/api/v1/jobs?parent-id=rm-scan-x&config-id=cfg-scanner-001",
				http.StatusBadRequest, "", []string{"parent-id", "config-id"}},
			{"invalid limit", "/api/v1/jobs?config-id=cfg-scanner-001&limit=0", http.StatusBadRequest, "", []string{"limit"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: tc.path, Token: token(t, demoOrgID)})
				if tc.message != "" {
					expectError(t, "GET "+tc.path, resp.StatusCode, body, tc.status, tc.message)
					return
				}
				expectErrorNaming(t, "GET "+tc.path, resp.StatusCode, body, tc.status, tc.names...)
			})
		}

		t.Run("config without jobs lists none", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			configID := "cfg-scanner-202"
			resp, err := c.ListJobsWithResponse(t.Context(), &api.ListJobsParams{ConfigID: &configID})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
				t.Fatalf("status %d, expected 200; body: %s", resp.StatusCode(), resp.Body)
			}
			list := resp.JSON200
			if list.Jobs == nil || len(list.Jobs) != 0 {
				t.Errorf("jobs %v, expected an empty list", list.Jobs)
			}
			if list.Summary.Total != 0 || list.Summary.Running != 0 || list.Summary.Completed != 0 || list.Summary.Failed != 0 {
				t.Errorf("summary %+v, expected all zero", list.Summary)
			}
			if textOf(list.ConfigID) != configID {
				t.Errorf("configId %q, expected %q", textOf(list.ConfigID), configID)
			}
			if got := resp.HTTPResponse.Header.Get("Retry-After"); got != "" {
				t.Errorf("Retry-After %q with no unfinished job", got)
			}
		})
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		const allowed = "https://console.example.com"
		s := startServer(t, ServerOptions{Backend: b, Env: map[string]string{
			"ONBOARDING_CORS_ORIGINS": allowed + ", https://admin.example.com",
		}})
		preflight := func(t *testing.T, origin string) *http.Response {
			resp, _ := s.send(t, rawRequest{Method: http.MethodOptions, Path: "/api/v1/org_abc123/scanner/batch/pause",
				Header: http.Header{
					"Origin":                         {origin},
					"Access-Control-Request-Method":  {http.MethodPost},
					"Access-Control-Request-Headers": {"authorization,content-type"},
				}})
			return resp
		}

		t.Run("preflight from an allowed origin is allowed", func(t *testing.T) {
			t.Parallel()
			resp := preflight(t, allowed)
			if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, expected 204 or 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowed {
				t.Errorf("Access-Control-Allow-Origin %q, expected %q", got, allowed)
			}
			headers := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"authorization", "content-type"} {
				if !strings.Contains(headers, want) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", headers, want)
				}
			}
			if methods := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(methods, http.MethodPost) {
				t.Errorf("Access-Control-Allow-Methods %q lacks POST", methods)
			}
		})

		t.Run("preflight from another origin is not allowed", func(t *testing.T) {
			t.Parallel()
			resp := preflight(t, "https://evil.example.com")
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("Access-Control-Allow-Origin %q for an origin that is not allowed", got)
			}
		})

		t.Run("request from an allowed origin may read the polling headers", func(t *testing.T) {
			t.Parallel()
			resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: "/api/v1/org_abc123/scanners",
				Token: token(t, demoOrgID), Header: http.Header{"Origin": {allowed}}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, expected 200; body: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowed {
				t.Errorf("Access-Control-Allow-Origin %q, expected %q", got, allowed)
			}
			exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
			for _, want := range []string{"location", "retry-after", "x-request-id"} {
				if !strings.Contains(exposed, want) {
					t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, want)
				}
			}
		})

		t.Run("request from another origin gets no allow header", func(t *testing.T) {
			t.Parallel()
			resp, _ := s.send(t, rawRequest{Method: http.MethodGet, Path: "/api/v1/org_abc123/scanners",
				Token: token(t, demoOrgID), Header: http.Header{"Origin": {"https://evil.example.com"}}})
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("Access-Control-Allow-Origin %q for an origin that is not allowed", got)
			}
		})
	})
}
