package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
)

// migrationFiles holds the versioned schema of each backend, applied in
// order by goose: migrations/<backend>/NNNNN_name.sql.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migrate applies the pending migrations under dir to db and returns how
// many ran. The caller keeps ownership of db.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, logger *slog.Logger, extra ...goose.ProviderOption) (int, error) {
	fsys, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		return 0, fmt.Errorf("migrations %s: %w", dir, err)
	}
	opts := append([]goose.ProviderOption{
		goose.WithSlog(logger),
		goose.WithDisableGlobalRegistry(true),
	}, extra...)
	// The provider is not closed: Close would close db, which the store owns.
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return 0, fmt.Errorf("prepare migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		logger.Debug("applied store migration", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return len(results), nil
}
