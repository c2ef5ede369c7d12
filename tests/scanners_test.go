package tests

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// demoConfigs are demoOrgID's configs in configId order.
var demoConfigs = []string{
	"cfg-azure-001", "cfg-scanner-001", "cfg-scanner-002", "cfg-scanner-123", "cfg-scanner-201", "cfg-scanner-202",
}

func TestListScanners(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("lists the organisation's configs in order", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			page := listScanners(t, c, demoOrgID, api.ListScannersParams{})
			if got := configIDsOf(page.Scanners); !slices.Equal(got, demoConfigs) {
				t.Errorf("configs %v, expected %v", got, demoConfigs)
			}
			if page.NextCursor != nil {
				t.Errorf("nextCursor %q on the only page", *page.NextCursor)
			}
			for _, scanner := range page.Scanners {
				switch scanner.ConfigID {
				case "cfg-scanner-002":
					expectScanner(t, scanner, api.Scanner{
						ConfigID: "cfg-scanner-002", CloudProvider: api.Aws, CloudOrganizationID: "o-abc123xyz",
						Region: "eu-west-1", WorkersPaused: false, State: api.ScannerStateInstalled,
					})
				case "cfg-scanner-201":
					expectScanner(t, scanner, api.Scanner{
						ConfigID: "cfg-scanner-201", CloudProvider: api.Aws, CloudOrganizationID: "o-def456uvw",
						Region: "us-west-2", WorkersPaused: true, State: api.ScannerStateInstalled,
					})
				case "cfg-azure-001":
					expectScanner(t, scanner, api.Scanner{
						ConfigID: "cfg-azure-001", CloudProvider: api.Azure, CloudOrganizationID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
						Region: "westeurope", WorkersPaused: false, State: api.ScannerStateInstalled,
					})
				}
			}
		})

		t.Run("another organisation sees only its own configs", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, otherOrgID)

			page := listScanners(t, c, otherOrgID, api.ListScannersParams{})
			if got := configIDsOf(page.Scanners); !slices.Equal(got, []string{"cfg-other-001"}) {
				t.Errorf("configs %v, expected [cfg-other-001]", got)
			}
		})

		t.Run("filters select matching configs", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			aws, azure, gcp := api.Aws, api.Azure, api.Gcp
			cloudOrgDEF, cloudOrgABC := "o-def456uvw", "o-abc123xyz"
			usEast1, usWest2, apSoutheast2 := "us-east-1", "us-west-2", "ap-southeast-2"

			cases := []struct {
				name   string
				params api.ListScannersParams
				want   []string
			}{
				{"cloudProvider aws", api.ListScannersParams{CloudProvider: &aws},
					[]string{"cfg-scanner-001", "cfg-scanner-002", "cfg-scanner-123", "cfg-scanner-201", "cfg-scanner-202"}},
				{"cloudProvider azure", api.ListScannersParams{CloudProvider: &azure}, []string{"cfg-azure-001"}},
				{"cloudProvider without configs", api.ListScannersParams{CloudProvider: &gcp}, []string{}},
				{"cloudOrganizationId", api.ListScannersParams{CloudOrganizationID: &cloudOrgDEF},
					[]string{"cfg-scanner-201", "cfg-scanner-202"}},
				{"region", api.ListScannersParams{Region: &usEast1}, []string{"cfg-scanner-001", "cfg-scanner-123"}},
				{"region of another organisation", api.ListScannersParams{Region: &apSoutheast2}, []string{}},
				{"all three filters", api.ListScannersParams{CloudProvider: &aws, CloudOrganizationID: &cloudOrgDEF, Region: &usWest2},
					[]string{"cfg-scanner-201", "cfg-scanner-202"}},
				{"filters that exclude each other", api.ListScannersParams{CloudOrganizationID: &cloudOrgABC, Region: &usWest2},
					[]string{}},
			}
			for _, tc := range cases {
				page := listScanners(t, c, demoOrgID, tc.params)
				if got := configIDsOf(page.Scanners); !slices.Equal(got, tc.want) {
					t.Errorf("%s: configs %v, expected %v", tc.name, got, tc.want)
				}
				if page.Scanners == nil {
					t.Errorf("%s: scanners is null, expected a list", tc.name)
				}
			}
		})

		t.Run("pages cover every config once", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)
			aws := api.Aws

			for limit := 1; limit <= len(demoConfigs)+1; limit++ {
				got := readAllPages(t, c, api.ListScannersParams{Limit: &limit})
				if !slices.Equal(got, demoConfigs) {
					t.Errorf("limit %d: pages hold %v, expected %v", limit, got, demoConfigs)
				}
			}

			limit := 2
			got := readAllPages(t, c, api.ListScannersParams{Limit: &limit, CloudProvider: &aws})
			want := demoConfigs[1:]
			if !slices.Equal(got, want) {
				t.Errorf("limit 2 with cloudProvider aws: pages hold %v, expected %v", got, want)
			}
		})

		t.Run("invalid parameters are rejected", func(t *testing.T) {
			t.Parallel()
			cases := []struct {
				query string
				name  string
			}{
				{"cloudProvider=kubernetes", "cloudProvider"},
				{"limit=0", "limit"},
				{"limit=1001", "limit"},
				{"limit=ten", "limit"},
				{"cursor=cfg%20001", "cursor"},
				{"region=us%20east", "region"},
			}
			for _, tc := range cases {
				path := "/api/v1/org_abc123/scanners?" + tc.query
				resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: path, Token: token(t, demoOrgID)})
				expectErrorNaming(t, "GET "+path, resp.StatusCode, body, http.StatusBadRequest, tc.name)
			}
		})

		t.Run("get returns one config", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, demoOrgID)

			resp, err := c.GetScannerWithResponse(t.Context(), demoOrgID, "cfg-scanner-123")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
				t.Fatalf("status %d, expected 200; body: %s", resp.StatusCode(), resp.Body)
			}
			expectFields(t, "GET cfg-scanner-123", resp.Body, "configId", "cloudProvider", "cloudOrganizationId",
				"region", "workersPaused", "state", "regionEnabled", "createdAt", "updatedAt")
			expectScanner(t, *resp.JSON200, api.Scanner{
				ConfigID: "cfg-scanner-123", CloudProvider: api.Aws, CloudOrganizationID: "o-abc123xyz",
				Region: "us-east-1", WorkersPaused: false, State: api.ScannerStateInstalled,
			})
		})

		t.Run("get of an unknown or foreign config is not found", func(t *testing.T) {
			t.Parallel()
			for _, configID := range []string{"cfg-missing", "cfg-other-001"} {
				path := "/api/v1/org_abc123/scanners/" + configID
				resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: path, Token: token(t, demoOrgID)})
				expectError(t, "GET "+path, resp.StatusCode, body, http.StatusNotFound, "Config not found")
			}
		})

		t.Run("get of an invalid configId is rejected", func(t *testing.T) {
			t.Parallel()
			path := "/api/v1/org_abc123/scanners/cfg%20001"
			resp, body := s.send(t, rawRequest{Method: http.MethodGet, Path: path, Token: token(t, demoOrgID)})
			expectErrorNaming(t, "GET "+path, resp.StatusCode, body, http.StatusBadRequest, "configId")
		})
	})
}

// listScanners returns one page of orgID's configs, failing the test unless
// the status is 200.
func listScanners(t *testing.T, c *api.ClientWithResponses, orgID string, params api.ListScannersParams) api.ScannerList {
	t.Helper()
	resp, err := c.ListScannersWithResponse(t.Context(), orgID, &params)
	if err != nil {
		t.Fatalf("list scanners of %s: %v", orgID, err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("list scanners of %s: status %d, expected 200; body: %s", orgID, resp.StatusCode(), resp.Body)
	}
	return *resp.JSON200
}

// readAllPages follows nextCursor from the first page to the last and
// returns the configIds of every page in order. Each page must hold at most
// params.Limit configs, and every page but the last exactly that many.
func readAllPages(t *testing.T, c *api.ClientWithResponses, params api.ListScannersParams) []string {
	t.Helper()
	limit := *params.Limit
	var all []string
	for pages := 1; ; pages++ {
		if pages > len(demoConfigs)+2 {
			t.Fatalf("limit %d: more than %d pages; configs so far %v", limit, pages-1, all)
		}
		page := listScanners(t, c, demoOrgID, params)
		all = append(all, configIDsOf(page.Scanners)...)
		if len(page.Scanners) > limit {
			t.Errorf("limit %d: page %d holds %d configs", limit, pages, len(page.Scanners))
		}
		if page.NextCursor == nil {
			return all
		}
		if len(page.Scanners) != limit {
			t.Errorf("limit %d: page %d holds %d configs and has a nextCursor", limit, pages, len(page.Scanners))
		}
		if last := page.Scanners[len(page.Scanners)-1].ConfigID; *page.NextCursor != last {
			t.Errorf("limit %d: page %d nextCursor %q, expected its last configId %q", limit, pages, *page.NextCursor, last)
		}
		params.Cursor = page.NextCursor
	}
}

func configIDsOf(scanners []api.Scanner) []string {
	ids := make([]string, 0, len(scanners))
	for _, s := range scanners {
		ids = append(ids, s.ConfigID)
	}
	return ids
}

// expectScanner compares the fixed fields of got with want and checks that
// the region is enabled and the timestamps are set.
func expectScanner(t *testing.T, got, want api.Scanner) {
	t.Helper()
	what := "scanner " + want.ConfigID
	fields := []struct {
		name      string
		got, want any
	}{
		{"configId", got.ConfigID, want.ConfigID},
		{"cloudProvider", got.CloudProvider, want.CloudProvider},
		{"cloudOrganizationId", got.CloudOrganizationID, want.CloudOrganizationID},
		{"region", got.Region, want.Region},
		{"workersPaused", got.WorkersPaused, want.WorkersPaused},
		{"state", got.State, want.State},
		{"regionEnabled", describeBool(got.RegionEnabled), "true"},
		{"lastError", textOf(got.LastError), ""},
	}
	for _, f := range fields {
		if fmt.Sprint(f.got) != fmt.Sprint(f.want) {
			t.Errorf("%s: %s %v, expected %v", what, f.name, f.got, f.want)
		}
	}
	// The fixture was seeded moments ago; a day of slack covers clock
	// differences between the test and the database.
	for name, ts := range map[string]time.Time{"createdAt": got.CreatedAt, "updatedAt": got.UpdatedAt} {
		if age := time.Since(ts); age < -24*time.Hour || age > 24*time.Hour {
			t.Errorf("%s: %s %s is not from the seeding", what, name, ts)
		}
	}
	if got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("%s: updatedAt %s is before createdAt %s", what, got.UpdatedAt, got.CreatedAt)
	}
}
