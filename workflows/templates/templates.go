// Package templates embeds the Argo WorkflowTemplates of the scanner
// operations, one per leaf operation, and the RBAC manifest the argo engine
// needs. Operators install the YAML files of this folder with kubectl. The
// service embeds the same files, so that tests check the workflows it
// submits against exactly what is installed.
package templates

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// FS contains the WorkflowTemplate manifests (scanner-*.yaml) and
// rbac.yaml, exactly as they are in this folder.
//
//go:embed scanner-*.yaml rbac.yaml
var FS embed.FS

// RBACFile is the name in FS of the ServiceAccount, Role and RoleBinding
// manifest.
const RBACFile = "rbac.yaml"

// Name returns the WorkflowTemplate name of an operation: `scanner-<op>`.
func Name(op workflows.Operation) string {
	return "scanner-" + string(op)
}

// File returns the name in FS of an operation's template manifest.
func File(op workflows.Operation) string {
	return Name(op) + ".yaml"
}

// Decode decodes one WorkflowTemplate manifest strictly: an unknown or
// duplicated field is an error, so a misspelled field cannot be dropped
// silently.
func Decode(data []byte) (*v1alpha1.WorkflowTemplate, error) {
	var tmpl v1alpha1.WorkflowTemplate
	if err := yaml.UnmarshalStrict(data, &tmpl); err != nil {
		return nil, err
	}
	return &tmpl, nil
}

// Load decodes the embedded template of every operation in
// workflows.Steps, keyed by template name.
func Load() (map[string]*v1alpha1.WorkflowTemplate, error) {
	out := make(map[string]*v1alpha1.WorkflowTemplate, len(workflows.Steps))
	for op := range workflows.Steps {
		data, err := fs.ReadFile(FS, File(op))
		if err != nil {
			return nil, fmt.Errorf("reading the template of operation %s: %w", op, err)
		}
		tmpl, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", File(op), err)
		}
		if tmpl.Name != Name(op) {
			return nil, fmt.Errorf("%s names its template %q, expected %q", File(op), tmpl.Name, Name(op))
		}
		out[tmpl.Name] = tmpl
	}
	return out, nil
}
