package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/store"
)

// schemaVersions is the number of migrations the store ships.
const schemaVersions = 2

func TestMigrate(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()

			t.Run("second run is a no-op", func(t *testing.T) {
				t.Parallel()
				s := openStore(t, b.newURL(t))
				first, err := s.AppliedMigrations(t.Context())
				if err != nil {
					t.Fatalf("AppliedMigrations: %v", err)
				}
				if len(first) != schemaVersions || first[1].IsZero() || first[schemaVersions].IsZero() {
					t.Fatalf("applied migrations = %v, want versions 1 to %d with times", first, schemaVersions)
				}

				if err := s.Migrate(t.Context()); err != nil {
					t.Fatalf("second Migrate: %v", err)
				}
				second, err := s.AppliedMigrations(t.Context())
				if err != nil {
					t.Fatalf("AppliedMigrations: %v", err)
				}
				if len(second) != schemaVersions || !second[1].Equal(first[1]) || !second[schemaVersions].Equal(first[schemaVersions]) {
					t.Errorf("after a second run applied = %v, want %v unchanged", second, first)
				}
				seedTestData(t, s)
			})

			t.Run("concurrent runs succeed", func(t *testing.T) {
				t.Parallel()
				url := b.newURL(t)
				const processes = 4
				stores := make([]*store.Store, processes)
				for i := range stores {
					stores[i] = openUnmigrated(t, url)
				}

				errs := make([]error, processes)
				runConcurrently(processes, func(i int) {
					errs[i] = stores[i].Migrate(t.Context())
				})
				for i, err := range errs {
					if err != nil {
						t.Errorf("Migrate of store %d: %v", i, err)
					}
				}
				applied, err := stores[0].AppliedMigrations(t.Context())
				if err != nil {
					t.Fatalf("AppliedMigrations: %v", err)
				}
				if len(applied) != schemaVersions {
					t.Errorf("applied migrations = %v, want exactly versions 1 to %d", applied, schemaVersions)
				}
			})
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()

	t.Run("creates the parent directory", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "nested", "deeper", "store.db")
		s := openStore(t, file)
		if got := s.Dialect(); got != store.DialectSQLite {
			t.Errorf("Dialect() = %q, want %q", got, store.DialectSQLite)
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("database file: %v", err)
		}
	})

	t.Run("accepts sqlite and file URLs", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, url := range []string{
			"sqlite://" + filepath.Join(dir, "a.db"),
			"file:" + filepath.Join(dir, "b.db"),
			"file:" + filepath.Join(dir, "c.db") + "?cache=private",
			"file://" + filepath.Join(dir, "d.db"),
			":memory:",
		} {
			s := openStore(t, url)
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping on %q: %v", url, err)
			}
			seedTestData(t, s)
		}
		for _, name := range []string{"a.db", "b.db", "c.db", "d.db"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("database file %s: %v", name, err)
			}
		}
	})

	t.Run("rejects bad URLs", func(t *testing.T) {
		t.Parallel()
		for _, url := range []string{"", "sqlite://", "file:", "file://example.com/x.db", "data/x.db?mode=ro"} {
			if _, err := store.Open(t.Context(), url, store.Options{}); err == nil {
				t.Errorf("Open(%q) succeeded, want an error", url)
			}
		}
	})
}

func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback refuses connections.
	_, err := store.Open(ctx, "postgres://user:hunter2@127.0.0.1:1/db?sslmode=disable", store.Options{})
	if err == nil {
		t.Fatal("Open succeeded against a closed port, want an error")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q contains the password", err)
	}
}

func TestSQLiteConcurrentWritersNeverBusy(t *testing.T) {
	t.Parallel()
	s := openStore(t, newSQLiteURL(t))
	seedTestData(t, s)

	// Writers and readers mixed on the one connection: none may fail with
	// "database is locked".
	const workers = 40
	var mu sync.Mutex
	var failures []error
	runConcurrently(workers, func(i int) {
		var err error
		switch i % 3 {
		case 0:
			_, _, err = s.SetWorkersPaused(t.Context(), orgA, configEast, i%2 == 0)
		case 1:
			err = s.CreateJob(t.Context(), store.Job{ID: jobID("busy", i), Operation: store.OperationRemove, OrgID: orgA})
		default:
			_, err = s.ListScanners(t.Context(), orgA, store.ScannerFilter{})
		}
		if err != nil {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		}
	})
	for _, err := range failures {
		t.Errorf("concurrent call failed: %v", err)
	}
}
