package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// manifests decodes every document of every file in kubernetes/ strictly
// into its typed object, keyed by kind.
func manifests(t *testing.T) map[string][]any {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests found: %v", err)
	}

	byKind := map[string][]any{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			var obj any
			switch meta.Kind {
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "Service":
				obj = &corev1.Service{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			default:
				t.Fatalf("%s document %d: unexpected kind %q", file, i, meta.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", file, i, meta.Kind, err)
			}
			byKind[meta.Kind] = append(byKind[meta.Kind], obj)
		}
	}
	return byKind
}

func only[T any](t *testing.T, byKind map[string][]any, kind string) T {
	t.Helper()
	objs := byKind[kind]
	if len(objs) != 1 {
		t.Fatalf("%d %s manifests, want 1", len(objs), kind)
	}
	return objs[0].(T)
}

func TestDeploymentProbesAndSecurity(t *testing.T) {
	d := only[*appsv1.Deployment](t, manifests(t), "Deployment")
	spec := d.Spec.Template.Spec

	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas = %v, want at least 2", d.Spec.Replicas)
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= 30 {
		t.Errorf("terminationGracePeriodSeconds = %v, want more than the 30 s shutdown timeout", spec.TerminationGracePeriodSeconds)
	}
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Error("pod does not require a non-root user")
	}
	if spec.ServiceAccountName != "onboarding-service" {
		t.Errorf("serviceAccountName = %q", spec.ServiceAccountName)
	}

	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe = %+v, want GET /readyz", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe = %+v, want GET /healthz", c.LivenessProbe)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8082 || c.Ports[0].Name != "http" {
		t.Errorf("ports = %+v, want http on 8082", c.Ports)
	}
	if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("container allows privilege escalation")
	}
}

func TestManifestEnvironmentIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	d := only[*appsv1.Deployment](t, manifests(t), "Deployment")
	containers := append(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers...)
	for _, c := range containers {
		for _, env := range c.Env {
			if !strings.HasPrefix(env.Name, "ONBOARDING_") {
				t.Errorf("container %s sets %s, which the service does not read", c.Name, env.Name)
				continue
			}
			if !bytes.Contains(readme, []byte("`"+env.Name+"`")) {
				t.Errorf("container %s sets %s, which the README does not document", c.Name, env.Name)
			}
		}
	}
}

func TestServiceTargetsDeployment(t *testing.T) {
	byKind := manifests(t)
	svc := only[*corev1.Service](t, byKind, "Service")
	d := only[*appsv1.Deployment](t, byKind, "Deployment")

	for key, value := range svc.Spec.Selector {
		if d.Spec.Template.Labels[key] != value {
			t.Errorf("service selector %s=%s does not match the pod labels %v", key, value, d.Spec.Template.Labels)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("service ports = %+v, want the http port", svc.Spec.Ports)
	}
	pdb := only[*policyv1.PodDisruptionBudget](t, byKind, "PodDisruptionBudget")
	for key, value := range pdb.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[key] != value {
			t.Errorf("disruption budget selector %s=%s does not match the pods", key, value)
		}
	}
}

func TestServiceAccountIsBoundInWorkflowNamespace(t *testing.T) {
	account := only[*corev1.ServiceAccount](t, manifests(t), "ServiceAccount")

	// The Role and RoleBinding live with the WorkflowTemplates, in the
	// namespace where the workflows run.
	data, err := os.ReadFile("../workflows/templates/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bound := false
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var binding rbacv1.RoleBinding
		if err := yaml.Unmarshal(doc, &binding); err != nil || binding.Kind != "RoleBinding" {
			continue
		}
		for _, subject := range binding.Subjects {
			if subject.Kind == "ServiceAccount" && subject.Name == account.Name {
				bound = true
			}
		}
	}
	if !bound {
		t.Errorf("no RoleBinding in workflows/templates/rbac.yaml binds the service account %s", account.Name)
	}

	d := only[*appsv1.Deployment](t, manifests(t), "Deployment")
	for _, env := range d.Spec.Template.Spec.Containers[0].Env {
		if env.Name == "ONBOARDING_ARGO_SERVICE_ACCOUNT" && env.Value != "scanner-steps" {
			t.Errorf("ONBOARDING_ARGO_SERVICE_ACCOUNT = %q, want the scanner-steps account of the RBAC manifest", env.Value)
		}
	}
}

func TestDockerfileBuildsStaticNonRootImage(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(text, -1)); n != 2 {
		t.Errorf("%d stages, want a build stage and a runtime stage", n)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532:65532", "./cmd/onboarding-service", "EXPOSE 8082"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
