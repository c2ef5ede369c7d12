package store_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/scanner-ops/onboarding-service/store"
)

const sampleFixture = `{"organizations": [{"orgId": "org_abc123", "cloudOrganizations": [
  {"cloudOrganizationId": "o-abc123xyz", "cloudProvider": "aws", "enabledRegions": ["us-east-1", "eu-west-1"],
   "credentialsRef": "optional string",
   "scanners": [
     {"configId": "cfg-scanner-001", "region": "us-east-1", "workersPaused": false},
     {"configId": "cfg-scanner-002", "region": "eu-west-1",
      "simulate": {"failAtStep": "awaiting-stack-deleted", "failures": 2}}]}]}]}`

func TestDecodeFixture(t *testing.T) {
	t.Parallel()

	t.Run("reads the documented format", func(t *testing.T) {
		t.Parallel()
		got, err := store.DecodeFixture(strings.NewReader(sampleFixture))
		if err != nil {
			t.Fatalf("DecodeFixture: %v", err)
		}
		want := store.Fixture{Organizations: []store.FixtureOrganization{{
			OrgID: "org_abc123",
			CloudOrganizations: []store.FixtureCloudOrganization{{
				CloudOrganizationID: "o-abc123xyz",
				CloudProvider:       "aws",
				EnabledRegions:      []string{"us-east-1", "eu-west-1"},
				CredentialsRef:      "optional string",
				Scanners: []store.FixtureScanner{
					{ConfigID: "cfg-scanner-001", Region: "us-east-1"},
					{ConfigID: "cfg-scanner-002", Region: "eu-west-1",
						Simulate: &store.Simulation{FailAtStep: "awaiting-stack-deleted", Failures: 2}},
				},
			}},
		}}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeFixture =\n %+v\nwant\n %+v", got, want)
		}
	})

	t.Run("rejects unknown fields by name", func(t *testing.T) {
		t.Parallel()
		input := strings.Replace(sampleFixture, `"workersPaused": false`, `"workersPausd": false`, 1)
		_, err := store.DecodeFixture(strings.NewReader(input))
		if err == nil || !strings.Contains(err.Error(), `"workersPausd"`) {
			t.Errorf("DecodeFixture with a misspelt field: err = %v, want one naming workersPausd", err)
		}
	})

	t.Run("rejects trailing data and bad JSON", func(t *testing.T) {
		t.Parallel()
		for _, input := range []string{sampleFixture + ` {}`, `{"organizations": [`, `[]`, ``} {
			if _, err := store.DecodeFixture(strings.NewReader(input)); err == nil {
				t.Errorf("DecodeFixture(%.40q) succeeded, want an error", input)
			}
		}
	})
}

func TestFixtureValidation(t *testing.T) {
	t.Parallel()
	// Each case edits one value of a valid fixture; the error must name its
	// JSON path.
	const (
		scanner0 = "organizations[0].cloudOrganizations[0].scanners[0]"
		cloud0   = "organizations[0].cloudOrganizations[0]"
	)
	tests := []struct {
		name     string
		edit     func(f *store.Fixture)
		wantPath string
	}{
		{"empty orgId", func(f *store.Fixture) { f.Organizations[0].OrgID = "" },
			"organizations[0].orgId"},
		{"orgId with a space", func(f *store.Fixture) { f.Organizations[0].OrgID = "org abc" },
			"organizations[0].orgId"},
		{"orgId of 129 characters", func(f *store.Fixture) { f.Organizations[0].OrgID = strings.Repeat("o", 129) },
			"organizations[0].orgId"},
		{"repeated orgId", func(f *store.Fixture) { f.Organizations[1].OrgID = f.Organizations[0].OrgID },
			"organizations[1].orgId"},
		{"cloudOrganizationId with a slash", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].CloudOrganizationID = "o/abc"
		}, cloud0 + ".cloudOrganizationId"},
		{"cloudOrganizationId of 256 characters", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].CloudOrganizationID = strings.Repeat("c", 256)
		}, cloud0 + ".cloudOrganizationId"},
		{"repeated cloudOrganizationId", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[1].CloudOrganizationID = cloudOrg1
		}, "organizations[0].cloudOrganizations[1].cloudOrganizationId"},
		{"unknown cloudProvider", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[1].CloudProvider = "AWS"
		}, "organizations[0].cloudOrganizations[1].cloudProvider"},
		{"bad enabled region", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].EnabledRegions[2] = "ap south"
		}, cloud0 + ".enabledRegions[2]"},
		{"repeated enabled region", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].EnabledRegions[2] = "us-east-1"
		}, cloud0 + ".enabledRegions[2]"},
		{"configId with a slash", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].Scanners[0].ConfigID = "cfg/1"
		}, scanner0 + ".configId"},
		{"configId repeated across cloud organisations", func(f *store.Fixture) {
			f.Organizations[1].CloudOrganizations[1].Scanners[0].ConfigID = configEast
		}, "organizations[1].cloudOrganizations[1].scanners[0].configId"},
		{"empty region", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].Scanners[1].Region = ""
		}, "organizations[0].cloudOrganizations[0].scanners[1].region"},
		{"region of 65 characters", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].Scanners[0].Region = strings.Repeat("r", 65)
		}, scanner0 + ".region"},
		{"negative failures", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].Scanners[1].Simulate.Failures = -1
		}, "organizations[0].cloudOrganizations[0].scanners[1].simulate.failures"},
		{"empty failAtStep", func(f *store.Fixture) {
			f.Organizations[0].CloudOrganizations[0].Scanners[1].Simulate.FailAtStep = ""
		}, "organizations[0].cloudOrganizations[0].scanners[1].simulate.failAtStep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fixture := testFixture()
			tt.edit(&fixture)
			err := fixture.Validate()
			var fixtureErr *store.FixtureError
			if !errors.As(err, &fixtureErr) {
				t.Fatalf("Validate: err = %v, want a *FixtureError", err)
			}
			if fixtureErr.Path != tt.wantPath {
				t.Errorf("error path = %q, want %q (error: %v)", fixtureErr.Path, tt.wantPath, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPath+": ") {
				t.Errorf("error %q does not start with the path", err)
			}
		})
	}

	t.Run("accepts the test fixture", func(t *testing.T) {
		t.Parallel()
		if err := testFixture().Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})

	t.Run("reports every problem", func(t *testing.T) {
		t.Parallel()
		fixture := testFixture()
		fixture.Organizations[0].OrgID = ""
		fixture.Organizations[1].CloudOrganizations[0].CloudProvider = "ibm"
		err := fixture.Validate()
		for _, path := range []string{"organizations[0].orgId", "organizations[1].cloudOrganizations[0].cloudProvider"} {
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("Validate error %v does not name %s", err, path)
			}
		}
	})

	t.Run("DecodeFixture names the path", func(t *testing.T) {
		t.Parallel()
		input := strings.Replace(sampleFixture, `"cfg-scanner-002"`, `"cfg-scanner-001"`, 1)
		_, err := store.DecodeFixture(strings.NewReader(input))
		want := "organizations[0].cloudOrganizations[0].scanners[1].configId"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeFixture with a repeated configId: err = %v, want one naming %s", err, want)
		}
	})
}

func TestValidators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		valid func(string) bool
		good  []string
		bad   []string
	}{
		{"ValidOrgID", store.ValidOrgID, []string{"org_abc123", "a", "A.b-c_d", strings.Repeat("x", 128)},
			[]string{"", "org abc", "org/abc", "org:abc", strings.Repeat("x", 129), "orgé"}},
		{"ValidConfigID", store.ValidConfigID, []string{"cfg-scanner-001", "CFG.1_2", strings.Repeat("c", 128)},
			[]string{"", "cfg 1", "cfg/1", "cfg:1", strings.Repeat("c", 129)}},
		{"ValidCloudOrganizationID", store.ValidCloudOrganizationID,
			[]string{"o-abc123xyz", "tenant:1234", "ocid1.tenancy.oc1..aaaa", strings.Repeat("c", 255)},
			[]string{"", "o abc", "o/abc", strings.Repeat("c", 256)}},
		{"ValidRegion", store.ValidRegion, []string{"us-east-1", "westeurope", "europe-west1", strings.Repeat("r", 64)},
			[]string{"", "us east", "us/east", strings.Repeat("r", 65)}},
		{"ValidCloudProvider", store.ValidCloudProvider, []string{"aws", "azure", "gcp", "oracle"},
			[]string{"", "AWS", "ibm", "aws "}},
	}
	for _, tt := range tests {
		for _, value := range tt.good {
			if !tt.valid(value) {
				t.Errorf("%s(%.20q) = false, want true", tt.name, value)
			}
		}
		for _, value := range tt.bad {
			if tt.valid(value) {
				t.Errorf("%s(%.20q) = true, want false", tt.name, value)
			}
		}
	}
}
