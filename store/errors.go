package store

import (
	"errors"

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
