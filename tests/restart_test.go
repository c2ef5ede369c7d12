package tests

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

// restartStepDelay keeps the workflows of the first server running for more
// than a second (4 or 5 steps of 300 ms), long enough to end the process in
// the middle of them.
const restartStepDelay = 300 * time.Millisecond

func TestRestartAfterKill(t *testing.T) {
	requireLocalEngine(t)
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		// A killed process cannot release its job leases, so the new
		// process resumes the jobs once they expire. A 1 s lease keeps that
		// wait short.
		checkJobsSurviveRestart(t, b, restartCase{
			stop:    (*Server).Kill,
			env:     map[string]string{"ONBOARDING_LEASE_TTL": "1s"},
			timeout: asyncTimeout,
		})
	})
}

func TestRestartAfterStop(t *testing.T) {
	requireLocalEngine(t)
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		// SIGTERM hands the jobs over, so the new process resumes them well
		// before the default 30 s lease would expire.
		checkJobsSurviveRestart(t, b, restartCase{
			stop:    (*Server).Stop,
			timeout: 15 * time.Second,
		})
	})
}

// restartCase is one way of ending the first server of
// checkJobsSurviveRestart.
type restartCase struct {
	stop func(*Server, *testing.T)
	// env is extra environment of both servers.
	env map[string]string
	// timeout bounds the wait for the new server to finish the jobs.
	timeout time.Duration
}

// checkJobsSurviveRestart starts a batch removal of three scanners and a
// reinstall of a fourth, and ends the server with rc.stop while they run.
// It then starts a new server on the same database and checks that every
// accepted job finishes with its effect, exactly once.
func checkJobsSurviveRestart(t *testing.T, b Backend, rc restartCase) {
	first := startServer(t, ServerOptions{Backend: b, StepDelay: restartStepDelay, Env: rc.env})
	c := first.Client(t, orgABC)

	removed := []string{"cfg-scanner-001", "cfg-scanner-002", "cfg-scanner-123"}
	const reinstalled = "cfg-scanner-202"
	var items []api.BatchScannerItem
	for _, id := range removed {
		items = append(items, awsItem(id))
	}
	batch := batchRemove(t, c, items)
	accepted := map[string]string{} // config id -> job id
	for _, r := range batch.JobInfo.Results {
		if !r.Success {
			t.Fatalf("batch item %s failed: %q", r.ConfigID, deref(r.Error))
		}
		accepted[r.ConfigID] = deref(r.WorkflowName)
	}
	manage(t, c, api.Reinstall, reinstalled)
	accepted[reinstalled] = activeJob(t, c, reinstalled).WorkflowName

	waitFor(t, asyncTimeout, "every accepted job to run", func() (bool, error) {
		for configID, jobID := range accepted {
			resp, err := c.GetJobWithResponse(t.Context(), jobID)
			if err != nil {
				return false, err
			}
			if resp.JSON200 == nil || resp.JSON200.Status != api.JobStateRunning {
				return false, fmt.Errorf("job %s of %s: status %d: %s", jobID, configID, resp.StatusCode(), resp.Body)
			}
		}
		return true, nil
	})
	rc.stop(first, t)

	second := startServer(t, ServerOptions{Backend: b, DatabaseURL: first.DatabaseURL, Env: rc.env})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("first server's log:\n%s\nsecond server's log:\n%s", first.Logs.tail(60), second.Logs.tail(60))
		}
	})
	c = second.Client(t, orgABC)

	list := awaitJobsWithin(t, c, parentJobs(batch.JobID), len(removed), rc.timeout)
	wantSummary(t, "batch removal across a restart", list.Summary, len(removed), len(removed), 0)
	for _, job := range list.Jobs {
		configID := deref(job.ConfigID)
		if accepted[configID] != job.WorkflowName {
			t.Errorf("batch child %s of %s was not in the batch response (%s)", job.WorkflowName, configID, accepted[configID])
		}
		checkJob(t, job, jobWant{
			Operation:   api.Remove,
			Status:      api.JobStateSucceeded,
			ConfigID:    configID,
			ParentID:    batch.JobID,
			CurrentStep: stepPostStatus,
		})
	}
	reinstall := awaitJobWithin(t, c, accepted[reinstalled], rc.timeout)
	checkJob(t, reinstall, jobWant{
		Operation:   api.Reinstall,
		Status:      api.JobStateSucceeded,
		ConfigID:    reinstalled,
		Region:      "us-west-2",
		CurrentStep: stepPostStatus,
	})

	for _, configID := range removed {
		wantScannerGone(t, c, configID)
	}
	wantScannerState(t, c, reinstalled, api.ScannerStateInstalled)

	// Each config has exactly the job it was given before the restart.
	for configID, jobID := range accepted {
		jobs := listJobs(t, c, configJobs(configID))
		var ids []string
		for _, j := range jobs.Jobs {
			ids = append(ids, j.WorkflowName)
		}
		if !slices.Equal(ids, []string{jobID}) || jobs.Summary.Total != 1 {
			t.Errorf("config %s has jobs %v (total %d), want only %s", configID, ids, jobs.Summary.Total, jobID)
		}
	}
}
