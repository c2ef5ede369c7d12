package store_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/internal/pgtest"
	"github.com/scanner-ops/onboarding-service/store"
)

// postgresURLEnv names the variable that enables the PostgreSQL backend.
const postgresURLEnv = pgtest.URLEnv

// backend creates empty databases of one kind.
type backend struct {
	name string
	// newURL returns the URL of a fresh empty database, removed when the
	// test ends.
	newURL func(t *testing.T) string
}

// backends returns SQLite, and PostgreSQL when postgresURLEnv is set.
func backends() []backend {
	list := []backend{{name: "sqlite", newURL: newSQLiteURL}}
	if base := os.Getenv(postgresURLEnv); base != "" {
		list = append(list, backend{
			name:   "postgres",
			newURL: func(t *testing.T) string { return pgtest.NewSchema(t, base, "store_test_") },
		})
	}
	return list
}

// forEachBackend runs test as a parallel subtest per backend, each on a
// fresh migrated database.
func forEachBackend(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, openStore(t, b.newURL(t)))
		})
	}
}

// openStore opens and migrates the database at url, closed when the test
// ends.
func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	s := openUnmigrated(t, url)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func openUnmigrated(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, store.Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newSQLiteURL returns a file in a temporary directory: a real file, so WAL
// and the busy timeout are exercised as in production.
func newSQLiteURL(t *testing.T) string {
	return filepath.Join(t.TempDir(), "store.db")
}

// The test data: two organisations with the same ids inside, to prove that
// every query is scoped to its organisation.
const (
	orgA       = "org_a"
	orgB       = "org_b"
	cloudOrg1  = "o-cloud1"
	cloudOrg2  = "o-cloud2"
	configEast = "cfg-east"
	configWest = "cfg-west"
	configAzur = "cfg-azure"
)

// testFixture has, in each of orgA and orgB, an AWS cloud organisation with
// a scanner in us-east-1 and one in eu-west-1, and an Azure one with one
// scanner. orgB's east scanner is paused, to tell the rows apart.
func testFixture() store.Fixture {
	organization := func(orgID string, paused bool) store.FixtureOrganization {
		return store.FixtureOrganization{OrgID: orgID, CloudOrganizations: []store.FixtureCloudOrganization{
			{
				CloudOrganizationID: cloudOrg1, CloudProvider: "aws",
				EnabledRegions: []string{"us-east-1", "eu-west-1", "ap-south-1"},
				CredentialsRef: "secret/" + orgID + "/aws",
				Scanners: []store.FixtureScanner{
					{ConfigID: configEast, Region: "us-east-1", WorkersPaused: paused},
					{ConfigID: configWest, Region: "eu-west-1",
						Simulate: &store.Simulation{FailAtStep: "awaiting-stack-deleted", Failures: 2}},
				},
			},
			{
				CloudOrganizationID: cloudOrg2, CloudProvider: "azure",
				EnabledRegions: []string{"westeurope"},
				Scanners:       []store.FixtureScanner{{ConfigID: configAzur, Region: "westeurope"}},
			},
		}}
	}
	return store.Fixture{Organizations: []store.FixtureOrganization{
		organization(orgA, false),
		organization(orgB, true),
	}}
}

// seedTestData seeds testFixture.
func seedTestData(t *testing.T, s *store.Store) {
	t.Helper()
	if _, err := s.Seed(t.Context(), testFixture()); err != nil {
		t.Fatalf("Seed: %v", err)
	}
}

// runConcurrently starts n goroutines that call fn(i) at the same moment and
// waits for all of them.
func runConcurrently(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// baseTime is a fixed creation time for jobs whose order matters.
var baseTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
