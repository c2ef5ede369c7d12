package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// The four messages of the management pause and unpause operations.
const (
	msgPaused          = "workers paused successfully"
	msgAlreadyPaused   = "workers already paused"
	msgUnpaused        = "workers unpaused successfully"
	msgAlreadyUnpaused = "workers already unpaused"
)

// The two messages of region disable.
const (
	msgRegionDisabled        = "Region disabled successfully"
	msgRegionAlreadyDisabled = "Region already disabled"
)

func TestManagementPauseUnpause(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("pause persists and repeats as already paused", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			setWorkers(t, c, "cfg-scanner-001", true, msgPaused)
			if got := fetchScanner(t, c, demoOrgID, "cfg-scanner-001"); !got.WorkersPaused {
				t.Errorf("GET cfg-scanner-001 after pause: workersPaused false, expected true")
			}
			setWorkers(t, c, "cfg-scanner-001", true, msgAlreadyPaused)
			if got := fetchScanner(t, c, demoOrgID, "cfg-scanner-001"); !got.WorkersPaused {
				t.Errorf("GET cfg-scanner-001 after second pause: workersPaused false, expected true")
			}
		})

		t.Run("unpause persists and repeats as already unpaused", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			// cfg-scanner-201 is paused in the fixture.
			setWorkers(t, c, "cfg-scanner-201", false, msgUnpaused)
			if got := fetchScanner(t, c, demoOrgID, "cfg-scanner-201"); got.WorkersPaused {
				t.Errorf("GET cfg-scanner-201 after unpause: workersPaused true, expected false")
			}
			setWorkers(t, c, "cfg-scanner-201", false, msgAlreadyUnpaused)
		})

		t.Run("pause and unpause alternate", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			setWorkers(t, c, "cfg-scanner-002", false, msgAlreadyUnpaused)
			setWorkers(t, c, "cfg-scanner-002", true, msgPaused)
			setWorkers(t, c, "cfg-scanner-002", false, msgUnpaused)
			setWorkers(t, c, "cfg-scanner-002", true, msgPaused)
			if got := fetchScanner(t, c, demoOrgID, "cfg-scanner-002"); !got.WorkersPaused {
				t.Errorf("GET cfg-scanner-002 after the last pause: workersPaused false, expected true")
			}
		})

		t.Run("unknown config is not found", func(t *testing.T) {
			t.Parallel()
			for _, op := range []string{"pause", "unpause"} {
				path := "/api/v1/org_abc123/management/" + op + "?config-id=cfg-missing"
				resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID)})
				expectError(t, "POST "+path, resp.StatusCode, body, http.StatusNotFound, "Config not found")
			}
		})

		t.Run("another organisation's config is not found", func(t *testing.T) {
			t.Parallel()
			for _, op := range []string{"pause", "unpause"} {
				path := "/api/v1/org_abc123/management/" + op + "?config-id=cfg-other-001"
				resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID)})
				expectError(t, "POST "+path, resp.StatusCode, body, http.StatusNotFound, "Config not found")
			}
			other := s.Client(t, otherOrgID)
			if got := fetchScanner(t, other, otherOrgID, "cfg-other-001"); got.WorkersPaused {
				t.Errorf("cfg-other-001 of %s was paused through %s's path", otherOrgID, demoOrgID)
			}
		})

		t.Run("missing config-id is rejected", func(t *testing.T) {
			t.Parallel()
			for _, op := range []string{"pause", "unpause"} {
				path := "/api/v1/org_abc123/management/" + op
				resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID)})
				expectError(t, "POST "+path, resp.StatusCode, body, http.StatusBadRequest, "config-id is required")
			}
		})

		t.Run("invalid config-id is rejected", func(t *testing.T) {
			t.Parallel()
			invalid := []string{"", "cfg scanner", "cfg/001", "cfg-ü", strings.Repeat("c", 129)}
			for _, op := range []string{"pause", "unpause"} {
				for _, configID := range invalid {
					path := "/api/v1/org_abc123/management/" + op + "?config-id=" + url.QueryEscape(configID)
					resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID)})
					expectErrorNaming(t, "POST "+path, resp.StatusCode, body, http.StatusBadRequest, "config-id")
				}
			}
		})
	})
}

// setWorkers pauses (paused true) or unpauses configID of demoOrgID and
// checks the whole response: status 200, message, configId and workersPaused.
func setWorkers(t *testing.T, c *api.ClientWithResponses, configID string, paused bool, wantMessage string) {
	t.Helper()
	params := api.PauseScannerParams{ConfigID: configID}
	var status int
	var body []byte
	var answer *api.WorkersResponse
	op := "unpause"
	if paused {
		op = "pause"
		resp, err := c.PauseScannerWithResponse(t.Context(), demoOrgID, &params)
		if err != nil {
			t.Fatalf("pause %s: %v", configID, err)
		}
		status, body, answer = resp.StatusCode(), resp.Body, resp.JSON200
	} else {
		resp, err := c.UnpauseScannerWithResponse(t.Context(), demoOrgID, (*api.UnpauseScannerParams)(&params))
		if err != nil {
			t.Fatalf("unpause %s: %v", configID, err)
		}
		status, body, answer = resp.StatusCode(), resp.Body, resp.JSON200
	}

	what := op + " " + configID
	if status != http.StatusOK || answer == nil {
		t.Fatalf("%s: status %d, expected 200; body: %s", what, status, body)
	}
	expectFields(t, what, body, "message", "configId", "workersPaused")
	if string(answer.Message) != wantMessage {
		t.Errorf("%s: message %q, expected %q", what, answer.Message, wantMessage)
	}
	if answer.ConfigID != configID {
		t.Errorf("%s: configId %q, expected %q", what, answer.ConfigID, configID)
	}
	if answer.WorkersPaused != paused {
		t.Errorf("%s: workersPaused %t, expected %t", what, answer.WorkersPaused, paused)
	}
}

// fetchScanner returns configID of orgID, failing the test unless the
// status is 200.
func fetchScanner(t *testing.T, c *api.ClientWithResponses, orgID, configID string) api.Scanner {
	t.Helper()
	resp, err := c.GetScannerWithResponse(t.Context(), orgID, configID)
	if err != nil {
		t.Fatalf("GET scanner %s/%s: %v", orgID, configID, err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("GET scanner %s/%s: status %d, expected 200; body: %s", orgID, configID, resp.StatusCode(), resp.Body)
	}
	return *resp.JSON200
}

// expectFields fails the test unless body is a JSON object with exactly
// the keys named.
func expectFields(t *testing.T, what string, body []byte, keys ...string) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Errorf("%s: body is not a JSON object: %v; body: %s", what, err, body)
		return
	}
	got := make([]string, 0, len(fields))
	for key := range fields {
		got = append(got, key)
	}
	sort.Strings(got)
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: body fields %v, expected %v; body: %s", what, got, want, body)
	}
}

func TestRegionDisable(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("disables the config's region once", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			disableRegion(t, c, "cfg-scanner-002", api.Aws, msgRegionDisabled, "eu-west-1", "o-abc123xyz")
			expectRegionEnabled(t, c, "cfg-scanner-002", false)
			expectRegionEnabled(t, c, "cfg-scanner-001", true) // us-east-1 of the same cloud organisation
			disableRegion(t, c, "cfg-scanner-002", api.Aws, msgRegionAlreadyDisabled, "eu-west-1", "o-abc123xyz")
			expectRegionEnabled(t, c, "cfg-scanner-002", false)

			// cfg-scanner-001 and cfg-scanner-123 are both in us-east-1, so
			// disabling the region of one disables it for the other.
			disableRegion(t, c, "cfg-scanner-001", api.Aws, msgRegionDisabled, "us-east-1", "o-abc123xyz")
			expectRegionEnabled(t, c, "cfg-scanner-123", false)
			disableRegion(t, c, "cfg-scanner-123", api.Aws, msgRegionAlreadyDisabled, "us-east-1", "o-abc123xyz")
		})

		t.Run("azure config names its tenant", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			disableRegion(t, c, "cfg-azure-001", api.Azure, msgRegionDisabled, "westeurope", "72f988bf-86f1-41af-91ab-2d7cd011db47")
			expectRegionEnabled(t, c, "cfg-azure-001", false)
		})

		t.Run("unknown or foreign config is not found", func(t *testing.T) {
			t.Parallel()
			for _, configID := range []string{"cfg-missing", "cfg-other-001"} {
				resp, body := s.send(t, rawRequest{
					Method: http.MethodPost, Path: "/api/v1/org_abc123/scanner/region/disable", Token: token(t, demoOrgID),
					Body: fmt.Sprintf(`{"configId":%q,"cloudProvider":"aws"}`, configID),
				})
				expectError(t, "disable region of "+configID, resp.StatusCode, body, http.StatusNotFound, "Config not found")
			}
			other := s.Client(t, otherOrgID)
			if got := fetchScanner(t, other, otherOrgID, "cfg-other-001"); got.RegionEnabled == nil || !*got.RegionEnabled {
				t.Errorf("cfg-other-001's region was disabled through %s's path", demoOrgID)
			}
		})

		t.Run("invalid requests are rejected", func(t *testing.T) {
			t.Parallel()
			cases := []struct {
				name string
				body string
				// names are words the error message must contain.
				names []string
			}{
				{"cloudProvider outside the enum", `{"configId":"cfg-scanner-201","cloudProvider":"kubernetes"}`, []string{"cloudProvider"}},
				{"cloudProvider of another provider", `{"configId":"cfg-scanner-201","cloudProvider":"gcp"}`, []string{"cloudProvider"}},
				{"missing cloudProvider", `{"configId":"cfg-scanner-201"}`, []string{"cloudProvider"}},
				{"missing configId", `{"cloudProvider":"aws"}`, []string{"configId is required"}},
				{"invalid configId", `{"configId":"cfg 201","cloudProvider":"aws"}`, []string{"configId"}},
				{"configId of the wrong type", `{"configId":201,"cloudProvider":"aws"}`, []string{"configId"}},
				{"invalid JSON", `{"configId":`, nil},
			}
			for _, tc := range cases {
				resp, body := s.send(t, rawRequest{
					Method: http.MethodPost, Path: "/api/v1/org_abc123/scanner/region/disable", Token: token(t, demoOrgID),
					Body: tc.body,
				})
				expectErrorNaming(t, tc.name, resp.StatusCode, body, http.StatusBadRequest, tc.names...)
			}
			// None of the rejected requests changed cfg-scanner-201's region.
			expectRegionEnabled(t, s.Client(t, demoOrgID), "cfg-scanner-201", true)
		})
	})
}

// disableRegion disables configID's region and checks the whole response.
func disableRegion(t *testing.T, c *api.ClientWithResponses, configID string, provider api.CloudProvider,
	wantMessage, wantRegion, wantCloudOrg string) {
	t.Helper()
	resp, err := c.DisableRegionWithResponse(t.Context(), demoOrgID,
		api.DisableRegionJSONRequestBody{ConfigID: configID, CloudProvider: provider})
	if err != nil {
		t.Fatalf("disable region of %s: %v", configID, err)
	}
	what := "disable region of " + configID
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("%s: status %d, expected 200; body: %s", what, resp.StatusCode(), resp.Body)
	}
	expectFields(t, what, resp.Body, "message", "region", "cloudOrganizationId")
	got := resp.JSON200
	if string(got.Message) != wantMessage {
		t.Errorf("%s: message %q, expected %q", what, got.Message, wantMessage)
	}
	if got.Region != wantRegion {
		t.Errorf("%s: region %q, expected %q", what, got.Region, wantRegion)
	}
	if got.CloudOrganizationID != wantCloudOrg {
		t.Errorf("%s: cloudOrganizationId %q, expected %q", what, got.CloudOrganizationID, wantCloudOrg)
	}
}

// expectRegionEnabled checks the regionEnabled field of configID of
// demoOrgID.
func expectRegionEnabled(t *testing.T, c *api.ClientWithResponses, configID string, want bool) {
	t.Helper()
	got := fetchScanner(t, c, demoOrgID, configID)
	if got.RegionEnabled == nil {
		t.Errorf("GET %s: regionEnabled is absent, expected %t", configID, want)
		return
	}
	if *got.RegionEnabled != want {
		t.Errorf("GET %s: regionEnabled %t, expected %t", configID, *got.RegionEnabled, want)
	}
}

// concurrencyFixture has three scanners in three regions of one cloud
// organisation.
const concurrencyFixture = `{"organizations": [{"orgId": "org_abc123", "cloudOrganizations": [
  {"cloudOrganizationId": "o-abc123xyz", "cloudProvider": "aws",
   "enabledRegions": ["us-east-1", "eu-west-1", "us-east-2"],
   "scanners": [
     {"configId": "cfg-scanner-001", "region": "us-east-1"},
     {"configId": "cfg-scanner-002", "region": "eu-west-1"},
     {"configId": "cfg-scanner-003", "region": "us-east-2"}]}]}]}`

// concurrentRequests is the number of simultaneous requests of the
// concurrency tests.
const concurrentRequests = 50

func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, Fixture: concurrencyFixture})

		t.Run("pause and unpause serialise", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			answers := make([]*api.WorkersResponse, concurrentRequests)
			var wg sync.WaitGroup
			for i := range concurrentRequests {
				wg.Go(func() {
					params := api.PauseScannerParams{ConfigID: "cfg-scanner-001"}
					var status int
					var body []byte
					if i%2 == 0 {
						resp, err := c.PauseScannerWithResponse(t.Context(), demoOrgID, &params)
						if err != nil {
							t.Errorf("request %d (pause): %v", i, err)
							return
						}
						status, body, answers[i] = resp.StatusCode(), resp.Body, resp.JSON200
					} else {
						resp, err := c.UnpauseScannerWithResponse(t.Context(), demoOrgID, (*api.UnpauseScannerParams)(&params))
						if err != nil {
							t.Errorf("request %d (unpause): %v", i, err)
							return
						}
						status, body, answers[i] = resp.StatusCode(), resp.Body, resp.JSON200
					}
					if status != http.StatusOK {
						t.Errorf("request %d: status %d, expected 200; body: %s", i, status, body)
					}
				})
			}
			wg.Wait()

			counts := map[string]int{}
			var wrongState []int
			for i, answer := range answers {
				if answer == nil {
					continue // reported above
				}
				counts[string(answer.Message)]++
				pause := i%2 == 0
				if answer.WorkersPaused != pause {
					wrongState = append(wrongState, i)
				}
				allowed := []string{msgUnpaused, msgAlreadyUnpaused}
				if pause {
					allowed = []string{msgPaused, msgAlreadyPaused}
				}
				if !slices.Contains(allowed, string(answer.Message)) {
					t.Errorf("request %d (pause %t): message %q, expected one of %q", i, pause, answer.Message, allowed)
				}
			}
			if len(wrongState) > 0 {
				// Even requests pause and odd ones unpause. Each response
				// must report the state its own request set.
				t.Errorf("%d of %d responses report the opposite workersPaused of their request (requests %v)",
					len(wrongState), concurrentRequests, wrongState)
			}

			// Changes alternate, starting from unpaused, so there is at most
			// one more pause than unpause, and the last change sets the state.
			changes := counts[msgPaused] - counts[msgUnpaused]
			if changes != 0 && changes != 1 {
				t.Errorf("%d %q and %d %q responses: changes do not alternate", counts[msgPaused], msgPaused,
					counts[msgUnpaused], msgUnpaused)
			}
			if got := fetchScanner(t, c, demoOrgID, "cfg-scanner-001").WorkersPaused; got != (changes == 1) {
				t.Errorf("after %v: workersPaused %t, expected %t", counts, got, changes == 1)
			}

			resp, err := c.PauseScannerWithResponse(t.Context(), demoOrgID, &api.PauseScannerParams{ConfigID: "cfg-scanner-001"})
			if err != nil || resp.JSON200 == nil || !resp.JSON200.WorkersPaused {
				t.Fatalf("final pause: %v; body: %s", err, resp.Body)
			}
			if !fetchScanner(t, c, demoOrgID, "cfg-scanner-001").WorkersPaused {
				t.Errorf("after the final pause: workersPaused false, expected true")
			}
		})

		t.Run("region disables of one cloud organisation keep both", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			configs := []string{"cfg-scanner-001", "cfg-scanner-002"}
			regions := []string{"us-east-1", "eu-west-1"}

			answers := make([]*api.RegionDisableResponse, concurrentRequests)
			var wg sync.WaitGroup
			for i := range concurrentRequests {
				wg.Go(func() {
					resp, err := c.DisableRegionWithResponse(t.Context(), demoOrgID,
						api.DisableRegionJSONRequestBody{ConfigID: configs[i%2], CloudProvider: api.Aws})
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						return
					}
					if resp.StatusCode() != http.StatusOK {
						t.Errorf("request %d: status %d, expected 200; body: %s", i, resp.StatusCode(), resp.Body)
					}
					answers[i] = resp.JSON200
				})
			}
			wg.Wait()

			disabled := map[string]int{}
			for i, answer := range answers {
				if answer == nil {
					continue
				}
				if answer.Region != regions[i%2] || answer.CloudOrganizationID != "o-abc123xyz" {
					t.Errorf("request %d: region %q of %q, expected %q of o-abc123xyz", i, answer.Region,
						answer.CloudOrganizationID, regions[i%2])
				}
				if answer.Message == msgRegionDisabled {
					disabled[answer.Region]++
				}
			}
			for _, region := range regions {
				if disabled[region] != 1 {
					t.Errorf("%d responses are %q for %s, expected exactly 1", disabled[region], msgRegionDisabled, region)
				}
			}

			expectRegionEnabled(t, c, "cfg-scanner-001", false)
			expectRegionEnabled(t, c, "cfg-scanner-002", false)
			expectRegionEnabled(t, c, "cfg-scanner-003", true)
		})
	})
}

func TestBatchPauseUnpause(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("results follow request order with final state", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			setWorkers(t, c, "cfg-azure-001", true, msgPaused)
			items := []api.BatchScannerItem{
				{ConfigID: "cfg-scanner-001", CloudProvider: "aws"},
				{ConfigID: "cfg-azure-001", CloudProvider: "azure"}, // already paused: still a success
			}

			for _, paused := range []bool{true, false} {
				results := batchSetWorkers(t, c, paused, items)
				for i, got := range results {
					expectBatchSuccess(t, fmt.Sprintf("batch pause=%t result %d", paused, i), got, items[i], paused)
				}
				for _, item := range items {
					if got := fetchScanner(t, c, demoOrgID, item.ConfigID); got.WorkersPaused != paused {
						t.Errorf("GET %s after batch pause=%t: workersPaused %t", item.ConfigID, paused, got.WorkersPaused)
					}
				}
			}
		})

		t.Run("item errors leave the other items done", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			items := []api.BatchScannerItem{
				{ConfigID: "cfg-scanner-002", CloudProvider: "aws"},
				{ConfigID: "cfg-missing", CloudProvider: "aws"},
				{ConfigID: "cfg-scanner-123", CloudProvider: "kubernetes"},
				{ConfigID: "cfg-scanner-123", CloudProvider: "azure"},
				{ConfigID: "cfg 123", CloudProvider: "aws"},
				{ConfigID: "cfg-other-001", CloudProvider: "aws"},
				{ConfigID: "", CloudProvider: "aws"},
			}
			// wantError holds, per failing position, a word the item's error
			// must contain; "Config not found" is the whole message.
			wantError := map[int]string{
				1: "Config not found",
				2: "cloudProvider",
				3: "cloudProvider",
				4: "configID",
				5: "Config not found",
				6: "configID",
			}

			for _, paused := range []bool{true, false} {
				results := batchSetWorkers(t, c, paused, items)
				expectBatchSuccess(t, fmt.Sprintf("batch pause=%t result 0", paused), results[0], items[0], paused)
				for i := 1; i < len(items); i++ {
					what := fmt.Sprintf("batch pause=%t result %d (%q, %q)", paused, i, items[i].ConfigID, items[i].CloudProvider)
					expectBatchFailure(t, what, results[i], items[i], wantError[i])
				}
				if got := fetchScanner(t, c, demoOrgID, "cfg-scanner-002"); got.WorkersPaused != paused {
					t.Errorf("GET cfg-scanner-002 after batch pause=%t: workersPaused %t", paused, got.WorkersPaused)
				}
				// The items naming cfg-scanner-123 with a wrong provider changed nothing.
				if got := fetchScanner(t, c, demoOrgID, "cfg-scanner-123"); got.WorkersPaused {
					t.Errorf("GET cfg-scanner-123 after batch pause=%t with a wrong cloudProvider: workersPaused true", paused)
				}
			}
			other := s.Client(t, otherOrgID)
			if got := fetchScanner(t, other, otherOrgID, "cfg-other-001"); got.WorkersPaused {
				t.Errorf("cfg-other-001 of %s was paused through %s's batch", otherOrgID, demoOrgID)
			}
		})

		t.Run("repeated configID is reported at each position", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			items := []api.BatchScannerItem{
				{ConfigID: "cfg-scanner-202", CloudProvider: "aws"},
				{ConfigID: "cfg-missing", CloudProvider: "aws"},
				{ConfigID: "cfg-scanner-202", CloudProvider: "aws"},
				{ConfigID: "cfg-scanner-202", CloudProvider: "oracle"},
			}

			results := batchSetWorkers(t, c, true, items)
			expectBatchSuccess(t, "result 0", results[0], items[0], true)
			expectBatchFailure(t, "result 1", results[1], items[1], "Config not found")
			expectBatchSuccess(t, "result 2", results[2], items[2], true)
			expectBatchFailure(t, "result 3", results[3], items[3], "cloudProvider")
		})

		t.Run("invalid requests are rejected", func(t *testing.T) {
			t.Parallel()
			cases := []struct {
				name  string
				body  string
				names []string
			}{
				{"invalid JSON", `{"scanners": [`, nil},
				{"body that is not an object", `[]`, nil},
				{"missing scanners", `{}`, []string{"scanners"}},
				{"null scanners", `{"scanners": null}`, []string{"scanners"}},
				{"scanners that is not a list", `{"scanners": "cfg-scanner-001"}`, []string{"scanners"}},
				{"empty scanners", `{"scanners": []}`, []string{"scanners"}},
				{"1001 scanners", batchBody(1001), []string{"scanners"}},
				{"item without cloudProvider", `{"scanners": [{"configID": "cfg-scanner-001"}]}`, []string{"cloudProvider"}},
			}
			for _, op := range []string{"pause", "unpause"} {
				path := "/api/v1/org_abc123/scanner/batch/" + op
				for _, tc := range cases {
					resp, body := s.send(t, rawRequest{Method: http.MethodPost, Path: path, Token: token(t, demoOrgID), Body: tc.body})
					expectErrorNaming(t, op+": "+tc.name, resp.StatusCode, body, http.StatusBadRequest, tc.names...)
				}
			}
		})

		t.Run("1000 items are accepted", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			var request api.BatchScannerRequest
			if err := json.Unmarshal([]byte(batchBody(1000)), &request); err != nil {
				t.Fatal(err)
			}
			// cfg-scanner-201 is paused in the fixture; the rest do not exist.
			request.Scanners[0].ConfigID = "cfg-scanner-201"

			results := batchSetWorkers(t, c, true, request.Scanners)
			expectBatchSuccess(t, "result 0", results[0], request.Scanners[0], true)
			for i := 1; i < len(results); i++ {
				expectBatchFailure(t, fmt.Sprintf("result %d", i), results[i], request.Scanners[i], "Config not found")
			}
		})
	})
}

// batchBody returns a batch request of n items cfg-bulk-0000, cfg-bulk-0001,
// ... of provider aws.
func batchBody(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"configID": "cfg-bulk-%04d", "cloudProvider": "aws"}`, i)
	}
	return `{"scanners": [` + strings.Join(items, ",") + `]}`
}

// batchSetWorkers sends a batch pause (paused true) or unpause for
// demoOrgID and returns its results after checking the status and that
// there is one result per item.
func batchSetWorkers(t *testing.T, c *api.ClientWithResponses, paused bool, items []api.BatchScannerItem) []api.BatchPauseItemResult {
	t.Helper()
	body := api.BatchScannerRequest{Scanners: items}
	var status int
	var raw []byte
	var answer *api.BatchPauseResponse
	if paused {
		resp, err := c.BatchPauseScannersWithResponse(t.Context(), demoOrgID, body)
		if err != nil {
			t.Fatalf("batch pause: %v", err)
		}
		status, raw, answer = resp.StatusCode(), resp.Body, (*api.BatchPauseResponse)(resp.JSON200)
	} else {
		resp, err := c.BatchUnpauseScannersWithResponse(t.Context(), demoOrgID, body)
		if err != nil {
			t.Fatalf("batch unpause: %v", err)
		}
		status, raw, answer = resp.StatusCode(), resp.Body, (*api.BatchPauseResponse)(resp.JSON200)
	}

	if status != http.StatusOK || answer == nil {
		t.Fatalf("batch pause=%t: status %d, expected 200; body: %.500s", paused, status, raw)
	}
	expectFields(t, fmt.Sprintf("batch pause=%t", paused), raw, "results")
	if len(answer.Results) != len(items) {
		t.Fatalf("batch pause=%t: %d results for %d items", paused, len(answer.Results), len(items))
	}
	return answer.Results
}

// expectBatchSuccess checks a successful batch pause or unpause result.
func expectBatchSuccess(t *testing.T, what string, got api.BatchPauseItemResult, item api.BatchScannerItem, paused bool) {
	t.Helper()
	expectBatchItem(t, what, got, item)
	if !got.Success {
		t.Errorf("%s: success false, expected true (error %q)", what, textOf(got.Error))
	}
	if got.Error != nil {
		t.Errorf("%s: error %q on a successful item", what, *got.Error)
	}
	if got.WorkersPaused == nil || *got.WorkersPaused != paused {
		t.Errorf("%s: workersPaused %v, expected %t", what, describeBool(got.WorkersPaused), paused)
	}
}

// expectBatchFailure checks a failed batch pause or unpause result: its
// error is wantError exactly when that is "Config not found", and contains
// wantError otherwise. An item whose config was not found or whose values
// are invalid was never read, so workersPaused must be absent.
func expectBatchFailure(t *testing.T, what string, got api.BatchPauseItemResult, item api.BatchScannerItem, wantError string) {
	t.Helper()
	expectBatchItem(t, what, got, item)
	if got.Success {
		t.Errorf("%s: success true, expected false", what)
	}
	message := textOf(got.Error)
	switch {
	case got.Error == nil:
		t.Errorf("%s: no error on a failed item", what)
	case wantError == "Config not found" && message != wantError:
		t.Errorf("%s: error %q, expected %q", what, message, wantError)
	case !strings.Contains(message, wantError):
		t.Errorf("%s: error %q does not name %q", what, message, wantError)
	}
	if wantError == "Config not found" && got.WorkersPaused != nil {
		t.Errorf("%s: workersPaused %t on an unknown config", what, *got.WorkersPaused)
	}
}

// expectBatchItem checks that a result repeats its item's values.
func expectBatchItem(t *testing.T, what string, got api.BatchPauseItemResult, item api.BatchScannerItem) {
	t.Helper()
	if got.ConfigID != item.ConfigID || got.CloudProvider != item.CloudProvider {
		t.Errorf("%s: configID %q cloudProvider %q, expected %q %q (request order)", what,
			got.ConfigID, got.CloudProvider, item.ConfigID, item.CloudProvider)
	}
}

func describeBool(p *bool) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}

// textOf returns *p, or "" when p is nil.
func textOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
