package workflows_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/argo"
	"github.com/scanner-ops/onboarding-service/workflows/argo/argotest"
)

const argoOrg = "org_argo"

// argoEnv runs the dispatcher and reconciler on the argo engine, against
// Argo's fake clientset advanced by the test controller.
type argoEnv struct {
	store  *store.Store
	d      *workflows.Dispatcher
	r      *workflows.Reconciler
	client *fake.Clientset
}

func newArgoEnv(t *testing.T, deleteWorkflow func(wf *v1alpha1.Workflow) bool) *argoEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	scanners := []store.FixtureScanner{{ConfigID: "cfg-1", Region: "us-east-1"}, {ConfigID: "cfg-2", Region: "us-east-1"}}
	if _, err := st.Seed(ctx, store.Fixture{Organizations: []store.FixtureOrganization{{
		OrgID: argoOrg,
		CloudOrganizations: []store.FixtureCloudOrganization{{
			CloudOrganizationID: "o-argo", CloudProvider: "aws", EnabledRegions: []string{"us-east-1"}, Scanners: scanners,
		}},
	}}}); err != nil {
		t.Fatal(err)
	}

	client := fake.NewSimpleClientset()
	if err := argotest.InstallTemplates(ctx, client, "jobs"); err != nil {
		t.Fatal(err)
	}
	engine := argo.NewWithClient(client, argo.Config{Namespace: "jobs"})
	engine.Start(ctx)
	controller := &argotest.Controller{Client: client, Namespace: "jobs", StepDelay: 5 * time.Millisecond, Delete: deleteWorkflow}
	controllerDone := make(chan struct{})
	go func() {
		defer close(controllerDone)
		_ = controller.Run(ctx)
	}()

	d, err := workflows.NewDispatcher(workflows.DispatcherConfig{Store: st, Engine: engine, Locker: workflows.NewMemoryLocker()})
	if err != nil {
		t.Fatal(err)
	}
	reconciler := workflows.NewReconciler(d, workflows.ReconcilerConfig{Interval: 10 * time.Millisecond})
	reconcilerDone := make(chan struct{})
	go func() {
		defer close(reconcilerDone)
		reconciler.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-controllerDone
		<-reconcilerDone
	})
	return &argoEnv{store: st, d: d, r: reconciler, client: client}
}

func (e *argoEnv) waitTerminal(t *testing.T, id string) store.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		job, err := e.store.GetJob(context.Background(), argoOrg, id)
		if err == nil && job.Status.Terminal() {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not finish: last %+v, err %v", id, job, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestArgoWorkflowDeletedWhileRunningFailsJob(t *testing.T) {
	e := newArgoEnv(t, func(wf *v1alpha1.Workflow) bool {
		return wf.Status.Phase == v1alpha1.WorkflowRunning && wf.Annotations[argo.AnnotationConfigID] == "cfg-1"
	})
	ctx := context.Background()

	out, err := e.d.Request(ctx, workflows.Request{OrgID: argoOrg, ConfigID: "cfg-1", Operation: workflows.OperationReinstall})
	if err != nil {
		t.Fatal(err)
	}
	job := e.waitTerminal(t, out.Job.ID)
	if job.Status != store.JobFailed || !strings.Contains(job.Error, "was deleted before it finished") {
		t.Errorf("job = %+v, want failed because its workflow was deleted", job)
	}
	scanner, err := e.store.GetScanner(ctx, argoOrg, "cfg-1")
	if err != nil || scanner.State != store.ScannerFailed {
		t.Errorf("scanner = %+v, %v; want state failed", scanner, err)
	}
}

func TestArgoWorkflowDeletedAfterItFinishedKeepsResult(t *testing.T) {
	e := newArgoEnv(t, nil)
	ctx := context.Background()

	out, err := e.d.Request(ctx, workflows.Request{OrgID: argoOrg, ConfigID: "cfg-2", Operation: workflows.OperationUninstall})
	if err != nil {
		t.Fatal(err)
	}
	job := e.waitTerminal(t, out.Job.ID)
	if job.Status != store.JobSucceeded || job.CurrentStep != "post-status" || job.Error != "" {
		t.Fatalf("job = %+v, want succeeded at post-status", job)
	}

	// A TTL or an operator deletes the workflow; later passes must leave
	// the finished job alone.
	err = e.client.ArgoprojV1alpha1().Workflows("jobs").Delete(ctx, out.Job.ID, metav1.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	deadline := deleted.Add(5 * time.Second)
	for e.r.LastPass().Before(deleted.Add(20 * time.Millisecond)) {
		if time.Now().After(deadline) {
			t.Fatal("the reconciler made no pass after the deletion")
		}
		time.Sleep(5 * time.Millisecond)
	}
	again, err := e.store.GetJob(ctx, argoOrg, out.Job.ID)
	if err != nil || again.Status != store.JobSucceeded || !again.UpdatedAt.Equal(job.UpdatedAt) {
		t.Errorf("job after its workflow was deleted = %+v, %v; want it unchanged", again, err)
	}
	scanner, err := e.store.GetScanner(ctx, argoOrg, "cfg-2")
	if err != nil || scanner.State != store.ScannerUninstalled {
		t.Errorf("scanner = %+v, %v; want state uninstalled", scanner, err)
	}
}
