// Package store persists scanner configurations, cloud organisations, jobs,
// parent operations and pending actions with GORM, on SQLite (the embedded
// default, through the pure-Go glebarez/sqlite driver) or PostgreSQL. The same
// queries run on both; GORM models stay inside the package and methods take
// and return the domain types of types.go.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Pool defaults for PostgreSQL, used where Options leaves a field zero.
const (
	DefaultMaxOpenConns    = 10
	DefaultMaxIdleConns    = 5
	DefaultConnMaxLifetime = 30 * time.Minute
)

// Options configures Open. Zero values take the defaults above.
type Options struct {
	// MaxOpenConns caps the PostgreSQL pool; 0 means DefaultMaxOpenConns.
	// SQLite always uses exactly one connection (see Open).
	MaxOpenConns int
	// MaxIdleConns is how many idle PostgreSQL connections are kept; 0 means
	// DefaultMaxIdleConns, capped at MaxOpenConns.
	MaxIdleConns int
	// ConnMaxLifetime closes PostgreSQL connections older than this; 0 means
	// DefaultConnMaxLifetime and a negative value keeps them forever.
	ConnMaxLifetime time.Duration
	// Logger receives GORM's SQL logs; nil discards them.
	Logger logger.Interface
}

// Store is the database of the service. It is safe for concurrent use.
type Store struct {
	queries
	sqlDB *sql.DB
}

// Tx is a transaction handed to the callbacks of FinishJob and Transaction.
// It offers the same query methods as Store, implemented once on the shared
// queries type. A Tx must not be used after its callback returns, and the
// callback must not call the Store: on SQLite the transaction holds the only
// connection, so a Store call would wait for it forever.
type Tx struct {
	queries
}

// queries holds every query method shared by Store and Tx. db is either the
// pooled handle or a transaction.
type queries struct {
	db      *gorm.DB
	dialect string
}

// Open connects to url and checks the connection. url is a postgres:// or
// postgresql:// URL, an SQLite file path, a sqlite:// URL, a file: URI, or
// ":memory:" (tests only). Open does not migrate: call Migrate.
//
// SQLite runs with WAL, a 10 s busy timeout and foreign keys on, and with
// exactly one open connection. The pool then serialises the concurrent
// requests of this process, so two of its writers never meet inside SQLite
// and never surface "database is locked" (SQLITE_BUSY). The same serialising
// gives each transaction a consistent view without row locks. The busy
// timeout covers other processes that use the same file.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	dest, err := parseDatabaseURL(url)
	if err != nil {
		return nil, err
	}

	var dialector gorm.Dialector
	switch dest.dialect {
	case DialectPostgres:
		dialector = postgres.Open(dest.dsn)
	default:
		if err := ensureParentDir(dest.file); err != nil {
			return nil, err
		}
		dialector = sqlite.Open(dest.dsn)
	}

	gormLogger := opts.Logger
	if gormLogger == nil {
		gormLogger = logger.Discard
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:         gormLogger,
		NowFunc:        now,
		TranslateError: true,
		// Single statements need no transaction; multi-step writes open one.
		SkipDefaultTransaction: true,
		// Open pings below with the caller's context instead.
		DisableAutomaticPing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", dest.display, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", dest.display, err)
	}
	configurePool(sqlDB, dest.dialect, opts)

	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connecting to database %s: %w", dest.display, err)
	}
	return &Store{queries: queries{db: db, dialect: dest.dialect}, sqlDB: sqlDB}, nil
}

func configurePool(sqlDB *sql.DB, dialect string, opts Options) {
	if dialect == DialectSQLite {
		// One connection that is never closed: it serialises writers (see
		// Open) and keeps a :memory: database alive.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxLifetime(0)
		sqlDB.SetConnMaxIdleTime(0)
		return
	}

	maxOpen := opts.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenConns
	}
	maxIdle := opts.MaxIdleConns
	if maxIdle <= 0 {
		maxIdle = DefaultMaxIdleConns
	}
	maxIdle = min(maxIdle, maxOpen)
	lifetime := opts.ConnMaxLifetime
	switch {
	case lifetime == 0:
		lifetime = DefaultConnMaxLifetime
	case lifetime < 0:
		lifetime = 0
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxIdle)
	sqlDB.SetConnMaxLifetime(lifetime)
}

// now returns the current time in UTC, truncated to microseconds, which is
// PostgreSQL's timestamp precision, so values read back equal values written
// on both backends. SQLite stores times as text, and UTC text sorts in time
// order.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// dbTime normalises a caller-supplied time like now does.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Dialect returns DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string {
	return s.dialect
}

// Ping checks that the database accepts connections and responds.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging %s database: %w", s.dialect, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	return s.sqlDB.Close()
}

// Transaction runs fn in one transaction, committed when fn returns nil and
// rolled back otherwise.
func (s *Store) Transaction(ctx context.Context, fn func(tx *Tx) error) error {
	return s.atomic(ctx, func(q queries) error {
		return fn(&Tx{queries: q})
	})
}

// atomic runs fn in a transaction. When q already is one, GORM runs fn
// under a SAVEPOINT instead, so a failed statement in fn (a duplicate key
// that the caller handles) rolls back fn alone. On PostgreSQL a failed
// statement would otherwise abort the whole outer transaction.
func (q queries) atomic(ctx context.Context, fn func(q queries) error) error {
	return q.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(queries{db: tx, dialect: q.dialect})
	})
}

// with returns a session bound to ctx.
func (q queries) with(ctx context.Context) *gorm.DB {
	return q.db.WithContext(ctx)
}

// lockConfig serialises check-then-insert sequences on one scanner
// configuration across processes: a PostgreSQL transaction-scoped advisory
// lock, released at commit or rollback. On SQLite the single connection
// already serialises transactions, so it does nothing. It must run inside a
// transaction.
func (q queries) lockConfig(ctx context.Context, orgID, configID string) error {
	if q.dialect != DialectPostgres {
		return nil
	}
	// The two-key form keeps these locks apart from the migration lock,
	// which uses the one-key form: PostgreSQL keeps the two key spaces
	// separate.
	err := q.with(ctx).
		Exec("SELECT pg_advisory_xact_lock(?, hashtext(?))", advisoryClassConfig, orgID+"/"+configID).Error
	if err != nil {
		return fmt.Errorf("locking scanner %s/%s: %w", orgID, configID, err)
	}
	return nil
}

// Advisory lock keys on PostgreSQL. Any fixed values work as long as no
// other application sharing the database uses them.
const (
	// advisoryClassConfig is the first key of per-configuration locks.
	advisoryClassConfig = 0x6f6e62 // "onb"
	// advisoryKeyMigrations is the key of the migration lock.
	advisoryKeyMigrations = 0x6f6e622d6d6967 // "onb-mig"
)
