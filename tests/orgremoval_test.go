package tests

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// removeCloudOrg sends DELETE cloud-organization with the JSON body.
func removeCloudOrg(t *testing.T, c *api.ClientWithResponses, cloudOrgID string, provider api.CloudProvider) *api.RemoveCloudOrganizationResponse {
	t.Helper()
	resp, err := c.RemoveCloudOrganizationWithResponse(t.Context(), orgABC, nil,
		api.CloudOrganizationRequest{CloudOrganizationID: cloudOrgID, CloudProvider: provider})
	if err != nil {
		t.Fatalf("DELETE cloud-organization %s: %v", cloudOrgID, err)
	}
	return resp
}

// removeCloudOrgByQuery sends DELETE cloud-organization without a body,
// naming the cloud organisation in the query parameters.
func removeCloudOrgByQuery(t *testing.T, c *api.ClientWithResponses, cloudOrgID string, provider api.CloudProvider) *api.RemoveCloudOrganizationResponse {
	t.Helper()
	params := api.RemoveCloudOrganizationParams{CloudOrganizationID: &cloudOrgID, CloudProvider: &provider}
	noContentType := func(_ context.Context, req *http.Request) error {
		req.Header.Del("Content-Type")
		return nil
	}
	resp, err := c.RemoveCloudOrganizationWithBodyWithResponse(t.Context(), orgABC, &params, "", nil, noContentType)
	if err != nil {
		t.Fatalf("DELETE cloud-organization?cloud-organization-id=%s: %v", cloudOrgID, err)
	}
	return resp
}

// checkOrgRemovalAccepted checks a 202 response of a cloud organisation
// removal and returns its job id.
func checkOrgRemovalAccepted(t *testing.T, resp *api.RemoveCloudOrganizationResponse, cloudOrgID string) string {
	t.Helper()
	what := "DELETE cloud-organization " + cloudOrgID
	wantStatus(t, what, resp.HTTPResponse, resp.Body, http.StatusAccepted)
	jobID := resp.JSON202.JobID
	if !timedJobIDPattern(prefixRemoveOrg, cloudOrgID).MatchString(jobID) {
		t.Errorf("%s: jobId %q, want rm-org-%s-<unix seconds>", what, jobID, cloudOrgID)
	}
	statusURL := "/api/v1/jobs?parent-id=" + jobID
	if resp.JSON202.StatusURL != statusURL {
		t.Errorf("%s: statusUrl %q, want %q", what, resp.JSON202.StatusURL, statusURL)
	}
	wantHeader(t, what, resp.HTTPResponse, "Location", statusURL)
	wantHeader(t, what, resp.HTTPResponse, "Retry-After", "30")
	return jobID
}

// checkOrgRemovalJob checks the fields of a cloud organisation removal job.
func checkOrgRemovalJob(t *testing.T, job api.JobStatus, cloudOrgID, parentID string, status api.JobState, step string) {
	t.Helper()
	name := job.WorkflowName
	if job.Operation == nil || *job.Operation != api.RemoveOrg {
		t.Errorf("job %s: operation %v, want remove-org", name, deref(job.Operation))
	}
	if job.Status != status {
		t.Errorf("job %s: status %s, want %s (error %q)", name, job.Status, status, deref(job.Error))
	}
	if job.CurrentStep != step {
		t.Errorf("job %s: currentStep %q, want %q", name, job.CurrentStep, step)
	}
	if deref(job.CloudOrganizationID) != cloudOrgID {
		t.Errorf("job %s: cloudOrganizationId %q, want %q", name, deref(job.CloudOrganizationID), cloudOrgID)
	}
	if deref(job.ParentID) != parentID {
		t.Errorf("job %s: parentId %q, want %q", name, deref(job.ParentID), parentID)
	}
	if job.ConfigID != nil || job.Region != nil {
		t.Errorf("job %s: configId %q and region %q, want both absent", name, deref(job.ConfigID), deref(job.Region))
	}
	if job.OrgID != orgABC {
		t.Errorf("job %s: orgId %q, want %q", name, job.OrgID, orgABC)
	}
	if status == api.JobStateSucceeded && job.Error != nil {
		t.Errorf("job %s succeeded with error %q", name, *job.Error)
	}
}

// awaitOrgRemoval waits until the removal's listing reports running 0 and
// checks that its children are one succeeded or failed rm-scan job per
// config in configIDs. It returns the listing.
func awaitOrgRemoval(t *testing.T, c *api.ClientWithResponses, jobID string, configIDs []string) api.JobList {
	t.Helper()
	list := awaitJobs(t, c, parentJobs(jobID), len(configIDs))
	var children []string
	for _, job := range list.Jobs {
		configID := deref(job.ConfigID)
		children = append(children, configID)
		checkJob(t, job, jobWant{
			ID:        timedJobIDPattern(prefixRemove, configID),
			Operation: api.Remove,
			ConfigID:  configID,
			ParentID:  jobID,
			// A failing child retries, so its retryAttempt is not checked.
			RetryAttempt: job.RetryAttempt,
		})
	}
	slices.Sort(children)
	if !slices.Equal(children, configIDs) {
		t.Errorf("children of %s remove %v, want %v", jobID, children, configIDs)
	}
	return list
}

// orgRemovalJobAfterListing reads a cloud organisation removal job right
// after its listing reported running 0. Clients learn from the listing that
// the removal is over, so the job must have finished by then. When it has
// not, the test fails and then waits for the job's final state.
func orgRemovalJobAfterListing(t *testing.T, c *api.ClientWithResponses, jobID string) api.JobStatus {
	t.Helper()
	job := getJob(t, c, jobID)
	if !isTerminal(job.Status) {
		t.Errorf("the listing of %s reports running 0, but the job is still %s at step %q: clients stop polling "+
			"at running 0 and miss the removal's outcome", jobID, job.Status, job.CurrentStep)
		job = awaitJob(t, c, jobID)
	}
	return job
}

func TestOrgRemoval(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("body removes every scanner then the credentials", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			jobID := checkOrgRemovalAccepted(t, removeCloudOrg(t, c, cloudOrgABC, api.Aws), cloudOrgABC)

			list := awaitOrgRemoval(t, c, jobID, []string{"cfg-scanner-001", "cfg-scanner-002", "cfg-scanner-123"})
			wantSummary(t, "cloud organisation removal", list.Summary, 3, 3, 0)
			checkOrgRemovalJob(t, orgRemovalJobAfterListing(t, c, jobID), cloudOrgABC, "", api.JobStateSucceeded, stepDeletingCredentials)

			if ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudOrganizationID: ptr(cloudOrgABC)}); len(ids) != 0 {
				t.Errorf("scanners of the removed cloud organisation remain: %v", ids)
			}
			again := removeCloudOrg(t, c, cloudOrgABC, api.Aws)
			wantError(t, "removing a removed cloud organisation", again.HTTPResponse, again.Body, http.StatusNotFound, "Cloud organization not found")
		})

		t.Run("query parameters name the cloud organisation", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			jobID := checkOrgRemovalAccepted(t, removeCloudOrgByQuery(t, c, cloudOrgDEF, api.Aws), cloudOrgDEF)

			list := awaitOrgRemoval(t, c, jobID, []string{"cfg-scanner-201", "cfg-scanner-202"})
			wantSummary(t, "cloud organisation removal by query", list.Summary, 2, 2, 0)
			checkOrgRemovalJob(t, orgRemovalJobAfterListing(t, c, jobID), cloudOrgDEF, "", api.JobStateSucceeded, stepDeletingCredentials)

			if ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudOrganizationID: ptr(cloudOrgDEF)}); len(ids) != 0 {
				t.Errorf("scanners of the removed cloud organisation remain: %v", ids)
			}
			again := removeCloudOrgByQuery(t, c, cloudOrgDEF, api.Aws)
			wantError(t, "removing a removed cloud organisation", again.HTTPResponse, again.Body, http.StatusNotFound, "Cloud organization not found")
		})

		t.Run("unknown cloud organisation is 404", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp := removeCloudOrg(t, c, "o-unknown000", api.Aws)
			wantError(t, "removing an unknown cloud organisation", resp.HTTPResponse, resp.Body, http.StatusNotFound, "Cloud organization not found")
		})

		t.Run("another organisation's cloud organisation is 404", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp := removeCloudOrg(t, c, "o-zzz999aaa", api.Aws)
			wantError(t, "removing org_other456's cloud organisation", resp.HTTPResponse, resp.Body, http.StatusNotFound, "Cloud organization not found")
		})

		t.Run("provider mismatch is 400", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp := removeCloudOrg(t, c, cloudOrgAzure, api.Aws)
			wantError(t, "removing an azure cloud organisation as aws", resp.HTTPResponse, resp.Body, http.StatusBadRequest, "aws", "azure")
		})

		t.Run("unknown provider is 400", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			resp := removeCloudOrg(t, c, cloudOrgAzure, "digitalocean")
			wantError(t, "removing with cloudProvider digitalocean", resp.HTTPResponse, resp.Body, http.StatusBadRequest, "cloudProvider")
			if ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudOrganizationID: ptr(cloudOrgAzure)}); !slices.Equal(ids, []string{"cfg-azure-001"}) {
				t.Errorf("scanners of the azure cloud organisation after rejected removals: %v, want [cfg-azure-001]", ids)
			}
		})
	})
}

func TestOrgRemovalWithoutScanners(t *testing.T) {
	t.Parallel()
	const emptyOrg = "o-empty00000"
	fixture := demoFixtureWith(t, func(f *seedFixture) {
		org := f.organization(t, orgABC)
		org.CloudOrganizations = append(org.CloudOrganizations, seedCloudOrganization{
			CloudOrganizationID: emptyOrg, CloudProvider: "aws", EnabledRegions: []string{"us-east-1"}, Scanners: []seedScanner{},
		})
	})
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, Fixture: fixture})
		c := s.Client(t, orgABC)

		jobID := checkOrgRemovalAccepted(t, removeCloudOrg(t, c, emptyOrg, api.Aws), emptyOrg)
		// Nothing to wait for: the response comes after the credentials are gone.
		checkOrgRemovalJob(t, getJob(t, c, jobID), emptyOrg, "", api.JobStateSucceeded, stepDeletingCredentials)
		list := listJobs(t, c, parentJobs(jobID))
		wantSummary(t, "removal without scanners", list.Summary, 0, 0, 0)

		again := removeCloudOrg(t, c, emptyOrg, api.Aws)
		wantError(t, "removing a removed cloud organisation", again.HTTPResponse, again.Body, http.StatusNotFound, "Cloud organization not found")
	})
}

func TestOrgRemovalWithFailingScanner(t *testing.T) {
	t.Parallel()
	fixture := demoFixtureWith(t, func(f *seedFixture) {
		f.scanner(t, "cfg-scanner-002").Simulate = &seedSimulation{FailAtStep: stepAwaitingStackDeleted, Failures: 100}
	})
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, Fixture: fixture})
		c := s.Client(t, orgABC)

		jobID := checkOrgRemovalAccepted(t, removeCloudOrg(t, c, cloudOrgABC, api.Aws), cloudOrgABC)
		list := awaitOrgRemoval(t, c, jobID, []string{"cfg-scanner-001", "cfg-scanner-002", "cfg-scanner-123"})
		wantSummary(t, "removal with a failing scanner", list.Summary, 3, 2, 1)

		job := orgRemovalJobAfterListing(t, c, jobID)
		checkOrgRemovalJob(t, job, cloudOrgABC, "", api.JobStateFailed, stepRemovingScanners)
		if !strings.Contains(deref(job.Error), "cfg-scanner-002") {
			t.Errorf("removal error %q does not name the failed config cfg-scanner-002", deref(job.Error))
		}

		// The cloud organisation and its failed scanner stay.
		ids := scannerIDs(t, c, orgABC, api.ListScannersParams{CloudOrganizationID: ptr(cloudOrgABC)})
		if !slices.Equal(ids, []string{"cfg-scanner-002"}) {
			t.Errorf("scanners left in %s: %v, want [cfg-scanner-002]", cloudOrgABC, ids)
		}
		wantScannerState(t, c, "cfg-scanner-002", api.ScannerStateFailed)

		retry := checkOrgRemovalAccepted(t, removeCloudOrg(t, c, cloudOrgABC, api.Aws), cloudOrgABC)
		if retry == jobID {
			t.Errorf("the second removal reuses job id %s", jobID)
		}
		awaitOrgRemoval(t, c, retry, []string{"cfg-scanner-002"})
		checkOrgRemovalJob(t, orgRemovalJobAfterListing(t, c, retry), cloudOrgABC, "", api.JobStateFailed, stepRemovingScanners)
	})
}

func TestOrgRemovalBusy(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: busyStepDelay})
		c := s.Client(t, orgABC)

		// cfg-scanner-001 runs a reinstall, so its removal queues behind it.
		manage(t, c, api.Reinstall, "cfg-scanner-001")
		jobID := checkOrgRemovalAccepted(t, removeCloudOrg(t, c, cloudOrgABC, api.Aws), cloudOrgABC)

		again := removeCloudOrg(t, c, cloudOrgABC, api.Aws)
		e := wantError(t, "removing a cloud organisation being removed", again.HTTPResponse, again.Body, http.StatusConflict, jobID)
		if deref(e.JobID) != jobID {
			t.Errorf("409 jobId = %q, want the running removal %q", deref(e.JobID), jobID)
		}

		running := listJobs(t, c, parentJobs(jobID))
		if deref(running.Summary.Queued) != 1 {
			t.Errorf("while cfg-scanner-001 reinstalls: %s, want its removal queued", describeSummary(running.Summary))
		}

		list := awaitOrgRemoval(t, c, jobID, []string{"cfg-scanner-001", "cfg-scanner-002", "cfg-scanner-123"})
		wantSummary(t, "removal behind a reinstall", list.Summary, 3, 3, 0)
		checkOrgRemovalJob(t, orgRemovalJobAfterListing(t, c, jobID), cloudOrgABC, "", api.JobStateSucceeded, stepDeletingCredentials)

		jobs := listJobs(t, c, configJobs("cfg-scanner-001")).Jobs
		if len(jobs) != 2 || jobs[1].Operation == nil || *jobs[1].Operation != api.Reinstall || jobs[0].CreatedAt.Before(jobs[1].UpdatedAt) {
			t.Errorf("cfg-scanner-001 jobs %+v, want its reinstall, then its removal created after the reinstall ended", jobs)
		}
	})
}
