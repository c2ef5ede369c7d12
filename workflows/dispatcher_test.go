package workflows

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/store"
)

const testOrg = "org_test"

// dispatchEnv is a dispatcher on a fresh SQLite store with the local engine.
type dispatchEnv struct {
	store  *store.Store
	engine Engine
	d      *Dispatcher
	r      *Reconciler
}

func newDispatchEnv(t *testing.T, engine Engine, scanners ...store.FixtureScanner) *dispatchEnv {
	return newDispatchEnvWithLease(t, engine, 0, scanners...)
}

func newDispatchEnvWithLease(t *testing.T, engine Engine, leaseTTL time.Duration, scanners ...store.FixtureScanner) *dispatchEnv {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	fixture := store.Fixture{Organizations: []store.FixtureOrganization{{
		OrgID: testOrg,
		CloudOrganizations: []store.FixtureCloudOrganization{{
			CloudOrganizationID: "o-test",
			CloudProvider:       "aws",
			EnabledRegions:      []string{"us-east-1"},
			Scanners:            scanners,
		}},
	}}}
	if _, err := st.Seed(ctx, fixture); err != nil {
		t.Fatal(err)
	}
	if engine == nil {
		local := NewLocalEngine(LocalConfig{StepDelay: 2 * time.Millisecond})
		t.Cleanup(local.Close)
		engine = local
	}
	d, err := NewDispatcher(DispatcherConfig{Store: st, Engine: engine, Locker: NewMemoryLocker(), LeaseTTL: leaseTTL})
	if err != nil {
		t.Fatal(err)
	}
	r := NewReconciler(d, ReconcilerConfig{Interval: 5 * time.Millisecond, SubmitGrace: time.Millisecond})
	return &dispatchEnv{store: st, engine: engine, d: d, r: r}
}

func scanner(id string) store.FixtureScanner {
	return store.FixtureScanner{ConfigID: id, Region: "us-east-1"}
}

// runReconciler reconciles in the background until the test ends.
func (e *dispatchEnv) runReconciler(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func (e *dispatchEnv) waitJob(t *testing.T, id string, status store.JobStatus) store.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		job, err := e.store.GetJob(context.Background(), testOrg, id)
		if err == nil && job.Status == status {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not reach %s: last %+v, err %v", id, status, job, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRequestStartsJobAndMarksScanner(t *testing.T) {
	e := newDispatchEnv(t, nil, scanner("cfg-1"))
	ctx := context.Background()

	out, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall, CloudProvider: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Queued || !strings.HasPrefix(out.Job.ID, "ri-scan-cfg-1-") {
		t.Fatalf("outcome = %+v, want a started ri-scan-cfg-1- job", out)
	}
	job, err := e.store.GetJob(ctx, testOrg, out.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !job.Submitted || job.Engine != "local" || job.Region != "us-east-1" || job.CloudOrganizationID != "o-test" {
		t.Errorf("job row = %+v", job)
	}
	s, err := e.store.GetScanner(ctx, testOrg, "cfg-1")
	if err != nil {
		t.Fatal(err)
	}
	if s.State != store.ScannerReinstalling {
		t.Errorf("scanner state = %s, want reinstalling", s.State)
	}
}

func TestRequestErrors(t *testing.T) {
	e := newDispatchEnv(t, nil, scanner("cfg-1"))
	ctx := context.Background()

	_, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "missing", Operation: OperationRemove})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown config: err = %v, want ErrNotFound", err)
	}

	_, err = e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationRemove, CloudProvider: "gcp"})
	var mismatch *ProviderMismatchError
	if !errors.As(err, &mismatch) || mismatch.Stored != "aws" || mismatch.Requested != "gcp" {
		t.Errorf("provider mismatch: err = %v", err)
	}

	first, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationRemove})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationRemove})
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Active.ID != first.Job.ID {
		t.Errorf("busy config: err = %v, want BusyError naming %s", err, first.Job.ID)
	}
}

func TestQueuedActionRunsAfterRunningJob(t *testing.T) {
	e := newDispatchEnv(t, nil, scanner("cfg-1"))
	ctx := context.Background()

	first, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationUninstall})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall, ParentID: "ri-scan-parent", QueueWhenBusy: true})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Queued || second.Coalesced {
		t.Fatalf("second outcome = %+v, want queued and not coalesced", second)
	}
	third, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall, QueueWhenBusy: true})
	if err != nil || !third.Coalesced {
		t.Fatalf("third outcome = %+v, %v, want coalesced", third, err)
	}

	e.runReconciler(t)
	e.waitJob(t, first.Job.ID, store.JobSucceeded)

	var jobs []store.Job
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, _, err = e.store.ListJobsByConfig(ctx, testOrg, "cfg-1", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 2 && jobs[0].Status == store.JobSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued reinstall did not finish: jobs %+v", jobs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	queued := jobs[0]
	if queued.Operation != store.OperationReinstall || queued.ParentID != "ri-scan-parent" {
		t.Errorf("dispatched job = %+v, want a reinstall under ri-scan-parent", queued)
	}
	s, err := e.store.GetScanner(ctx, testOrg, "cfg-1")
	if err != nil {
		t.Fatal(err)
	}
	if s.State != store.ScannerInstalled {
		t.Errorf("scanner state = %s, want installed after the reinstall", s.State)
	}
}

func TestFinishAppliesEffects(t *testing.T) {
	e := newDispatchEnv(t, nil, scanner("cfg-rm"), scanner("cfg-un"),
		store.FixtureScanner{ConfigID: "cfg-bad", Region: "us-east-1", Simulate: &store.Simulation{FailAtStep: "create-stack", Failures: 9}})
	ctx := context.Background()
	e.runReconciler(t)

	rm, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-rm", Operation: OperationRemove})
	if err != nil {
		t.Fatal(err)
	}
	un, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-un", Operation: OperationUninstall})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-bad", Operation: OperationReinstall})
	if err != nil {
		t.Fatal(err)
	}

	e.waitJob(t, rm.Job.ID, store.JobSucceeded)
	if _, err := e.store.GetScanner(ctx, testOrg, "cfg-rm"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removed scanner: err = %v, want ErrNotFound", err)
	}

	e.waitJob(t, un.Job.ID, store.JobSucceeded)
	if s, _ := e.store.GetScanner(ctx, testOrg, "cfg-un"); s.State != store.ScannerUninstalled {
		t.Errorf("uninstalled scanner state = %s", s.State)
	}

	failed := e.waitJob(t, bad.Job.ID, store.JobFailed)
	if failed.CurrentStep != "create-stack" || failed.RetryAttempt != DefaultLocalRetries || !strings.Contains(failed.Error, "create-stack") {
		t.Errorf("failed job = %+v", failed)
	}
	s, _ := e.store.GetScanner(ctx, testOrg, "cfg-bad")
	if s.State != store.ScannerFailed || s.LastError != failed.Error {
		t.Errorf("failed scanner = %+v, want state failed with the job error", s)
	}
}

// rejectingEngine is a local engine whose submissions the cluster rejects,
// as Argo does for a forbidden namespace.
type rejectingEngine struct {
	*LocalEngine
}

func (rejectingEngine) Submit(context.Context, Submission) error {
	return fmt.Errorf("workflows.argoproj.io is forbidden: %w", ErrPermanent)
}

func TestRejectedSubmissionFailsJob(t *testing.T) {
	local := NewLocalEngine(LocalConfig{StepDelay: -1})
	t.Cleanup(local.Close)
	e := newDispatchEnv(t, rejectingEngine{local}, scanner("cfg-1"))
	ctx := context.Background()

	out, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall})
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.store.GetJob(ctx, testOrg, out.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != store.JobFailed || !strings.Contains(job.Error, "forbidden") {
		t.Errorf("job = %+v, want failed with the rejection", job)
	}
	if active, found, _ := e.store.ActiveJobForConfig(ctx, testOrg, "cfg-1"); found {
		t.Errorf("config still busy with %s", active.ID)
	}
}

func TestReconcilerResumesLostWorkflow(t *testing.T) {
	first := NewLocalEngine(LocalConfig{StepDelay: time.Hour})
	e := newDispatchEnvWithLease(t, first, 100*time.Millisecond, scanner("cfg-1"))
	ctx := context.Background()

	out, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationRemove})
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	// A new process: same database, fresh engine, another replica name. It
	// takes the job over once the first process's lease has expired.
	second := NewLocalEngine(LocalConfig{StepDelay: 2 * time.Millisecond})
	t.Cleanup(second.Close)
	d, err := NewDispatcher(DispatcherConfig{Store: e.store, Engine: second, Locker: NewMemoryLocker(), ReplicaID: "second"})
	if err != nil {
		t.Fatal(err)
	}
	e.d, e.r = d, NewReconciler(d, ReconcilerConfig{Interval: 5 * time.Millisecond})
	e.runReconciler(t)

	job := e.waitJob(t, out.Job.ID, store.JobSucceeded)
	if job.CurrentStep != "post-status" || job.Owner != "second" {
		t.Errorf("resumed job = %+v", job)
	}
	if _, err := e.store.GetScanner(ctx, testOrg, "cfg-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("scanner after resumed removal: err = %v, want ErrNotFound", err)
	}
}

func TestOrgRemoval(t *testing.T) {
	t.Run("succeeds and deletes the cloud organisation", func(t *testing.T) {
		e := newDispatchEnv(t, nil, scanner("cfg-1"), scanner("cfg-2"))
		ctx := context.Background()
		e.runReconciler(t)

		job, err := e.d.StartOrgRemoval(ctx, testOrg, "o-test", "aws", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.d.StartOrgRemoval(ctx, testOrg, "o-test", "aws", ""); !errors.As(err, new(*BusyError)) {
			t.Errorf("second removal: err = %v, want BusyError", err)
		}
		done := e.waitJob(t, job.ID, store.JobSucceeded)
		if done.CurrentStep != StepDeletingCredentials {
			t.Errorf("finished job = %+v", done)
		}
		children, err := e.store.ListJobsByParent(ctx, testOrg, job.ID)
		if err != nil || len(children) != 2 {
			t.Fatalf("children = %+v, %v, want 2", children, err)
		}
		if _, err := e.store.GetCloudOrganization(ctx, testOrg, "o-test"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cloud organisation after removal: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("fails naming the failed child and keeps credentials", func(t *testing.T) {
		e := newDispatchEnv(t, nil, scanner("cfg-ok"),
			store.FixtureScanner{ConfigID: "cfg-broken", Region: "us-east-1", Simulate: &store.Simulation{FailAtStep: "delete-stack", Failures: 9}})
		ctx := context.Background()
		e.runReconciler(t)

		job, err := e.d.StartOrgRemoval(ctx, testOrg, "o-test", "", "")
		if err != nil {
			t.Fatal(err)
		}
		done := e.waitJob(t, job.ID, store.JobFailed)
		if !strings.Contains(done.Error, "cfg-broken") || strings.Contains(done.Error, "cfg-ok") {
			t.Errorf("error = %q, want it to name cfg-broken only", done.Error)
		}
		if _, err := e.store.GetCloudOrganization(ctx, testOrg, "o-test"); err != nil {
			t.Errorf("cloud organisation should remain: %v", err)
		}
		if _, err := e.store.GetScanner(ctx, testOrg, "cfg-ok"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("cfg-ok should be removed: err = %v", err)
		}
	})

	t.Run("succeeds when a queued removal finds its scanner gone", func(t *testing.T) {
		e := newDispatchEnv(t, nil, scanner("cfg-1"))
		ctx := context.Background()

		removal, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationRemove})
		if err != nil {
			t.Fatal(err)
		}
		job, err := e.d.StartOrgRemoval(ctx, testOrg, "o-test", "aws", "")
		if err != nil {
			t.Fatal(err)
		}
		e.runReconciler(t)
		e.waitJob(t, removal.Job.ID, store.JobSucceeded)
		done := e.waitJob(t, job.ID, store.JobSucceeded)
		if done.CurrentStep != StepDeletingCredentials {
			t.Errorf("organisation removal = %+v", done)
		}
		children, err := e.store.ListJobsByParent(ctx, testOrg, job.ID)
		if err != nil || len(children) != 1 || children[0].Status != store.JobSucceeded {
			t.Errorf("children = %+v, %v; want one succeeded record of the queued removal", children, err)
		}
	})

	t.Run("queues busy scanners behind their workflow", func(t *testing.T) {
		e := newDispatchEnv(t, nil, scanner("cfg-busy"))
		ctx := context.Background()

		running, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-busy", Operation: OperationReinstall})
		if err != nil {
			t.Fatal(err)
		}
		job, err := e.d.StartOrgRemoval(ctx, testOrg, "o-test", "aws", "")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := e.store.CountPendingByParent(ctx, testOrg, job.ID); err != nil || n != 1 {
			t.Fatalf("queued removals = %d, %v, want 1", n, err)
		}
		e.runReconciler(t)
		e.waitJob(t, running.Job.ID, store.JobSucceeded)
		e.waitJob(t, job.ID, store.JobSucceeded)
	})
}

func TestConcurrentRequestsStartOneJob(t *testing.T) {
	e := newDispatchEnv(t, nil, scanner("cfg-1"))
	ctx := context.Background()

	var wg sync.WaitGroup
	var mu sync.Mutex
	started, queued := 0, 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall, QueueWhenBusy: true})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if out.Queued {
				queued++
			} else {
				started++
			}
		}()
	}
	wg.Wait()
	if started != 1 || queued != 49 {
		t.Errorf("started %d, queued %d; want 1 and 49", started, queued)
	}
	if n, err := e.store.CountPendingForConfig(ctx, testOrg, "cfg-1"); err != nil || n != 1 {
		t.Errorf("queued actions = %d, %v, want 1 coalesced", n, err)
	}
}

func TestReconcilerLeavesLiveLeaseAlone(t *testing.T) {
	first := NewLocalEngine(LocalConfig{StepDelay: time.Hour})
	t.Cleanup(first.Close)
	e := newDispatchEnvWithLease(t, first, time.Hour, scanner("cfg-1"))
	ctx := context.Background()

	out, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall})
	if err != nil {
		t.Fatal(err)
	}

	other := NewLocalEngine(LocalConfig{StepDelay: -1})
	t.Cleanup(other.Close)
	d, err := NewDispatcher(DispatcherConfig{Store: e.store, Engine: other, Locker: NewMemoryLocker(), ReplicaID: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if err := NewReconciler(d, ReconcilerConfig{}).ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}

	job, err := e.store.GetJob(ctx, testOrg, out.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.Owner != e.d.ReplicaID() || job.Status.Terminal() {
		t.Errorf("job = %+v, want it still owned by %s and unfinished", job, e.d.ReplicaID())
	}
	if _, err := other.Status(ctx, out.Job.ID); !errors.Is(err, ErrWorkflowNotFound) {
		t.Errorf("the other replica's engine runs the job: err = %v", err)
	}
}

func TestQueuedActionsNeverVanishFromParents(t *testing.T) {
	local := NewLocalEngine(LocalConfig{StepDelay: time.Hour})
	t.Cleanup(local.Close)
	e := newDispatchEnv(t, local, scanner("cfg-1"))
	ctx := context.Background()

	if _, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall, ParentID: "ri-scan-p1", QueueWhenBusy: true}); err != nil {
		t.Fatal(err)
	}

	t.Run("same action from another parent is merged", func(t *testing.T) {
		_, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall, ParentID: "ri-scan-p2", QueueWhenBusy: true})
		var merged *MergedError
		if !errors.As(err, &merged) || merged.Queued.ParentID != "ri-scan-p1" {
			t.Fatalf("err = %v, want a MergedError naming ri-scan-p1", err)
		}
		if n, _ := e.store.CountPendingByParent(ctx, testOrg, "ri-scan-p1"); n != 1 {
			t.Errorf("queued under ri-scan-p1 = %d, want 1", n)
		}
	})

	t.Run("superseded action is recorded as failed", func(t *testing.T) {
		if _, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationUninstall, QueueWhenBusy: true}); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.store.CountPendingByParent(ctx, testOrg, "ri-scan-p1"); n != 0 {
			t.Errorf("queued under ri-scan-p1 = %d, want 0 after the uninstall replaced it", n)
		}
		jobs, err := e.store.ListJobsByParent(ctx, testOrg, "ri-scan-p1")
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 || jobs[0].Status != store.JobFailed || !strings.Contains(jobs[0].Error, "superseded by a later uninstall") {
			t.Fatalf("jobs of ri-scan-p1 = %+v, want one failed job saying it was superseded", jobs)
		}
		if jobs[0].Operation != store.OperationReinstall || jobs[0].ConfigID != "cfg-1" || jobs[0].Region != "us-east-1" {
			t.Errorf("recorded job = %+v", jobs[0])
		}
	})
}

func TestQueuedActionOfRemovedConfigIsRecorded(t *testing.T) {
	e := newDispatchEnv(t, nil, scanner("cfg-1"))
	ctx := context.Background()

	removal, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationRemove})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall, ParentID: "ri-scan-p3", QueueWhenBusy: true}); err != nil {
		t.Fatal(err)
	}
	e.runReconciler(t)
	e.waitJob(t, removal.Job.ID, store.JobSucceeded)

	deadline := time.Now().Add(5 * time.Second)
	for {
		jobs, err := e.store.ListJobsByParent(ctx, testOrg, "ri-scan-p3")
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			if jobs[0].Status != store.JobFailed || !strings.Contains(jobs[0].Error, "was removed before the queued reinstall ran") {
				t.Errorf("recorded job = %+v", jobs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job recorded under ri-scan-p3: %+v", jobs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, _ := e.store.CountPendingByParent(ctx, testOrg, "ri-scan-p3"); n != 0 {
		t.Errorf("queued under ri-scan-p3 = %d, want 0", n)
	}
}

func TestJobIDsOfOneSecondNeverRunOut(t *testing.T) {
	at := time.Unix(1733980800, 0)
	e := newDispatchEnv(t, nil, scanner("cfg-1"))
	e.d.now = func() time.Time { return at }
	ctx := context.Background()

	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		out, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if seen[out.Job.ID] {
			t.Fatalf("request %d reused job id %s", i, out.Job.ID)
		}
		seen[out.Job.ID] = true
		if _, _, err := e.store.FinishJob(ctx, out.Job.ID, store.JobProgress{Status: store.JobSucceeded}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReplicaThatLostLeaseCancelsItsCopy(t *testing.T) {
	first := NewLocalEngine(LocalConfig{StepDelay: time.Hour})
	t.Cleanup(first.Close)
	e := newDispatchEnvWithLease(t, first, 20*time.Millisecond, scanner("cfg-1"))
	ctx := context.Background()

	out, err := e.d.Request(ctx, Request{OrgID: testOrg, ConfigID: "cfg-1", Operation: OperationReinstall})
	if err != nil {
		t.Fatal(err)
	}
	// The first replica stalls past its lease. The second replica's clock
	// runs a second ahead, so the lease has expired for it and it takes the
	// job over.
	second := NewLocalEngine(LocalConfig{StepDelay: time.Hour})
	t.Cleanup(second.Close)
	later := func() time.Time { return time.Now().Add(time.Second) }
	d, err := NewDispatcher(DispatcherConfig{Store: e.store, Engine: second, Locker: NewMemoryLocker(),
		ReplicaID: "second", LeaseTTL: time.Hour, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if err := NewReconciler(d, ReconcilerConfig{}).ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Status(ctx, out.Job.ID); err != nil {
		t.Fatalf("the second replica did not resume the job: %v", err)
	}

	// The first replica wakes up and finds the job owned by the second.
	if err := e.r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Status(ctx, out.Job.ID); !errors.Is(err, ErrWorkflowNotFound) {
		t.Errorf("the first replica still runs the job: err = %v", err)
	}
}

func TestReconcilerLeavesOtherEnginesJobs(t *testing.T) {
	e := newDispatchEnv(t, nil, scanner("cfg-1"))
	ctx := context.Background()
	now := time.Now()
	job := store.Job{ID: "ri-scan-cfg-1-1796400000", Operation: store.OperationReinstall, OrgID: testOrg, ConfigID: "cfg-1",
		CloudProvider: "aws", Region: "us-east-1", Status: store.JobRunning, CurrentStep: "create-stack",
		Engine: "argo", Submitted: true, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}

	if err := e.r.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.GetJob(ctx, testOrg, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.JobRunning || got.Owner != "" || got.CurrentStep != "create-stack" {
		t.Errorf("argo job after a local reconciler pass = %+v, want it untouched", got)
	}
}
