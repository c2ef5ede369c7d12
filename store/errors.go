package store

import (
	"database/sql/driver"
	"errors"
	"net"
	"syscall"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors. Methods wrap them with the ids involved, so test with
// errors.Is.
var (
	// ErrNotFound means the row does not exist or belongs to another
	// organisation.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a row with the same primary or unique key exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the row is in a state that forbids the change, for
	// example a scanner configuration with an active job, or a concurrent
	// change won a race.
	ErrConflict = errors.New("conflict")
)

// PostgreSQL SQLSTATE codes, from the "PostgreSQL Error Codes" appendix of
// the PostgreSQL manual.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// isDuplicateKey reports whether err is a primary or unique key violation.
// GORM's TranslateError covers both drivers, and the driver checks stay as a
// fallback for errors that reach us untranslated (raw Exec, wrapped errors).
func isDuplicateKey(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}

	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation
	}

	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isForeignKeyViolation reports whether err is a foreign key violation.
func isForeignKeyViolation(err error) bool {
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return true
	}

	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgForeignKeyViolation
	}

	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// IsUnavailable reports whether err means the database could not be
// reached (connection refused or reset, a failed connect, a dropped
// connection), as opposed to a query that the database rejected. Callers
// respond to such errors with "retry later" instead of treating them as a
// bug.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return true
	}
	return pgconn.SafeToRetry(err)
}
