package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
	"github.com/scanner-ops/onboarding-service/workflows/argo"
)

// parentIDPattern bounds --parent-id. Batch ids are `<prefix>-<uuid>` and
// organisation removal ids are job ids. The value only goes into a label
// (made label-safe) and an annotation, so the pattern is loose.
var parentIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,255}$`)

// runWorkflowRender prints, as YAML, the Workflow that the argo engine
// would create for one leaf operation, so that an operator can inspect it
// or run it with `kubectl create -f -`. Namespace, instance id and service
// account default to the ONBOARDING_ARGO_* variables that serve reads.
func runWorkflowRender(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("onboarding-service workflow render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	operations := strings.Join(leafOperations(), "|")
	var s workflows.Submission
	var op string
	var cfg argo.Config
	fs.StringVar(&op, "operation", "", "operation to render: "+operations+" (required)")
	fs.StringVar(&s.OrgID, "org", "", "organisation id (required)")
	fs.StringVar(&s.ConfigID, "config-id", "", "scanner configuration id (required)")
	fs.StringVar(&s.CloudProvider, "cloud-provider", "", "cloud provider: "+strings.Join(store.CloudProviders, ", ")+" (required)")
	fs.StringVar(&s.Region, "region", "", "region of the scanner (required)")
	fs.StringVar(&s.CloudOrganizationID, "cloud-organization-id", "", "cloud organisation id of the scanner (required)")
	fs.StringVar(&s.ParentID, "parent-id", "", "batch or organisation removal id the job belongs to; empty means none")
	fs.StringVar(&s.Name, "job-id", "", "job id and workflow name; empty derives one from the operation, config id and current time")
	fs.StringVar(&cfg.Namespace, "namespace", envOr("ONBOARDING_ARGO_NAMESPACE", argo.DefaultNamespace),
		"namespace of the workflow (env ONBOARDING_ARGO_NAMESPACE)")
	fs.StringVar(&cfg.InstanceID, "instance-id", os.Getenv("ONBOARDING_ARGO_INSTANCE_ID"),
		"Argo controller instance id; empty means none (env ONBOARDING_ARGO_INSTANCE_ID)")
	fs.StringVar(&cfg.ServiceAccount, "service-account", os.Getenv("ONBOARDING_ARGO_SERVICE_ACCOUNT"),
		"service account of the step pods; empty means the namespace default (env ONBOARDING_ARGO_SERVICE_ACCOUNT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: workflow render takes flags only", fs.Arg(0))
	}

	s.Operation = workflows.Operation(op)
	if s.Name == "" && s.Operation != "" {
		s.Name = workflows.ScannerJobID(s.Operation, s.ConfigID, time.Now(), 0)
	}
	if err := validateRender(s, operations); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	out, err := renderWorkflowYAML(argo.BuildWorkflow(s, cfg))
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// validateRender checks the flags against the rules the API applies to the
// same ids, so that a rendered workflow is one the service could submit.
func validateRender(s workflows.Submission, operations string) error {
	var problems []string
	if _, ok := workflows.Steps[s.Operation]; !ok {
		problems = append(problems, fmt.Sprintf("--operation %q is invalid: use one of %s", s.Operation, operations))
	}
	if !store.ValidOrgID(s.OrgID) {
		problems = append(problems, fmt.Sprintf("--org %q is invalid: use 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-'", s.OrgID))
	}
	if !store.ValidConfigID(s.ConfigID) {
		problems = append(problems, fmt.Sprintf("--config-id %q is invalid: use 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' or '-'", s.ConfigID))
	}
	if !store.ValidCloudProvider(s.CloudProvider) {
		problems = append(problems, fmt.Sprintf("--cloud-provider %q is invalid: use one of %s", s.CloudProvider, strings.Join(store.CloudProviders, ", ")))
	}
	if !store.ValidRegion(s.Region) {
		problems = append(problems, fmt.Sprintf("--region %q is invalid: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'", s.Region))
	}
	if !store.ValidCloudOrganizationID(s.CloudOrganizationID) {
		problems = append(problems, fmt.Sprintf("--cloud-organization-id %q is invalid: use 1 to 255 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'", s.CloudOrganizationID))
	}
	if s.ParentID != "" && !parentIDPattern.MatchString(s.ParentID) {
		problems = append(problems, fmt.Sprintf("--parent-id %q is invalid: use 1 to 255 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'", s.ParentID))
	}
	if s.Name != "" && workflows.SafeName(s.Name, workflows.MaxNameLength) != s.Name {
		problems = append(problems, fmt.Sprintf("--job-id %q is invalid: use at most %d characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
			s.Name, workflows.MaxNameLength))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// renderWorkflowYAML marshals wf as a manifest for kubectl: apiVersion,
// kind, metadata and spec, without the empty status and the null
// creationTimestamp that marshalling the Go type would add.
func renderWorkflowYAML(wf any) ([]byte, error) {
	raw, err := json.Marshal(wf)
	if err != nil {
		return nil, fmt.Errorf("encoding the workflow: %w", err)
	}
	var manifest map[string]any
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return nil, fmt.Errorf("encoding the workflow: %w", err)
	}
	delete(manifest, "status")
	if meta, ok := manifest["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	out, err := yaml.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("encoding the workflow as YAML: %w", err)
	}
	return out, nil
}

// leafOperations lists the operations that have a WorkflowTemplate, sorted.
func leafOperations() []string {
	var ops []string
	for op := range workflows.Steps {
		ops = append(ops, string(op))
	}
	slices.Sort(ops)
	return ops
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
