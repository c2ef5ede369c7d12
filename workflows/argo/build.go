package argo

import (
	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/templates"
)

// Labels of the engine's workflows. Their values are the ids when those are
// valid label values, and workflows.SafeName of the ids otherwise; the
// annotations below always contain the raw ids.
const (
	LabelOrgID     = "org-id"
	LabelConfigID  = "config-id"
	LabelParentID  = "parent-id"
	LabelOperation = "operation"
	// LabelInstanceID is Argo's controller instance id label: a controller
	// started with --instanceid runs only the workflows carrying its id, and
	// a controller without one runs only the workflows without the label.
	LabelInstanceID = "workflows.argoproj.io/controller-instanceid"
)

// Annotations of the engine's workflows, with the raw ids.
const (
	AnnotationOrgID    = "scanner-ops.io/org-id"
	AnnotationConfigID = "scanner-ops.io/config-id"
	AnnotationParentID = "scanner-ops.io/parent-id"
	// AnnotationJobID identifies the job that created the workflow; Submit
	// compares it to tell a repeated submission from a name conflict.
	AnnotationJobID = "scanner-ops.io/job-id"
)

// Workflow parameters, as declared in spec.arguments.parameters of every
// template in package templates.
const (
	ParamOrgID               = "org-id"
	ParamConfigID            = "config-id"
	ParamCloudProvider       = "cloud-provider"
	ParamRegion              = "region"
	ParamCloudOrganizationID = "cloud-organization-id"
	ParamJobID               = "job-id"
)

// BuildWorkflow returns the Workflow that Submit creates for s: named
// after the job, referencing the operation's WorkflowTemplate, with the
// raw ids as parameters and annotations and label-safe ids as labels.
// s.ResumeStep, s.RetryAttempt and s.Simulate are ignored because Argo
// runs every workflow from its first step. The operation is not checked,
// which Submit does.
func BuildWorkflow(s workflows.Submission, cfg Config) *v1alpha1.Workflow {
	cfg = cfg.withDefaults()

	wfLabels := map[string]string{LabelOperation: LabelValue(string(s.Operation))}
	setLabel(wfLabels, LabelOrgID, s.OrgID)
	setLabel(wfLabels, LabelConfigID, s.ConfigID)
	setLabel(wfLabels, LabelParentID, s.ParentID)
	if cfg.InstanceID != "" {
		wfLabels[LabelInstanceID] = cfg.InstanceID
	}

	annotations := map[string]string{
		AnnotationOrgID:    s.OrgID,
		AnnotationConfigID: s.ConfigID,
		AnnotationJobID:    s.Name,
	}
	if s.ParentID != "" {
		annotations[AnnotationParentID] = s.ParentID
	}

	return &v1alpha1.Workflow{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: "Workflow"},
		ObjectMeta: metav1.ObjectMeta{
			// Job ids are already valid names; SafeName only guards against
			// a caller that passes something else.
			Name:        workflows.SafeName(s.Name, workflows.MaxNameLength),
			Namespace:   cfg.Namespace,
			Labels:      wfLabels,
			Annotations: annotations,
		},
		Spec: v1alpha1.WorkflowSpec{
			WorkflowTemplateRef: &v1alpha1.WorkflowTemplateRef{Name: templates.Name(s.Operation)},
			ServiceAccountName:  cfg.ServiceAccount,
			Arguments: v1alpha1.Arguments{Parameters: []v1alpha1.Parameter{
				param(ParamOrgID, s.OrgID),
				param(ParamConfigID, s.ConfigID),
				param(ParamCloudProvider, s.CloudProvider),
				param(ParamRegion, s.Region),
				param(ParamCloudOrganizationID, s.CloudOrganizationID),
				param(ParamJobID, s.Name),
			}},
		},
	}
}

// LabelValue returns id when it is a valid Kubernetes label value: at most
// 63 characters of [A-Za-z0-9._-], starting and ending with an alphanumeric
// character. Otherwise it returns workflows.SafeName(id, 63), which is
// lowercase, cut and suffixed with a hash of id. Ids that differ only in
// case or punctuation therefore keep different values. It is deterministic.
func LabelValue(id string) string {
	if id != "" && len(validation.IsValidLabelValue(id)) == 0 {
		return id
	}
	return workflows.SafeName(id, validation.LabelValueMaxLength)
}

// setLabel sets key to the label form of value, and leaves it out when
// value is empty.
func setLabel(m map[string]string, key, value string) {
	if value != "" {
		m[key] = LabelValue(value)
	}
}

func param(name, value string) v1alpha1.Parameter {
	return v1alpha1.Parameter{Name: name, Value: v1alpha1.AnyStringPtr(value)}
}
