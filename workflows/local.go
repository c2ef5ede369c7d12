package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Defaults of LocalConfig.
const (
	DefaultLocalStepDelay = 2 * time.Second
	DefaultLocalRetries   = 3
	DefaultLocalRetention = time.Hour
)

// ErrEngineClosed is returned by the local engine after Close.
var ErrEngineClosed = errors.New("workflow engine closed")

// LocalConfig configures a LocalEngine. A zero field takes its default, so
// the zero LocalConfig gives the default engine. Each field documents what a
// negative value means.
type LocalConfig struct {
	// StepDelay is the duration of each step. Zero means
	// DefaultLocalStepDelay (2 s), and a negative value makes steps instant.
	StepDelay time.Duration
	// Retries is the number of retries of a failing step before the workflow
	// fails, like the limit of an Argo retryStrategy. Zero means
	// DefaultLocalRetries (3), and a negative value means no retry.
	Retries int
	// RetryDelay is the pause before each retry. Zero means the resolved
	// StepDelay, and a negative value means no pause.
	RetryDelay time.Duration
	// Retention is how long Status keeps reporting a finished workflow and
	// Submit keeps ignoring its name. Zero means DefaultLocalRetention (1 h),
	// and a negative value keeps finished workflows for the engine's
	// lifetime. Keep it longer than the reconciler takes to read a final
	// status, or the reconciler submits the forgotten workflow again.
	Retention time.Duration
	// Logger receives the starts, retries, failures and ends of workflows.
	// Nil means slog.Default().
	Logger *slog.Logger
}

// LocalEngine runs workflows in goroutines of this process against a
// simulated cloud: each step waits StepDelay and succeeds unless the
// submission's Simulation makes it fail. Workflows do not survive the
// process, which is why it implements Resumer.
type LocalEngine struct {
	stepDelay  time.Duration
	retries    int
	retryDelay time.Duration
	retention  time.Duration
	logger     *slog.Logger

	changes chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	workflows map[string]*localWorkflow
	// finished lists finished workflows in the order they ended, which is
	// also the order in which their retention runs out.
	finished []finishedWorkflow
}

// localWorkflow is one submitted workflow. The engine's mutex guards status.
type localWorkflow struct {
	submission Submission
	status     Status
	// cancelled is closed by Cancel to stop this workflow alone.
	cancelled chan struct{}
}

type finishedWorkflow struct {
	name string
	at   time.Time
}

var (
	_ Engine   = (*LocalEngine)(nil)
	_ Resumer  = (*LocalEngine)(nil)
	_ Notifier = (*LocalEngine)(nil)
	_ Canceler = (*LocalEngine)(nil)
)

// NewLocalEngine returns a running engine with cfg's defaults filled in.
// Call Close to stop its workflows.
func NewLocalEngine(cfg LocalConfig) *LocalEngine {
	e := &LocalEngine{
		stepDelay: resolveDuration(cfg.StepDelay, DefaultLocalStepDelay),
		retries:   cfg.Retries,
		retention: resolveDuration(cfg.Retention, DefaultLocalRetention),
		logger:    cfg.Logger,
		changes:   make(chan struct{}, 1),
		stop:      make(chan struct{}),
		workflows: make(map[string]*localWorkflow),
	}
	e.retryDelay = resolveDuration(cfg.RetryDelay, e.stepDelay)
	switch {
	case e.retries == 0:
		e.retries = DefaultLocalRetries
	case e.retries < 0:
		e.retries = 0
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	return e
}

// resolveDuration applies the LocalConfig rule: 0 means def, negative none.
func resolveDuration(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	default:
		return d
	}
}

// Name implements Engine.
func (e *LocalEngine) Name() string {
	return "local"
}

// ResumesLostWorkflows implements Resumer: every workflow is lost when the
// process ends.
func (e *LocalEngine) ResumesLostWorkflows() bool {
	return true
}

// Changes implements Notifier.
func (e *LocalEngine) Changes() <-chan struct{} {
	return e.changes
}

// Ping implements Engine. It returns ErrEngineClosed after Close and nil
// before.
func (e *LocalEngine) Ping(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()

	if e.closed {
		return ErrEngineClosed
	}
	return nil
}

// Submit implements Engine. It starts s in a goroutine at s.ResumeStep, or
// at the first step, and returns at once. A name the engine already has is
// accepted without starting anything. An empty name, an unknown operation or
// resume step and a negative retry attempt return an error wrapping
// ErrPermanent. After Close, Submit returns ErrEngineClosed.
func (e *LocalEngine) Submit(ctx context.Context, s Submission) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("submitting workflow %s: %w", s.Name, err)
	}
	firstStep, err := validateLocalSubmission(s)
	if err != nil {
		return err
	}

	e.mu.Lock()
	defer e.mu.Unlock()

	if e.closed {
		return fmt.Errorf("submitting workflow %s: %w", s.Name, ErrEngineClosed)
	}
	e.pruneLocked(time.Now())
	if _, ok := e.workflows[s.Name]; ok {
		return nil
	}

	if s.Simulate != nil {
		// A copy, so that the caller can reuse its Simulation.
		simulation := *s.Simulate
		s.Simulate = &simulation
	}
	w := &localWorkflow{
		submission: s,
		status:     Status{Phase: PhasePending, RetryAttempt: s.RetryAttempt},
		cancelled:  make(chan struct{}),
	}
	e.workflows[s.Name] = w
	e.wg.Add(1)
	go e.run(w, firstStep)
	e.notify()
	return nil
}

// validateLocalSubmission checks s and returns the index of its first step.
func validateLocalSubmission(s Submission) (int, error) {
	if s.Name == "" {
		return 0, fmt.Errorf("submitting workflow: empty name: %w", ErrPermanent)
	}
	steps, ok := Steps[s.Operation]
	if !ok {
		return 0, fmt.Errorf("submitting workflow %s: unknown operation %q: %w", s.Name, s.Operation, ErrPermanent)
	}
	if s.RetryAttempt < 0 {
		return 0, fmt.Errorf("submitting workflow %s: invalid retry attempt %d: %w", s.Name, s.RetryAttempt, ErrPermanent)
	}
	if s.ResumeStep == "" {
		return 0, nil
	}
	first := slices.Index(steps, s.ResumeStep)
	if first < 0 {
		return 0, fmt.Errorf("submitting workflow %s: resume step %q is not a step of %s (%v): %w",
			s.Name, s.ResumeStep, s.Operation, steps, ErrPermanent)
	}
	return first, nil
}

// Status implements Engine. It returns an error wrapping ErrWorkflowNotFound
// for a name never submitted, submitted before a restart, or finished more
// than Retention ago.
func (e *LocalEngine) Status(_ context.Context, name string) (Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()

	e.pruneLocked(time.Now())
	w, ok := e.workflows[name]
	if !ok {
		return Status{}, fmt.Errorf("reading workflow %s: %w", name, ErrWorkflowNotFound)
	}
	return w.status, nil
}

// Close stops every workflow where it is, leaving its status as it was, and
// waits for their goroutines to return. Later Submits fail with
// ErrEngineClosed. Close may be called more than once.
func (e *LocalEngine) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.stop)
	}
	e.mu.Unlock()

	e.wg.Wait()
}

// pruneLocked deletes the workflows whose retention has run out.
func (e *LocalEngine) pruneLocked(now time.Time) {
	if e.retention <= 0 {
		return
	}
	expired := 0
	for _, f := range e.finished {
		if now.Sub(f.at) < e.retention {
			break
		}
		delete(e.workflows, f.name)
		expired++
	}
	e.finished = e.finished[expired:]
}

// notify signals a change without blocking. A signal already pending covers
// this one.
func (e *LocalEngine) notify() {
	select {
	case e.changes <- struct{}{}:
	default:
	}
}

// run executes w's steps from index first. Simulated failures count from the
// submitted RetryAttempt, because a workflow resumed at its failing step has
// already spent that many failed attempts there. Only the simulated step can
// fail, so the workflow-wide retry count equals Argo's per-step count.
func (e *LocalEngine) run(w *localWorkflow, first int) {
	defer e.wg.Done()

	s := w.submission
	steps := Steps[s.Operation]
	logger := e.logger.With("workflow", s.Name, "operation", string(s.Operation), "org_id", s.OrgID, "config_id", s.ConfigID)
	logger.Info("workflow started", "step", steps[first], "retry_attempt", s.RetryAttempt)

	retryAttempt := s.RetryAttempt
	failures := s.RetryAttempt
	for i := first; i < len(steps); {
		step := steps[i]
		e.update(w, func(st *Status) {
			st.Phase = PhaseRunning
			st.CurrentStep = step
		})
		if !e.pause(w, e.stepDelay) {
			logger.Info("workflow stopped", "step", step)
			return
		}

		if s.Simulate == nil || s.Simulate.FailAtStep != step || failures >= s.Simulate.Failures {
			i++
			continue
		}
		failures++

		if retryAttempt >= e.retries {
			message := fmt.Sprintf("step %s failed after %d retries: simulated cloud error", step, retryAttempt)
			// Logged before the status changes, so a caller that reads the
			// final status also finds the log record.
			logger.Error("workflow failed", "step", step, "retry_attempt", retryAttempt, "error", message)
			e.finish(w, PhaseFailed, message)
			return
		}
		retryAttempt++
		e.update(w, func(st *Status) { st.RetryAttempt = retryAttempt })
		logger.Warn("workflow step failed, retrying", "step", step, "retry_attempt", retryAttempt,
			"error", "simulated cloud error")
		if !e.pause(w, e.retryDelay) {
			logger.Info("workflow stopped", "step", step)
			return
		}
	}

	logger.Info("workflow succeeded", "retry_attempt", retryAttempt)
	e.finish(w, PhaseSucceeded, "")
}

// update changes w's status under the engine's mutex and signals it.
func (e *LocalEngine) update(w *localWorkflow, change func(*Status)) {
	e.mu.Lock()
	change(&w.status)
	e.mu.Unlock()
	e.notify()
}

// finish records w's final phase and starts its retention.
func (e *LocalEngine) finish(w *localWorkflow, phase Phase, message string) {
	e.mu.Lock()
	w.status.Phase = phase
	w.status.Message = message
	if e.retention > 0 {
		e.finished = append(e.finished, finishedWorkflow{name: w.submission.Name, at: time.Now()})
	}
	e.mu.Unlock()
	e.notify()
}

// pause waits d and reports false when Close interrupted it.
func (e *LocalEngine) pause(w *localWorkflow, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-e.stop:
			return false
		case <-w.cancelled:
			return false
		default:
			return true
		}
	}

	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-e.stop:
		return false
	case <-w.cancelled:
		return false
	}
}

// Cancel stops an unfinished workflow where it is and forgets it, as when
// another replica has taken its job over. Unknown and finished workflows
// are left alone.
func (e *LocalEngine) Cancel(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.workflows[name]
	if !ok || w.status.Phase.Terminal() {
		return
	}
	close(w.cancelled)
	delete(e.workflows, name)
	e.logger.Info("workflow cancelled", "workflow", name)
}
