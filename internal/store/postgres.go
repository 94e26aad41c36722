package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/secopsd/secopsd/internal/incident"
)

// postgresConnectTimeout bounds each connection attempt unless the URL sets
// connect_timeout.
const postgresConnectTimeout = 10 * time.Second

// pgUniqueViolation is PostgreSQL's SQLSTATE for unique_violation.
const pgUniqueViolation = "23505"

// Postgres is the shared store for one or more replicas: a pgx connection
// pool on a PostgreSQL database. Its tables live in the connection's current
// schema (the first of search_path), as does goose's version table.
type Postgres struct {
	sqlStore
	db       *pgxpool.Pool
	redacted string
	logger   *slog.Logger
}

var _ Store = (*Postgres)(nil)

// openPostgres connects to rawURL and checks that the server answers.
func openPostgres(ctx context.Context, rawURL string, opts Options) (Store, error) {
	redacted := RedactURL(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx redacts passwords in its own parse errors.
		return nil, fmt.Errorf("open store: parse postgres URL %s: %w", redacted, oneLineError{err})
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(min(opts.MaxConns, math.MaxInt32))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = postgresConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: postgres at %s: %w", redacted, oneLineError{err})
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			// The server answered but refused us (role, database, password).
			return nil, fmt.Errorf("open store: cannot connect to postgres at %s: %w", redacted, oneLineError{err})
		}
		return nil, fmt.Errorf("open store: postgres at %s is unreachable: %w", redacted, oneLineError{err})
	}
	s := &Postgres{db: pool, redacted: redacted, logger: opts.Logger.With("store", BackendPostgres)}
	s.sqlStore = sqlStore{b: s, now: opts.Now}
	return s, nil
}

// Pool returns the underlying connection pool, for tests and maintenance
// tools that need raw SQL.
func (s *Postgres) Pool() *pgxpool.Pool { return s.db }

// Backend returns "postgres".
func (s *Postgres) Backend() string { return BackendPostgres }

// Ping checks that the server answers.
func (s *Postgres) Ping(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres at %s: %w", s.redacted, oneLineError{err})
	}
	return nil
}

// Migrate applies the pending migrations of migrations/postgres to the
// current schema. Replicas migrating at once serialize on an advisory lock
// specific to that schema.
func (s *Postgres) Migrate(ctx context.Context) (int, error) {
	var schema string
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&schema); err != nil {
		return 0, fmt.Errorf("migrate postgres at %s: read current schema: %w", s.redacted, err)
	}
	if schema == "" {
		return 0, fmt.Errorf("migrate postgres at %s: no schema of search_path exists", s.redacted)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrationLockID(schema)),
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return 0, fmt.Errorf("migrate postgres at %s: %w", s.redacted, err)
	}
	db := stdlib.OpenDBFromPool(s.db)
	n, err := migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", s.logger.With("schema", schema),
		goose.WithSessionLocker(locker))
	err = errors.Join(err, db.Close())
	if err != nil {
		return n, fmt.Errorf("migrate postgres at %s, schema %q: %w", s.redacted, schema, err)
	}
	return n, nil
}

// migrationLockID derives the advisory lock guarding migrations from the
// schema they apply to, so that separate schemas migrate independently.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("secopsd/store/migrate:" + schema))
	return int64(h.Sum64())
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Postgres) Close() error {
	s.db.Close()
	return nil
}

func (s *Postgres) pool() querier { return pgxQuerier{s.db} }

func (s *Postgres) inTx(ctx context.Context, fn func(q querier) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(pgxQuerier{tx}); err != nil {
		if rbErr := tx.Rollback(ctx); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
			s.logger.Warn("rollback failed", "err", rbErr)
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

func (s *Postgres) isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgUniqueViolation
}

// timeArg passes times as timestamptz, which keeps microseconds.
func (s *Postgres) timeArg(t time.Time) any { return incident.NormalizeTime(t) }

func (s *Postgres) lockSuffix() string { return " FOR UPDATE" }

// pgxDB is what *pgxpool.Pool and pgx.Tx have in common.
type pgxDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgxQuerier adapts pgx to querier.
type pgxQuerier struct{ db pgxDB }

func (q pgxQuerier) exec(ctx context.Context, query string, args ...any) error {
	_, err := q.db.Exec(ctx, query, args...)
	return err
}

func (q pgxQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return q.db.Query(ctx, query, args...)
}

func (q pgxQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return q.db.QueryRow(ctx, query, args...)
}
