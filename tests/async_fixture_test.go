package tests

import (
	"encoding/json"
	"testing"
)

// seedFixture mirrors the JSON fixture of `onboarding-service seed`, so a
// test can change demoFixture before seeding it.
type seedFixture struct {
	Organizations []seedOrganization `json:"organizations"`
}

type seedOrganization struct {
	OrgID              string                  `json:"orgId"`
	CloudOrganizations []seedCloudOrganization `json:"cloudOrganizations"`
}

type seedCloudOrganization struct {
	CloudOrganizationID string        `json:"cloudOrganizationId"`
	CloudProvider       string        `json:"cloudProvider"`
	EnabledRegions      []string      `json:"enabledRegions"`
	CredentialsRef      string        `json:"credentialsRef,omitempty"`
	Scanners            []seedScanner `json:"scanners"`
}

type seedScanner struct {
	ConfigID      string          `json:"configId"`
	Region        string          `json:"region"`
	WorkersPaused bool            `json:"workersPaused"`
	Simulate      *seedSimulation `json:"simulate,omitempty"`
}

// seedSimulation makes the local engine fail FailAtStep Failures times.
type seedSimulation struct {
	FailAtStep string `json:"failAtStep"`
	Failures   int    `json:"failures"`
}

// demoFixtureWith returns demoFixture after change has edited it.
func demoFixtureWith(t *testing.T, change func(f *seedFixture)) string {
	t.Helper()
	var f seedFixture
	if err := json.Unmarshal([]byte(demoFixture), &f); err != nil {
		t.Fatalf("decoding demoFixture: %v", err)
	}
	change(&f)
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatalf("encoding the fixture: %v", err)
	}
	return string(out)
}

// scanner returns the fixture's scanner configuration configID.
func (f *seedFixture) scanner(t *testing.T, configID string) *seedScanner {
	t.Helper()
	for i := range f.Organizations {
		for j := range f.Organizations[i].CloudOrganizations {
			scanners := f.Organizations[i].CloudOrganizations[j].Scanners
			for k := range scanners {
				if scanners[k].ConfigID == configID {
					return &scanners[k]
				}
			}
		}
	}
	t.Fatalf("the fixture has no scanner %s", configID)
	return nil
}

// organization returns the fixture's organisation orgID.
func (f *seedFixture) organization(t *testing.T, orgID string) *seedOrganization {
	t.Helper()
	for i := range f.Organizations {
		if f.Organizations[i].OrgID == orgID {
			return &f.Organizations[i]
		}
	}
	t.Fatalf("the fixture has no organisation %s", orgID)
	return nil
}
