package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/secopsd/secopsd/internal/store"
)

// Exec runs one raw SQL statement on s's database, with the append-only
// guards in place, and returns how many rows it affected. Use $1, $2, …
// placeholders: both backends accept them.
func Exec(ctx context.Context, s store.Store, query string, args ...any) (int64, error) {
	switch db := s.(type) {
	case *store.SQLite:
		res, err := db.DB().ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	case *store.Postgres:
		tag, err := db.Pool().Exec(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return tag.RowsAffected(), nil
	default:
		return 0, fmt.Errorf("storetest: no raw SQL access to a %T", s)
	}
}

// Tamper runs one raw SQL statement on s's database with the timeline's
// append-only triggers disabled, as an attacker with write access to the
// database could, and returns how many rows it affected. The triggers are
// restored in the same transaction. Use $1, $2, … placeholders.
func Tamper(t testing.TB, s store.Store, query string, args ...any) int64 {
	t.Helper()
	n, err := tamper(t.Context(), s, query, args...)
	if err != nil {
		t.Fatalf("tamper with %s store: %v", s.Backend(), err)
	}
	return n
}

// TamperTimelinePayload overwrites the stored payload of one timeline entry
// behind the store's back; incident.VerifyChain must then fail at that
// entry.
func TamperTimelinePayload(t testing.TB, s store.Store, incidentID, seq int64, newPayload string) {
	t.Helper()
	tamperOne(t, s, `UPDATE timeline SET payload = $1 WHERE incident_id = $2 AND seq = $3`, newPayload, incidentID, seq)
}

// TamperTimelineHash overwrites the stored hash of one timeline entry.
func TamperTimelineHash(t testing.TB, s store.Store, incidentID, seq int64, newHash string) {
	t.Helper()
	tamperOne(t, s, `UPDATE timeline SET hash = $1 WHERE incident_id = $2 AND seq = $3`, newHash, incidentID, seq)
}

// DeleteTimelineEntry removes one timeline entry.
func DeleteTimelineEntry(t testing.TB, s store.Store, incidentID, seq int64) {
	t.Helper()
	tamperOne(t, s, `DELETE FROM timeline WHERE incident_id = $1 AND seq = $2`, incidentID, seq)
}

func tamperOne(t testing.TB, s store.Store, query string, args ...any) {
	t.Helper()
	if n := Tamper(t, s, query, args...); n != 1 {
		t.Fatalf("tamper with %s store: %d rows affected, want 1 (no such timeline entry?)", s.Backend(), n)
	}
}

func tamper(ctx context.Context, s store.Store, query string, args ...any) (int64, error) {
	switch db := s.(type) {
	case *store.SQLite:
		return tamperSQLite(ctx, db.DB(), query, args...)
	case *store.Postgres:
		tx, err := db.Pool().Begin(ctx)
		if err != nil {
			return 0, err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `ALTER TABLE timeline DISABLE TRIGGER USER`); err != nil {
			return 0, fmt.Errorf("disable timeline triggers: %w", err)
		}
		tag, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE timeline ENABLE TRIGGER USER`); err != nil {
			return 0, fmt.Errorf("enable timeline triggers: %w", err)
		}
		return tag.RowsAffected(), tx.Commit(ctx)
	default:
		return 0, fmt.Errorf("storetest: no raw SQL access to a %T", s)
	}
}

// tamperSQLite drops the timeline's triggers, runs query and recreates the
// triggers from their stored definitions, all in one transaction.
func tamperSQLite(ctx context.Context, db *sql.DB, query string, args ...any) (int64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'timeline'`)
	if err != nil {
		return 0, err
	}
	type trigger struct{ name, sql string }
	var triggers []trigger
	for rows.Next() {
		var tr trigger
		if err := rows.Scan(&tr.name, &tr.sql); err != nil {
			return 0, errors.Join(err, rows.Close())
		}
		triggers = append(triggers, tr)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	if len(triggers) == 0 {
		return 0, errors.New("timeline has no triggers to disable")
	}
	for _, tr := range triggers {
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER `+quoteIdent(tr.name)); err != nil {
			return 0, fmt.Errorf("drop trigger %s: %w", tr.name, err)
		}
	}
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	for _, tr := range triggers {
		if _, err := tx.ExecContext(ctx, tr.sql); err != nil {
			return 0, fmt.Errorf("recreate trigger %s: %w", tr.name, err)
		}
	}
	return n, tx.Commit()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
