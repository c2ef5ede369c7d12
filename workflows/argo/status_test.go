package argo

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/file"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// createWorkflow stores wf in the fake clientset as if the service had
// submitted it and a controller had written its status.
func createWorkflow(t *testing.T, eng *Engine, wf *v1alpha1.Workflow) {
	t.Helper()
	_, err := eng.client.ArgoprojV1alpha1().Workflows(testNamespace).Create(testContext(t), wf, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func builtWorkflow(name string) *v1alpha1.Workflow {
	return BuildWorkflow(submission(workflows.OperationRemove, name), Config{Namespace: testNamespace})
}

func TestStatusOfMissingWorkflow(t *testing.T) {
	t.Parallel()
	eng, _, _ := testEngine(t, Config{})

	_, err := eng.Status(testContext(t), "rm-scan-gone-1767225600")
	if !errors.Is(err, workflows.ErrWorkflowNotFound) {
		t.Fatalf("Status = %v, want ErrWorkflowNotFound", err)
	}
}

func TestStatusDecodesCompressedNodes(t *testing.T) {
	t.Parallel()
	eng, _, _ := testEngine(t, Config{})

	nodes := treeOf(t, retriedTree(t, v1alpha1.NodeRunning, v1alpha1.NodeFailed, v1alpha1.NodeRunning)...)
	raw, err := json.Marshal(nodes)
	if err != nil {
		t.Fatal(err)
	}
	wf := builtWorkflow(wfName)
	wf.Status.Phase = v1alpha1.WorkflowRunning
	// Argo's own encoder, as the controller uses it for large workflows.
	wf.Status.CompressedNodes = file.CompressEncodeString(string(raw))
	createWorkflow(t, eng, wf)

	st, err := eng.Status(testContext(t), wfName)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.CurrentStep != "awaiting-stack-deleted" || st.RetryAttempt != 1 {
		t.Errorf("status = %+v, want awaiting-stack-deleted with 1 retry from the compressed nodes", st)
	}
}

func TestStatusRejectsCorruptCompressedNodes(t *testing.T) {
	t.Parallel()

	wf := builtWorkflow(wfName)
	wf.Status.Phase = v1alpha1.WorkflowRunning
	wf.Status.CompressedNodes = "bm90IGd6aXA=" // base64 of "not gzip"
	if _, err := workflowStatus(wf); err == nil {
		t.Fatal("workflowStatus accepted compressed nodes that are not gzip")
	}
}

func TestStatusOfOffloadedNodes(t *testing.T) {
	t.Parallel()
	eng, _, _ := testEngine(t, Config{})

	wf := builtWorkflow(wfName)
	wf.Status.Phase = v1alpha1.WorkflowFailed
	wf.Status.Message = "child 'x' failed"
	wf.Status.OffloadNodeStatusVersion = "fnv:1234"
	createWorkflow(t, eng, wf)

	st, err := eng.Status(testContext(t), wfName)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	want := workflows.Status{Phase: workflows.PhaseFailed, Message: "child 'x' failed"}
	if st != want {
		t.Errorf("status = %+v, want %+v", st, want)
	}
}

func TestStatusWarnsOnceAboutUnpickedWorkflow(t *testing.T) {
	t.Parallel()
	eng, _, logs := testEngine(t, Config{UnpickedAfter: time.Minute})

	old := builtWorkflow("rm-scan-old-1767225600")
	old.CreationTimestamp = metav1.NewTime(time.Now().Add(-2 * time.Minute))
	createWorkflow(t, eng, old)
	recent := builtWorkflow("rm-scan-new-1767225600")
	recent.CreationTimestamp = metav1.NewTime(time.Now())
	createWorkflow(t, eng, recent)

	ctx := testContext(t)
	for range 3 {
		for _, name := range []string{old.Name, recent.Name} {
			st, err := eng.Status(ctx, name)
			if err != nil {
				t.Fatalf("Status(%s): %v", name, err)
			}
			if st.Phase != workflows.PhasePending {
				t.Errorf("Status(%s).Phase = %q, want pending", name, st.Phase)
			}
		}
	}

	if n := eng.UnpickedWorkflows(); n != 1 {
		t.Errorf("UnpickedWorkflows = %d, want 1", n)
	}
	if n := logs.count("not picked up by any workflow controller"); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	if n := logs.count("workflow=" + old.Name); n != 1 {
		t.Errorf("the warning does not name %s", old.Name)
	}
}
