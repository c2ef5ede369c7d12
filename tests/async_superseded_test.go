package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// TestBatchItemsNeverVanish sends a batch remove followed at once by a batch
// reinstall of the same scanners. The reinstalls queue behind the removals,
// which then delete their scanners. The reinstall batch must report them as
// failed instead of finishing with nothing to show.
func TestBatchItemsNeverVanish(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: 150 * time.Millisecond})
		c := s.Client(t, demoOrgID)
		items := []api.BatchScannerItem{awsItem("cfg-scanner-001"), awsItem("cfg-scanner-002")}

		removal := batchRemove(t, c, items)
		reinstall := batchReinstall(t, c, items)
		for i, r := range reinstall.JobInfo.Results {
			if !r.Success {
				t.Errorf("reinstall item %d (%s) was rejected: %s", i, r.ConfigID, deref(r.Error))
			}
		}

		removed := awaitJobs(t, c, parentJobs(removal.JobID), 2)
		wantSummary(t, "batch remove", removed.Summary, 2, 2, 0)

		list := awaitJobs(t, c, parentJobs(reinstall.JobID), 2)
		wantSummary(t, "batch reinstall", list.Summary, 2, 0, 2)
		for _, job := range list.Jobs {
			if job.Error == nil || !strings.Contains(*job.Error, "was removed before the queued reinstall ran") {
				t.Errorf("job %s of the reinstall batch: error %v, want it to say the config was removed", job.WorkflowName, deref(job.Error))
			}
		}
	})
}

// TestBatchItemMergedIntoAnotherBatch checks that a reinstall item merging
// into a reinstall another batch queued is reported as not accepted under
// its own batch, naming the batch where its job appears.
func TestBatchItemMergedIntoAnotherBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: 150 * time.Millisecond})
		c := s.Client(t, demoOrgID)

		manage(t, c, api.Reinstall, "cfg-scanner-201")
		first := batchReinstall(t, c, []api.BatchScannerItem{awsItem("cfg-scanner-201")})
		second := batchReinstall(t, c, []api.BatchScannerItem{awsItem("cfg-scanner-201")})

		if r := first.JobInfo.Results[0]; !r.Success {
			t.Fatalf("first batch item rejected: %s", deref(r.Error))
		}
		wantItemError(t, second.JobInfo.Results[0], "already has a queued reinstall", first.JobID)

		list := awaitJobs(t, c, parentJobs(first.JobID), 1)
		wantSummary(t, "first batch", list.Summary, 1, 1, 0)
		empty := listJobs(t, c, parentJobs(second.JobID))
		wantSummary(t, "second batch", empty.Summary, 0, 0, 0)
	})
}
