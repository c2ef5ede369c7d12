package store_test

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/scanner-ops/onboarding-service/store"
)

func scannerIDs(scanners []store.Scanner) []string {
	ids := make([]string, 0, len(scanners))
	for _, scanner := range scanners {
		ids = append(ids, scanner.ConfigID)
	}
	return ids
}

func TestGetScanner(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		seedTestData(t, s)

		west, err := s.GetScanner(ctx, orgA, configWest)
		if err != nil {
			t.Fatalf("GetScanner: %v", err)
		}
		if west.OrgID != orgA || west.CloudProvider != "aws" || west.CloudOrganizationID != cloudOrg1 ||
			west.Region != "eu-west-1" || west.WorkersPaused || west.State != store.ScannerInstalled || west.LastError != "" {
			t.Errorf("GetScanner = %+v, want orgA's installed aws scanner in eu-west-1", west)
		}
		if west.Simulate == nil || *west.Simulate != (store.Simulation{FailAtStep: "awaiting-stack-deleted", Failures: 2}) {
			t.Errorf("Simulate = %+v, want awaiting-stack-deleted twice", west.Simulate)
		}
		if west.CreatedAt.IsZero() || west.CreatedAt.Location().String() != "UTC" {
			t.Errorf("CreatedAt = %v, want a UTC time", west.CreatedAt)
		}

		east, err := s.GetScanner(ctx, orgB, configEast)
		if err != nil || !east.WorkersPaused || east.Simulate != nil {
			t.Errorf("orgB's east scanner = (%+v, %v), want paused without simulation", east, err)
		}

		if _, err := s.GetScanner(ctx, "org_unknown", configEast); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetScanner from an org without it: err = %v, want ErrNotFound", err)
		}
	})
}

func TestListScanners(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		seedTestData(t, s)

		tests := []struct {
			name   string
			filter store.ScannerFilter
			want   []string
		}{
			{"all ordered by config id", store.ScannerFilter{}, []string{configAzur, configEast, configWest}},
			{"by provider", store.ScannerFilter{CloudProvider: "aws"}, []string{configEast, configWest}},
			{"by cloud organisation", store.ScannerFilter{CloudOrganizationID: cloudOrg2}, []string{configAzur}},
			{"by region", store.ScannerFilter{Region: "eu-west-1"}, []string{configWest}},
			{"after a cursor", store.ScannerFilter{After: configAzur}, []string{configEast, configWest}},
			{"with a limit", store.ScannerFilter{Limit: 2}, []string{configAzur, configEast}},
			{"cursor and limit", store.ScannerFilter{After: configAzur, Limit: 1}, []string{configEast}},
			{"no match", store.ScannerFilter{CloudProvider: "gcp"}, []string{}},
		}
		for _, tt := range tests {
			got, err := s.ListScanners(ctx, orgA, tt.filter)
			if err != nil {
				t.Errorf("%s: ListScanners: %v", tt.name, err)
				continue
			}
			if ids := scannerIDs(got); !equalIDs(ids, tt.want) {
				t.Errorf("%s: ListScanners ids = %v, want %v", tt.name, ids, tt.want)
			}
			for _, scanner := range got {
				if scanner.OrgID != orgA {
					t.Errorf("%s: listed a scanner of %s", tt.name, scanner.OrgID)
				}
			}
		}
	})
}

func TestSetWorkersPaused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		seedTestData(t, s)

		t.Run("reports whether it changed", func(t *testing.T) {
			scanner, changed, err := s.SetWorkersPaused(ctx, orgA, configWest, true)
			if err != nil || !changed || !scanner.WorkersPaused {
				t.Errorf("pausing = (paused %t, changed %t, %v), want paused and changed", scanner.WorkersPaused, changed, err)
			}
			scanner, changed, err = s.SetWorkersPaused(ctx, orgA, configWest, true)
			if err != nil || changed || !scanner.WorkersPaused {
				t.Errorf("pausing again = (paused %t, changed %t, %v), want paused and unchanged", scanner.WorkersPaused, changed, err)
			}
			other, err := s.GetScanner(ctx, orgB, configWest)
			if err != nil || other.WorkersPaused {
				t.Errorf("orgB's scanner = (paused %t, %v), want untouched", other.WorkersPaused, err)
			}
			if _, _, err := s.SetWorkersPaused(ctx, orgA, "cfg-missing", true); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("SetWorkersPaused of an unknown config: err = %v, want ErrNotFound", err)
			}
		})

		t.Run("one of 50 concurrent calls changes", func(t *testing.T) {
			const callers = 50
			var changes atomic.Int32
			errs := make([]error, callers)
			runConcurrently(callers, func(i int) {
				scanner, changed, err := s.SetWorkersPaused(ctx, orgA, configEast, true)
				errs[i] = err
				if err == nil && !scanner.WorkersPaused {
					t.Errorf("call %d read an unpaused scanner after pausing", i)
				}
				if changed {
					changes.Add(1)
				}
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("SetWorkersPaused %d: %v", i, err)
				}
			}
			if changes.Load() != 1 {
				t.Errorf("%d calls reported a change, want 1", changes.Load())
			}
		})

		t.Run("alternating calls count every flip", func(t *testing.T) {
			// Starting unpaused, the number of changes to paused and the
			// number back to unpaused differ by the final state.
			if _, _, err := s.SetWorkersPaused(ctx, orgA, configAzur, false); err != nil {
				t.Fatalf("SetWorkersPaused: %v", err)
			}
			const callers = 50
			var toPaused, toResumed atomic.Int32
			runConcurrently(callers, func(i int) {
				paused := i%2 == 0
				got, changed, err := s.SetWorkersPaused(ctx, orgA, configAzur, paused)
				if err != nil {
					t.Errorf("SetWorkersPaused %d: %v", i, err)
				}
				if err == nil && got.WorkersPaused != paused {
					t.Errorf("SetWorkersPaused %d(%t) returned workersPaused=%t", i, paused, got.WorkersPaused)
				}
				switch {
				case changed && paused:
					toPaused.Add(1)
				case changed:
					toResumed.Add(1)
				}
			})
			final, err := s.GetScanner(ctx, orgA, configAzur)
			if err != nil {
				t.Fatalf("GetScanner: %v", err)
			}
			want := int32(0)
			if final.WorkersPaused {
				want = 1
			}
			if diff := toPaused.Load() - toResumed.Load(); diff != want {
				t.Errorf("pauses %d - resumes %d = %d, want %d for final paused=%t",
					toPaused.Load(), toResumed.Load(), diff, want, final.WorkersPaused)
			}
		})
	})
}

func TestDisableRegion(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		seedTestData(t, s)

		t.Run("removes the region once", func(t *testing.T) {
			change, err := s.DisableRegion(ctx, orgB, configWest)
			want := store.RegionChange{Region: "eu-west-1", CloudOrganizationID: cloudOrg1, Changed: true}
			if err != nil || change != want {
				t.Fatalf("DisableRegion = (%+v, %v), want %+v", change, err, want)
			}
			org, err := s.GetCloudOrganization(ctx, orgB, cloudOrg1)
			if err != nil || !slices.Equal(org.EnabledRegions, []string{"us-east-1", "ap-south-1"}) {
				t.Errorf("enabled regions = (%v, %v), want [us-east-1 ap-south-1]", org.EnabledRegions, err)
			}

			change, err = s.DisableRegion(ctx, orgB, configWest)
			want.Changed = false
			if err != nil || change != want {
				t.Errorf("second DisableRegion = (%+v, %v), want %+v", change, err, want)
			}

			untouched, err := s.GetCloudOrganization(ctx, orgA, cloudOrg1)
			if err != nil || len(untouched.EnabledRegions) != 3 {
				t.Errorf("orgA's regions = (%v, %v), want all three", untouched.EnabledRegions, err)
			}
			if _, err := s.DisableRegion(ctx, orgB, "cfg-missing"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("DisableRegion of an unknown config: err = %v, want ErrNotFound", err)
			}
		})

		t.Run("concurrent disables both persist", func(t *testing.T) {
			for round := range 5 {
				fixture := testFixture()
				if _, err := s.Seed(ctx, fixture); err != nil {
					t.Fatalf("Seed: %v", err)
				}
				configs := []string{configEast, configWest}
				errs := make([]error, len(configs))
				runConcurrently(len(configs), func(i int) {
					_, errs[i] = s.DisableRegion(ctx, orgA, configs[i])
				})
				for i, err := range errs {
					if err != nil {
						t.Errorf("round %d: DisableRegion(%s): %v", round, configs[i], err)
					}
				}
				org, err := s.GetCloudOrganization(ctx, orgA, cloudOrg1)
				if err != nil || !slices.Equal(org.EnabledRegions, []string{"ap-south-1"}) {
					t.Fatalf("round %d: enabled regions = (%v, %v), want [ap-south-1]", round, org.EnabledRegions, err)
				}
			}
		})
	})
}

func TestScannerStateAndDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		seedTestData(t, s)

		if err := s.SetScannerState(ctx, orgA, configEast, store.ScannerFailed, "stack stuck"); err != nil {
			t.Fatalf("SetScannerState: %v", err)
		}
		scanner, err := s.GetScanner(ctx, orgA, configEast)
		if err != nil || scanner.State != store.ScannerFailed || scanner.LastError != "stack stuck" {
			t.Errorf("scanner = (%s %q, %v), want failed with the error", scanner.State, scanner.LastError, err)
		}
		if scanner.UpdatedAt.Before(scanner.CreatedAt) {
			t.Errorf("UpdatedAt %v is before CreatedAt %v", scanner.UpdatedAt, scanner.CreatedAt)
		}
		other, err := s.GetScanner(ctx, orgB, configEast)
		if err != nil || other.State != store.ScannerInstalled {
			t.Errorf("orgB's scanner = (%s, %v), want untouched", other.State, err)
		}
		if err := s.SetScannerState(ctx, orgA, configEast, "exploded", ""); err == nil {
			t.Error("SetScannerState with an invalid state succeeded, want an error")
		}
		if err := s.SetScannerState(ctx, orgA, "cfg-missing", store.ScannerRemoving, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetScannerState of an unknown config: err = %v, want ErrNotFound", err)
		}

		if err := s.DeleteScanner(ctx, orgA, configEast); err != nil {
			t.Fatalf("DeleteScanner: %v", err)
		}
		if _, err := s.GetScanner(ctx, orgA, configEast); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetScanner after delete: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteScanner(ctx, orgA, configEast); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteScanner: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetScanner(ctx, orgB, configEast); err != nil {
			t.Errorf("orgB's scanner was deleted too: %v", err)
		}
	})
}

func TestCloudOrganizations(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		seedTestData(t, s)

		org, err := s.GetCloudOrganization(ctx, orgA, cloudOrg1)
		if err != nil {
			t.Fatalf("GetCloudOrganization: %v", err)
		}
		if org.CloudProvider != "aws" || org.CredentialsRef != "secret/org_a/aws" ||
			!slices.Equal(org.EnabledRegions, []string{"us-east-1", "eu-west-1", "ap-south-1"}) {
			t.Errorf("GetCloudOrganization = %+v, want the fixture's aws organisation", org)
		}
		if _, err := s.GetCloudOrganization(ctx, orgA, "o-missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCloudOrganization of an unknown id: err = %v, want ErrNotFound", err)
		}

		all, err := s.ListCloudOrganizations(ctx, orgA, "")
		if err != nil || len(all) != 2 || all[0].CloudOrganizationID != cloudOrg1 || all[1].CloudOrganizationID != cloudOrg2 {
			t.Errorf("ListCloudOrganizations = (%+v, %v), want %s then %s", all, err, cloudOrg1, cloudOrg2)
		}
		azure, err := s.ListCloudOrganizations(ctx, orgA, "azure")
		if err != nil || len(azure) != 1 || azure[0].CloudOrganizationID != cloudOrg2 {
			t.Errorf("ListCloudOrganizations(azure) = (%+v, %v), want only %s", azure, err, cloudOrg2)
		}
		none, err := s.ListCloudOrganizations(ctx, "org_unknown", "")
		if err != nil || len(none) != 0 {
			t.Errorf("ListCloudOrganizations of an unknown org = (%+v, %v), want empty", none, err)
		}

		if err := s.DeleteCloudOrganization(ctx, orgA, cloudOrg2); !errors.Is(err, store.ErrConflict) {
			t.Errorf("DeleteCloudOrganization with a scanner: err = %v, want ErrConflict", err)
		}
		if err := s.DeleteScanner(ctx, orgA, configAzur); err != nil {
			t.Fatalf("DeleteScanner: %v", err)
		}
		if err := s.DeleteCloudOrganization(ctx, orgA, cloudOrg2); err != nil {
			t.Fatalf("DeleteCloudOrganization: %v", err)
		}
		if _, err := s.GetCloudOrganization(ctx, orgA, cloudOrg2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCloudOrganization after delete: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteCloudOrganization(ctx, orgA, cloudOrg2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteCloudOrganization: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetCloudOrganization(ctx, orgB, cloudOrg2); err != nil {
			t.Errorf("orgB's cloud organisation was deleted too: %v", err)
		}
	})
}
