package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"unicode/utf8"
)

// Fixture is seed data: organisations, their cloud organisations and their
// scanner configurations. Seed writes it; DecodeFixture reads its JSON form.
type Fixture struct {
	Organizations []FixtureOrganization `json:"organizations"`
}

// FixtureOrganization is one customer organisation of a Fixture.
type FixtureOrganization struct {
	OrgID              string                     `json:"orgId"`
	CloudOrganizations []FixtureCloudOrganization `json:"cloudOrganizations"`
}

// FixtureCloudOrganization is one cloud organisation of a Fixture. Its
// scanners inherit CloudProvider.
type FixtureCloudOrganization struct {
	CloudOrganizationID string   `json:"cloudOrganizationId"`
	CloudProvider       string   `json:"cloudProvider"`
	EnabledRegions      []string `json:"enabledRegions"`
	// CredentialsRef is optional; empty means no credentials are recorded.
	CredentialsRef string           `json:"credentialsRef,omitempty"`
	Scanners       []FixtureScanner `json:"scanners"`
}

// FixtureScanner is one scanner configuration of a Fixture.
type FixtureScanner struct {
	ConfigID      string `json:"configId"`
	Region        string `json:"region"`
	WorkersPaused bool   `json:"workersPaused"`
	// Simulate injects failures into the local workflow engine; nil for none.
	Simulate *Simulation `json:"simulate,omitempty"`
}

// FixtureError is an invalid value in a fixture. Path is its JSON path, for
// example organizations[0].cloudOrganizations[1].scanners[2].configId.
type FixtureError struct {
	Path    string
	Message string
}

// Error returns the path and the message, separated by a colon.
func (e *FixtureError) Error() string {
	return e.Path + ": " + e.Message
}

// Limits of the free-form fixture values.
const (
	maxCredentialsRefLength = 1024
	maxStepNameLength       = 128
)

// stepNamePattern matches workflow step names such as
// awaiting-stack-deleted.
var stepNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// DecodeFixture reads a JSON fixture strictly: an unknown field fails with an
// error that names it, and so does data after the top-level object. The
// decoded fixture is then validated, see Fixture.Validate.
func DecodeFixture(r io.Reader) (Fixture, error) {
	decoder := json.NewDecoder(r)
	decoder.DisallowUnknownFields()

	var fixture Fixture
	if err := decoder.Decode(&fixture); err != nil {
		return Fixture{}, fmt.Errorf("decoding fixture: %w", err)
	}
	if _, err := decoder.Token(); !errors.Is(err, io.EOF) {
		return Fixture{}, errors.New("decoding fixture: unexpected data after the top-level JSON object")
	}

	if err := fixture.Validate(); err != nil {
		return Fixture{}, err
	}
	return fixture, nil
}

// Validate checks every value of the fixture and returns all problems
// joined, each a *FixtureError naming the JSON path of the bad value. Ids and
// regions follow the Valid* functions; a cloud provider is one of
// CloudProviders; an orgId, a cloudOrganizationId within one organisation, a
// configId within one organisation and a region within one enabledRegions
// list may each appear only once; simulate needs a step name and
// failures >= 0.
func (f Fixture) Validate() error {
	var problems []error
	report := func(path, format string, args ...any) {
		problems = append(problems, &FixtureError{Path: path, Message: fmt.Sprintf(format, args...)})
	}

	orgPaths := map[string]string{}
	for i, org := range f.Organizations {
		orgPath := fmt.Sprintf("organizations[%d]", i)
		switch first, seen := orgPaths[org.OrgID]; {
		case !ValidOrgID(org.OrgID):
			report(orgPath+".orgId", "invalid orgId %q: use %s", org.OrgID, orgIDRule)
		case seen:
			report(orgPath+".orgId", "orgId %q repeats %s.orgId", org.OrgID, first)
		default:
			orgPaths[org.OrgID] = orgPath
		}

		cloudOrgPaths := map[string]string{}
		configPaths := map[string]string{}
		for j, cloudOrg := range org.CloudOrganizations {
			cloudPath := fmt.Sprintf("%s.cloudOrganizations[%d]", orgPath, j)
			validateCloudOrganization(cloudPath, cloudOrg, cloudOrgPaths, report)

			for k, scanner := range cloudOrg.Scanners {
				scannerPath := fmt.Sprintf("%s.scanners[%d]", cloudPath, k)
				validateScanner(scannerPath, scanner, configPaths, report)
			}
		}
	}
	return errors.Join(problems...)
}

func validateCloudOrganization(path string, cloudOrg FixtureCloudOrganization, seenIDs map[string]string,
	report func(path, format string, args ...any)) {
	switch first, seen := seenIDs[cloudOrg.CloudOrganizationID]; {
	case !ValidCloudOrganizationID(cloudOrg.CloudOrganizationID):
		report(path+".cloudOrganizationId", "invalid cloudOrganizationId %q: use %s",
			cloudOrg.CloudOrganizationID, cloudOrganizationIDRule)
	case seen:
		report(path+".cloudOrganizationId", "cloudOrganizationId %q repeats %s.cloudOrganizationId",
			cloudOrg.CloudOrganizationID, first)
	default:
		seenIDs[cloudOrg.CloudOrganizationID] = path
	}

	if !ValidCloudProvider(cloudOrg.CloudProvider) {
		report(path+".cloudProvider", "invalid cloudProvider %q: use %s", cloudOrg.CloudProvider, cloudProviderRule)
	}

	regionIndex := map[string]int{}
	for i, region := range cloudOrg.EnabledRegions {
		regionPath := fmt.Sprintf("%s.enabledRegions[%d]", path, i)
		switch first, seen := regionIndex[region]; {
		case !ValidRegion(region):
			report(regionPath, "invalid region %q: use %s", region, regionRule)
		case seen:
			report(regionPath, "region %q repeats enabledRegions[%d]", region, first)
		default:
			regionIndex[region] = i
		}
	}

	if !utf8.ValidString(cloudOrg.CredentialsRef) || len(cloudOrg.CredentialsRef) > maxCredentialsRefLength {
		report(path+".credentialsRef", "invalid credentialsRef: use valid UTF-8 of at most %d bytes",
			maxCredentialsRefLength)
	}
}

func validateScanner(path string, scanner FixtureScanner, seenConfigs map[string]string,
	report func(path, format string, args ...any)) {
	switch first, seen := seenConfigs[scanner.ConfigID]; {
	case !ValidConfigID(scanner.ConfigID):
		report(path+".configId", "invalid configId %q: use %s", scanner.ConfigID, configIDRule)
	case seen:
		report(path+".configId", "configId %q repeats %s.configId in the same organisation",
			scanner.ConfigID, first)
	default:
		seenConfigs[scanner.ConfigID] = path
	}

	if !ValidRegion(scanner.Region) {
		report(path+".region", "invalid region %q: use %s", scanner.Region, regionRule)
	}

	if scanner.Simulate == nil {
		return
	}
	step := scanner.Simulate.FailAtStep
	if len(step) > maxStepNameLength || !stepNamePattern.MatchString(step) {
		report(path+".simulate.failAtStep", "invalid failAtStep %q: use a step name of at most %d characters of a-z, 0-9 and '-'",
			step, maxStepNameLength)
	}
	if scanner.Simulate.Failures < 0 {
		report(path+".simulate.failures", "invalid failures %d: use 0 or more", scanner.Simulate.Failures)
	}
}
