package tests

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// batchRemove sends POST scanner/batch/remove and checks the 202 envelope:
// a rm-scan-<uuid> parent, its statusUrl, Location, Retry-After and one
// result per item echoing the item, in request order.
func batchRemove(t *testing.T, c *api.ClientWithResponses, items []api.BatchScannerItem) api.BatchJobResponse {
	t.Helper()
	resp, err := c.BatchRemoveScannersWithResponse(t.Context(), orgABC, api.BatchScannerRequest{Scanners: items})
	if err != nil {
		t.Fatalf("POST scanner/batch/remove: %v", err)
	}
	wantStatus(t, "POST scanner/batch/remove", resp.HTTPResponse, resp.Body, http.StatusAccepted)
	checkBatchEnvelope(t, "batch remove", resp.HTTPResponse, *resp.JSON202, prefixRemove, items)
	return *resp.JSON202
}

// batchReinstall is batchRemove for POST scanner/batch/reinstall (parent
// ri-scan-<uuid>).
func batchReinstall(t *testing.T, c *api.ClientWithResponses, items []api.BatchScannerItem) api.BatchJobResponse {
	t.Helper()
	resp, err := c.BatchReinstallScannersWithResponse(t.Context(), orgABC, api.BatchScannerRequest{Scanners: items})
	if err != nil {
		t.Fatalf("POST scanner/batch/reinstall: %v", err)
	}
	wantStatus(t, "POST scanner/batch/reinstall", resp.HTTPResponse, resp.Body, http.StatusAccepted)
	checkBatchEnvelope(t, "batch reinstall", resp.HTTPResponse, *resp.JSON202, prefixReinstall, items)
	for i, r := range resp.JSON202.JobInfo.Results {
		if r.WorkflowName != nil {
			t.Errorf("batch reinstall result %d (%s) has workflowName %q, want none", i, r.ConfigID, *r.WorkflowName)
		}
	}
	return *resp.JSON202
}

func checkBatchEnvelope(t *testing.T, what string, resp *http.Response, body api.BatchJobResponse, prefix string, items []api.BatchScannerItem) {
	t.Helper()
	if !correlationIDPattern(prefix).MatchString(body.JobID) {
		t.Errorf("%s: jobId %q, want %s-<uuid>", what, body.JobID, prefix)
	}
	statusURL := "/api/v1/jobs?parent-id=" + body.JobID
	if body.StatusURL != statusURL {
		t.Errorf("%s: statusUrl %q, want %q", what, body.StatusURL, statusURL)
	}
	wantHeader(t, what, resp, "Location", statusURL)
	wantHeader(t, what, resp, "Retry-After", "30")

	results := body.JobInfo.Results
	if len(results) != len(items) {
		t.Fatalf("%s: %d results for %d items", what, len(results), len(items))
	}
	for i, r := range results {
		if r.ConfigID != items[i].ConfigID || r.CloudProvider != items[i].CloudProvider {
			t.Errorf("%s: result %d is for %s/%s, want %s/%s (request order)", what, i,
				r.ConfigID, r.CloudProvider, items[i].ConfigID, items[i].CloudProvider)
		}
		switch {
		case r.Success && (r.Status != api.BatchDispatchResultStatusDispatched || r.Error != nil):
			t.Errorf("%s: result %d succeeded with status %s and error %q", what, i, r.Status, deref(r.Error))
		case !r.Success && (r.Status != api.BatchDispatchResultStatusError || deref(r.Error) == "" || r.WorkflowName != nil):
			t.Errorf("%s: result %d failed with status %s, error %q, workflowName %q; want status error, an error and no workflowName",
				what, i, r.Status, deref(r.Error), deref(r.WorkflowName))
		}
	}
}

// wantItemError checks that a batch result failed with an error containing
// each fragment.
func wantItemError(t *testing.T, r api.BatchDispatchResult, fragments ...string) {
	t.Helper()
	if r.Success {
		t.Errorf("result for %s succeeded, want an item error", r.ConfigID)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(deref(r.Error), f) {
			t.Errorf("result for %s: error %q does not contain %q", r.ConfigID, deref(r.Error), f)
		}
	}
}

// awsItem is a batch item naming an aws config.
func awsItem(configID string) api.BatchScannerItem {
	return api.BatchScannerItem{ConfigID: configID, CloudProvider: string(api.Aws)}
}

func TestBatchRemoveMixedItems(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: busyStepDelay / 2})
		c := s.Client(t, orgABC)

		// cfg-scanner-202 is busy with an uninstall while the batch arrives.
		manage(t, c, api.Uninstall, "cfg-scanner-202")
		busy := activeJob(t, c, "cfg-scanner-202")

		items := []api.BatchScannerItem{
			awsItem("cfg-scanner-001"),
			awsItem("cfg-does-not-exist"),
			{ConfigID: "cfg-scanner-123", CloudProvider: string(api.Azure)},
			awsItem("cfg-scanner-202"),
			awsItem("not a valid id"),
			awsItem("cfg-scanner-002"),
		}
		batch := batchRemove(t, c, items)
		results := batch.JobInfo.Results

		dispatched := map[string]string{} // workflow name -> config id
		for _, i := range []int{0, 5} {
			r := results[i]
			if !r.Success {
				t.Errorf("result for %s failed: %q", r.ConfigID, deref(r.Error))
				continue
			}
			if !timedJobIDPattern(prefixRemove, r.ConfigID).MatchString(deref(r.WorkflowName)) {
				t.Errorf("result for %s: workflowName %q, want rm-scan-%s-<unix seconds>", r.ConfigID, deref(r.WorkflowName), r.ConfigID)
			}
			dispatched[deref(r.WorkflowName)] = r.ConfigID
		}
		wantItemError(t, results[1], "Config not found")
		wantItemError(t, results[2], "azure", "aws")
		wantItemError(t, results[3], busy.WorkflowName)
		wantItemError(t, results[4], "configID")

		list := awaitJobs(t, c, parentJobs(batch.JobID), 2)
		wantSummary(t, "batch remove", list.Summary, 2, 2, 0)
		if deref(list.ParentID) != batch.JobID {
			t.Errorf("listing parentID = %q, want %q", deref(list.ParentID), batch.JobID)
		}
		for _, job := range list.Jobs {
			configID, ok := dispatched[job.WorkflowName]
			if !ok {
				t.Errorf("listing holds %s, which the batch response did not name", job.WorkflowName)
				continue
			}
			checkJob(t, job, jobWant{
				Operation:   api.Remove,
				Status:      api.JobStateSucceeded,
				ConfigID:    configID,
				ParentID:    batch.JobID,
				CurrentStep: stepPostStatus,
			})
		}

		wantScannerGone(t, c, "cfg-scanner-001")
		wantScannerGone(t, c, "cfg-scanner-002")
		wantScannerState(t, c, "cfg-scanner-123", api.ScannerStateInstalled)
		awaitJob(t, c, busy.WorkflowName)
		wantScannerState(t, c, "cfg-scanner-202", api.ScannerStateUninstalled)
	})
}

func TestBatchRemoveDuplicates(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})

		t.Run("one config named twice runs one workflow", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			batch := batchRemove(t, c, []api.BatchScannerItem{awsItem("cfg-scanner-001"), awsItem("cfg-scanner-002"), awsItem("cfg-scanner-001")})
			first, repeat := batch.JobInfo.Results[0], batch.JobInfo.Results[2]
			if !first.Success || !repeat.Success {
				t.Fatalf("results for the repeated config: %+v and %+v, want both dispatched", first, repeat)
			}
			if deref(first.WorkflowName) != deref(repeat.WorkflowName) {
				t.Errorf("the repeated config got workflows %q and %q, want one", deref(first.WorkflowName), deref(repeat.WorkflowName))
			}

			list := awaitJobs(t, c, parentJobs(batch.JobID), 2)
			wantSummary(t, "batch with a repeat", list.Summary, 2, 2, 0)
			configList := listJobs(t, c, configJobs("cfg-scanner-001"))
			if configList.Summary.Total != 1 {
				t.Errorf("cfg-scanner-001 has %d jobs, want 1", configList.Summary.Total)
			}
		})

		t.Run("two removes in one second start one workflow", func(t *testing.T) {
			t.Parallel()
			c := s.Client(t, orgABC)
			const configID = "cfg-scanner-123"
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := c.RemoveScannerWithResponse(t.Context(), orgABC, api.ScannerRequest{ConfigID: configID, CloudProvider: api.Aws})
					if err != nil {
						t.Errorf("remove %d: %v", i, err)
						return
					}
					statuses[i] = resp.StatusCode()
				}()
			}
			wg.Wait()

			accepted := 0
			for i, status := range statuses {
				switch status {
				case http.StatusAccepted:
					accepted++
				case http.StatusConflict, http.StatusNotFound:
				default:
					t.Errorf("remove %d: status %d, want 202, 409 or 404", i, status)
				}
			}
			if accepted != 1 {
				t.Errorf("%d of two simultaneous removes were accepted (statuses %v), want 1", accepted, statuses)
			}
			list := awaitJobs(t, c, configJobs(configID), 1)
			wantSummary(t, "two simultaneous removes", list.Summary, 1, 1, 0)
			wantScannerGone(t, c, configID)
		})
	})
}

func TestBatchReinstallScanners(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b})
		c := s.Client(t, orgABC)

		items := []api.BatchScannerItem{
			awsItem("cfg-scanner-001"),
			{ConfigID: "cfg-azure-001", CloudProvider: string(api.Aws)},
			awsItem("cfg-scanner-002"),
			awsItem("cfg-does-not-exist"),
		}
		batch := batchReinstall(t, c, items)
		results := batch.JobInfo.Results
		for _, i := range []int{0, 2} {
			if !results[i].Success {
				t.Errorf("result for %s failed: %q", results[i].ConfigID, deref(results[i].Error))
			}
		}
		wantItemError(t, results[1], "aws", "azure")
		wantItemError(t, results[3], "Config not found")

		list := awaitJobs(t, c, parentJobs(batch.JobID), 2)
		wantSummary(t, "batch reinstall", list.Summary, 2, 2, 0)
		seen := map[string]bool{}
		for _, job := range list.Jobs {
			configID := deref(job.ConfigID)
			seen[configID] = true
			checkJob(t, job, jobWant{
				ID:          timedJobIDPattern(prefixReinstall, configID),
				Operation:   api.Reinstall,
				Status:      api.JobStateSucceeded,
				ParentID:    batch.JobID,
				CurrentStep: stepPostStatus,
			})
		}
		if !seen["cfg-scanner-001"] || !seen["cfg-scanner-002"] {
			t.Errorf("children cover %v, want cfg-scanner-001 and cfg-scanner-002", seen)
		}
		wantScannerState(t, c, "cfg-scanner-001", api.ScannerStateInstalled)
		wantScannerState(t, c, "cfg-scanner-002", api.ScannerStateInstalled)
		wantScannerState(t, c, "cfg-azure-001", api.ScannerStateInstalled)
	})
}

func TestBatchReinstallQueuedBehindBusyConfig(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: busyStepDelay})
		c := s.Client(t, orgABC)
		const configID = "cfg-scanner-001"

		manage(t, c, api.Uninstall, configID)
		uninstall := activeJob(t, c, configID)
		batch := batchReinstall(t, c, []api.BatchScannerItem{awsItem(configID)})
		if r := batch.JobInfo.Results[0]; !r.Success {
			t.Fatalf("reinstall of a busy config was rejected: %q, want it queued", deref(r.Error))
		}

		// The uninstall runs for about 3 × 200 ms: the reinstall waits.
		queued := listJobs(t, c, parentJobs(batch.JobID))
		if queued.Summary.Total != 0 || deref(queued.Summary.Queued) != 1 || queued.Summary.Running != 1 {
			t.Errorf("while the uninstall runs: %s, want total 0, queued 1, running 1", describeSummary(queued.Summary))
		}
		if len(queued.Jobs) != 0 {
			t.Errorf("while queued, the parent lists %d jobs, want none", len(queued.Jobs))
		}

		list := awaitJobs(t, c, parentJobs(batch.JobID), 1)
		wantSummary(t, "queued batch reinstall", list.Summary, 1, 1, 0)
		reinstall := list.Jobs[0]
		checkJob(t, reinstall, jobWant{
			ID:          timedJobIDPattern(prefixReinstall, configID),
			Operation:   api.Reinstall,
			Status:      api.JobStateSucceeded,
			ConfigID:    configID,
			ParentID:    batch.JobID,
			CurrentStep: stepPostStatus,
		})
		ended := getJob(t, c, uninstall.WorkflowName)
		if reinstall.CreatedAt.Before(ended.UpdatedAt) {
			t.Errorf("the queued reinstall was created at %s, before the uninstall ended at %s", reinstall.CreatedAt, ended.UpdatedAt)
		}
		wantScannerState(t, c, configID, api.ScannerStateInstalled)
	})
}
