package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scanner-ops/onboarding-service/store"
)

// Defaults of ReconcilerConfig.
const (
	DefaultReconcileInterval = 2 * time.Second
	DefaultSubmitGrace       = 10 * time.Second
	// reconcileBatch bounds the jobs and queued actions read per pass; a
	// longer backlog is worked through over several passes.
	reconcileBatch = 500
)

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	// Interval is the time between two passes when no engine change
	// arrives; 0 means DefaultReconcileInterval.
	Interval time.Duration
	// SubmitGrace is how long a job may stay unsubmitted before the
	// reconciler submits it again, leaving time to the request that created
	// it; 0 means DefaultSubmitGrace.
	SubmitGrace time.Duration
	Logger      *slog.Logger
}

// Reconciler follows every unfinished job to its end. It copies the
// engine's state into the job row and finishes jobs through the Dispatcher,
// which applies effects and queued actions. It also submits jobs whose
// submission failed or was cut off, advances cloud organisation removals,
// and starts queued actions whose config has become idle.
//
// Every step is safe to run again and from several replicas at once,
// without row claims:
//   - a job's effect is applied by the conditional UPDATE that makes the job
//     terminal, so only one replica applies it;
//   - a queued action is taken with DELETE ... RETURNING, so only one
//     replica dispatches it;
//   - a config gets a job only through the store's check-and-insert under
//     an advisory lock;
//   - submissions are idempotent by workflow name;
//   - local-engine jobs are leased to the replica that runs them.
type Reconciler struct {
	d           *Dispatcher
	interval    time.Duration
	submitGrace time.Duration
	logger      *slog.Logger
	// lastPass is the Unix time in nanoseconds at which the last pass
	// finished without error; 0 before the first.
	lastPass atomic.Int64
	// errors counts the jobs and queued actions a pass failed to handle.
	errors atomic.Uint64

	mu sync.Mutex
	// warned holds the jobs of other engines already logged.
	warned map[string]bool
}

// NewReconciler builds a reconciler working through d.
func NewReconciler(d *Dispatcher, cfg ReconcilerConfig) *Reconciler {
	r := &Reconciler{d: d, interval: cfg.Interval, submitGrace: cfg.SubmitGrace, logger: cfg.Logger}
	if r.interval <= 0 {
		r.interval = DefaultReconcileInterval
	}
	if r.submitGrace <= 0 {
		r.submitGrace = DefaultSubmitGrace
	}
	if r.logger == nil {
		r.logger = d.logger
	}
	return r
}

// Run reconciles until ctx ends, once per interval and whenever the engine
// signals a change.
func (r *Reconciler) Run(ctx context.Context) {
	var changes <-chan struct{}
	if n, ok := r.d.engine.(Notifier); ok {
		changes = n.Changes()
	}
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()

	r.logger.Info("reconciler started", "interval", r.interval.String(), "engine", r.d.engine.Name())
	for {
		if err := r.ReconcileOnce(ctx); err != nil {
			if ctx.Err() == nil {
				r.logger.Error("reconcile pass failed", "error", err)
			}
		} else {
			r.lastPass.Store(r.d.now().UnixNano())
		}
		select {
		case <-ctx.Done():
			r.logger.Info("reconciler stopped")
			return
		case <-ticker.C:
		case <-changes:
		case <-r.d.wakeups:
		}
	}
}

// Errors returns how many jobs and queued actions the reconciler failed to
// handle since it started; each is retried on the next pass.
func (r *Reconciler) Errors() uint64 {
	return r.errors.Load()
}

// LastPass returns when the last pass finished without error; the zero time
// before the first.
func (r *Reconciler) LastPass() time.Time {
	n := r.lastPass.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// ReconcileOnce makes one pass over the unfinished jobs and the queued
// actions. Errors on single jobs are logged and do not stop the pass.
func (r *Reconciler) ReconcileOnce(ctx context.Context) error {
	if r.d.leased {
		if _, err := r.d.store.RenewLeases(ctx, r.d.replica, r.d.now().Add(r.d.leaseTTL)); err != nil {
			return fmt.Errorf("renewing job leases: %w", err)
		}
	}

	jobs, err := r.d.store.ListUnfinishedJobs(ctx, reconcileBatch)
	if err != nil {
		return fmt.Errorf("listing unfinished jobs: %w", err)
	}
	for _, job := range jobs {
		if ctx.Err() != nil {
			return nil
		}
		var err error
		if job.Operation == store.OperationRemoveOrg {
			err = r.d.AdvanceOrgRemoval(ctx, job)
		} else {
			err = r.follow(ctx, job)
		}
		if err != nil && ctx.Err() == nil {
			r.errors.Add(1)
			r.logger.Error("reconciling job failed", "job_id", job.ID, "org_id", job.OrgID,
				"config_id", job.ConfigID, "error", err)
		}
	}

	actions, err := r.d.store.ListPendingActions(ctx, reconcileBatch)
	if err != nil {
		return fmt.Errorf("listing queued actions: %w", err)
	}
	for _, a := range actions {
		if ctx.Err() != nil {
			return nil
		}
		if err := r.d.DispatchQueued(ctx, a); err != nil && ctx.Err() == nil {
			r.errors.Add(1)
			r.logger.Error("dispatching a queued action failed", "org_id", a.OrgID, "config_id", a.ConfigID,
				"action", a.Action, "error", err)
		}
	}
	return nil
}

// follow copies one leaf job's engine state into its row. With an
// in-process engine only the job's owner can see its workflow: other
// replicas leave the job alone while the owner's lease is live, and the one
// that claims an expired lease resumes the workflow in its own engine.
func (r *Reconciler) follow(ctx context.Context, job store.Job) error {
	if job.Engine != r.d.engine.Name() {
		r.warnOtherEngine(job)
		return nil
	}
	if r.d.leased && job.Owner != r.d.replica {
		now := r.d.now()
		if job.Owner != "" && job.LeaseExpiresAt.After(now) {
			// Another replica runs the job, possibly after taking it from
			// this one while this one could not renew its lease: stop this
			// replica's copy so that the steps do not run twice.
			if c, ok := r.d.engine.(Canceler); ok {
				c.Cancel(job.ID)
			}
			return nil
		}
		claimed, err := r.d.store.ClaimJob(ctx, job.ID, r.d.replica, now, now.Add(r.d.leaseTTL))
		if err != nil || !claimed {
			return err
		}
		r.logger.Info("took over a job whose owner stopped renewing its lease", "job_id", job.ID,
			"org_id", job.OrgID, "config_id", job.ConfigID, "previous_owner", job.Owner)
		return r.resubmit(ctx, job, job.Submitted)
	}

	if !job.Submitted {
		return r.resubmit(ctx, job, false)
	}

	st, err := r.d.engine.Status(ctx, job.ID)
	if errors.Is(err, ErrWorkflowNotFound) {
		if resumer, ok := r.d.engine.(Resumer); ok && resumer.ResumesLostWorkflows() && job.Engine == r.d.engine.Name() {
			return r.resubmit(ctx, job, true)
		}
		return r.d.Finish(ctx, job, store.JobProgress{
			Status:       store.JobFailed,
			CurrentStep:  job.CurrentStep,
			RetryAttempt: job.RetryAttempt,
			Error:        fmt.Sprintf("workflow %s was deleted before it finished", job.ID),
		})
	}
	if err != nil {
		return fmt.Errorf("reading workflow %s: %w", job.ID, err)
	}

	p := store.JobProgress{
		Status:       store.JobStatus(st.Phase),
		CurrentStep:  st.CurrentStep,
		RetryAttempt: st.RetryAttempt,
		Error:        st.Message,
	}
	if st.Phase.Terminal() {
		if p.Status == store.JobSucceeded {
			p.Error = ""
		}
		return r.d.Finish(ctx, job, p)
	}
	p.Error = ""
	_, _, err = r.d.store.UpdateJobProgress(ctx, job.ID, p)
	return err
}

// warnOtherEngine logs, once per job, a job that another engine runs: a
// replica started with that engine follows it.
func (r *Reconciler) warnOtherEngine(job store.Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	if r.warned[job.ID] {
		return
	}
	r.warned[job.ID] = true
	r.logger.Warn("leaving a job of another workflow engine to replicas that run it", "job_id", job.ID,
		"org_id", job.OrgID, "config_id", job.ConfigID, "job_engine", job.Engine, "engine", r.d.engine.Name())
}

// resubmit submits a job again under its own name. Without resume, the job's
// submission failed or was cut off by a crash, and the grace period has
// passed. With resume, the job's in-process workflow was lost with the
// process that ran it, and it restarts from the step it had reached.
func (r *Reconciler) resubmit(ctx context.Context, job store.Job, resume bool) error {
	if !resume && r.d.now().Sub(job.CreatedAt) < r.submitGrace {
		return nil
	}
	scanner, err := r.d.store.GetScanner(ctx, job.OrgID, job.ConfigID)
	if errors.Is(err, store.ErrNotFound) {
		return r.d.Finish(ctx, job, store.JobProgress{
			Status: store.JobFailed,
			Error:  fmt.Sprintf("scanner configuration %s was deleted before workflow %s finished", job.ConfigID, job.ID),
		})
	}
	if err != nil {
		return err
	}

	if !resume {
		r.logger.Warn("submitting a job again", "job_id", job.ID, "org_id", job.OrgID, "config_id", job.ConfigID)
		r.d.submit(ctx, job, scanner)
		return nil
	}
	s := submissionFor(job, scanner)
	s.ResumeStep = job.CurrentStep
	s.RetryAttempt = job.RetryAttempt
	r.logger.Info("resuming a workflow lost with its process", "job_id", job.ID, "org_id", job.OrgID,
		"config_id", job.ConfigID, "step", job.CurrentStep)
	return r.d.engine.Submit(ctx, s)
}

// DispatchQueued starts a queued action when its config has no active
// workflow; it drops the action when the config no longer exists. It covers
// actions whose dispatch at job end was missed, for example because the
// process stopped in between.
func (d *Dispatcher) DispatchQueued(ctx context.Context, a store.PendingAction) error {
	lockCtx, cancel := context.WithTimeout(ctx, d.lockWait)
	defer cancel()

	var next *store.Job
	var scanner store.Scanner
	err := WithLock(lockCtx, d.locker, configLockKey(a.OrgID, a.ConfigID), d.lockTTL, func(ctx context.Context) error {
		return d.store.Transaction(ctx, func(tx *store.Tx) error {
			var err error
			scanner, err = tx.GetScanner(ctx, a.OrgID, a.ConfigID)
			if errors.Is(err, store.ErrNotFound) {
				d.logger.Info("dropped a queued action: its config was removed", "org_id", a.OrgID,
					"config_id", a.ConfigID, "action", a.Action, "parent_id", a.ParentID)
				if err := tx.DeletePendingAction(ctx, a.ID); err != nil {
					return err
				}
				var like store.Job
				if jobs, _, err := tx.ListJobsByConfig(ctx, a.OrgID, a.ConfigID, 1); err == nil && len(jobs) > 0 {
					like = jobs[0]
				}
				return d.recordRemoved(ctx, tx, like, a)
			}
			if err != nil {
				return err
			}
			if _, busy, err := tx.ActiveJobForConfig(ctx, a.OrgID, a.ConfigID); err != nil || busy {
				return err
			}

			action, ok, err := tx.TakePendingAction(ctx, a.OrgID, a.ConfigID)
			if err != nil || !ok {
				return err
			}
			op := Operation(action.Action)
			created, err := d.createIdleJob(ctx, tx.CreateJobIfIdle, scanner, op, action.ParentID)
			if err != nil {
				return err
			}
			if err := tx.SetScannerState(ctx, a.OrgID, a.ConfigID, runningState(op), ""); err != nil {
				return err
			}
			next = &created
			return nil
		})
	}, LockOptions{OnReleaseError: d.logReleaseError})
	if err != nil {
		return err
	}
	if next != nil {
		d.logger.Info("dispatching queued action", "job_id", next.ID, "org_id", next.OrgID,
			"config_id", next.ConfigID, "operation", next.Operation, "parent_id", next.ParentID)
		d.submit(ctx, *next, scanner)
	}
	return nil
}
