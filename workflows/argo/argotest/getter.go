package argotest

import (
	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/scanner-ops/onboarding-service/workflows/templates"
)

// TemplateGetter looks WorkflowTemplates up by name. It has the shape of
// the getter that Argo's validate.ValidateWorkflow and
// validate.ValidateWorkflowTemplate take.
type TemplateGetter map[string]*v1alpha1.WorkflowTemplate

// Get returns the named template, or a Kubernetes NotFound error.
func (g TemplateGetter) Get(name string) (*v1alpha1.WorkflowTemplate, error) {
	tmpl, ok := g[name]
	if !ok {
		return nil, apierrors.NewNotFound(v1alpha1.SchemeGroupVersion.WithResource("workflowtemplates").GroupResource(), name)
	}
	return tmpl, nil
}

// EmbeddedTemplates returns a getter over the templates of package
// templates.
func EmbeddedTemplates() (TemplateGetter, error) {
	loaded, err := templates.Load()
	if err != nil {
		return nil, err
	}
	return TemplateGetter(loaded), nil
}

// NoClusterTemplates is a ClusterWorkflowTemplate getter that finds none:
// the scanner workflows use namespaced templates only.
type NoClusterTemplates struct{}

// Get returns a Kubernetes NotFound error.
func (NoClusterTemplates) Get(name string) (*v1alpha1.ClusterWorkflowTemplate, error) {
	return nil, apierrors.NewNotFound(v1alpha1.SchemeGroupVersion.WithResource("clusterworkflowtemplates").GroupResource(), name)
}
