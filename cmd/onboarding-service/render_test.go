package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/argo"
	"github.com/scanner-ops/onboarding-service/workflows/argo/argotest"
)

// renderValidateMu serialises Argo's validation, whose placeholder
// generator is a package variable without locking (Argo v3.7.6).
var renderValidateMu sync.Mutex

func renderArgs(op, configID string, extra ...string) []string {
	return append([]string{
		"--operation", op, "--org", "org_abc123", "--config-id", configID, "--cloud-provider", "aws",
		"--region", "us-east-1", "--cloud-organization-id", "o-abc123xyz", "--namespace", "jobs",
	}, extra...)
}

func TestWorkflowRenderOutputPassesArgoValidation(t *testing.T) {
	t.Parallel()

	getter, err := argotest.EmbeddedTemplates()
	if err != nil {
		t.Fatal(err)
	}
	configIDs := []string{"CFG_1", strings.Repeat("Ab9_", 32), "a.b_c-D"}
	for op := range workflows.Steps {
		for _, configID := range configIDs {
			t.Run(string(op)+" "+configID[:min(len(configID), 12)], func(t *testing.T) {
				t.Parallel()
				var stdout, stderr bytes.Buffer
				args := renderArgs(string(op), configID, "--parent-id", "rm-org-o-abc123xyz-1767225600", "--instance-id", "blue")
				if err := runWorkflowRender(args, &stdout, &stderr); err != nil {
					t.Fatalf("runWorkflowRender: %v (stderr %q)", err, stderr.String())
				}

				var wf v1alpha1.Workflow
				if err := yaml.UnmarshalStrict(stdout.Bytes(), &wf); err != nil {
					t.Fatalf("output does not decode strictly into a Workflow: %v\n%s", err, stdout.String())
				}
				if wf.APIVersion != "argoproj.io/v1alpha1" || wf.Kind != "Workflow" {
					t.Errorf("apiVersion %q kind %q", wf.APIVersion, wf.Kind)
				}
				if strings.Contains(stdout.String(), "status:") || strings.Contains(stdout.String(), "creationTimestamp") {
					t.Errorf("output contains server-set fields:\n%s", stdout.String())
				}

				renderValidateMu.Lock()
				err := validate.ValidateWorkflow(getter, argotest.NoClusterTemplates{}, &wf, nil, validate.ValidateOpts{Submit: true})
				renderValidateMu.Unlock()
				if err != nil {
					t.Fatalf("ValidateWorkflow: %v\n%s", err, stdout.String())
				}

				if !strings.HasPrefix(wf.Name, map[workflows.Operation]string{
					workflows.OperationRemove: "rm-scan-", workflows.OperationReinstall: "ri-scan-", workflows.OperationUninstall: "un-scan-",
				}[op]) || len(wf.Name) > workflows.MaxNameLength {
					t.Errorf("name %q is not a job id of %s", wf.Name, op)
				}
				for key, value := range wf.Labels {
					if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
						t.Errorf("label %s=%q is invalid: %v", key, value, errs)
					}
				}
				if wf.Annotations[argo.AnnotationConfigID] != configID || wf.Namespace != "jobs" ||
					wf.Labels[argo.LabelInstanceID] != "blue" {
					t.Errorf("metadata = %+v, want the raw config id, namespace jobs and instance id blue", wf.ObjectMeta)
				}
			})
		}
	}
}

func TestWorkflowRenderUsesGivenJobID(t *testing.T) {
	t.Parallel()

	var stdout, stderr bytes.Buffer
	args := renderArgs("reinstall", "CFG_1", "--job-id", "ri-scan-cfg-1-1767225600-2")
	if err := runWorkflowRender(args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	var wf v1alpha1.Workflow
	if err := yaml.UnmarshalStrict(stdout.Bytes(), &wf); err != nil {
		t.Fatal(err)
	}
	if wf.Name != "ri-scan-cfg-1-1767225600-2" || wf.Annotations[argo.AnnotationJobID] != wf.Name {
		t.Errorf("name %q job annotation %q, want the given job id", wf.Name, wf.Annotations[argo.AnnotationJobID])
	}
}

func TestWorkflowRenderRejectsInvalidFlags(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown operation", renderArgs("remove-org", "CFG_1"), "--operation"},
		{"missing org", append(renderArgs("remove", "CFG_1"), "--org", ""), "--org"},
		{"config id too long", renderArgs("remove", strings.Repeat("c", 129)), "--config-id"},
		{"unknown cloud provider", append(renderArgs("remove", "CFG_1"), "--cloud-provider", "ibm"), "--cloud-provider"},
		{"job id with capitals", renderArgs("remove", "CFG_1", "--job-id", "RM-scan"), "--job-id"},
		{"parent id with spaces", renderArgs("remove", "CFG_1", "--parent-id", "a b"), "--parent-id"},
		{"invalid namespace", append(renderArgs("remove", "CFG_1"), "--namespace", "Jobs_1"), "namespace"},
		{"stray argument", append(renderArgs("remove", "CFG_1"), "extra"), "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := runWorkflowRender(tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("runWorkflowRender = %v, want an error about %s", err, tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("printed a workflow despite the error:\n%s", stdout.String())
			}
		})
	}
}
