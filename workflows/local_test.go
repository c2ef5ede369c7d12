package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests are not parallel at the top level: they observe every step
// through Changes with short step delays, and the goroutine count check
// needs a process where no other test starts goroutines meanwhile.

func TestLocalEngineSteps(t *testing.T) {
	for _, op := range []Operation{OperationRemove, OperationReinstall, OperationUninstall} {
		t.Run(string(op)+" runs its steps in order", func(t *testing.T) {
			t.Parallel()
			e := newTestLocalEngine(t, LocalConfig{StepDelay: 30 * time.Millisecond})

			steps, phases, final := submitAndRecord(t, e, Submission{Name: "wf-" + string(op), Operation: op})

			if !slices.Equal(steps, Steps[op]) {
				t.Errorf("observed steps %v, want %v", steps, Steps[op])
			}
			if !isPhaseProgression(phases) {
				t.Errorf("observed phases %v, want pending?, running, succeeded", phases)
			}
			if final.Phase != PhaseSucceeded {
				t.Errorf("final phase = %s, want succeeded", final.Phase)
			}
			if final.CurrentStep != "post-status" {
				t.Errorf("final step = %q, want post-status", final.CurrentStep)
			}
			if final.RetryAttempt != 0 || final.Message != "" {
				t.Errorf("final retry attempt %d and message %q, want 0 and empty", final.RetryAttempt, final.Message)
			}
		})
	}

	t.Run("resume starts at the given step", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: 30 * time.Millisecond})

		steps, _, final := submitAndRecord(t, e, Submission{
			Name: "wf-resume", Operation: OperationReinstall, ResumeStep: "create-stack", RetryAttempt: 1,
		})

		want := []string{"create-stack", "awaiting-stack-created", "post-status"}
		if !slices.Equal(steps, want) {
			t.Errorf("observed steps %v, want %v", steps, want)
		}
		if final.Phase != PhaseSucceeded {
			t.Errorf("final phase = %s, want succeeded", final.Phase)
		}
		if final.RetryAttempt != 1 {
			t.Errorf("final retry attempt = %d, want the resumed 1", final.RetryAttempt)
		}
	})
}

func TestLocalEngineClose(t *testing.T) {
	baseline := runtime.NumGoroutine()
	e := NewLocalEngine(LocalConfig{StepDelay: time.Hour, Logger: discardLogger()})

	const workflows = 20
	for i := range workflows {
		mustSubmit(t, e, Submission{Name: fmt.Sprintf("wf-%d", i), Operation: OperationRemove})
	}
	for i := range workflows {
		waitForStatus(t, e, fmt.Sprintf("wf-%d", i), func(s Status) bool { return s.Phase == PhaseRunning })
	}

	closed := make(chan struct{})
	go func() {
		e.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s of stopping workflows in their first step")
	}

	// Checked here rather than in a subtest, whose goroutine would count.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if got := runtime.NumGoroutine(); got > baseline {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Close, want at most the %d before the engine:\n%s", got, baseline, buf[:runtime.Stack(buf, true)])
	}

	t.Run("workflows stay where they stopped", func(t *testing.T) {
		for i := range workflows {
			name := fmt.Sprintf("wf-%d", i)
			got, err := e.Status(context.Background(), name)
			if err != nil {
				t.Fatalf("status of %s: %v", name, err)
			}
			want := Status{Phase: PhaseRunning, CurrentStep: "delete-stack"}
			if got != want {
				t.Errorf("status of %s = %+v, want %+v", name, got, want)
			}
		}
	})

	t.Run("submit and ping fail after close", func(t *testing.T) {
		err := e.Submit(context.Background(), Submission{Name: "wf-late", Operation: OperationRemove})
		if !errors.Is(err, ErrEngineClosed) {
			t.Errorf("Submit after Close = %v, want ErrEngineClosed", err)
		}
		if err := e.Ping(context.Background()); !errors.Is(err, ErrEngineClosed) {
			t.Errorf("Ping after Close = %v, want ErrEngineClosed", err)
		}
		e.Close() // A second Close must return at once.
	})
}

func TestLocalEngineFailures(t *testing.T) {
	t.Run("failures within retries succeed", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: 5 * time.Millisecond})

		final := submitAndWait(t, e, Submission{
			Name: "wf-flaky", Operation: OperationRemove,
			Simulate: &Simulation{FailAtStep: "awaiting-stack-deleted", Failures: 2},
		})

		want := Status{Phase: PhaseSucceeded, CurrentStep: "post-status", RetryAttempt: 2}
		if final != want {
			t.Errorf("final status = %+v, want %+v", final, want)
		}
	})

	t.Run("failures past retries fail the workflow", func(t *testing.T) {
		t.Parallel()
		logs := &syncBuffer{}
		e := newTestLocalEngine(t, LocalConfig{
			StepDelay: 5 * time.Millisecond,
			Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		})

		final := submitAndWait(t, e, Submission{
			Name: "wf-broken", Operation: OperationRemove, OrgID: "org-1", ConfigID: "cfg-1",
			Simulate: &Simulation{FailAtStep: "awaiting-stack-deleted", Failures: 4},
		})

		want := Status{
			Phase:        PhaseFailed,
			CurrentStep:  "awaiting-stack-deleted",
			RetryAttempt: 3,
			Message:      "step awaiting-stack-deleted failed after 3 retries: simulated cloud error",
		}
		if final != want {
			t.Errorf("final status = %+v, want %+v", final, want)
		}
		record := logs.find(t, "workflow failed")
		for key, value := range map[string]string{"workflow": "wf-broken", "operation": "remove", "org_id": "org-1", "config_id": "cfg-1"} {
			if record[key] != value {
				t.Errorf("log field %s = %v, want %q", key, record[key], value)
			}
		}
	})

	t.Run("retry attempt survives later steps", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: 5 * time.Millisecond, Retries: 5})

		final := submitAndWait(t, e, Submission{
			Name: "wf-early-failure", Operation: OperationReinstall,
			Simulate: &Simulation{FailAtStep: "delete-stack", Failures: 4},
		})

		want := Status{Phase: PhaseSucceeded, CurrentStep: "post-status", RetryAttempt: 4}
		if final != want {
			t.Errorf("final status = %+v, want %+v", final, want)
		}
	})

	t.Run("resume counts failures already spent", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: 5 * time.Millisecond})

		// Two of the three simulated failures happened before the resume,
		// so one more failure brings the retry attempt to 3 and the next
		// attempt succeeds.
		final := submitAndWait(t, e, Submission{
			Name: "wf-resumed-flaky", Operation: OperationRemove,
			ResumeStep: "awaiting-stack-deleted", RetryAttempt: 2,
			Simulate: &Simulation{FailAtStep: "awaiting-stack-deleted", Failures: 3},
		})

		want := Status{Phase: PhaseSucceeded, CurrentStep: "post-status", RetryAttempt: 3}
		if final != want {
			t.Errorf("final status = %+v, want %+v", final, want)
		}
	})

	t.Run("negative retries fail at first failure", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: -1, Retries: -1})

		final := submitAndWait(t, e, Submission{
			Name: "wf-no-retry", Operation: OperationUninstall,
			Simulate: &Simulation{FailAtStep: "delete-stack", Failures: 1},
		})

		want := Status{
			Phase:       PhaseFailed,
			CurrentStep: "delete-stack",
			Message:     "step delete-stack failed after 0 retries: simulated cloud error",
		}
		if final != want {
			t.Errorf("final status = %+v, want %+v", final, want)
		}
	})
}

func TestLocalEngineSubmit(t *testing.T) {
	t.Run("second submit of a name starts nothing", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: -1})
		failing := Submission{
			Name: "wf-once", Operation: OperationUninstall,
			Simulate: &Simulation{FailAtStep: "delete-stack", Failures: 10},
		}
		first := submitAndWait(t, e, failing)

		err := e.Submit(context.Background(), Submission{Name: "wf-once", Operation: OperationRemove})

		if err != nil {
			t.Fatalf("second Submit = %v, want nil", err)
		}
		got, err := e.Status(context.Background(), "wf-once")
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if got != first {
			t.Errorf("status after second Submit = %+v, want the first run's %+v", got, first)
		}
	})

	t.Run("invalid submissions are permanent errors", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: -1})
		cases := map[string]Submission{
			"unknown operation":   {Name: "wf-a", Operation: "rebuild"},
			"foreign resume step": {Name: "wf-b", Operation: OperationUninstall, ResumeStep: "create-stack"},
			"empty name":          {Operation: OperationRemove},
			"negative retries":    {Name: "wf-c", Operation: OperationRemove, RetryAttempt: -1},
		}
		for name, s := range cases {
			err := e.Submit(context.Background(), s)
			if !errors.Is(err, ErrPermanent) {
				t.Errorf("%s: Submit = %v, want ErrPermanent", name, err)
			}
			if s.Name == "" {
				continue
			}
			if _, err := e.Status(context.Background(), s.Name); !errors.Is(err, ErrWorkflowNotFound) {
				t.Errorf("%s: status of rejected workflow = %v, want ErrWorkflowNotFound", name, err)
			}
		}
	})

	t.Run("unknown name is not found", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{})

		_, err := e.Status(context.Background(), "wf-missing")

		if !errors.Is(err, ErrWorkflowNotFound) {
			t.Fatalf("Status = %v, want ErrWorkflowNotFound", err)
		}
		if !strings.Contains(err.Error(), "wf-missing") {
			t.Errorf("error %q does not name the workflow", err)
		}
	})

	t.Run("100 concurrent submits all succeed", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: time.Millisecond})

		const workflows = 100
		var wg sync.WaitGroup
		for i := range workflows {
			wg.Go(func() {
				s := Submission{Name: fmt.Sprintf("wf-%d", i), Operation: OperationReinstall}
				if err := e.Submit(context.Background(), s); err != nil {
					t.Errorf("Submit %s: %v", s.Name, err)
				}
			})
		}
		wg.Wait()

		for i := range workflows {
			name := fmt.Sprintf("wf-%d", i)
			got := waitForStatus(t, e, name, func(s Status) bool { return s.Phase.Terminal() })
			if got.Phase != PhaseSucceeded {
				t.Errorf("%s ended %s, want succeeded", name, got.Phase)
			}
		}
	})

	t.Run("finished workflows are forgotten after retention", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{StepDelay: -1, Retention: 50 * time.Millisecond})
		submitAndWait(t, e, Submission{Name: "wf-old", Operation: OperationRemove})

		deadline := time.Now().Add(5 * time.Second)
		var err error
		for time.Now().Before(deadline) {
			if _, err = e.Status(context.Background(), "wf-old"); err != nil {
				break
			}
			runtime.Gosched()
		}

		if !errors.Is(err, ErrWorkflowNotFound) {
			t.Fatalf("status after retention = %v, want ErrWorkflowNotFound", err)
		}
		if got := submitAndWait(t, e, Submission{Name: "wf-old", Operation: OperationRemove}); got.Phase != PhaseSucceeded {
			t.Errorf("resubmitted workflow ended %s, want succeeded", got.Phase)
		}
	})

	t.Run("engine reports its properties", func(t *testing.T) {
		t.Parallel()
		e := newTestLocalEngine(t, LocalConfig{})

		if got := e.Name(); got != "local" {
			t.Errorf("Name() = %q, want local", got)
		}
		if !e.ResumesLostWorkflows() {
			t.Error("ResumesLostWorkflows() = false, want true")
		}
		if err := e.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func newTestLocalEngine(t *testing.T, cfg LocalConfig) *LocalEngine {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	e := NewLocalEngine(cfg)
	t.Cleanup(e.Close)
	return e
}

func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func mustSubmit(t *testing.T, e *LocalEngine, s Submission) {
	t.Helper()
	if err := e.Submit(context.Background(), s); err != nil {
		t.Fatalf("Submit %s: %v", s.Name, err)
	}
}

// submitAndWait submits s and returns its status once it has finished.
func submitAndWait(t *testing.T, e *LocalEngine, s Submission) Status {
	t.Helper()
	mustSubmit(t, e, s)
	return waitForStatus(t, e, s.Name, func(s Status) bool { return s.Phase.Terminal() })
}

// submitAndRecord submits s and records every distinct step and phase it
// goes through, read after each signal of Changes, until it finishes. The
// engine must run only this workflow.
func submitAndRecord(t *testing.T, e *LocalEngine, s Submission) (steps []string, phases []Phase, final Status) {
	t.Helper()
	mustSubmit(t, e, s)

	deadline := time.After(10 * time.Second)
	for {
		status, err := e.Status(context.Background(), s.Name)
		if err != nil {
			t.Fatalf("status of %s: %v", s.Name, err)
		}
		if status.CurrentStep != "" && (len(steps) == 0 || steps[len(steps)-1] != status.CurrentStep) {
			steps = append(steps, status.CurrentStep)
		}
		if len(phases) == 0 || phases[len(phases)-1] != status.Phase {
			phases = append(phases, status.Phase)
		}
		if status.Phase.Terminal() {
			return steps, phases, status
		}

		select {
		case <-e.Changes():
		case <-deadline:
			t.Fatalf("%s did not finish within 10s; steps so far %v", s.Name, steps)
		}
	}
}

// waitForStatus waits until the status of name satisfies done. It wakes on
// Changes and also every 50 ms, because several callers may share the
// Changes channel of one engine.
func waitForStatus(t *testing.T, e *LocalEngine, name string, done func(Status) bool) Status {
	t.Helper()
	deadline := time.After(10 * time.Second)
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()

	for {
		status, err := e.Status(context.Background(), name)
		if err != nil {
			t.Fatalf("status of %s: %v", name, err)
		}
		if done(status) {
			return status
		}

		select {
		case <-e.Changes():
		case <-ticker.C:
		case <-deadline:
			t.Fatalf("%s did not reach the expected status within 10s; last %+v", name, status)
		}
	}
}

// isPhaseProgression reports whether phases is an optional pending, then
// running, then succeeded.
func isPhaseProgression(phases []Phase) bool {
	if len(phases) > 0 && phases[0] == PhasePending {
		phases = phases[1:]
	}
	return slices.Equal(phases, []Phase{PhaseRunning, PhaseSucceeded})
}

// syncBuffer is a bytes.Buffer safe for the engine's goroutines to log into.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first JSON log record whose message is msg.
func (b *syncBuffer) find(t *testing.T, msg string) map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()

	for line := range strings.Lines(b.buf.String()) {
		var record map[string]any
		if err := json.Unmarshal([]byte(line), &record); err != nil {
			t.Fatalf("decoding log line %q: %v", line, err)
		}
		if record["msg"] == msg {
			return record
		}
	}
	t.Fatalf("no log record %q in:\n%s", msg, b.buf.String())
	return nil
}

func TestLocalEngineCancel(t *testing.T) {
	e := NewLocalEngine(LocalConfig{StepDelay: time.Hour})
	t.Cleanup(e.Close)
	ctx := context.Background()
	s := Submission{Name: "ri-scan-cfg-1-1", Operation: OperationReinstall, OrgID: "org", ConfigID: "cfg-1"}

	if err := e.Submit(ctx, s); err != nil {
		t.Fatal(err)
	}
	e.Cancel(s.Name)
	if _, err := e.Status(ctx, s.Name); !errors.Is(err, ErrWorkflowNotFound) {
		t.Errorf("Status after Cancel: err = %v, want ErrWorkflowNotFound", err)
	}
	e.Cancel(s.Name) // a second Cancel is a no-op
	e.Cancel("never-submitted")

	if err := e.Submit(ctx, s); err != nil {
		t.Fatalf("Submit after Cancel: %v", err)
	}
	if st, err := e.Status(ctx, s.Name); err != nil || st.Phase.Terminal() {
		t.Errorf("resubmitted workflow = %+v, %v; want it running", st, err)
	}
}
