package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/store"
)

func jobID(prefix string, i int) string {
	return fmt.Sprintf("%s-%03d", prefix, i)
}

// newJob returns a pending remove job of orgA's east scanner.
func newJob(id string) store.Job {
	return store.Job{
		ID:                  id,
		Operation:           store.OperationRemove,
		OrgID:               orgA,
		ConfigID:            configEast,
		CloudProvider:       "aws",
		CloudOrganizationID: cloudOrg1,
		Region:              "us-east-1",
		Engine:              "local",
	}
}

func mustCreateJob(t *testing.T, s *store.Store, job store.Job) {
	t.Helper()
	if err := s.CreateJob(t.Context(), job); err != nil {
		t.Fatalf("CreateJob(%s): %v", job.ID, err)
	}
}

func jobIDs(jobs []store.Job) []string {
	ids := make([]string, 0, len(jobs))
	for _, job := range jobs {
		ids = append(ids, job.ID)
	}
	return ids
}

func equalIDs(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestCreateAndGetJob(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		job := newJob("rm-scan-cfg-east-1")
		job.ParentID = "rm-scan-parent"
		job.CreatedAt = baseTime.Add(500 * time.Nanosecond) // truncated to microseconds
		mustCreateJob(t, s, job)

		got, err := s.GetJob(ctx, orgA, job.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		want := job
		want.Status = store.JobPending
		want.CreatedAt = baseTime
		want.UpdatedAt = baseTime
		if got != want {
			t.Errorf("GetJob =\n %+v\nwant\n %+v", got, want)
		}

		if err := s.CreateJob(ctx, job); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("CreateJob with a duplicate id: err = %v, want ErrAlreadyExists", err)
		}
		if _, err := s.GetJob(ctx, orgB, job.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJob from another org: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetJob(ctx, orgA, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJob of an unknown id: err = %v, want ErrNotFound", err)
		}

		invalid := []store.Job{
			{ID: "", OrgID: orgA, Operation: store.OperationRemove},
			{ID: "x", OrgID: orgA, Operation: "explode"},
			{ID: "x", OrgID: orgA, Operation: store.OperationRemove, Status: "done"},
		}
		for _, job := range invalid {
			if err := s.CreateJob(ctx, job); err == nil {
				t.Errorf("CreateJob(%+v) succeeded, want an error", job)
			}
		}
	})
}

func TestCreateJobIfIdle(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()

		t.Run("inserts only when idle", func(t *testing.T) {
			first := newJob("idle-1")
			active, err := s.CreateJobIfIdle(ctx, first)
			if err != nil || active != (store.Job{}) {
				t.Fatalf("CreateJobIfIdle on an idle config = (%+v, %v), want the zero job and nil", active, err)
			}

			second := newJob("idle-2")
			active, err = s.CreateJobIfIdle(ctx, second)
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CreateJobIfIdle on a busy config: err = %v, want ErrConflict", err)
			}
			if active.ID != first.ID {
				t.Errorf("active job = %q, want %q", active.ID, first.ID)
			}
			if _, err := s.GetJob(ctx, orgA, second.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the rejected job was stored: GetJob err = %v", err)
			}

			other := newJob("idle-other-org")
			other.OrgID = orgB
			if _, err := s.CreateJobIfIdle(ctx, other); err != nil {
				t.Errorf("CreateJobIfIdle for the same config id in another org: %v", err)
			}

			if _, _, err := s.FinishJob(ctx, first.ID, store.JobProgress{Status: store.JobSucceeded}, nil); err != nil {
				t.Fatalf("FinishJob: %v", err)
			}
			if _, err := s.CreateJobIfIdle(ctx, second); err != nil {
				t.Errorf("CreateJobIfIdle after the active job finished: %v", err)
			}
		})

		t.Run("one of 50 concurrent inserts", func(t *testing.T) {
			const callers = 50
			var inserted, conflicts atomic.Int32
			var mu sync.Mutex
			var failures []error
			runConcurrently(callers, func(i int) {
				job := newJob(jobID("race", i))
				job.ConfigID = configWest
				_, err := s.CreateJobIfIdle(ctx, job)
				switch {
				case err == nil:
					inserted.Add(1)
				case errors.Is(err, store.ErrConflict):
					conflicts.Add(1)
				default:
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			})
			for _, err := range failures {
				t.Errorf("CreateJobIfIdle: %v", err)
			}
			if inserted.Load() != 1 || conflicts.Load() != callers-1 {
				t.Errorf("inserted %d and conflicted %d, want 1 and %d", inserted.Load(), conflicts.Load(), callers-1)
			}
			_, counts, err := s.ListJobsByConfig(ctx, orgA, configWest, 0)
			if err != nil {
				t.Fatalf("ListJobsByConfig: %v", err)
			}
			if counts.Total != 1 {
				t.Errorf("stored jobs = %d, want 1", counts.Total)
			}
		})
	})
}

func TestJobListings(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		statuses := []store.JobStatus{store.JobSucceeded, store.JobFailed, store.JobSucceeded, store.JobRunning, store.JobPending}
		for i, status := range statuses {
			job := newJob(jobID("list", i))
			job.Status = status
			job.ParentID = "parent-1"
			job.CreatedAt = baseTime.Add(time.Duration(i) * time.Minute)
			mustCreateJob(t, s, job)
		}
		// Same creation time: the id breaks the tie.
		tie := newJob("list-tie")
		tie.CreatedAt = baseTime
		tie.ParentID = "parent-1"
		tie.Status = store.JobFailed
		mustCreateJob(t, s, tie)
		otherOrg := newJob("list-other-org")
		otherOrg.OrgID = orgB
		otherOrg.ParentID = "parent-1"
		mustCreateJob(t, s, otherOrg)

		t.Run("by config newest first", func(t *testing.T) {
			jobs, counts, err := s.ListJobsByConfig(ctx, orgA, configEast, 3)
			if err != nil {
				t.Fatalf("ListJobsByConfig: %v", err)
			}
			want := []string{"list-004", "list-003", "list-002"}
			if got := jobIDs(jobs); !equalIDs(got, want) {
				t.Errorf("ListJobsByConfig ids = %v, want %v", got, want)
			}
			wantCounts := store.JobCounts{Total: 6, Pending: 1, Running: 1, Succeeded: 2, Failed: 2}
			if counts != wantCounts {
				t.Errorf("counts = %+v, want %+v", counts, wantCounts)
			}

			all, _, err := s.ListJobsByConfig(ctx, orgA, configEast, 0)
			if err != nil {
				t.Fatalf("ListJobsByConfig: %v", err)
			}
			wantAll := []string{"list-004", "list-003", "list-002", "list-001", "list-tie", "list-000"}
			if got := jobIDs(all); !equalIDs(got, wantAll) {
				t.Errorf("ListJobsByConfig(limit 0) ids = %v, want %v", got, wantAll)
			}
			if got := store.CountJobs(all); got != wantCounts {
				t.Errorf("CountJobs = %+v, want %+v", got, wantCounts)
			}
		})

		t.Run("by parent oldest first", func(t *testing.T) {
			jobs, err := s.ListJobsByParent(ctx, orgA, "parent-1")
			if err != nil {
				t.Fatalf("ListJobsByParent: %v", err)
			}
			want := []string{"list-000", "list-tie", "list-001", "list-002", "list-003", "list-004"}
			if got := jobIDs(jobs); !equalIDs(got, want) {
				t.Errorf("ListJobsByParent ids = %v, want %v", got, want)
			}
			none, err := s.ListJobsByParent(ctx, orgA, "parent-unknown")
			if err != nil || len(none) != 0 {
				t.Errorf("ListJobsByParent of an unknown parent = (%v, %v), want empty", jobIDs(none), err)
			}
		})

		t.Run("active job is newest unfinished", func(t *testing.T) {
			active, found, err := s.ActiveJobForConfig(ctx, orgA, configEast)
			if err != nil || !found || active.ID != "list-004" {
				t.Errorf("ActiveJobForConfig = (%q, %t, %v), want list-004", active.ID, found, err)
			}
			_, found, err = s.ActiveJobForConfig(ctx, orgA, configWest)
			if err != nil || found {
				t.Errorf("ActiveJobForConfig of an idle config: found=%t err=%v, want none", found, err)
			}
		})

		t.Run("unfinished and unsubmitted across orgs", func(t *testing.T) {
			unfinished, err := s.ListUnfinishedJobs(ctx, 0)
			if err != nil {
				t.Fatalf("ListUnfinishedJobs: %v", err)
			}
			want := []string{"list-003", "list-004", "list-other-org"}
			if got := jobIDs(unfinished); !equalIDs(got, want) {
				t.Errorf("ListUnfinishedJobs ids = %v, want %v", got, want)
			}
			limited, err := s.ListUnfinishedJobs(ctx, 1)
			if err != nil || !equalIDs(jobIDs(limited), want[:1]) {
				t.Errorf("ListUnfinishedJobs(1) = (%v, %v), want %v", jobIDs(limited), err, want[:1])
			}

			if err := s.MarkJobSubmitted(ctx, "list-003"); err != nil {
				t.Fatalf("MarkJobSubmitted: %v", err)
			}
			if err := s.MarkJobSubmitted(ctx, "list-003"); err != nil {
				t.Errorf("MarkJobSubmitted a second time: %v", err)
			}
			if err := s.MarkJobSubmitted(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("MarkJobSubmitted of an unknown job: err = %v, want ErrNotFound", err)
			}
			submitted, err := s.GetJob(ctx, orgA, "list-003")
			if err != nil || !submitted.Submitted {
				t.Errorf("after MarkJobSubmitted job = (%+v, %v), want Submitted", submitted, err)
			}
		})
	})
}

func TestUpdateJobProgress(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		job := newJob("progress-1")
		job.CreatedAt = baseTime
		mustCreateJob(t, s, job)

		running := store.JobProgress{Status: store.JobRunning, CurrentStep: "delete-stack"}
		got, changed, err := s.UpdateJobProgress(ctx, job.ID, running)
		if err != nil || !changed {
			t.Fatalf("UpdateJobProgress = (changed %t, %v), want a change", changed, err)
		}
		if got.Status != store.JobRunning || got.CurrentStep != "delete-stack" || !got.UpdatedAt.After(baseTime) {
			t.Errorf("after the update job = %+v, want running at delete-stack with a new updated_at", got)
		}

		again, changed, err := s.UpdateJobProgress(ctx, job.ID, running)
		if err != nil || changed {
			t.Errorf("UpdateJobProgress with the same values = (changed %t, %v), want no change", changed, err)
		}
		if !again.UpdatedAt.Equal(got.UpdatedAt) {
			t.Errorf("updated_at moved from %v to %v without a change", got.UpdatedAt, again.UpdatedAt)
		}

		retry := store.JobProgress{Status: store.JobRunning, CurrentStep: "delete-stack", RetryAttempt: 1, Error: "throttled"}
		got, changed, err = s.UpdateJobProgress(ctx, job.ID, retry)
		if err != nil || !changed || got.RetryAttempt != 1 || got.Error != "throttled" {
			t.Errorf("UpdateJobProgress(retry) = (%+v, %t, %v), want retry 1 with the error", got, changed, err)
		}

		failed := store.JobProgress{Status: store.JobFailed, CurrentStep: "delete-stack", Error: "gave up"}
		if _, changed, err := s.UpdateJobProgress(ctx, job.ID, failed); err != nil || !changed {
			t.Fatalf("UpdateJobProgress(failed) = (changed %t, %v), want a change", changed, err)
		}
		for _, p := range []store.JobProgress{running, {Status: store.JobSucceeded}} {
			got, changed, err := s.UpdateJobProgress(ctx, job.ID, p)
			if err != nil || changed {
				t.Errorf("UpdateJobProgress(%+v) on a failed job = (changed %t, %v), want no change", p, changed, err)
			}
			if got.Status != store.JobFailed || got.Error != "gave up" {
				t.Errorf("terminal job changed to %+v", got)
			}
		}

		if _, _, err := s.UpdateJobProgress(ctx, "missing", running); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateJobProgress of an unknown job: err = %v, want ErrNotFound", err)
		}
		if _, _, err := s.UpdateJobProgress(ctx, job.ID, store.JobProgress{Status: "bogus"}); err == nil {
			t.Error("UpdateJobProgress with an invalid status succeeded, want an error")
		}
	})
}

func TestFinishJob(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		seedTestData(t, s)

		t.Run("concurrent finishers apply effect once", func(t *testing.T) {
			job := newJob("finish-race")
			mustCreateJob(t, s, job)

			const finishers = 8
			var effects, changes atomic.Int32
			errs := make([]error, finishers)
			runConcurrently(finishers, func(i int) {
				_, changed, err := s.FinishJob(ctx, job.ID, store.JobProgress{Status: store.JobSucceeded, CurrentStep: "post-status"},
					func(tx *store.Tx) error {
						effects.Add(1)
						return tx.DeleteScanner(ctx, orgA, configEast)
					})
				errs[i] = err
				if changed {
					changes.Add(1)
				}
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("FinishJob %d: %v", i, err)
				}
			}
			if effects.Load() != 1 || changes.Load() != 1 {
				t.Errorf("effect ran %d times and %d calls changed the job, want 1 and 1", effects.Load(), changes.Load())
			}
			if _, err := s.GetScanner(ctx, orgA, configEast); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the effect's delete is missing: GetScanner err = %v", err)
			}
			finished, err := s.GetJob(ctx, orgA, job.ID)
			if err != nil || finished.Status != store.JobSucceeded || finished.CurrentStep != "post-status" {
				t.Errorf("finished job = (%+v, %v), want succeeded at post-status", finished, err)
			}
		})

		t.Run("failed effect rolls back", func(t *testing.T) {
			job := newJob("finish-rollback")
			job.ConfigID = configWest
			mustCreateJob(t, s, job)

			boom := errors.New("effect failed")
			_, _, err := s.FinishJob(ctx, job.ID, store.JobProgress{Status: store.JobSucceeded}, func(tx *store.Tx) error {
				if err := tx.SetScannerState(ctx, orgA, configWest, store.ScannerUninstalled, ""); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("FinishJob: err = %v, want the effect's error", err)
			}
			stored, err := s.GetJob(ctx, orgA, job.ID)
			if err != nil || stored.Status != store.JobPending {
				t.Errorf("job after a failed effect = (%s, %v), want still pending", stored.Status, err)
			}
			scanner, err := s.GetScanner(ctx, orgA, configWest)
			if err != nil || scanner.State != store.ScannerInstalled {
				t.Errorf("scanner after a failed effect = (%s, %v), want still installed", scanner.State, err)
			}
		})

		t.Run("effect dispatches queued action", func(t *testing.T) {
			job := newJob("finish-dispatch")
			job.ConfigID = configAzur
			mustCreateJob(t, s, job)
			queued := store.PendingAction{OrgID: orgA, ConfigID: configAzur, Action: store.OperationReinstall, ParentID: "ri-batch"}
			if _, _, err := s.EnqueueAction(ctx, queued); err != nil {
				t.Fatalf("EnqueueAction: %v", err)
			}

			_, changed, err := s.FinishJob(ctx, job.ID, store.JobProgress{Status: store.JobSucceeded}, func(tx *store.Tx) error {
				action, found, err := tx.TakePendingAction(ctx, orgA, configAzur)
				if err != nil || !found {
					return fmt.Errorf("taking the queued action: found=%t: %w", found, err)
				}
				next := newJob("finish-dispatched")
				next.ConfigID = configAzur
				next.Operation = action.Action
				next.ParentID = action.ParentID
				_, err = tx.CreateJobIfIdle(ctx, next)
				return err
			})
			if err != nil || !changed {
				t.Fatalf("FinishJob = (changed %t, %v), want a change", changed, err)
			}
			active, found, err := s.ActiveJobForConfig(ctx, orgA, configAzur)
			if err != nil || !found || active.ID != "finish-dispatched" || active.ParentID != "ri-batch" {
				t.Errorf("active job = (%+v, %t, %v), want finish-dispatched of ri-batch", active, found, err)
			}
		})

		t.Run("rejects a non-terminal status", func(t *testing.T) {
			if _, _, err := s.FinishJob(ctx, "any", store.JobProgress{Status: store.JobRunning}, nil); err == nil {
				t.Error("FinishJob(running) succeeded, want an error")
			}
		})
	})
}

func TestTransactionRollsBack(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		boom := errors.New("abort")
		err := s.Transaction(ctx, func(tx *store.Tx) error {
			if err := tx.CreateJob(ctx, newJob("tx-1")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Transaction: err = %v, want the callback's error", err)
		}
		if _, err := s.GetJob(ctx, orgA, "tx-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("job of a rolled back transaction: GetJob err = %v, want ErrNotFound", err)
		}
	})
}

func TestActiveOrgRemoval(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		removal := store.Job{ID: "rm-org-o-cloud1-1", Operation: store.OperationRemoveOrg, OrgID: orgA,
			CloudProvider: "aws", CloudOrganizationID: cloudOrg1, Status: store.JobRunning}
		mustCreateJob(t, s, removal)
		child := newJob("rm-scan-child")
		child.ParentID = removal.ID
		mustCreateJob(t, s, child)

		active, found, err := s.ActiveOrgRemoval(ctx, orgA, cloudOrg1)
		if err != nil || !found || active.ID != removal.ID {
			t.Errorf("ActiveOrgRemoval = (%q, %t, %v), want %s", active.ID, found, err, removal.ID)
		}
		if _, found, err := s.ActiveOrgRemoval(ctx, orgB, cloudOrg1); err != nil || found {
			t.Errorf("ActiveOrgRemoval from another org = (found %t, %v), want none", found, err)
		}

		if _, _, err := s.FinishJob(ctx, removal.ID, store.JobProgress{Status: store.JobFailed}, nil); err != nil {
			t.Fatalf("FinishJob: %v", err)
		}
		if _, found, err := s.ActiveOrgRemoval(ctx, orgA, cloudOrg1); err != nil || found {
			t.Errorf("ActiveOrgRemoval after it failed = (found %t, %v), want none", found, err)
		}
	})
}

func TestJobLeases(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, b.newURL(t))
			ctx := t.Context()
			now := time.Now().UTC()

			job := store.Job{ID: "ri-scan-lease-1", Operation: store.OperationReinstall, OrgID: "org_a",
				ConfigID: "cfg-lease", Status: store.JobRunning, Owner: "replica-a",
				LeaseExpiresAt: now.Add(time.Minute), CreatedAt: now, UpdatedAt: now}
			if err := s.CreateJob(ctx, job); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetJob(ctx, "org_a", job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Owner != "replica-a" || got.LeaseExpiresAt.Sub(job.LeaseExpiresAt).Abs() > time.Millisecond {
				t.Errorf("stored lease = %s until %s, want replica-a until %s", got.Owner, got.LeaseExpiresAt, job.LeaseExpiresAt)
			}

			if ok, err := s.ClaimJob(ctx, job.ID, "replica-b", now, now.Add(time.Minute)); err != nil || ok {
				t.Errorf("claim of a live lease by another replica = %v, %v; want false", ok, err)
			}
			if ok, err := s.ClaimJob(ctx, job.ID, "replica-a", now, now.Add(2*time.Minute)); err != nil || !ok {
				t.Errorf("claim by the owner = %v, %v; want true", ok, err)
			}
			if ok, err := s.ClaimJob(ctx, job.ID, "replica-b", now.Add(3*time.Minute), now.Add(4*time.Minute)); err != nil || !ok {
				t.Errorf("claim of an expired lease = %v, %v; want true", ok, err)
			}

			if n, err := s.RenewLeases(ctx, "replica-b", now.Add(10*time.Minute)); err != nil || n != 1 {
				t.Errorf("RenewLeases = %d, %v; want 1", n, err)
			}
			if n, err := s.ReleaseLeases(ctx, "replica-b"); err != nil || n != 1 {
				t.Errorf("ReleaseLeases = %d, %v; want 1", n, err)
			}
			if ok, err := s.ClaimJob(ctx, job.ID, "replica-c", now, now.Add(time.Minute)); err != nil || !ok {
				t.Errorf("claim after release = %v, %v; want true", ok, err)
			}

			if _, _, err := s.FinishJob(ctx, job.ID, store.JobProgress{Status: store.JobSucceeded}, nil); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.ClaimJob(ctx, job.ID, "replica-c", now, now.Add(time.Minute)); err != nil || ok {
				t.Errorf("claim of a finished job = %v, %v; want false", ok, err)
			}
		})
	}
}

func TestJobStats(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, b.newURL(t))
			ctx := t.Context()
			base := time.Now().UTC().Add(-time.Hour)

			statuses := []store.JobStatus{store.JobRunning, store.JobPending, store.JobSucceeded, store.JobSucceeded, store.JobFailed}
			for i, status := range statuses {
				created := base.Add(time.Duration(i) * time.Minute)
				job := store.Job{ID: jobID("stats", i), Operation: store.OperationRemove, OrgID: "org_a",
					ConfigID: fmt.Sprintf("cfg-%d", i), Status: status, CreatedAt: created, UpdatedAt: created}
				if err := s.CreateJob(ctx, job); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.EnqueueAction(ctx, store.PendingAction{OrgID: "org_a", ConfigID: "cfg-0", Action: store.OperationReinstall}); err != nil {
				t.Fatal(err)
			}

			stats, err := s.JobStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[store.JobStatus]int{store.JobRunning: 1, store.JobPending: 1, store.JobSucceeded: 2, store.JobFailed: 1}
			for status, n := range want {
				if stats.ByStatus[status] != n {
					t.Errorf("jobs %s = %d, want %d", status, stats.ByStatus[status], n)
				}
			}
			if stats.QueuedActions != 1 {
				t.Errorf("queued actions = %d, want 1", stats.QueuedActions)
			}
			if !stats.OldestUnfinished.Equal(base.Truncate(time.Microsecond)) {
				t.Errorf("oldest unfinished = %s, want %s", stats.OldestUnfinished, base)
			}
		})
	}
}

func TestDuplicateJobInsideTransaction(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, b.newURL(t))
			ctx := t.Context()
			now := time.Now().UTC()
			job := store.Job{ID: "ri-scan-dup-1", Operation: store.OperationReinstall, OrgID: "org_a",
				ConfigID: "cfg-dup", Status: store.JobFailed, CreatedAt: now, UpdatedAt: now}
			if err := s.CreateJob(ctx, job); err != nil {
				t.Fatal(err)
			}

			// A caller that meets a taken id tries another in the same
			// transaction; on PostgreSQL the failed insert must not abort it.
			err := s.Transaction(ctx, func(tx *store.Tx) error {
				if err := tx.CreateJob(ctx, job); !errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("duplicate insert: %v, want ErrAlreadyExists", err)
				}
				job.ID = "ri-scan-dup-1-1"
				return tx.CreateJob(ctx, job)
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetJob(ctx, "org_a", "ri-scan-dup-1-1"); err != nil {
				t.Errorf("second job after a duplicate in one transaction: %v", err)
			}
		})
	}
}
