package templates_test

import (
	"bytes"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/argo/argotest"
	"github.com/scanner-ops/onboarding-service/workflows/templates"
)

// parameters lists the workflow parameters every template declares and the
// argo engine sets.
var parameters = []string{"org-id", "config-id", "cloud-provider", "region", "cloud-organization-id", "job-id"}

func load(t *testing.T) map[string]*v1alpha1.WorkflowTemplate {
	t.Helper()
	loaded, err := templates.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return loaded
}

func TestTemplatesDecodeStrictly(t *testing.T) {
	t.Parallel()

	matches, err := fs.Glob(templates.FS, "scanner-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) != len(workflows.Steps) {
		t.Fatalf("embedded templates = %v, want one per operation of workflows.Steps (%d)", matches, len(workflows.Steps))
	}
	for _, file := range matches {
		data, err := fs.ReadFile(templates.FS, file)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := templates.Decode(data)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if tmpl.Kind != "WorkflowTemplate" || tmpl.APIVersion != "argoproj.io/v1alpha1" {
			t.Errorf("%s: kind %q apiVersion %q, want WorkflowTemplate argoproj.io/v1alpha1", file, tmpl.Kind, tmpl.APIVersion)
		}
	}
}

func TestDecodeRejectsMisspelledField(t *testing.T) {
	t.Parallel()

	data, err := fs.ReadFile(templates.FS, templates.File(workflows.OperationRemove))
	if err != nil {
		t.Fatal(err)
	}
	misspelled := bytes.Replace(data, []byte("retryStrategy:"), []byte("retryStrategie:"), 1)
	if bytes.Equal(misspelled, data) {
		t.Fatal("the remove template has no retryStrategy to misspell")
	}
	if _, err := templates.Decode(misspelled); err == nil {
		t.Fatal("Decode accepted a template with the unknown field retryStrategie")
	}
}

func TestTemplatesPassArgoValidation(t *testing.T) {
	t.Parallel()

	loaded := load(t)
	getter := argotest.TemplateGetter(loaded)
	// The subtests run one at a time because Argo's validation shares an
	// unlocked placeholder generator between calls (Argo v3.7.6).
	for name, tmpl := range loaded {
		t.Run(name, func(t *testing.T) {
			err := validate.ValidateWorkflowTemplate(getter, argotest.NoClusterTemplates{}, tmpl, nil, validate.ValidateOpts{})
			if err != nil {
				t.Fatalf("ValidateWorkflowTemplate: %v", err)
			}
		})
	}
}

func TestTemplatesRunEveryStepInOrder(t *testing.T) {
	t.Parallel()

	loaded := load(t)
	for op, want := range workflows.Steps {
		t.Run(string(op), func(t *testing.T) {
			t.Parallel()
			tmpl, ok := loaded[templates.Name(op)]
			if !ok {
				t.Fatalf("no template named %s", templates.Name(op))
			}
			entry := find(tmpl.Spec.Templates, tmpl.Spec.Entrypoint)
			if entry == nil {
				t.Fatalf("entrypoint %q is not a template", tmpl.Spec.Entrypoint)
			}

			var got []string
			for _, group := range entry.Steps {
				for _, step := range group.Steps {
					got = append(got, step.Name)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("steps = %v, want %v", got, want)
			}
		})
	}
}

func TestTemplateStepsRetryAndRunContainer(t *testing.T) {
	t.Parallel()

	for name, tmpl := range load(t) {
		entry := find(tmpl.Spec.Templates, tmpl.Spec.Entrypoint)
		for _, group := range entry.Steps {
			for _, step := range group.Steps {
				leaf := find(tmpl.Spec.Templates, step.Template)
				if leaf == nil {
					t.Fatalf("%s: step %s uses the unknown template %q", name, step.Name, step.Template)
				}
				rs := leaf.RetryStrategy
				if rs == nil || rs.Limit == nil || rs.Limit.IntValue() != 3 {
					t.Errorf("%s: step %s: retryStrategy %+v, want limit 3", name, step.Name, rs)
				}
				if rs != nil && (rs.Backoff == nil || rs.Backoff.Duration == "") {
					t.Errorf("%s: step %s: retryStrategy has no backoff", name, step.Name)
				}
				if leaf.Container == nil || leaf.Container.Image == "" || len(leaf.Container.Command) == 0 {
					t.Errorf("%s: step %s: no container with an image and a command", name, step.Name)
				}
			}
		}
	}
}

func TestTemplatesPassEveryParameter(t *testing.T) {
	t.Parallel()

	for name, tmpl := range load(t) {
		var declared []string
		for _, p := range tmpl.Spec.Arguments.Parameters {
			declared = append(declared, p.Name)
		}
		if !slices.Equal(declared, parameters) {
			t.Errorf("%s: parameters = %v, want %v", name, declared, parameters)
		}

		container := find(tmpl.Spec.Templates, "run-step").Container
		env := map[string]string{}
		for _, e := range container.Env {
			env[e.Name] = e.Value
		}
		args := strings.Join(container.Args, " ")
		for _, p := range parameters {
			ref := "{{workflow.parameters." + p + "}}"
			if !strings.Contains(args, "--"+p+"="+ref) {
				t.Errorf("%s: args %q do not pass --%s=%s", name, args, p, ref)
			}
			envName := "SCANNER_" + strings.ToUpper(strings.ReplaceAll(p, "-", "_"))
			if env[envName] != ref {
				t.Errorf("%s: env %s = %q, want %q", name, envName, env[envName], ref)
			}
		}
		if env["SCANNER_STEP"] != "{{inputs.parameters.step}}" {
			t.Errorf("%s: env SCANNER_STEP = %q, want the step input", name, env["SCANNER_STEP"])
		}
	}
}

// Argo's template validation accepts references to undeclared workflow
// parameters, which would reach the step container unresolved.
func TestTemplatesReferenceOnlyDeclaredParameters(t *testing.T) {
	t.Parallel()

	reference := regexp.MustCompile(`\{\{\s*workflow\.parameters\.([^}\s]+)\s*\}\}`)
	for op := range workflows.Steps {
		data, err := fs.ReadFile(templates.FS, templates.File(op))
		if err != nil {
			t.Fatal(err)
		}
		refs := reference.FindAllSubmatch(data, -1)
		if len(refs) == 0 {
			t.Errorf("%s references no workflow parameter", templates.File(op))
		}
		for _, ref := range refs {
			if !slices.Contains(parameters, string(ref[1])) {
				t.Errorf("%s references the undeclared parameter %q", templates.File(op), ref[1])
			}
		}
	}
}

func TestRBACManifestGrantsWorkflowAccess(t *testing.T) {
	t.Parallel()

	data, err := fs.ReadFile(templates.FS, templates.RBACFile)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var serviceRole *rbacv1.Role
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("document %q: %v", doc, err)
		}
		kinds = append(kinds, meta.Kind)

		var target any
		switch meta.Kind {
		case "ServiceAccount":
			target = &corev1.ServiceAccount{}
			if strings.Contains(doc, "name: onboarding-service\n") {
				t.Error("the service's ServiceAccount belongs to deploy/kubernetes, not to the workflow namespace's RBAC")
			}
		case "Role":
			role := &rbacv1.Role{}
			target = role
			if strings.Contains(doc, "name: onboarding-service-workflows") {
				serviceRole = role
			}
		case "RoleBinding":
			target = &rbacv1.RoleBinding{}
		default:
			t.Fatalf("unexpected kind %q in %s", meta.Kind, templates.RBACFile)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Errorf("%s document: %v", meta.Kind, err)
		}
	}
	for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding"} {
		if !slices.Contains(kinds, kind) {
			t.Errorf("%s has no %s", templates.RBACFile, kind)
		}
	}
	if serviceRole == nil {
		t.Fatal("no Role onboarding-service-workflows")
	}

	granted := map[string][]string{}
	for _, rule := range serviceRole.Rules {
		for _, res := range rule.Resources {
			granted[res] = append(granted[res], rule.Verbs...)
		}
	}
	// Exactly what the engine calls: no more, so the grant stays minimal.
	want := []string{"create", "get", "list", "watch"}
	if got := granted["workflows"]; !slices.Equal(got, want) {
		t.Errorf("workflows verbs = %v, want %v", got, want)
	}
	if len(granted) != 1 {
		t.Errorf("granted resources = %v, want workflows only", granted)
	}
}

func find(all []v1alpha1.Template, name string) *v1alpha1.Template {
	for i := range all {
		if all[i].Name == name {
			return &all[i]
		}
	}
	return nil
}
