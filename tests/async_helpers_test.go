package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// asyncTimeout bounds every wait for a job or a listing to settle. With the
// harness's 5 ms steps a workflow takes tens of milliseconds, and the margin
// covers a loaded 2-core machine running the race detector.
const asyncTimeout = 30 * time.Second

// busyStepDelay is the step delay of servers whose tests send requests while
// a workflow is still active: a removal then lasts about 4 × 200 ms.
const busyStepDelay = 200 * time.Millisecond

// Ids of the demo fixture (demoFixture) used by the asynchronous tests.
const (
	orgABC        = "org_abc123"
	orgOther      = "org_other456"
	cloudOrgABC   = "o-abc123xyz"
	cloudOrgDEF   = "o-def456uvw"
	cloudOrgAzure = "72f988bf-86f1-41af-91ab-2d7cd011db47"
)

// Steps of the local engine's workflows, as reported in currentStep.
const (
	stepDeleteStack          = "delete-stack"
	stepAwaitingStackDeleted = "awaiting-stack-deleted"
	stepPostStatus           = "post-status"
	stepRemovingScanners     = "removing-scanners"
	stepDeletingCredentials  = "deleting-credentials"
)

const uuidPattern = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`

// Job id prefixes of the service.
const (
	prefixRemove    = "rm-scan"
	prefixReinstall = "ri-scan"
	prefixUninstall = "un-scan"
	prefixRemoveOrg = "rm-org"
)

// timedJobIDPattern matches `<prefix>-<id>-<unix seconds>`, optionally
// followed by `-<n>`, the suffix that distinguishes two jobs of one operation
// on one id created within the same second.
func timedJobIDPattern(prefix, id string) *regexp.Regexp {
	return regexp.MustCompile(`^` + prefix + `-` + regexp.QuoteMeta(id) + `-[0-9]{10}(-[0-9]+)?$`)
}

// correlationIDPattern matches `<prefix>-<uuid>`, the id of a batch or of a
// cloud provider removal.
func correlationIDPattern(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `-` + uuidPattern + `$`)
}

var jobIDUnixPattern = regexp.MustCompile(`-([0-9]{10})(?:-[0-9]+)?$`)

// checkJobIDTime checks that the Unix seconds in a timed job id fall between
// from and to, to the second.
func checkJobIDTime(t *testing.T, jobID string, from, to time.Time) {
	t.Helper()
	m := jobIDUnixPattern.FindStringSubmatch(jobID)
	if m == nil {
		t.Errorf("job id %q has no Unix-seconds suffix", jobID)
		return
	}
	unix, _ := strconv.ParseInt(m[1], 10, 64)
	if unix < from.Unix() || unix > to.Unix() {
		t.Errorf("job id %q carries Unix time %d, want between %d and %d (the request's send and receive times)",
			jobID, unix, from.Unix(), to.Unix())
	}
}

// wantStatus fails the test now when got is not want, showing the body.
func wantStatus(t *testing.T, what string, got *http.Response, body []byte, want int) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no response", what)
	}
	if got.StatusCode != want {
		t.Fatalf("%s: status %d, want %d; body: %s", what, got.StatusCode, want, body)
	}
}

// wantError checks an error response: its status and that its "error" field
// contains each of the fragments.
func wantError(t *testing.T, what string, got *http.Response, body []byte, status int, fragments ...string) api.Error {
	t.Helper()
	wantStatus(t, what, got, body, status)
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: the body is not an error object: %v; body: %s", what, err, body)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Error, f) {
			t.Errorf("%s: error %q does not contain %q", what, e.Error, f)
		}
	}
	return e
}

// wantHeader checks one response header.
func wantHeader(t *testing.T, what string, resp *http.Response, name, want string) {
	t.Helper()
	if got := resp.Header.Get(name); got != want {
		t.Errorf("%s: header %s = %q, want %q", what, name, got, want)
	}
}

// getScanner reads a scanner configuration. The scanner is nil when the
// response is not 200.
func getScanner(t *testing.T, c *api.ClientWithResponses, orgID, configID string) (*api.Scanner, *api.GetScannerResponse) {
	t.Helper()
	resp, err := c.GetScannerWithResponse(t.Context(), orgID, configID)
	if err != nil {
		t.Fatalf("GET scanner %s: %v", configID, err)
	}
	return resp.JSON200, resp
}

// wantScannerState checks that a scanner configuration exists in state.
func wantScannerState(t *testing.T, c *api.ClientWithResponses, configID string, state api.ScannerState) api.Scanner {
	t.Helper()
	scanner, resp := getScanner(t, c, orgABC, configID)
	wantStatus(t, "GET scanner "+configID, resp.HTTPResponse, resp.Body, http.StatusOK)
	if scanner.State != state {
		t.Errorf("scanner %s: state = %s, want %s (lastError %q)", configID, scanner.State, state, deref(scanner.LastError))
	}
	return *scanner
}

// wantScannerGone checks that reading a scanner configuration returns 404
// "Config not found".
func wantScannerGone(t *testing.T, c *api.ClientWithResponses, configID string) {
	t.Helper()
	_, resp := getScanner(t, c, orgABC, configID)
	wantError(t, "GET removed scanner "+configID, resp.HTTPResponse, resp.Body, http.StatusNotFound, "Config not found")
}

// scannerIDs lists the config ids of the organisation's scanners that match
// params, in the listing's order.
func scannerIDs(t *testing.T, c *api.ClientWithResponses, orgID string, params api.ListScannersParams) []string {
	t.Helper()
	resp, err := c.ListScannersWithResponse(t.Context(), orgID, &params)
	if err != nil {
		t.Fatalf("GET scanners: %v", err)
	}
	wantStatus(t, "GET scanners", resp.HTTPResponse, resp.Body, http.StatusOK)
	ids := make([]string, 0, len(resp.JSON200.Scanners))
	for _, s := range resp.JSON200.Scanners {
		ids = append(ids, s.ConfigID)
	}
	return ids
}

// removeScanner sends POST scanner/remove for an aws config.
func removeScanner(t *testing.T, c *api.ClientWithResponses, configID string) *api.RemoveScannerResponse {
	t.Helper()
	resp, err := c.RemoveScannerWithResponse(t.Context(), orgABC, api.ScannerRequest{ConfigID: configID, CloudProvider: api.Aws})
	if err != nil {
		t.Fatalf("POST scanner/remove %s: %v", configID, err)
	}
	return resp
}

// startRemoval removes an aws config and returns the accepted job id.
func startRemoval(t *testing.T, c *api.ClientWithResponses, configID string) string {
	t.Helper()
	resp := removeScanner(t, c, configID)
	wantStatus(t, "POST scanner/remove "+configID, resp.HTTPResponse, resp.Body, http.StatusAccepted)
	return resp.JSON202.JobID
}

// manage sends POST management/reinstall or management/uninstall and checks
// the 200 response: empty body, Retry-After 30 and a Location listing the
// config's jobs.
func manage(t *testing.T, c *api.ClientWithResponses, op api.Operation, configID string) {
	t.Helper()
	var resp *http.Response
	var body []byte
	switch op {
	case api.Reinstall:
		r, err := c.ReinstallScannerWithResponse(t.Context(), orgABC, &api.ReinstallScannerParams{ConfigID: configID})
		if err != nil {
			t.Fatalf("POST management/reinstall %s: %v", configID, err)
		}
		resp, body = r.HTTPResponse, r.Body
	case api.Uninstall:
		r, err := c.UninstallScannerWithResponse(t.Context(), orgABC, &api.UninstallScannerParams{ConfigID: configID})
		if err != nil {
			t.Fatalf("POST management/uninstall %s: %v", configID, err)
		}
		resp, body = r.HTTPResponse, r.Body
	default:
		t.Fatalf("manage: %s is not a management operation", op)
	}

	what := fmt.Sprintf("POST management/%s %s", op, configID)
	wantStatus(t, what, resp, body, http.StatusOK)
	if len(body) != 0 {
		t.Errorf("%s: body %q, want empty", what, body)
	}
	wantHeader(t, what, resp, "Retry-After", "30")
	wantHeader(t, what, resp, "Location", "/api/v1/jobs?config-id="+configID)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T {
	return &v
}
