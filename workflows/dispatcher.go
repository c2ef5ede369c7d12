package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/scanner-ops/onboarding-service/store"
)

// Defaults of DispatcherConfig.
const (
	DefaultLockTTL  = 30 * time.Second
	DefaultLockWait = 10 * time.Second
	DefaultLeaseTTL = 30 * time.Second
	// maxSameSecondJobs bounds the suffixes tried when one operation on one
	// config is requested several times within the same second.
	maxSameSecondJobs = 20
	// sequentialSuffixes is how many of those suffixes count up (-1, -2)
	// before random ones are drawn, so that a burst of jobs within one
	// second does not exhaust them.
	sequentialSuffixes = 3
)

// ProviderMismatchError means a request named another cloud provider than
// the stored scanner configuration or cloud organisation has. Its message is
// meant for API clients.
type ProviderMismatchError struct {
	// Kind is "config" or "cloud organization".
	Kind      string
	ID        string
	Stored    string
	Requested string
}

func (e *ProviderMismatchError) Error() string {
	return fmt.Sprintf("cloudProvider %q does not match %s %s, whose provider is %s", e.Requested, e.Kind, e.ID, e.Stored)
}

// CheckProvider returns a *ProviderMismatchError when requested is set and
// differs from stored.
func CheckProvider(kind, id, stored, requested string) error {
	if requested == "" || requested == stored {
		return nil
	}
	return &ProviderMismatchError{Kind: kind, ID: id, Stored: stored, Requested: requested}
}

// BusyError is returned when a config already has an active workflow and the
// request may not be queued behind it.
type BusyError struct {
	ConfigID string
	Active   store.Job
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("config %s has a running workflow %s", e.ConfigID, e.Active.ID)
}

// DispatcherConfig configures a Dispatcher. Store, Engine and Locker are
// required.
type DispatcherConfig struct {
	Store  *store.Store
	Engine Engine
	Locker Locker
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// LockTTL is how long a per-config lock is held without a refresh;
	// 0 means DefaultLockTTL.
	LockTTL time.Duration
	// LockWait is how long a request waits for a per-config lock before it
	// fails with ErrLockNotObtained; 0 means DefaultLockWait.
	LockWait time.Duration
	// ReplicaID names this process among the replicas sharing the database.
	// Empty means a name made of the host name, the process id and a random
	// suffix.
	ReplicaID string
	// LeaseTTL is how long a replica owns the jobs its in-process engine
	// runs without renewing the lease; 0 means DefaultLeaseTTL. Another
	// replica resumes such a job only after its lease expired.
	LeaseTTL time.Duration
}

// Dispatcher starts leaf workflows, one active workflow per config at most,
// and queues the ones requested while a config is busy. It is shared by the
// HTTP handlers and the reconciler.
type Dispatcher struct {
	store    *store.Store
	engine   Engine
	locker   Locker
	logger   *slog.Logger
	now      func() time.Time
	lockTTL  time.Duration
	lockWait time.Duration
	replica  string
	leaseTTL time.Duration
	// leased is true when the engine's workflows live in this process, so
	// jobs carry this replica as their owner.
	leased bool
	// wakeups requests a reconciler pass now, for example when the last
	// child of a cloud organisation removal has finished.
	wakeups chan struct{}
}

// NewDispatcher checks cfg and fills its defaults.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Engine == nil || cfg.Locker == nil {
		return nil, errors.New("dispatcher: Store, Engine and Locker are required")
	}
	d := &Dispatcher{
		store:    cfg.Store,
		engine:   cfg.Engine,
		locker:   cfg.Locker,
		logger:   cfg.Logger,
		now:      cfg.Now,
		lockTTL:  cfg.LockTTL,
		lockWait: cfg.LockWait,
		replica:  cfg.ReplicaID,
		leaseTTL: cfg.LeaseTTL,
		wakeups:  make(chan struct{}, 1),
	}
	if r, ok := cfg.Engine.(Resumer); ok && r.ResumesLostWorkflows() {
		d.leased = true
	}
	if d.replica == "" {
		d.replica = defaultReplicaID()
	}
	if d.leaseTTL <= 0 {
		d.leaseTTL = DefaultLeaseTTL
	}
	if d.logger == nil {
		d.logger = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.lockTTL <= 0 {
		d.lockTTL = DefaultLockTTL
	}
	if d.lockWait <= 0 {
		d.lockWait = DefaultLockWait
	}
	return d, nil
}

// Request is a request for one leaf operation on one scanner configuration.
type Request struct {
	OrgID     string
	ConfigID  string
	Operation Operation
	// ParentID groups the job under a batch or cloud organisation removal.
	ParentID string
	// CloudProvider, when set, must equal the stored config's provider.
	CloudProvider string
	// QueueWhenBusy queues the operation behind the config's running
	// workflow instead of failing with a BusyError.
	QueueWhenBusy bool
}

// Outcome is the result of Request: a started job or a queued operation.
type Outcome struct {
	// Job is the created job when Queued is false.
	Job store.Job
	// Queued is true when the operation waits for the config's running
	// workflow; Coalesced is true when it merged into an action already
	// queued.
	Queued    bool
	Coalesced bool
}

// Request starts op on the config, or queues it when the config is busy and
// req.QueueWhenBusy is set. Errors: store.ErrNotFound for an unknown config,
// *ProviderMismatchError, *BusyError, ErrLockNotObtained and ErrLockUnavailable.
// A workflow whose submission fails transiently stays recorded as an
// unsubmitted job, which the reconciler submits again.
func (d *Dispatcher) Request(ctx context.Context, req Request) (Outcome, error) {
	var out Outcome
	var created *store.Job
	var scanner store.Scanner

	lockCtx, cancel := context.WithTimeout(ctx, d.lockWait)
	defer cancel()
	err := WithLock(lockCtx, d.locker, configLockKey(req.OrgID, req.ConfigID), d.lockTTL, func(ctx context.Context) error {
		var err error
		scanner, err = d.store.GetScanner(ctx, req.OrgID, req.ConfigID)
		if err != nil {
			return err
		}
		if err := CheckProvider("config", req.ConfigID, scanner.CloudProvider, req.CloudProvider); err != nil {
			return err
		}

		job, err := d.createIdleJob(ctx, d.store.CreateJobIfIdle, scanner, req.Operation, req.ParentID)
		var busy *BusyError
		switch {
		case errors.As(err, &busy) && req.QueueWhenBusy:
			coalesced, err := d.queue(ctx, scanner, req)
			out.Queued, out.Coalesced = true, coalesced
			return err
		case err != nil:
			return err
		}

		created = &job
		return d.store.SetScannerState(ctx, req.OrgID, req.ConfigID, runningState(req.Operation), "")
	}, LockOptions{OnReleaseError: d.logReleaseError})
	if err != nil {
		return Outcome{}, err
	}

	if created != nil {
		out.Job = *created
		d.submit(ctx, *created, scanner)
	}
	return out, nil
}

// createIdleJob inserts a new pending job for op on the scanner through
// create (the store's or a transaction's CreateJobIfIdle), trying id
// suffixes when the same id was already issued within this second.
func (d *Dispatcher) createIdleJob(ctx context.Context, create func(context.Context, store.Job) (store.Job, error),
	scanner store.Scanner, op Operation, parentID string) (store.Job, error) {
	now := d.now()
	job := store.Job{
		Operation:           store.Operation(op),
		OrgID:               scanner.OrgID,
		ParentID:            parentID,
		ConfigID:            scanner.ConfigID,
		CloudProvider:       scanner.CloudProvider,
		CloudOrganizationID: scanner.CloudOrganizationID,
		Region:              scanner.Region,
		Status:              store.JobPending,
		Engine:              d.engine.Name(),
		CreatedAt:           now,
		UpdatedAt:           now,
	}
	if d.leased {
		job.Owner, job.LeaseExpiresAt = d.replica, now.Add(d.leaseTTL)
	}
	var active store.Job
	id, err := insertWithUniqueID(
		func(suffix int) string { return ScannerJobID(op, scanner.ConfigID, now, suffix) },
		func(id string) error {
			job.ID = id
			var err error
			active, err = create(ctx, job)
			return err
		})
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Job{}, &BusyError{ConfigID: scanner.ConfigID, Active: active}
	case err != nil:
		return store.Job{}, fmt.Errorf("creating job for config %s: %w", scanner.ConfigID, err)
	}
	job.ID = id
	return job, nil
}

// insertWithUniqueID calls insert with the ids makeID builds for successive
// suffixes until one is not taken yet, and returns that id. Any error other
// than store.ErrAlreadyExists ends the attempts and is returned.
func insertWithUniqueID(makeID func(suffix int) string, insert func(id string) error) (string, error) {
	for attempt := 0; attempt < maxSameSecondJobs; attempt++ {
		id := makeID(idSuffix(attempt))
		err := insert(id)
		if !errors.Is(err, store.ErrAlreadyExists) {
			return id, err
		}
	}
	return "", fmt.Errorf("%d ids of this second are taken: %w", maxSameSecondJobs, store.ErrAlreadyExists)
}

// submit hands a recorded job to the engine. A transient failure is only
// logged: the job stays unsubmitted and the reconciler retries it with the
// same name. A permanent failure fails the job at once.
func (d *Dispatcher) submit(ctx context.Context, job store.Job, scanner store.Scanner) {
	err := d.engine.Submit(ctx, submissionFor(job, scanner))
	if err == nil {
		if err := d.store.MarkJobSubmitted(ctx, job.ID); err != nil {
			d.logger.Error("recording workflow submission failed; the reconciler will submit it again",
				"job_id", job.ID, "org_id", job.OrgID, "config_id", job.ConfigID, "error", err)
		}
		return
	}

	if errors.Is(err, ErrPermanent) {
		d.logger.Error("workflow submission rejected", "job_id", job.ID, "org_id", job.OrgID,
			"config_id", job.ConfigID, "error", err)
		progress := store.JobProgress{Status: store.JobFailed, Error: "workflow submission rejected: " + err.Error()}
		if ferr := d.Finish(ctx, job, progress); ferr != nil {
			d.logger.Error("failing a rejected job failed; the reconciler will retry it", "job_id", job.ID, "error", ferr)
		}
		return
	}
	d.logger.Warn("workflow submission failed; the reconciler will retry it", "job_id", job.ID,
		"org_id", job.OrgID, "config_id", job.ConfigID, "error", err)
}

func (d *Dispatcher) logReleaseError(key string, err error) {
	d.logger.Warn("releasing a config lock failed; it expires by itself", "lock_key", key, "error", err)
}

// submissionFor builds the engine submission of a recorded leaf job.
func submissionFor(job store.Job, scanner store.Scanner) Submission {
	s := Submission{
		Name:                job.ID,
		Operation:           Operation(job.Operation),
		OrgID:               job.OrgID,
		ConfigID:            job.ConfigID,
		ParentID:            job.ParentID,
		CloudProvider:       job.CloudProvider,
		CloudOrganizationID: job.CloudOrganizationID,
		Region:              job.Region,
	}
	if scanner.Simulate != nil {
		s.Simulate = &Simulation{FailAtStep: scanner.Simulate.FailAtStep, Failures: scanner.Simulate.Failures}
	}
	return s
}

// wakeReconciler requests a reconciler pass without waiting for it. Several
// requests before the pass starts merge into one.
func (d *Dispatcher) wakeReconciler() {
	select {
	case d.wakeups <- struct{}{}:
	default:
	}
}

// ReplicaID returns the name this dispatcher records as the owner of jobs.
func (d *Dispatcher) ReplicaID() string {
	return d.replica
}

// ReleaseLeases gives up this replica's jobs so that other replicas resume
// them at once. Call it after the engine has stopped.
func (d *Dispatcher) ReleaseLeases(ctx context.Context) (int, error) {
	if !d.leased {
		return 0, nil
	}
	return d.store.ReleaseLeases(ctx, d.replica)
}

func defaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}

// idSuffix returns the suffix number of a job id's attempt: none first,
// then counting up, then random numbers.
func idSuffix(attempt int) int {
	if attempt <= sequentialSuffixes {
		return attempt
	}
	return sequentialSuffixes + 1 + rand.IntN(1<<20)
}

func configLockKey(orgID, configID string) string {
	return "config:" + orgID + "/" + configID
}

// runningState is the scanner state while op's workflow runs.
func runningState(op Operation) store.ScannerState {
	switch op {
	case OperationReinstall:
		return store.ScannerReinstalling
	case OperationUninstall:
		return store.ScannerUninstalling
	default:
		return store.ScannerRemoving
	}
}
