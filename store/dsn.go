package store

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Dialect names returned by (*Store).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// sqliteBusyTimeoutMillis is how long a statement waits for a lock held by
// another process (a second service instance, or the CLI seeding the same
// file) before it fails with SQLITE_BUSY.
const sqliteBusyTimeoutMillis = 10_000

// sqliteParams are the connection settings the glebarez/go-sqlite driver
// applies on every new connection: WAL so readers do not block the writer,
// the busy timeout above, enforced foreign keys, and BEGIN IMMEDIATE so a
// transaction takes the write lock up front. A deferred transaction that
// reads and then writes can fail with SQLITE_BUSY without waiting when
// another process wrote in between.
var sqliteParams = url.Values{
	"_pragma": {
		fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMillis),
		"journal_mode(WAL)",
		"foreign_keys(1)",
	},
	"_txlock": {"immediate"},
}

// target is a parsed database URL.
type target struct {
	dialect string
	// dsn is the data source name passed to the driver.
	dsn string
	// file is the SQLite database file; empty for PostgreSQL and :memory:.
	file string
	// display names the database in errors, without a password.
	display string
}

// parseDatabaseURL accepts a postgres:// or postgresql:// URL, a sqlite://
// URL, a file: URI, ":memory:" or a plain SQLite file path.
func parseDatabaseURL(raw string) (target, error) {
	if raw == "" {
		return target{}, errors.New("database URL is empty: pass a postgres:// URL or an SQLite file path")
	}

	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		parsed, err := url.Parse(raw)
		if err != nil {
			// url.Error includes the URL, which may hold a password.
			return target{}, errors.New("invalid PostgreSQL URL: cannot parse it as a URL")
		}
		return target{dialect: DialectPostgres, dsn: raw, display: parsed.Redacted()}, nil
	}

	if raw == ":memory:" {
		return target{
			dialect: DialectSQLite,
			dsn:     ":memory:?" + sqliteParams.Encode(),
			display: raw,
		}, nil
	}

	if strings.HasPrefix(raw, "file:") {
		return parseSQLiteFileURI(raw)
	}
	if scheme, _, ok := strings.Cut(raw, "://"); ok && scheme != "sqlite" {
		return target{}, fmt.Errorf("unsupported database URL scheme %q: use postgres://, postgresql://, sqlite:// or a file path",
			shortenScheme(scheme))
	}
	if strings.Contains(raw, "=") && strings.ContainsAny(raw, " \t") {
		// Do not echo it: a key=value connection string may hold a password.
		return target{}, errors.New("the database URL looks like a key=value connection string: use a postgres:// URL")
	}

	path := raw
	if rest, ok := strings.CutPrefix(raw, "sqlite://"); ok {
		// sqlite:///abs/path keeps its leading slash; sqlite://rel/path is
		// relative to the working directory.
		path = rest
	}
	if path == "" {
		return target{}, fmt.Errorf("invalid SQLite URL %q: the file path is empty", raw)
	}
	if strings.Contains(path, "?") {
		return target{}, fmt.Errorf("invalid SQLite path %q: use a file: URI to pass query parameters", raw)
	}
	return target{
		dialect: DialectSQLite,
		dsn:     path + "?" + sqliteParams.Encode(),
		file:    path,
		display: path,
	}, nil
}

// parseSQLiteFileURI keeps the caller's URI parameters and adds ours.
func parseSQLiteFileURI(raw string) (target, error) {
	location, query, _ := strings.Cut(strings.TrimPrefix(raw, "file:"), "?")
	path := location
	if after, ok := strings.CutPrefix(location, "//"); ok {
		// file://host/path: SQLite accepts only an empty host or localhost.
		host, p, _ := strings.Cut(after, "/")
		if host != "" && host != "localhost" {
			return target{}, fmt.Errorf("invalid SQLite URI %q: the host must be empty or localhost", raw)
		}
		path = "/" + p
	}
	if path == "" {
		return target{}, fmt.Errorf("invalid SQLite URI %q: the file path is empty", raw)
	}

	values, err := url.ParseQuery(query)
	if err != nil {
		return target{}, fmt.Errorf("invalid SQLite URI %q: %w", raw, err)
	}
	file := path
	if path == ":memory:" || values.Get("mode") == "memory" {
		file = ""
	}
	for key, list := range sqliteParams {
		values[key] = append(values[key], list...)
	}
	return target{
		dialect: DialectSQLite,
		dsn:     "file:" + location + "?" + values.Encode(),
		file:    file,
		display: raw,
	}, nil
}

// ensureParentDir creates the directory of an SQLite file, so a fresh
// deployment can point at ./data/onboarding.db without a setup step.
func ensureParentDir(file string) error {
	if file == "" {
		return nil
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating database directory %s: %w", dir, err)
	}
	return nil
}

// shortenScheme bounds the scheme quoted in an error; the rest of the URL,
// which may hold a password, is never quoted.
func shortenScheme(scheme string) string {
	if len(scheme) > 16 {
		return scheme[:16] + "..."
	}
	return scheme
}
