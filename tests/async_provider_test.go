package tests

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

func TestProviderRemoval(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("removes every aws cloud organisation", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp, err := c.RemoveCloudProviderWithResponse(t.Context(), orgABC, api.Aws)
			if err != nil {
				t.Fatal(err)
			}
			parentID := checkProviderRemovalAccepted(t, resp, "aws")
			results := resp.JSON202.JobInfo.Results
			orgJobs := map[string]string{} // job id -> cloud organisation
			for i, want := range []string{cloudOrgABC, cloudOrgDEF} {
				if i >= len(results) {
					t.Fatalf("%d results, want one per aws cloud organisation (%s and %s)", len(results), cloudOrgABC, cloudOrgDEF)
				}
				r := results[i]
				if r.CloudOrganizationID != want || !r.Success || r.Error != nil {
					t.Errorf("result %d: %+v, want a successful submission for %s", i, r, want)
				}
				if !timedJobIDPattern(prefixRemoveOrg, want).MatchString(deref(r.WorkflowName)) {
					t.Errorf("result %d: workflowName %q, want rm-org-%s-<unix seconds>", i, deref(r.WorkflowName), want)
				}
				orgJobs[deref(r.WorkflowName)] = want
			}
			if len(results) != 2 {
				t.Errorf("%d results, want 2 (the aws cloud organisations)", len(results))
			}

			list := awaitJobs(t, c, parentJobs(parentID), 2)
			wantSummary(t, "provider removal", list.Summary, 2, 2, 0)
			for _, job := range list.Jobs {
				cloudOrgID, ok := orgJobs[job.WorkflowName]
				if !ok {
					t.Errorf("listing holds %s, which the response did not name", job.WorkflowName)
					continue
				}
				checkOrgRemovalJob(t, job, cloudOrgID, parentID, api.JobStateSucceeded, stepDeletingCredentials)
			}

			if ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudProvider: ptr(api.Aws)}); len(ids) != 0 {
				t.Errorf("aws scanners remain: %v", ids)
			}
			if ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudProvider: ptr(api.Azure)}); !slices.Equal(ids, []string{"cfg-azure-001"}) {
				t.Errorf("azure scanners: %v, want [cfg-azure-001]", ids)
			}
			for _, cloudOrgID := range []string{cloudOrgABC, cloudOrgDEF} {
				removedAgain := removeCloudOrg(t, c, cloudOrgID, api.Aws)
				wantError(t, "removing a removed cloud organisation", removedAgain.HTTPResponse, removedAgain.Body, http.StatusNotFound, "Cloud organization not found")
			}
			again, err := c.RemoveCloudProviderWithResponse(t.Context(), orgABC, api.Aws)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "removing aws again", again.HTTPResponse, again.Body, http.StatusNotFound, "aws")

			// The azure cloud organisation is intact: its region still counts as enabled.
			azure, azureResp := getScanner(t, c, orgABC, "cfg-azure-001")
			wantStatus(t, "GET cfg-azure-001", azureResp.HTTPResponse, azureResp.Body, http.StatusOK)
			if !deref(azure.RegionEnabled) {
				t.Errorf("cfg-azure-001 lost its enabled region: its cloud organisation was changed")
			}
			// Another organisation's aws scanners are untouched.
			if ids := scannerIDs(t, s.Client(t, orgOther), orgOther, api.ListScannersParams{}); !slices.Equal(ids, []string{"cfg-other-001"}) {
				t.Errorf("org_other456 scanners: %v, want [cfg-other-001]", ids)
			}
		})

		t.Run("unknown provider is 400", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp, err := c.RemoveCloudProviderWithResponse(t.Context(), orgABC, "digitalocean")
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "DELETE cloud-provider/digitalocean", resp.HTTPResponse, resp.Body, http.StatusBadRequest, "digitalocean")
		})

		t.Run("provider without cloud organisations is 404", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp, err := c.RemoveCloudProviderWithResponse(t.Context(), orgABC, api.Oracle)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, "DELETE cloud-provider/oracle", resp.HTTPResponse, resp.Body, http.StatusNotFound, "oracle")
		})
	})
}

func TestProviderRemovalWithBusyCloudOrg(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: busyStepDelay})
		c := s.Client(t, orgABC)

		running := checkOrgRemovalAccepted(t, removeCloudOrg(t, c, cloudOrgDEF, api.Aws), cloudOrgDEF)
		resp, err := c.RemoveCloudProviderWithResponse(t.Context(), orgABC, api.Aws)
		if err != nil {
			t.Fatal(err)
		}
		parentID := checkProviderRemovalAccepted(t, resp, "aws")
		results := resp.JSON202.JobInfo.Results
		if len(results) != 2 {
			t.Fatalf("%d results, want 2: %+v", len(results), results)
		}
		if !results[0].Success || results[0].CloudOrganizationID != cloudOrgABC {
			t.Errorf("result 0: %+v, want %s submitted", results[0], cloudOrgABC)
		}
		if results[1].Success || results[1].CloudOrganizationID != cloudOrgDEF || !strings.Contains(deref(results[1].Error), running) {
			t.Errorf("result 1: %+v, want %s rejected naming its running removal %s", results[1], cloudOrgDEF, running)
		}
		if results[1].WorkflowName != nil {
			t.Errorf("rejected result 1 has workflowName %q", *results[1].WorkflowName)
		}

		list := awaitJobs(t, c, parentJobs(parentID), 1)
		wantSummary(t, "provider removal with a busy cloud organisation", list.Summary, 1, 1, 0)
		awaitJob(t, c, running)
		if ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudProvider: ptr(api.Aws)}); len(ids) != 0 {
			t.Errorf("aws scanners remain: %v", ids)
		}
	})
}

// checkProviderRemovalAccepted checks the 202 envelope of a cloud provider
// removal and returns its correlation id.
func checkProviderRemovalAccepted(t *testing.T, resp *api.RemoveCloudProviderResponse, provider string) string {
	t.Helper()
	what := "DELETE cloud-provider/" + provider
	wantStatus(t, what, resp.HTTPResponse, resp.Body, http.StatusAccepted)
	parentID := resp.JSON202.JobID
	if !correlationIDPattern("rm-cp-" + provider).MatchString(parentID) {
		t.Errorf("%s: jobId %q, want rm-cp-%s-<uuid>", what, parentID, provider)
	}
	statusURL := "/api/v1/jobs?parent-id=" + parentID
	if resp.JSON202.StatusURL != statusURL {
		t.Errorf("%s: statusUrl %q, want %q", what, resp.JSON202.StatusURL, statusURL)
	}
	wantHeader(t, what, resp.HTTPResponse, "Location", statusURL)
	wantHeader(t, what, resp.HTTPResponse, "Retry-After", "30")
	return parentID
}
