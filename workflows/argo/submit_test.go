package argo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	k8stesting "k8s.io/client-go/testing"

	"github.com/scanner-ops/onboarding-service/workflows"
)

var workflowResource = schema.GroupResource{Group: "argoproj.io", Resource: "workflows"}

// failCreates makes the first n creates of workflows fail with err and
// returns the number of creates seen, failed or not.
func failCreates(client *k8stesting.Fake, n int, err error) *atomic.Int32 {
	var calls atomic.Int32
	client.PrependReactor("create", "workflows", func(k8stesting.Action) (bool, runtime.Object, error) {
		if int(calls.Add(1)) <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &calls
}

func TestSubmitCreatesWorkflow(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	eng, client, _ := testEngine(t, Config{})

	s := submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600")
	if err := eng.Submit(ctx, s); err != nil {
		t.Fatalf("Submit: %v", err)
	}

	wf, err := client.ArgoprojV1alpha1().Workflows(testNamespace).Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the workflow was not created: %v", err)
	}
	if wf.Spec.WorkflowTemplateRef.Name != "scanner-remove" || wf.Annotations[AnnotationJobID] != s.Name {
		t.Errorf("created workflow ref %v annotations %v", wf.Spec.WorkflowTemplateRef, wf.Annotations)
	}
}

func TestSubmitSameJobTwiceSucceeds(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	eng, client, _ := testEngine(t, Config{})

	s := submission(workflows.OperationUninstall, "un-scan-cfg-1-1767225600")
	for i := range 2 {
		if err := eng.Submit(ctx, s); err != nil {
			t.Fatalf("Submit #%d: %v", i+1, err)
		}
	}
	list, err := client.ArgoprojV1alpha1().Workflows(testNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Errorf("%d workflows, want 1", len(list.Items))
	}
}

func TestSubmitNameOfAnotherJobConflicts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	eng, client, _ := testEngine(t, Config{})

	s := submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600")
	other := BuildWorkflow(s, eng.cfg)
	other.Annotations[AnnotationJobID] = "some-other-job"
	if _, err := client.ArgoprojV1alpha1().Workflows(testNamespace).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	err := eng.Submit(ctx, s)
	if !errors.Is(err, ErrNameConflict) || !errors.Is(err, workflows.ErrPermanent) {
		t.Fatalf("Submit = %v, want ErrNameConflict and ErrPermanent", err)
	}
	if !strings.Contains(err.Error(), "some-other-job") {
		t.Errorf("error %q does not name the other job", err)
	}
}

func TestSubmitPermanentErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		err  error
		hint string
	}{
		{"forbidden", apierrors.NewForbidden(workflowResource, "", errors.New("no create permission")), "rbac.yaml"},
		{"missing namespace", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, testNamespace), "namespace does not exist"},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "argoproj.io", Kind: "Workflow"}, "x", nil), "invalid"},
		{"bad request", apierrors.NewBadRequest("malformed"), "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			eng, client, _ := testEngine(t, Config{})
			calls := failCreates(&client.Fake, 100, tt.err)

			err := eng.Submit(ctx, submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600"))
			if !errors.Is(err, workflows.ErrPermanent) {
				t.Fatalf("Submit = %v, want ErrPermanent", err)
			}
			if !strings.Contains(err.Error(), tt.hint) || !strings.Contains(err.Error(), testNamespace) {
				t.Errorf("error %q lacks the hint %q or the namespace", err, tt.hint)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d create calls, want 1 (no retry)", n)
			}
		})
	}
}

func TestSubmitUnknownOperationIsPermanent(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	eng, client, _ := testEngine(t, Config{})
	calls := failCreates(&client.Fake, 0, nil)

	err := eng.Submit(ctx, submission("remove-org", "rm-org-o-1-1767225600"))
	if !errors.Is(err, workflows.ErrPermanent) {
		t.Fatalf("Submit = %v, want ErrPermanent", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d create calls, want none", n)
	}
}

func TestSubmitRetriesTransientErrors(t *testing.T) {
	t.Parallel()

	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
	}{
		{"server timeout", apierrors.NewServerTimeout(workflowResource, "create", 1)},
		{"gateway timeout", apierrors.NewTimeoutError("request timed out", 1)},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1)},
		{"internal error", apierrors.NewInternalError(errors.New("etcd leader changed"))},
		{"service unavailable", apierrors.NewServiceUnavailable("apiserver restarting")},
		{"connection refused", fmt.Errorf("Post \"https://10.0.0.1/apis\": %w", refused)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			eng, client, logs := testEngine(t, Config{})
			calls := failCreates(&client.Fake, 2, tt.err)

			if err := eng.Submit(ctx, submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600")); err != nil {
				t.Fatalf("Submit = %v, want success after two transient failures", err)
			}
			if n := calls.Load(); n != 3 {
				t.Errorf("%d create calls, want 3", n)
			}
			if n := logs.count("retrying a transient Kubernetes API error"); n != 2 {
				t.Errorf("%d retry log lines, want 2", n)
			}
		})
	}
}

func TestSubmitGivesUpAfterBackoffSteps(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	eng, client, _ := testEngine(t, Config{})
	calls := failCreates(&client.Fake, 100, apierrors.NewServiceUnavailable("down"))

	err := eng.Submit(ctx, submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600"))
	if err == nil || errors.Is(err, workflows.ErrPermanent) {
		t.Fatalf("Submit = %v, want a transient (not permanent) error", err)
	}
	if !apierrors.IsServiceUnavailable(err) {
		t.Errorf("error %v does not wrap the API error", err)
	}
	if n := calls.Load(); n != int32(testBackoff.Steps) {
		t.Errorf("%d create calls, want %d", n, testBackoff.Steps)
	}
}

func TestSubmitStopsRetryingAtDeadline(t *testing.T) {
	t.Parallel()
	eng, client, _ := testEngine(t, Config{SubmitBackoff: wait.Backoff{Duration: time.Hour, Factor: 2, Steps: 5}})
	calls := failCreates(&client.Fake, 100, apierrors.NewTooManyRequests("slow down", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	start := time.Now()
	err := eng.Submit(ctx, submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600"))
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("Submit = %v, want the throttling error", err)
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Errorf("Submit took %s; a retry past the deadline should not be attempted", elapsed)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d create calls, want 1", n)
	}
}

func TestSubmitRecreatesVanishedWorkflow(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	eng, client, _ := testEngine(t, Config{})
	s := submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600")
	calls := failCreates(&client.Fake, 1, apierrors.NewAlreadyExists(workflowResource, s.Name))

	if err := eng.Submit(ctx, s); err != nil {
		t.Fatalf("Submit = %v, want success once the vanished workflow is created again", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d create calls, want 2", n)
	}
	if _, err := client.ArgoprojV1alpha1().Workflows(testNamespace).Get(ctx, s.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("workflow missing after Submit: %v", err)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)

	t.Run("reachable", func(t *testing.T) {
		t.Parallel()
		eng, client, _ := testEngine(t, Config{InstanceID: "blue"})
		if err := eng.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		list := client.Actions()[0].(k8stesting.ListAction)
		if got := list.GetListRestrictions().Labels.String(); got != "operation,workflows.argoproj.io/controller-instanceid=blue" {
			t.Errorf("Ping selector = %q", got)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		t.Parallel()
		eng, client, _ := testEngine(t, Config{})
		client.PrependReactor("list", "workflows", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(workflowResource, "", errors.New("no list permission"))
		})
		if err := eng.Ping(ctx); !apierrors.IsForbidden(err) {
			t.Fatalf("Ping = %v, want the forbidden error", err)
		}
	})
}
