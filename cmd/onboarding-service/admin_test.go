package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/scanner-ops/onboarding-service/store"
)

func TestCheckSimulatedSteps(t *testing.T) {
	fixture := func(step string) store.Fixture {
		return store.Fixture{Organizations: []store.FixtureOrganization{{
			OrgID: "org_a",
			CloudOrganizations: []store.FixtureCloudOrganization{{
				CloudOrganizationID: "o-a", CloudProvider: "aws", EnabledRegions: []string{"us-east-1"},
				Scanners: []store.FixtureScanner{{ConfigID: "cfg-1", Region: "us-east-1",
					Simulate: &store.Simulation{FailAtStep: step, Failures: 1}}},
			}},
		}}}
	}

	for _, step := range []string{"delete-stack", "create-stack", "post-status"} {
		if err := checkSimulatedSteps(fixture(step)); err != nil {
			t.Errorf("step %s rejected: %v", step, err)
		}
	}
	err := checkSimulatedSteps(fixture("nope"))
	if err == nil || !strings.Contains(err.Error(), "scanners[0].simulate.failAtStep") || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown step: err = %v, want it to name the path and the value", err)
	}
}

func TestRunCommandLine(t *testing.T) {
	t.Setenv("ONBOARDING_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	cases := []struct {
		args    []string
		wantErr string
		wantOut string
	}{
		{args: []string{"-h"}, wantOut: "Commands:"},
		{args: []string{"help"}, wantOut: "workflow render"},
		{args: []string{"version"}, wantOut: version},
		{args: []string{"version", "extra"}, wantErr: `version takes no arguments, got "extra"`},
		{args: []string{"token"}, wantErr: "--org is required"},
		{args: []string{"token", "--org", "bad id"}, wantErr: `--org "bad id" is invalid`},
		{args: []string{"token", "--org", "org_a", "--ttl", "0s"}, wantErr: "--ttl 0s must be positive"},
		{args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate"`},
		{args: []string{"serve", "--engine", "nomad"}, wantErr: `unknown engine "nomad"`},
		{args: []string{"serve", "--listen", ""}, wantErr: "the listen address is empty"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, &stdout, &stderr)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("run %q: err = %v, want %q", c.args, err, c.wantErr)
		case c.wantErr == "" && err != nil:
			t.Errorf("run %q: %v", c.args, err)
		case c.wantOut != "" && !strings.Contains(stdout.String(), c.wantOut):
			t.Errorf("run %q: output %q lacks %q", c.args, stdout.String(), c.wantOut)
		}
	}
}
