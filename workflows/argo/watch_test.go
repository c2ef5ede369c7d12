package argo

import (
	"context"
	"testing"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// fakeWatches hands the engine one FakeWatcher per watch call.
type fakeWatches struct {
	started chan *watch.FakeWatcher
}

func interceptWatches(client *k8stesting.Fake) *fakeWatches {
	fw := &fakeWatches{started: make(chan *watch.FakeWatcher, 10)}
	client.PrependWatchReactor("workflows", func(k8stesting.Action) (bool, watch.Interface, error) {
		w := watch.NewFake()
		fw.started <- w
		return true, w, nil
	})
	return fw
}

func (f *fakeWatches) next(t *testing.T) *watch.FakeWatcher {
	t.Helper()
	select {
	case w := <-f.started:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the engine to start a watch")
		return nil
	}
}

func startWatching(t *testing.T, cfg Config) (*Engine, *fakeWatches) {
	t.Helper()
	cfg.WatchBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1 << 30}
	eng, client, _ := testEngine(t, cfg)
	watches := interceptWatches(&client.Fake)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	eng.Start(ctx)
	return eng, watches
}

func assertSignal(t *testing.T, eng *Engine) {
	t.Helper()
	select {
	case <-eng.Changes():
	case <-time.After(10 * time.Second):
		t.Fatal("no change signalled")
	}
}

func assertNoSignal(t *testing.T, eng *Engine) {
	t.Helper()
	select {
	case <-eng.Changes():
		t.Fatal("a change was signalled for a workflow that is not the engine's")
	default:
	}
}

// foreignWorkflow has no operation label, like any workflow that the
// service did not create.
func foreignWorkflow() *v1alpha1.Workflow {
	wf := &v1alpha1.Workflow{}
	wf.Name = "nightly-backup-x7k2p"
	wf.Labels = map[string]string{"app": "backup"}
	return wf
}

func TestWatchSignalsOwnWorkflowsOnly(t *testing.T) {
	t.Parallel()
	eng, watches := startWatching(t, Config{})
	w := watches.next(t)

	// FakeWatcher sends block until the engine receives, so once the
	// second send returns the first event has been handled.
	w.Add(foreignWorkflow())
	w.Modify(foreignWorkflow())
	assertNoSignal(t, eng)

	w.Add(builtWorkflow(wfName))
	assertSignal(t, eng)
}

func TestWatchFiltersOtherInstanceIDs(t *testing.T) {
	t.Parallel()
	eng, watches := startWatching(t, Config{InstanceID: "blue"})
	w := watches.next(t)

	green := BuildWorkflow(submission(workflows.OperationRemove, wfName), Config{InstanceID: "green"})
	none := builtWorkflow(wfName)
	w.Add(green)
	w.Add(none)
	w.Add(green)
	assertNoSignal(t, eng)

	w.Modify(BuildWorkflow(submission(workflows.OperationRemove, wfName), Config{InstanceID: "blue"}))
	assertSignal(t, eng)
}

func TestWatchRestartsAfterClose(t *testing.T) {
	t.Parallel()
	eng, watches := startWatching(t, Config{})

	first := watches.next(t)
	first.Stop()
	second := watches.next(t)

	second.Delete(builtWorkflow(wfName))
	assertSignal(t, eng)
}

func TestWatchRestartsAfterErrorEvent(t *testing.T) {
	t.Parallel()
	eng, watches := startWatching(t, Config{})

	first := watches.next(t)
	// The error event an API server sends when the watch's resource
	// version is too old.
	first.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired,
		Message: "too old resource version"})
	second := watches.next(t)

	second.Add(builtWorkflow(wfName))
	assertSignal(t, eng)
}

func TestChangesSilentBeforeStart(t *testing.T) {
	t.Parallel()
	eng, client, _ := testEngine(t, Config{})

	if err := eng.Submit(testContext(t), submission(workflows.OperationRemove, wfName)); err != nil {
		t.Fatal(err)
	}
	assertNoSignal(t, eng)
	for _, a := range client.Actions() {
		if a.GetVerb() == "watch" {
			t.Fatal("the engine watched before Start")
		}
	}
}
