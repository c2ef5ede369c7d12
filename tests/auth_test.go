package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// jwtPattern matches a compact JWS whose header is a JSON object, as every
// token of this suite is: its first part always starts with "eyJ" ("{").
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)

// protectedPaths are requests of every kind of /api/v1 route, used for the
// authentication matrix. None of them changes state when it is let through
// except the pause, which the test then checks did not happen.
var protectedPaths = []rawRequest{
	{Method: http.MethodGet, Path: "/api/v1/org_abc123/scanners"},
	{Method: http.MethodGet, Path: "/api/v1/org_abc123/scanners/cfg-scanner-002"},
	{Method: http.MethodPost, Path: "/api/v1/org_abc123/management/pause?config-id=cfg-scanner-002"},
	{Method: http.MethodPost, Path: "/api/v1/org_abc123/scanner/batch/pause",
		Body: `{"scanners": [{"configID": "cfg-scanner-002", "cloudProvider": "aws"}]}`},
	{Method: http.MethodGet, Path: "/api/v1/jobs?config-id=cfg-scanner-002"},
	{Method: http.MethodGet, Path: "/api/v1/jobs/rm-scan-cfg-scanner-002-1733980800"},
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		// Debug logging shows whether any log line, at any level, carries a token.
		s := startServer(t, ServerOptions{Backend: b, Env: map[string]string{"ONBOARDING_LOG_LEVEL": "debug"}})
		sent := &sentTokens{}

		t.Run("requests", func(t *testing.T) {
			t.Run("invalid credentials are unauthorised", func(t *testing.T) {
				t.Parallel()
				testUnauthorised(t, s, sent)
			})
			t.Run("token of no or another organisation is forbidden", func(t *testing.T) {
				t.Parallel()
				testForbidden(t, s, sent)
			})
			t.Run("scheme is case-insensitive", func(t *testing.T) {
				t.Parallel()
				for _, scheme := range []string{"bearer", "BEARER"} {
					resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: "/api/v1/org_abc123/scanners",
						Header: http.Header{"Authorization": {scheme + " " + token(t, demoOrgID)}}})
					if resp.StatusCode != http.StatusOK {
						t.Errorf("scheme %q: status %d, expected 200; body: %s", scheme, resp.StatusCode, body)
					}
				}
			})
			t.Run("docs and probes need no token", func(t *testing.T) {
				t.Parallel()
				testPublicPaths(t, s)
			})
			t.Run("jobs of another organisation are not found", func(t *testing.T) {
				t.Parallel()
				testJobTenancy(t, s)
			})
		})

		t.Run("rejected requests changed nothing", func(t *testing.T) {
			if fetchScanner(t, s.Client(t, demoOrgID), demoOrgID, "cfg-scanner-002").WorkersPaused {
				t.Errorf("cfg-scanner-002 was paused by a request without valid credentials")
			}
		})

		t.Run("logs hold no token", func(t *testing.T) {
			logs := s.Logs.String()
			if !strings.Contains(logs, `"status":401`) {
				t.Fatalf("the logs hold no 401 request line, so the check below would prove nothing:\n%s", s.Logs.tail(20))
			}
			if found := jwtPattern.FindAllString(logs, 5); len(found) > 0 {
				t.Errorf("the logs hold %d token-like strings, such as %.60q", len(found), found[0])
			}
			for _, secret := range sent.all() {
				if strings.Contains(logs, secret) {
					t.Errorf("the logs hold the credential %.60q", secret)
				}
			}
		})
	})
}

// sentTokens collects the credentials the test sent, to look for them in
// the logs.
type sentTokens struct {
	mu     sync.Mutex
	values []string
}

func (s *sentTokens) add(v string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
	return v
}

func (s *sentTokens) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...)
}

func testUnauthorised(t *testing.T, s *Server, sent *sentTokens) {
	now := time.Now()
	otherSecret := []byte("another-secret-of-forty-bytes-0123456789")
	cases := []struct {
		name          string
		authorization string // the whole header; empty sends none
	}{
		{"no Authorization header", ""},
		{"Basic scheme", "Basic " + sent.add("dXNlcjpwYXNzd29yZA==")},
		{"Bearer without a token", "Bearer"},
		{"Bearer with blank token", "Bearer    "},
		{"malformed token", "Bearer " + sent.add("not-a-token")},
		{"three parts that are not base64url", "Bearer " + sent.add("abc.d*f.ghi")},
		{"payload that is not JSON", "Bearer " + sent.add(malformedPayloadToken())},
		{"alg none", "Bearer " + sent.add(unsignedToken(t, now))},
		{"wrong signature", "Bearer " + sent.add(signToken(t, otherSecret, jwa.HS256, claims(now, demoOrgID)))},
		{"HS512 with the right secret", "Bearer " + sent.add(signToken(t, []byte(testSecret), jwa.HS512, claims(now, demoOrgID)))},
		{"expired token", "Bearer " + sent.add(signToken(t, []byte(testSecret), jwa.HS256,
			claims(now.Add(-2*time.Hour), demoOrgID).Expiration(now.Add(-time.Hour))))},
		{"token without exp", "Bearer " + sent.add(signToken(t, []byte(testSecret), jwa.HS256,
			jwt.NewBuilder().Subject("tester").IssuedAt(now).Claim("org-id", demoOrgID)))},
		{"token valid only in the future", "Bearer " + sent.add(signToken(t, []byte(testSecret), jwa.HS256,
			claims(now, demoOrgID).NotBefore(now.Add(time.Hour)).Expiration(now.Add(2*time.Hour))))},
		{"valid token after another scheme", "Token " + sent.add(token(t, demoOrgID))},
	}

	for _, tc := range cases {
		for _, r := range protectedPaths {
			if tc.authorization != "" {
				r.Header = http.Header{"Authorization": {tc.authorization}}
			}
			call := tc.name + ": " + r.Method + " " + r.Path
			resp, body := s.send(t, r)
			expectError(t, call, resp.StatusCode, body, http.StatusUnauthorized, "Unauthorised")
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q, expected it to start with Bearer", call, got)
			}
		}
	}
}

func testForbidden(t *testing.T, s *Server, sent *sentTokens) {
	now := time.Now()
	cases := []struct {
		name  string
		token string
		// jobs is whether /api/v1/jobs, which has no orgID in its
		// path, is forbidden too.
		jobs bool
	}{
		{"token without org-id", signToken(t, []byte(testSecret), jwa.HS256,
			jwt.NewBuilder().Subject("tester").IssuedAt(now).Expiration(now.Add(time.Hour))), true},
		{"org-id that is not a string", signToken(t, []byte(testSecret), jwa.HS256,
			jwt.NewBuilder().IssuedAt(now).Expiration(now.Add(time.Hour)).Claim("org-id", 123)), true},
		{"empty org-id", signToken(t, []byte(testSecret), jwa.HS256, claims(now, "")), true},
		{"token of another organisation", token(t, otherOrgID), false},
	}

	for _, tc := range cases {
		sent.add(tc.token)
		for _, r := range protectedPaths {
			if strings.HasPrefix(r.Path, "/api/v1/jobs") && !tc.jobs {
				continue
			}
			r.Token = tc.token
			resp, body := s.send(t, r)
			expectError(t, tc.name+": "+r.Method+" "+r.Path, resp.StatusCode, body, http.StatusForbidden, "Access denied")
		}
	}
}

func testPublicPaths(t *testing.T, s *Server) {
	cases := []struct {
		path string
		// contains is a string the body must hold.
		contains string
	}{
		{"/healthz", `"status":"ok"`},
		{"/readyz", `"status":"ok"`},
		{"/openapi.yaml", "openapi: 3.0.3"},
		{"/openapi.json", `"openapi":"3.0.3"`},
		{"/swagger/index.html", "swagger-ui"},
	}
	for _, tc := range cases {
		for _, authorization := range []string{"", "Bearer not-a-token"} {
			r := rawRequest{Method: http.MethodGet, Path: tc.path}
			if authorization != "" {
				r.Header = http.Header{"Authorization": {authorization}}
			}
			resp, body := s.send(t, r)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s (Authorization %q): status %d, expected 200; body: %.200s", tc.path, authorization, resp.StatusCode, body)
				continue
			}
			if compact := strings.ReplaceAll(string(body), " ", ""); !strings.Contains(string(body), tc.contains) &&
				!strings.Contains(compact, strings.ReplaceAll(tc.contains, " ", "")) {
				t.Errorf("GET %s: body lacks %q: %.200s", tc.path, tc.contains, body)
			}
		}
	}

	resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: "/openapi.json"})
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || doc["paths"] == nil {
		t.Errorf("GET /openapi.json (status %d) is not the JSON document: %v", resp.StatusCode, err)
	}
}

// testJobTenancy creates a job and a batch parent for demoOrgID and checks
// that otherOrgID's token finds neither.
func testJobTenancy(t *testing.T, s *Server) {
	own := s.Client(t, demoOrgID)
	other := s.Client(t, otherOrgID)

	resp, body := s.send(t, rawRequest{Method: http.MethodPost, Token: token(t, demoOrgID),
		Path: "/api/v1/org_abc123/management/reinstall?config-id=cfg-scanner-001"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reinstall cfg-scanner-001: status %d, expected 200; body: %s", resp.StatusCode, body)
	}
	configID := "cfg-scanner-001"
	var jobID string
	waitFor(t, 10*time.Second, "the reinstall job of cfg-scanner-001 to be listed", func() (bool, error) {
		list, err := own.ListJobsWithResponse(t.Context(), &api.ListJobsParams{ConfigID: &configID})
		if err != nil {
			return false, err
		}
		if list.JSON200 == nil || len(list.JSON200.Jobs) == 0 {
			return false, fmt.Errorf("status %d, body %s", list.StatusCode(), list.Body)
		}
		jobID = list.JSON200.Jobs[0].WorkflowName
		return true, nil
	})

	ownJob, err := own.GetJobWithResponse(t.Context(), jobID)
	if err != nil || ownJob.StatusCode() != http.StatusOK {
		t.Fatalf("GET job %s with its own organisation's token: %v; body: %s", jobID, err, ownJob.Body)
	}

	otherJob, err := other.GetJobWithResponse(t.Context(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, "GET job "+jobID+" as "+otherOrgID, otherJob.StatusCode(), otherJob.Body, http.StatusNotFound, "Job not found")

	otherList, err := other.ListJobsWithResponse(t.Context(), &api.ListJobsParams{ConfigID: &configID})
	if err != nil {
		t.Fatal(err)
	}
	if otherList.StatusCode() != http.StatusNotFound &&
		(otherList.JSON200 == nil || len(otherList.JSON200.Jobs) != 0 || otherList.JSON200.Summary.Total != 0) {
		t.Errorf("GET jobs of %s as %s: status %d, expected 404 or no job; body: %s",
			configID, otherOrgID, otherList.StatusCode(), otherList.Body)
	}

	// A batch whose only item fails creates a parent id without children.
	batch, err := own.BatchRemoveScannersWithResponse(t.Context(), demoOrgID,
		api.BatchScannerRequest{Scanners: []api.BatchScannerItem{{ConfigID: "cfg-missing", CloudProvider: "aws"}}})
	if err != nil || batch.JSON202 == nil {
		t.Fatalf("batch remove of cfg-missing: %v; body: %s", err, batch.Body)
	}
	parentID := batch.JSON202.JobID
	ownParent, err := own.ListJobsWithResponse(t.Context(), &api.ListJobsParams{ParentID: &parentID})
	if err != nil || ownParent.JSON200 == nil || ownParent.JSON200.Summary.Total != 0 {
		t.Errorf("GET parent %s as %s: %v, expected 200 with total 0; body: %s", parentID, demoOrgID, err, ownParent.Body)
	}
	otherParent, err := other.ListJobsWithResponse(t.Context(), &api.ListJobsParams{ParentID: &parentID})
	if err != nil {
		t.Fatal(err)
	}
	if otherParent.StatusCode() != http.StatusNotFound {
		t.Errorf("GET parent %s as %s: status %d, expected 404; body: %s", parentID, otherOrgID, otherParent.StatusCode(), otherParent.Body)
	}
}

// claims returns a builder with the claims of a valid token for orgID
// issued at now: iat, nbf, exp one hour later, sub and org-id.
func claims(now time.Time, orgID string) *jwt.Builder {
	return jwt.NewBuilder().Subject("tester").IssuedAt(now).NotBefore(now).Expiration(now.Add(time.Hour)).Claim("org-id", orgID)
}

// signToken builds the claims and signs them with alg and secret.
func signToken(t *testing.T, secret []byte, alg jwa.SignatureAlgorithm, builder *jwt.Builder) string {
	t.Helper()
	tok, err := builder.Build()
	if err != nil {
		t.Fatalf("building claims: %v", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, secret))
	if err != nil {
		t.Fatalf("signing with %s: %v", alg, err)
	}
	return string(signed)
}

// unsignedToken returns a token with "alg": "none" and an empty signature
// whose claims would otherwise be valid for demoOrgID.
func unsignedToken(t *testing.T, now time.Time) string {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"sub": "tester", "org-id": demoOrgID, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	encode := base64.RawURLEncoding.EncodeToString
	return encode([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + encode(payload) + "."
}

// malformedPayloadToken returns a token with a valid header whose payload
// is not JSON; its signature is garbage.
func malformedPayloadToken() string {
	encode := base64.RawURLEncoding.EncodeToString
	return encode([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + encode([]byte("not json")) + "." + encode([]byte("signature"))
}
