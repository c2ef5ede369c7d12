// Package pgtest gives tests a PostgreSQL schema of their own on a shared
// server, so parallel tests and test binaries never share tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// URLEnv names the variable that points tests at a PostgreSQL server. When
// it is set, an unreachable server fails the tests instead of skipping them.
const URLEnv = "ONBOARDING_TEST_POSTGRES_URL"

// NewSchema creates a schema named prefix plus a random suffix on the server
// of base, and returns base with search_path set to it. The schema is
// dropped when the test ends, after cleanups registered later (such as a
// server using it) have run. An unreachable server fails the test.
func NewSchema(t testing.TB, base, prefix string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", URLEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL from %s is unreachable: %v", URLEnv, err)
	}

	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	schema := prefix + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})

	parsed, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", URLEnv, err)
	}
	query := parsed.Query()
	query.Set("search_path", schema)
	parsed.RawQuery = query.Encode()
	return parsed.String()
}
