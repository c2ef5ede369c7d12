package tests

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/gen/api"
)

func TestAsyncQueueReinstallBehindRunningJob(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: busyStepDelay})
		c := s.Client(t, orgABC)
		const configID = "cfg-scanner-001"

		manage(t, c, api.Uninstall, configID)
		manage(t, c, api.Reinstall, configID)

		// The uninstall runs for about 3 × 200 ms, so the reinstall is
		// still queued when the listing is read.
		queued := listJobs(t, c, configJobs(configID))
		if queued.Summary.Total != 1 || deref(queued.Summary.Queued) != 1 || queued.Summary.Running != 2 {
			t.Errorf("while the uninstall runs: %s, want total 1, queued 1, running 2", describeSummary(queued.Summary))
		}

		list := awaitJobs(t, c, configJobs(configID), 2)
		wantSummary(t, "after both", list.Summary, 2, 2, 0)
		reinstall, uninstall := list.Jobs[0], list.Jobs[1] // newest first
		checkJob(t, uninstall, jobWant{
			ID:          timedJobIDPattern(prefixUninstall, configID),
			Operation:   api.Uninstall,
			Status:      api.JobStateSucceeded,
			ConfigID:    configID,
			CurrentStep: stepPostStatus,
		})
		checkJob(t, reinstall, jobWant{
			ID:          timedJobIDPattern(prefixReinstall, configID),
			Operation:   api.Reinstall,
			Status:      api.JobStateSucceeded,
			ConfigID:    configID,
			CurrentStep: stepPostStatus,
		})
		if reinstall.CreatedAt.Before(uninstall.UpdatedAt) {
			t.Errorf("the queued reinstall was created at %s, before the uninstall ended at %s",
				reinstall.CreatedAt.Format(time.RFC3339Nano), uninstall.UpdatedAt.Format(time.RFC3339Nano))
		}
		wantScannerState(t, c, configID, api.ScannerStateInstalled)
	})
}

// concurrentReinstalls is the number of simultaneous reinstall requests on
// one config in TestAsyncQueueConcurrentReinstalls.
const concurrentReinstalls = 50

// TestAsyncQueueConcurrentReinstalls sends many reinstalls of one config at
// once. The first starts a job and the others coalesce into one queued
// action, so exactly two jobs run, one after the other. The 400 ms steps make
// the first job last about 2 s, which leaves the requests time to arrive
// while it runs.
func TestAsyncQueueConcurrentReinstalls(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		s := startServer(t, ServerOptions{Backend: b, StepDelay: 400 * time.Millisecond})
		c := s.Client(t, orgABC)
		const configID = "cfg-scanner-002"

		var responded atomic.Int32
		statuses := make([]int, concurrentReinstalls)
		var wg sync.WaitGroup
		for i := range concurrentReinstalls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer responded.Add(1)
				resp, err := c.ReinstallScannerWithResponse(t.Context(), orgABC, &api.ReinstallScannerParams{ConfigID: configID})
				if err != nil {
					t.Errorf("reinstall request %d: %v", i, err)
					return
				}
				statuses[i] = resp.StatusCode()
			}()
		}

		// Sample the config's jobs until every request has a response and
		// every job has finished, recording the maximum number of unfinished
		// jobs seen at once.
		maxActive := 0
		var firstEndedEarly string
		waitFor(t, asyncTimeout, "the reinstalls to finish", func() (bool, error) {
			allResponded := responded.Load() == concurrentReinstalls
			p := configJobs(configID)
			resp, err := c.ListJobsWithResponse(t.Context(), &p)
			if err != nil {
				return false, err
			}
			if resp.JSON200 == nil {
				return false, fmt.Errorf("listing: status %d: %s", resp.StatusCode(), resp.Body)
			}
			list := *resp.JSON200
			active := 0
			for _, j := range list.Jobs {
				if !isTerminal(j.Status) {
					active++
				}
			}
			maxActive = max(maxActive, active)
			if !allResponded && list.Summary.Total > 1 && firstEndedEarly == "" {
				firstEndedEarly = describeSummary(list.Summary)
			}
			return allResponded && list.Summary.Running == 0, fmt.Errorf("%d of %d responses; %s",
				responded.Load(), concurrentReinstalls, describeSummary(list.Summary))
		})
		wg.Wait()

		for i, status := range statuses {
			if status != http.StatusOK {
				t.Errorf("reinstall request %d: status %d, want 200", i, status)
			}
		}
		if maxActive > 1 {
			t.Errorf("saw %d unfinished jobs of one config at once, want at most 1", maxActive)
		}
		if firstEndedEarly != "" {
			t.Fatalf("the first job ended before all %d requests had a response (%s); the test needs longer steps",
				concurrentReinstalls, firstEndedEarly)
		}

		list := listJobs(t, c, configJobs(configID))
		wantSummary(t, "after the reinstalls", list.Summary, 2, 2, 0)
		if len(list.Jobs) == 2 {
			second, first := list.Jobs[0], list.Jobs[1]
			if second.CreatedAt.Before(first.UpdatedAt) {
				t.Errorf("the coalesced reinstall %s was created at %s, before %s ended at %s", second.WorkflowName,
					second.CreatedAt.Format(time.RFC3339Nano), first.WorkflowName, first.UpdatedAt.Format(time.RFC3339Nano))
			}
		}
		wantScannerState(t, c, configID, api.ScannerStateInstalled)
	})
}
