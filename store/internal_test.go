package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSQLiteConnectionSettings checks the pragmas that Open promises, on
// the connection the store itself uses.
func TestSQLiteConnectionSettings(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "store.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	pragmas := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000"}
	for pragma, want := range pragmas {
		var got string
		if err := s.db.Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	if open := s.sqlDB.Stats().MaxOpenConnections; open != 1 {
		t.Errorf("max open connections = %d, want 1", open)
	}

	// A scanner whose cloud organisation does not exist violates the
	// foreign key.
	orphan := scannerRow{OrgID: "org", ConfigID: "cfg", CloudProvider: "aws", CloudOrganizationID: "o-missing",
		Region: "us-east-1", State: string(ScannerInstalled), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	err = s.db.Create(&orphan).Error
	if !isForeignKeyViolation(err) {
		t.Errorf("inserting an orphan scanner: err = %v, want a foreign key violation", err)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw         string
		wantDialect string
		wantFile    string
		wantDSN     string // prefix of the DSN
	}{
		{raw: "postgres://u:p@localhost/db", wantDialect: DialectPostgres, wantDSN: "postgres://u:p@localhost/db"},
		{raw: "postgresql://localhost/db", wantDialect: DialectPostgres, wantDSN: "postgresql://localhost/db"},
		{raw: "data/x.db", wantDialect: DialectSQLite, wantFile: "data/x.db", wantDSN: "data/x.db?"},
		{raw: "sqlite:///abs/x.db", wantDialect: DialectSQLite, wantFile: "/abs/x.db", wantDSN: "/abs/x.db?"},
		{raw: "sqlite://rel/x.db", wantDialect: DialectSQLite, wantFile: "rel/x.db", wantDSN: "rel/x.db?"},
		{raw: "file:rel/x.db?cache=shared", wantDialect: DialectSQLite, wantFile: "rel/x.db", wantDSN: "file:rel/x.db?"},
		{raw: "file:///abs/x.db", wantDialect: DialectSQLite, wantFile: "/abs/x.db", wantDSN: "file:///abs/x.db?"},
		{raw: "file:mem?mode=memory", wantDialect: DialectSQLite, wantFile: "", wantDSN: "file:mem?"},
		{raw: ":memory:", wantDialect: DialectSQLite, wantFile: "", wantDSN: ":memory:?"},
	}
	for _, tt := range tests {
		got, err := parseDatabaseURL(tt.raw)
		if err != nil {
			t.Errorf("parseDatabaseURL(%q): %v", tt.raw, err)
			continue
		}
		if got.dialect != tt.wantDialect {
			t.Errorf("parseDatabaseURL(%q).dialect = %q, want %q", tt.raw, got.dialect, tt.wantDialect)
		}
		if got.file != tt.wantFile {
			t.Errorf("parseDatabaseURL(%q).file = %q, want %q", tt.raw, got.file, tt.wantFile)
		}
		if len(got.dsn) < len(tt.wantDSN) || got.dsn[:len(tt.wantDSN)] != tt.wantDSN {
			t.Errorf("parseDatabaseURL(%q).dsn = %q, want prefix %q", tt.raw, got.dsn, tt.wantDSN)
		}
	}

	redacted, err := parseDatabaseURL("postgres://user:secret@db.internal/app")
	if err != nil {
		t.Fatalf("parseDatabaseURL: %v", err)
	}
	if redacted.display != "postgres://user:xxxxx@db.internal/app" {
		t.Errorf("display = %q, want the password redacted", redacted.display)
	}
}

func TestParseDatabaseURLRejectsOtherSchemes(t *testing.T) {
	for _, raw := range []string{
		"mysql://user:pw@host/db",
		"host=db user=scott password=TopSecretPw123 dbname=x",
	} {
		_, err := parseDatabaseURL(raw)
		if err == nil {
			t.Errorf("parseDatabaseURL(%q) accepted it", raw)
			continue
		}
		if strings.Contains(err.Error(), "TopSecretPw123") || strings.Contains(err.Error(), ":pw@") {
			t.Errorf("parseDatabaseURL(%q) error leaks the password: %v", raw, err)
		}
	}
}

func TestIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("syntax error at or near SELECT"), false},
		{fmt.Errorf("reading scanner o/c: %w", ErrNotFound), false},
		{fmt.Errorf("reading scanner o/c: %w", refused), true},
		{fmt.Errorf("listing jobs: %w", driver.ErrBadConn), true},
		{fmt.Errorf("listing jobs: %w", syscall.ECONNRESET), true},
	}
	for _, c := range cases {
		if got := IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %t, want %t", c.err, got, c.want)
		}
	}
}
