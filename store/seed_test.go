package store_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/scanner-ops/onboarding-service/store"
)

func TestSeed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()

		first, err := s.Seed(ctx, testFixture())
		if err != nil {
			t.Fatalf("Seed: %v", err)
		}
		want := store.SeedResult{Organizations: 2, CloudOrganizations: 4, Scanners: 6, Changed: 10}
		if first != want {
			t.Errorf("first Seed = %+v, want %+v", first, want)
		}
		before, err := s.GetScanner(ctx, orgA, configWest)
		if err != nil {
			t.Fatalf("GetScanner: %v", err)
		}

		t.Run("second run changes nothing", func(t *testing.T) {
			second, err := s.Seed(ctx, testFixture())
			if err != nil {
				t.Fatalf("second Seed: %v", err)
			}
			want.Changed = 0
			if second != want {
				t.Errorf("second Seed = %+v, want %+v", second, want)
			}
			after, err := s.GetScanner(ctx, orgA, configWest)
			if err != nil || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Errorf("updated_at moved from %v to %v (err %v)", before.UpdatedAt, after.UpdatedAt, err)
			}
			scanners, err := s.ListScanners(ctx, orgA, store.ScannerFilter{})
			if err != nil || len(scanners) != 3 {
				t.Errorf("ListScanners = (%d scanners, %v), want 3", len(scanners), err)
			}
		})

		t.Run("updates changed values, keeps state", func(t *testing.T) {
			if err := s.SetScannerState(ctx, orgA, configWest, store.ScannerFailed, "stack stuck"); err != nil {
				t.Fatalf("SetScannerState: %v", err)
			}
			if empty, err := s.Seed(ctx, store.Fixture{}); err != nil || empty != (store.SeedResult{}) {
				t.Errorf("Seed of an empty fixture = (%+v, %v), want nothing written", empty, err)
			}

			fixture := store.Fixture{Organizations: []store.FixtureOrganization{{
				OrgID: orgA,
				CloudOrganizations: []store.FixtureCloudOrganization{{
					CloudOrganizationID: cloudOrg1, CloudProvider: "aws",
					EnabledRegions: []string{"us-east-1", "eu-west-1"},
					Scanners: []store.FixtureScanner{
						{ConfigID: configWest, Region: "eu-west-1", WorkersPaused: true},
						{ConfigID: "cfg-new", Region: "us-east-1"},
					},
				}},
			}}}
			result, err := s.Seed(ctx, fixture)
			if err != nil {
				t.Fatalf("Seed: %v", err)
			}
			if result.Changed != 3 {
				t.Errorf("Changed = %d, want 3 (cloud organisation, changed scanner, new scanner)", result.Changed)
			}

			west, err := s.GetScanner(ctx, orgA, configWest)
			if err != nil {
				t.Fatalf("GetScanner: %v", err)
			}
			if !west.WorkersPaused || west.Simulate != nil {
				t.Errorf("west = paused %t simulate %+v, want paused without simulation", west.WorkersPaused, west.Simulate)
			}
			if west.State != store.ScannerFailed || west.LastError != "stack stuck" {
				t.Errorf("west state = %s %q, want the failed state kept", west.State, west.LastError)
			}
			if !west.CreatedAt.Equal(before.CreatedAt) {
				t.Errorf("CreatedAt moved from %v to %v", before.CreatedAt, west.CreatedAt)
			}

			created, err := s.GetScanner(ctx, orgA, "cfg-new")
			if err != nil || created.State != store.ScannerInstalled || created.CloudProvider != "aws" {
				t.Errorf("new scanner = (%+v, %v), want installed aws", created, err)
			}
			if _, err := s.GetScanner(ctx, orgA, configEast); err != nil {
				t.Errorf("scanner absent from the fixture was touched: %v", err)
			}
			org, err := s.GetCloudOrganization(ctx, orgA, cloudOrg1)
			if err != nil || !slices.Equal(org.EnabledRegions, []string{"us-east-1", "eu-west-1"}) || org.CredentialsRef != "" {
				t.Errorf("cloud organisation = (%+v, %v), want two regions and no credentials", org, err)
			}
		})

		t.Run("moves scanner between cloud organisations", func(t *testing.T) {
			fixture := store.Fixture{Organizations: []store.FixtureOrganization{{
				OrgID: orgA,
				CloudOrganizations: []store.FixtureCloudOrganization{{
					CloudOrganizationID: cloudOrg2, CloudProvider: "azure", EnabledRegions: []string{"westeurope"},
					Scanners: []store.FixtureScanner{{ConfigID: "cfg-new", Region: "westeurope"}},
				}},
			}}}
			if _, err := s.Seed(ctx, fixture); err != nil {
				t.Fatalf("Seed: %v", err)
			}
			moved, err := s.GetScanner(ctx, orgA, "cfg-new")
			if err != nil || moved.CloudOrganizationID != cloudOrg2 || moved.CloudProvider != "azure" {
				t.Errorf("moved scanner = (%+v, %v), want in %s on azure", moved, err, cloudOrg2)
			}
		})

		t.Run("invalid fixture writes nothing", func(t *testing.T) {
			fixture := testFixture()
			fixture.Organizations[0].OrgID = "org_c"
			fixture.Organizations[1].CloudOrganizations[0].Scanners[0].Region = "bad region"
			_, err := s.Seed(ctx, fixture)
			var fixtureErr *store.FixtureError
			if !errors.As(err, &fixtureErr) {
				t.Fatalf("Seed: err = %v, want a *FixtureError", err)
			}
			orgs, err := s.ListCloudOrganizations(ctx, "org_c", "")
			if err != nil || len(orgs) != 0 {
				t.Errorf("org_c has %d cloud organisations (err %v), want none", len(orgs), err)
			}
		})
	})
}
