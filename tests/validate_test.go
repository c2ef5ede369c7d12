package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/openapi"
)

// requestTimeout bounds one HTTP exchange of the test clients; the longest
// is a batch of 1000 items.
const requestTimeout = 60 * time.Second

// specRouter finds the operation of a request in openapi/openapi.yaml; set by
// loadSpec in TestMain.
var specRouter routers.Router

// loadSpec parses and validates the embedded OpenAPI document and builds the
// router used to validate responses. The document's servers are dropped so
// that routes match the test servers' 127.0.0.1 addresses.
func loadSpec() error {
	doc, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
	if err != nil {
		return fmt.Errorf("loading openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return fmt.Errorf("openapi.yaml is invalid: %w", err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return fmt.Errorf("building a router from openapi.yaml: %w", err)
	}
	specRouter = router
	return nil
}

// Client returns a generated client that sends a bearer token for orgID and
// validates every response, see RawClient. A client reports failures on the
// t it was created with, so create one per test or subtest.
func (s *Server) Client(t *testing.T, orgID string) *api.ClientWithResponses {
	t.Helper()
	bearer := "Bearer " + token(t, orgID)
	client, err := api.NewClientWithResponses(s.URL,
		api.WithHTTPClient(s.RawClient(t)),
		api.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", bearer)
			return nil
		}))
	if err != nil {
		t.Fatalf("creating the API client: %v", err)
	}
	return client
}

// RawClient returns an HTTP client without a token whose responses are
// checked like the generated client's. A response of an operation of
// openapi.yaml must match the document (status, headers, body). Every 4xx
// and 5xx body must be a JSON error object, and a 5xx fails the test unless
// AllowServerErrors was called. Responses of paths the document does not
// define (the docs pages, an unknown route) are checked for the error body
// only. Failures are reported with t.Errorf.
func (s *Server) RawClient(t *testing.T) *http.Client {
	return &http.Client{
		Timeout:   requestTimeout,
		Transport: &validatingTransport{t: t, server: s, next: s.transport},
	}
}

// validatingTransport checks every response it passes on.
type validatingTransport struct {
	t      *testing.T
	server *Server
	next   http.RoundTripper
}

// RoundTrip sends req, reads the whole response body, checks the response
// and returns it with the body rewound.
func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the response to %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	v.check(req, resp, body)
	return resp, nil
}

func (v *validatingTransport) check(req *http.Request, resp *http.Response, body []byte) {
	v.t.Helper()
	for _, problem := range checkResponse(req, resp, body, v.server.allowServerErrors.Load()) {
		v.t.Errorf("%s", problem)
	}
}

// checkResponse returns what is wrong with a response, one message per
// problem, each naming the request. Problems are a 5xx unless
// allowServerErrors, an error body that is not a JSON error object, and a
// mismatch with the request's operation in openapi.yaml.
func checkResponse(req *http.Request, resp *http.Response, body []byte, allowServerErrors bool) []string {
	call := req.Method + " " + req.URL.Path
	var problems []string

	if resp.StatusCode >= 500 && !allowServerErrors {
		problems = append(problems, fmt.Sprintf("%s: server error %d: %s", call, resp.StatusCode, body))
	}

	route, params, err := specRouter.FindRoute(req)
	known := err == nil
	if err != nil && !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
		problems = append(problems, fmt.Sprintf("%s: finding the operation in openapi.yaml: %v", call, err))
	}

	if resp.StatusCode >= 400 && req.Method != http.MethodHead && (!known || documentsErrorBody(route.Operation, resp.StatusCode)) {
		if err := checkErrorBody(resp.Header, body); err != nil {
			problems = append(problems, fmt.Sprintf("%s: status %d: %v", call, resp.StatusCode, err))
		}
	}
	if !known {
		return problems // not an operation of the document
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), input); err != nil {
		problems = append(problems, fmt.Sprintf("%s (operation %s): status %d does not match openapi.yaml: %v\nbody: %.2000s",
			call, route.Operation.OperationID, resp.StatusCode, err, body))
	}
	return problems
}

// documentsErrorBody reports whether op responds to status with the Error
// schema, or does not document status at all. The readiness probe's 503,
// for one, is a HealthStatus instead.
func documentsErrorBody(op *openapi3.Operation, status int) bool {
	response := op.Responses.Status(status)
	if response == nil || response.Value == nil {
		return true
	}
	media := response.Value.Content.Get("application/json")
	if media == nil || media.Schema == nil {
		return true
	}
	return strings.HasSuffix(media.Schema.Ref, "/Error")
}

// checkErrorBody checks that an error response is a JSON object with a
// non-empty string "error" and, at most, a string "jobId" besides.
func checkErrorBody(header http.Header, body []byte) error {
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("error Content-Type is %q, expected application/json; body: %s", ct, body)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		return fmt.Errorf("error body is not a JSON object: %v; body: %s", err, body)
	}
	message, ok := fields["error"].(string)
	if !ok || message == "" {
		return fmt.Errorf("error body has no non-empty string \"error\": %s", body)
	}
	var extra []string
	for key, value := range fields {
		switch key {
		case "error":
		case "jobId":
			if _, ok := value.(string); !ok {
				return fmt.Errorf("error body's jobId is not a string: %s", body)
			}
		default:
			extra = append(extra, key)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("error body has fields other than error and jobId: %v; body: %s", extra, body)
	}
	return nil
}

// rawRequest is a request sent with Server.send, for calls the generated
// client cannot make: missing or malformed parameters, bodies and headers.
type rawRequest struct {
	Method string
	// Path is the path and query, such as /api/v1/org_abc123/scanners?limit=2.
	Path string
	// Token, when set, is sent as "Authorization: Bearer Token".
	Token string
	// ContentType defaults to application/json when Body is set.
	ContentType string
	Body        string
	// Header holds extra headers; Authorization here overrides Token.
	Header http.Header
}

// send makes r through RawClient and returns the response and its body.
func (s *Server) send(t *testing.T, r rawRequest) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(t.Context(), r.Method, s.URL+r.Path, body)
	if err != nil {
		t.Fatalf("building %s %s: %v", r.Method, r.Path, err)
	}
	if r.Body != "" {
		contentType := r.ContentType
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for key, values := range r.Header {
		req.Header[key] = values
	}

	resp, err := s.RawClient(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", r.Method, r.Path, err)
	}
	return resp, data
}

// errorMessage decodes the "error" field of an error body, or returns "".
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error
}

// expectError fails the test unless the response has status want and the
// error message wantMessage exactly.
func expectError(t *testing.T, call string, status int, body []byte, want int, wantMessage string) {
	t.Helper()
	if status != want {
		t.Errorf("%s: status %d, expected %d; body: %s", call, status, want, body)
		return
	}
	if got := errorMessage(body); got != wantMessage {
		t.Errorf("%s: error %q, expected %q", call, got, wantMessage)
	}
}

// expectErrorNaming fails the test unless the response has status want and
// an error message that contains every one of names.
func expectErrorNaming(t *testing.T, call string, status int, body []byte, want int, names ...string) {
	t.Helper()
	if status != want {
		t.Errorf("%s: status %d, expected %d; body: %s", call, status, want, body)
		return
	}
	message := errorMessage(body)
	for _, name := range names {
		if !strings.Contains(message, name) {
			t.Errorf("%s: error %q does not name %q", call, message, name)
		}
	}
}

// TestResponseChecks proves that the harness fails on responses that break
// the contract, so a passing suite means something.
func TestResponseChecks(t *testing.T) {
	t.Parallel()
	const pausePath = "/api/v1/org_abc123/management/pause?config-id=cfg-scanner-001"
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name        string
		method      string
		path        string
		status      int
		header      http.Header
		body        string
		allow5xx    bool
		wantProblem bool
	}{
		{"matching response", http.MethodPost, pausePath, 200, jsonHeader,
			`{"message":"workers paused successfully","configId":"cfg-scanner-001","workersPaused":true}`, false, false},
		{"field of the wrong type", http.MethodPost, pausePath, 200, jsonHeader,
			`{"message":"workers paused successfully","configId":"cfg-scanner-001","workersPaused":"yes"}`, false, true},
		{"message outside the enum", http.MethodPost, pausePath, 200, jsonHeader,
			`{"message":"paused","configId":"cfg-scanner-001","workersPaused":true}`, false, true},
		{"missing required field", http.MethodPost, pausePath, 200, jsonHeader,
			`{"message":"workers paused successfully","workersPaused":true}`, false, true},
		{"undocumented status", http.MethodPost, pausePath, 418, jsonHeader, `{"error":"teapot"}`, false, true},
		{"error with an extra field", http.MethodPost, pausePath, 404, jsonHeader,
			`{"error":"Config not found","detail":"x"}`, false, true},
		{"error that is not JSON", http.MethodGet, "/nothing", 404, http.Header{"Content-Type": {"text/plain"}}, "404 page not found", false, true},
		{"error with an empty message", http.MethodGet, "/nothing", 404, jsonHeader, `{"error":""}`, false, true},
		{"server error", http.MethodGet, "/readyz", 503, jsonHeader, `{"status":"unavailable"}`, false, true},
		{"allowed server error", http.MethodGet, "/readyz", 503, jsonHeader, `{"status":"unavailable"}`, true, false},
		{"202 without Location", http.MethodPost, "/api/v1/org_abc123/scanner/remove", 202,
			http.Header{"Content-Type": {"application/json"}, "Retry-After": {"30"}},
			`{"jobId":"rm-scan-cfg-scanner-001-1733980800","statusUrl":"/api/v1/jobs/rm-scan-cfg-scanner-001-1733980800"}`, false, true},
		{"path outside the document", http.MethodGet, "/swagger/index.html", 200, http.Header{"Content-Type": {"text/html"}}, "<html>", false, false},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, "http://127.0.0.1:1"+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp := &http.Response{StatusCode: tc.status, Header: tc.header}
		problems := checkResponse(req, resp, []byte(tc.body), tc.allow5xx)
		if got := len(problems) > 0; got != tc.wantProblem {
			t.Errorf("%s: problems %q, expected a problem: %t", tc.name, problems, tc.wantProblem)
		}
	}
}
