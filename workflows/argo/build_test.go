package argo

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/argo/argotest"
)

// validateMu serialises Argo's validation, whose placeholder generator is
// a package variable without locking (Argo v3.7.6).
var validateMu sync.Mutex

func validateWorkflow(getter argotest.TemplateGetter, wf *v1alpha1.Workflow) error {
	validateMu.Lock()
	defer validateMu.Unlock()
	return validate.ValidateWorkflow(getter, argotest.NoClusterTemplates{}, wf, nil, validate.ValidateOpts{Submit: true})
}

func TestBuildWorkflowSetsNameTemplateAndParameters(t *testing.T) {
	t.Parallel()

	s := submission(workflows.OperationReinstall, "ri-scan-cfg-1-1767225600")
	wf := BuildWorkflow(s, Config{Namespace: testNamespace, ServiceAccount: "scanner-steps"})

	if wf.Name != s.Name || wf.Namespace != testNamespace {
		t.Errorf("name %s/%s, want %s/%s", wf.Namespace, wf.Name, testNamespace, s.Name)
	}
	if wf.APIVersion != "argoproj.io/v1alpha1" || wf.Kind != "Workflow" {
		t.Errorf("apiVersion %q kind %q", wf.APIVersion, wf.Kind)
	}
	if ref := wf.Spec.WorkflowTemplateRef; ref == nil || ref.Name != "scanner-reinstall" || ref.ClusterScope {
		t.Errorf("workflowTemplateRef = %+v, want scanner-reinstall", ref)
	}
	if wf.Spec.ServiceAccountName != "scanner-steps" {
		t.Errorf("serviceAccountName = %q", wf.Spec.ServiceAccountName)
	}

	got := map[string]string{}
	for _, p := range wf.Spec.Arguments.Parameters {
		got[p.Name] = p.Value.String()
	}
	want := map[string]string{
		"org-id": "org_abc123", "config-id": "CFG_1", "cloud-provider": "aws", "region": "us-east-1",
		"cloud-organization-id": "o-abc123xyz", "job-id": s.Name,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parameters = %v, want %v", got, want)
	}
}

func TestBuildWorkflowLabelsAndAnnotations(t *testing.T) {
	t.Parallel()

	s := submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600")
	wf := BuildWorkflow(s, Config{InstanceID: "blue"})

	wantLabels := map[string]string{
		"org-id": "org_abc123", "config-id": "CFG_1", "parent-id": s.ParentID, "operation": "remove",
		"workflows.argoproj.io/controller-instanceid": "blue",
	}
	if !reflect.DeepEqual(wf.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", wf.Labels, wantLabels)
	}
	wantAnnotations := map[string]string{
		"scanner-ops.io/org-id": "org_abc123", "scanner-ops.io/config-id": "CFG_1",
		"scanner-ops.io/parent-id": s.ParentID, "scanner-ops.io/job-id": s.Name,
	}
	if !reflect.DeepEqual(wf.Annotations, wantAnnotations) {
		t.Errorf("annotations = %v, want %v", wf.Annotations, wantAnnotations)
	}
	if wf.Namespace != DefaultNamespace {
		t.Errorf("namespace = %q, want the default %q", wf.Namespace, DefaultNamespace)
	}
}

func TestBuildWorkflowOmitsEmptyParent(t *testing.T) {
	t.Parallel()

	s := submission(workflows.OperationUninstall, "un-scan-cfg-1-1767225600")
	s.ParentID = ""
	wf := BuildWorkflow(s, Config{})

	if v, ok := wf.Labels[LabelParentID]; ok {
		t.Errorf("parent-id label = %q, want none", v)
	}
	if v, ok := wf.Annotations[AnnotationParentID]; ok {
		t.Errorf("parent-id annotation = %q, want none", v)
	}
	if v, ok := wf.Labels[LabelInstanceID]; ok {
		t.Errorf("instance id label = %q, want none without an instance id", v)
	}
}

func TestBuildWorkflowSanitisesLongAndOddIDs(t *testing.T) {
	t.Parallel()

	long := "Org_" + strings.Repeat("x", 124)
	s := submission(workflows.OperationRemove, "rm-scan-x-1767225600")
	s.OrgID, s.ConfigID = long, "a.b_c-D"
	s.ParentID = "rm-org-o-abc123xyz:ou/1"
	wf := BuildWorkflow(s, Config{})

	for key, value := range wf.Labels {
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			t.Errorf("label %s=%q is invalid: %v", key, value, errs)
		}
	}
	if wf.Labels[LabelConfigID] != "a.b_c-D" {
		t.Errorf("config-id label = %q, want the valid id unchanged", wf.Labels[LabelConfigID])
	}
	if wf.Annotations[AnnotationOrgID] != long || wf.Annotations[AnnotationParentID] != s.ParentID {
		t.Errorf("annotations = %v, want the raw ids", wf.Annotations)
	}
}

func TestLabelValue(t *testing.T) {
	t.Parallel()

	long := strings.Repeat("a", 128)
	tests := []struct {
		name, id, want string
	}{
		{"valid id unchanged", "CFG_1", "CFG_1"},
		{"dots and dashes unchanged", "a.b_c-D", "a.b_c-D"},
		{"63 characters unchanged", strings.Repeat("b", 63), strings.Repeat("b", 63)},
		{"leading underscore hashed", "_cfg", workflows.SafeName("_cfg", 63)},
		{"colon hashed", "o-abc:1", workflows.SafeName("o-abc:1", 63)},
		{"128 characters cut and hashed", long, workflows.SafeName(long, 63)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := LabelValue(tt.id)
			if got != tt.want {
				t.Errorf("LabelValue(%q) = %q, want %q", tt.id, got, tt.want)
			}
			if errs := validation.IsValidLabelValue(got); len(errs) > 0 || got == "" {
				t.Errorf("LabelValue(%q) = %q is not a valid label value: %v", tt.id, got, errs)
			}
			if again := LabelValue(tt.id); again != got {
				t.Errorf("LabelValue(%q) changed between calls: %q then %q", tt.id, got, again)
			}
		})
	}
}

func TestLabelValueKeepsIDsDistinct(t *testing.T) {
	t.Parallel()

	long := strings.Repeat("x", 100)
	pairs := [][2]string{
		{"CFG_1", "cfg-1"},
		{"CFG_1", "cfg_1"},
		{"_cfg", "cfg"},
		{"Cfg:1", "cfg:1"},
		{"A" + long, "a" + long},
		{long + "_1", long + "-1"},
	}
	for _, p := range pairs {
		a, b := LabelValue(p[0]), LabelValue(p[1])
		if a == b {
			t.Errorf("LabelValue(%q) = LabelValue(%q) = %q", p[0], p[1], a)
		}
	}
}

func TestBuiltWorkflowPassesArgoValidation(t *testing.T) {
	t.Parallel()

	getter, err := argotest.EmbeddedTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for op := range workflows.Steps {
		t.Run(string(op), func(t *testing.T) {
			t.Parallel()
			s := submission(op, workflows.ScannerJobID(op, "CFG_1", testNow, 0))
			wf := BuildWorkflow(s, Config{Namespace: testNamespace, InstanceID: "blue", ServiceAccount: "scanner-steps"})
			err := validateWorkflow(getter, wf)
			if err != nil {
				t.Fatalf("ValidateWorkflow: %v", err)
			}
		})
	}
}

func TestBuiltWorkflowMissingParameterFailsValidation(t *testing.T) {
	t.Parallel()

	getter, err := argotest.EmbeddedTemplates()
	if err != nil {
		t.Fatal(err)
	}
	wf := BuildWorkflow(submission(workflows.OperationRemove, "rm-scan-cfg-1-1767225600"), Config{})
	wf.Spec.Arguments.Parameters = wf.Spec.Arguments.Parameters[1:] // drops org-id

	err = validateWorkflow(getter, wf)
	if err == nil || !strings.Contains(err.Error(), "org-id") {
		t.Fatalf("ValidateWorkflow without org-id = %v, want an error naming org-id", err)
	}
}
