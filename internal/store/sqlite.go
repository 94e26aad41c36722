package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/secopsd/secopsd/internal/incident"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteParams configure every connection: wait up to 10 s for a lock,
// write-ahead logging, enforced foreign keys, durable commits, and BEGIN
// IMMEDIATE for every transaction so that a read-then-write transaction
// holds the write lock from its start (SQLite's equivalent of SELECT … FOR
// UPDATE). Reads therefore run outside transactions.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"

// sqliteDefaultMaxConns bounds the SQLite pool when Options.MaxConns is 0:
// writers are serialized by the database anyway, and queueing them in the
// pool is fairer than in SQLite's busy handler.
const sqliteDefaultMaxConns = 4

// SQLite is the embedded store: one database file in WAL mode, accessed
// through database/sql and modernc.org/sqlite (pure Go).
type SQLite struct {
	sqlStore
	db     *sql.DB
	path   string
	logger *slog.Logger
}

var _ Store = (*SQLite)(nil)

// openSQLite opens (creating it and its directory if need be) the database
// file at path.
func openSQLite(ctx context.Context, path string, opts Options) (Store, error) {
	switch {
	case path == "":
		return nil, fmt.Errorf("open store: sqlite URL has no path (want sqlite://./relative.db or sqlite:///absolute.db): %w", ErrInvalid)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("open store: sqlite path %q: in-memory and file: URI databases are not supported: %w", path, ErrInvalid)
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("open store: sqlite path %q: query parameters are not supported: %w", path, ErrInvalid)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open store: create directory of sqlite database %q: %w", path, err)
	}
	db, err := sql.Open("sqlite", path+"?"+sqliteParams)
	if err != nil {
		return nil, fmt.Errorf("open store: sqlite database %q: %w", path, err)
	}
	maxConns := opts.MaxConns
	if maxConns == 0 {
		maxConns = sqliteDefaultMaxConns
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	// The first connection switches a new file to WAL, which needs an
	// exclusive lock that busy_timeout does not wait for: serialise it with
	// other processes opening the same file.
	unlock, err := lockFile(ctx, path+".migrate.lock")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store: sqlite database %q: %w", path, err), db.Close())
	}
	err = db.PingContext(ctx)
	unlock()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store: sqlite database %q: %w", path, err), db.Close())
	}
	s := &SQLite{db: db, path: path, logger: opts.Logger.With("store", BackendSQLite)}
	s.sqlStore = sqlStore{b: s, now: opts.Now}
	return s, nil
}

// DB returns the underlying database handle, for tests and maintenance
// tools that need raw SQL. Transactions begun on it are BEGIN IMMEDIATE.
func (s *SQLite) DB() *sql.DB { return s.db }

// Path returns the database file's path.
func (s *SQLite) Path() string { return s.path }

// Backend returns "sqlite".
func (s *SQLite) Backend() string { return BackendSQLite }

// Ping checks that the database file can be used.
func (s *SQLite) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite database %q: %w", s.path, err)
	}
	return nil
}

// Migrate applies the pending migrations of migrations/sqlite.
func (s *SQLite) Migrate(ctx context.Context) (int, error) {
	unlock, err := lockFile(ctx, s.path+".migrate.lock")
	if err != nil {
		return 0, fmt.Errorf("migrate sqlite database %q: %w", s.path, err)
	}
	defer unlock()
	n, err := migrate(ctx, s.db, goose.DialectSQLite3, "migrations/sqlite", s.logger)
	if err != nil {
		return n, fmt.Errorf("migrate sqlite database %q: %w", s.path, err)
	}
	return n, nil
}

// Close closes the database.
func (s *SQLite) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite database %q: %w", s.path, err)
	}
	return nil
}

func (s *SQLite) pool() querier { return sqlQuerier{s.db} }

func (s *SQLite) inTx(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(sqlQuerier{tx}); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			s.logger.Warn("rollback failed", "err", rbErr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

func (s *SQLite) isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// timeArg stores times as unix microseconds (UTC, incident.TimePrecision).
func (s *SQLite) timeArg(t time.Time) any { return incident.NormalizeTime(t).UnixMicro() }

// lockSuffix is empty: BEGIN IMMEDIATE already holds the write lock.
func (s *SQLite) lockSuffix() string { return "" }

// sqlDB is what *sql.DB and *sql.Tx have in common.
type sqlDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlQuerier adapts database/sql to querier.
type sqlQuerier struct{ db sqlDB }

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) error {
	_, err := q.db.ExecContext(ctx, query, args...)
	return err
}

func (q sqlQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.db.QueryRowContext(ctx, query, args...)
}

// sqlRows adapts *sql.Rows to rows.
type sqlRows struct{ rs *sql.Rows }

func (r sqlRows) Next() bool             { return r.rs.Next() }
func (r sqlRows) Scan(dest ...any) error { return r.rs.Scan(dest...) }
func (r sqlRows) Err() error             { return r.rs.Err() }

// Close releases the result set. Its error is dropped: by then the rows
// were all read, or reading them already failed and Err reported it.
func (r sqlRows) Close() { _ = r.rs.Close() }
