package argo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/argo/argotest"
)

// observation is one distinct status seen while a workflow runs.
type observation struct {
	phase   workflows.Phase
	step    string
	retries int
}

func (o observation) String() string {
	return fmt.Sprintf("%s/%s/%d", o.phase, o.step, o.retries)
}

// controlledEngine returns an engine and a test controller sharing a fake
// clientset with the templates installed.
func controlledEngine(t *testing.T, ctrl *argotest.Controller) (*Engine, *argotest.Controller) {
	t.Helper()
	client := fake.NewSimpleClientset()
	if err := argotest.InstallTemplates(testContext(t), client, testNamespace); err != nil {
		t.Fatal(err)
	}
	ctrl.Client = client
	ctrl.Namespace = testNamespace
	eng := NewWithClient(client, Config{Namespace: testNamespace, SubmitBackoff: testBackoff})
	return eng, ctrl
}

// stepThrough submits s, then alternates Status and one controller Sync
// until the workflow ends, and returns the distinct statuses seen and the
// final one.
func stepThrough(t *testing.T, eng *Engine, ctrl *argotest.Controller, s workflows.Submission) ([]observation, workflows.Status) {
	t.Helper()
	ctx := testContext(t)
	if err := eng.Submit(ctx, s); err != nil {
		t.Fatalf("Submit: %v", err)
	}

	var seen []observation
	for range 100 {
		st, err := eng.Status(ctx, s.Name)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		o := observation{st.Phase, st.CurrentStep, st.RetryAttempt}
		if len(seen) == 0 || seen[len(seen)-1] != o {
			seen = append(seen, o)
		}
		if st.Phase.Terminal() {
			return seen, st
		}
		if err := ctrl.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	t.Fatalf("workflow %s did not end; statuses seen: %v", s.Name, seen)
	return nil, workflows.Status{}
}

func TestEndToEndEachOperationSucceeds(t *testing.T) {
	t.Parallel()

	for op, steps := range workflows.Steps {
		t.Run(string(op), func(t *testing.T) {
			t.Parallel()
			eng, ctrl := controlledEngine(t, &argotest.Controller{})
			s := submission(op, workflows.ScannerJobID(op, "CFG_1", testNow, 0))

			seen, final := stepThrough(t, eng, ctrl, s)

			want := []observation{{workflows.PhasePending, "", 0}}
			for _, step := range steps {
				want = append(want, observation{workflows.PhaseRunning, step, 0})
			}
			want = append(want, observation{workflows.PhaseSucceeded, steps[len(steps)-1], 0})
			if !slices.Equal(seen, want) {
				t.Errorf("statuses = %v\nwant       %v", seen, want)
			}
			if final.Message != "" {
				t.Errorf("Message = %q, want none", final.Message)
			}
		})
	}
}

func TestEndToEndRetriedStepSucceeds(t *testing.T) {
	t.Parallel()
	eng, ctrl := controlledEngine(t, &argotest.Controller{
		FailStep: func(*v1alpha1.Workflow) (string, int) { return "awaiting-stack-deleted", 2 },
	})
	s := submission(workflows.OperationUninstall, "un-scan-cfg-1-1767225600")

	seen, _ := stepThrough(t, eng, ctrl, s)

	want := []observation{
		{workflows.PhasePending, "", 0},
		{workflows.PhaseRunning, "delete-stack", 0},
		{workflows.PhaseRunning, "awaiting-stack-deleted", 0}, // attempt 0, then its backoff
		{workflows.PhaseRunning, "awaiting-stack-deleted", 1}, // attempt 1, then its backoff
		{workflows.PhaseRunning, "awaiting-stack-deleted", 2}, // attempt 2 succeeds
		{workflows.PhaseRunning, "post-status", 2},            // retries count for the whole workflow
		{workflows.PhaseSucceeded, "post-status", 2},          // and stay after the step
	}
	if !slices.Equal(seen, want) {
		t.Errorf("statuses = %v\nwant       %v", seen, want)
	}
}

func TestEndToEndStepFailingPastRetryLimit(t *testing.T) {
	t.Parallel()
	eng, ctrl := controlledEngine(t, &argotest.Controller{
		FailStep: func(*v1alpha1.Workflow) (string, int) { return "create-stack", 4 },
	})
	s := submission(workflows.OperationReinstall, "ri-scan-cfg-1-1767225600")

	seen, final := stepThrough(t, eng, ctrl, s)

	want := workflows.Status{
		Phase:        workflows.PhaseFailed,
		CurrentStep:  "create-stack",
		RetryAttempt: 3,
		Message:      "main: Error (exit code 1): step create-stack failed on attempt 3",
	}
	if final != want {
		t.Errorf("final status = %+v, want %+v (seen %v)", final, want, seen)
	}
	if slices.ContainsFunc(seen, func(o observation) bool { return o.step == "awaiting-stack-created" }) {
		t.Errorf("a step after the failed one ran: %v", seen)
	}
}

func TestEndToEndOtherInstanceLeavesWorkflowPending(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	eng, ctrl := controlledEngine(t, &argotest.Controller{InstanceID: "green"})
	eng = NewWithClient(ctrl.Client, Config{Namespace: testNamespace, InstanceID: "blue"})
	s := submission(workflows.OperationRemove, wfName)
	if err := eng.Submit(ctx, s); err != nil {
		t.Fatal(err)
	}

	for range 3 {
		if err := ctrl.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, err := eng.Status(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != workflows.PhasePending || st.CurrentStep != "" {
		t.Errorf("status = %+v, want pending: a controller of another instance must not run it", st)
	}

	ctrl.InstanceID = "blue"
	if err := ctrl.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := eng.Status(ctx, s.Name); err != nil || st.Phase != workflows.PhasePending {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := ctrl.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := eng.Status(ctx, s.Name); err != nil || st.Phase != workflows.PhaseRunning || st.CurrentStep != "delete-stack" {
		t.Errorf("Status = %+v, %v; want running delete-stack once the matching controller syncs", st, err)
	}
}

func TestEndToEndMissingTemplateFails(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	client := fake.NewSimpleClientset() // no templates installed
	ctrl := &argotest.Controller{Client: client, Namespace: testNamespace}
	eng := NewWithClient(client, Config{Namespace: testNamespace})

	s := submission(workflows.OperationRemove, wfName)
	if err := eng.Submit(ctx, s); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := ctrl.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}

	st, err := eng.Status(ctx, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != workflows.PhaseFailed || st.Message != `workflowtemplates.argoproj.io "scanner-remove" not found` {
		t.Errorf("status = %+v, want failed with the missing template", st)
	}
}

func TestEndToEndDeletedWorkflowIsNotFound(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		when  v1alpha1.WorkflowPhase
		syncs int
	}{
		{"while running", v1alpha1.WorkflowRunning, 2},
		{"after completion", v1alpha1.WorkflowSucceeded, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var deleted atomic.Bool
			eng, ctrl := controlledEngine(t, &argotest.Controller{
				Delete: func(wf *v1alpha1.Workflow) bool {
					if wf.Status.Phase != tt.when {
						return false
					}
					deleted.Store(true)
					return true
				},
			})
			ctx := testContext(t)
			s := submission(workflows.OperationUninstall, wfName)
			if err := eng.Submit(ctx, s); err != nil {
				t.Fatal(err)
			}

			for range tt.syncs {
				if err := ctrl.Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if !deleted.Load() {
				t.Fatalf("the controller never reached phase %s", tt.when)
			}
			if _, err := eng.Status(ctx, s.Name); !errors.Is(err, workflows.ErrWorkflowNotFound) {
				t.Fatalf("Status = %v, want ErrWorkflowNotFound", err)
			}
		})
	}
}

// TestEndToEndConcurrentRun runs the controller in the background with
// real step durations and waits on the engine's change signals, as the
// reconciler does.
func TestEndToEndConcurrentRun(t *testing.T) {
	t.Parallel()
	eng, ctrl := controlledEngine(t, &argotest.Controller{StepDelay: 5 * time.Millisecond, RetryDelay: 2 * time.Millisecond, Tick: time.Millisecond})
	ctrl.FailStep = func(wf *v1alpha1.Workflow) (string, int) {
		if wf.Labels[LabelOperation] == string(workflows.OperationUninstall) {
			return "post-status", 9
		}
		return "delete-stack", 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watching := make(chan struct{}, 1)
	ctrl.Client.(*fake.Clientset).PrependWatchReactor("workflows", func(action k8stesting.Action) (bool, watch.Interface, error) {
		// The fake tracker drops events sent before a watch exists, so the
		// test submits only once the engine's watch is registered.
		w, err := ctrl.Client.(*fake.Clientset).Tracker().Watch(action.GetResource(), action.GetNamespace())
		watching <- struct{}{}
		return true, w, err
	})
	eng.Start(ctx)
	select {
	case <-watching:
	case <-ctx.Done():
		t.Fatal("the engine did not start its watch")
	}
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()

	names := map[workflows.Operation]string{}
	for op := range workflows.Steps {
		names[op] = workflows.ScannerJobID(op, "cfg-concurrent", testNow, 0)
		if err := eng.Submit(ctx, submission(op, names[op])); err != nil {
			t.Fatal(err)
		}
	}

	final := map[workflows.Operation]workflows.Status{}
	for len(final) < len(names) {
		select {
		case <-eng.Changes():
		case <-ctx.Done():
			t.Fatalf("workflows did not end; finished: %v", final)
		}
		for op, name := range names {
			st, err := eng.Status(ctx, name)
			if err != nil {
				t.Fatalf("Status(%s): %v", name, err)
			}
			if st.Phase.Terminal() {
				final[op] = st
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("controller Run: %v", err)
	}

	for op, st := range final {
		wantPhase := workflows.PhaseSucceeded
		if op == workflows.OperationUninstall {
			wantPhase = workflows.PhaseFailed
		}
		if st.Phase != wantPhase {
			t.Errorf("%s ended %s (%+v), want %s", op, st.Phase, st, wantPhase)
		}
	}
	if st := final[workflows.OperationUninstall]; st.CurrentStep != "post-status" || st.RetryAttempt != 3 {
		t.Errorf("uninstall ended at %+v, want post-status after 3 retries", st)
	}
}
