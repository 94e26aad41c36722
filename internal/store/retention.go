package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/retention"
)

// Retention of data (internal/retention): purging events in bounded
// chunks, counting what a purge would delete, and the append-only purge
// log. Events are purged by received_at, the store's own clock, never by
// the time an event claims: a client cannot make its events outlive the
// retention (or vanish early) by the times it sends, and an event that
// arrives late still lives the whole period. Incident timelines are never
// purged, and need no event to verify: each entry holds its own copy.

// RetentionLog is the retention side of the store: what a
// retention.Purger needs, and reading the purge log back.
type RetentionLog interface {
	retention.Store
	// ListPurges returns at most limit purge records (DefaultLimit when 0,
	// capped at MaxLimit), newest first.
	ListPurges(ctx context.Context, limit int) ([]retention.Record, error)
}

// PurgeChunkRows is the most events one purge statement deletes. Each
// chunk is its own short transaction, so that purging millions of rows
// never holds a long lock: ingestion and queries interleave between
// chunks.
const PurgeChunkRows = 10_000

// chunkDeleter is the backend-specific half of PurgeEvents.
type chunkDeleter interface {
	// deleteEventsChunk deletes at most limit events received before
	// before, oldest first, in one statement, and reports how many.
	deleteEventsChunk(ctx context.Context, before time.Time, limit int) (int64, error)
}

var (
	_ chunkDeleter = (*SQLite)(nil)
	_ chunkDeleter = (*Postgres)(nil)
	_ RetentionLog = (*SQLite)(nil)
	_ RetentionLog = (*Postgres)(nil)
)

// PurgeEvents deletes the events received before before, PurgeChunkRows
// per statement, and reports how many it deleted. On error (or when ctx
// ends) the chunks deleted so far stay deleted and are counted.
func (s *sqlStore) PurgeEvents(ctx context.Context, before time.Time) (int64, error) {
	return s.purgeEvents(ctx, before, PurgeChunkRows, nil)
}

// purgeEvents deletes the events received before before, chunk rows per
// statement; onChunk (if set) is told how many each statement deleted.
func (s *sqlStore) purgeEvents(ctx context.Context, before time.Time, chunk int, onChunk func(int64)) (int64, error) {
	del, ok := s.b.(chunkDeleter)
	if !ok {
		return 0, fmt.Errorf("purge events: backend %T cannot delete in chunks", s.b)
	}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("purge events received before %s: %d deleted, then: %w", before.UTC().Format(time.RFC3339), total, err)
		}
		n, err := del.deleteEventsChunk(ctx, before, chunk)
		total += n
		if onChunk != nil {
			onChunk(n)
		}
		if err != nil {
			return total, fmt.Errorf("purge events received before %s: %d deleted, then: %w", before.UTC().Format(time.RFC3339), total, err)
		}
		if n < int64(chunk) {
			return total, nil
		}
	}
}

// deleteEventsChunk deletes by rowid: the subquery walks the
// events_received index (received_at, id), which also holds each row's
// rowid.
func (s *SQLite) deleteEventsChunk(ctx context.Context, before time.Time, limit int) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE rowid IN
		(SELECT rowid FROM events WHERE received_at < $1 ORDER BY received_at LIMIT $2)`,
		s.timeArg(before), limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// deleteEventsChunk deletes by ctid, the rows' physical addresses, which
// PostgreSQL fetches with a TID scan; the subquery walks the
// events_received index. Events are never updated, so a ctid does not
// move between the subquery and the delete; a row another replica
// deleted meanwhile is simply not deleted twice.
func (s *Postgres) deleteEventsChunk(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM events WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM events WHERE received_at < $1 ORDER BY received_at LIMIT $2))`,
		s.timeArg(before), limit)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// CountEventsBefore counts the events received before before.
func (s *sqlStore) CountEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	if err := s.b.pool().queryRow(ctx, `SELECT count(*) FROM events WHERE received_at < $1`, s.b.timeArg(before)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events received before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// CountExpiredNonces counts the nonces that expired at or before now.
func (s *sqlStore) CountExpiredNonces(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	if err := s.b.pool().queryRow(ctx, `SELECT count(*) FROM nonces WHERE expires_at <= $1`, s.b.timeArg(now)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count expired nonces: %w", err)
	}
	return n, nil
}

// RecordPurge appends rec (its ID is ignored) to the purge log and
// returns the id assigned.
func (s *sqlStore) RecordPurge(ctx context.Context, rec retention.Record) (int64, error) {
	switch {
	case strings.TrimSpace(rec.DataType) == "":
		return 0, fmt.Errorf("record purge: no data type: %w", ErrInvalid)
	case strings.TrimSpace(rec.Actor) == "":
		return 0, fmt.Errorf("record purge of %s: no actor: %w", rec.DataType, ErrInvalid)
	case rec.Deleted < 0:
		return 0, fmt.Errorf("record purge of %s: negative count %d: %w", rec.DataType, rec.Deleted, ErrInvalid)
	case rec.StartedAt.IsZero() || rec.FinishedAt.Before(rec.StartedAt):
		return 0, fmt.Errorf("record purge of %s: finished %s before it started %s: %w", rec.DataType, rec.FinishedAt, rec.StartedAt, ErrInvalid)
	}
	var id int64
	err := s.b.pool().queryRow(ctx, `INSERT INTO purges (data_type, cutoff, deleted, started_at, finished_at, actor, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		rec.DataType, s.b.timeArg(rec.Cutoff), rec.Deleted, s.b.timeArg(rec.StartedAt), s.b.timeArg(rec.FinishedAt),
		rec.Actor, rec.Error).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record purge of %s: %w", rec.DataType, err)
	}
	return id, nil
}

// ListPurges returns purge records, newest first.
func (s *sqlStore) ListPurges(ctx context.Context, limit int) ([]retention.Record, error) {
	rs, err := s.b.pool().query(ctx, `SELECT id, data_type, cutoff, deleted, started_at, finished_at, actor, error
		FROM purges ORDER BY id DESC LIMIT $1`, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list purges: %w", err)
	}
	defer rs.Close()
	out := []retention.Record{}
	for rs.Next() {
		var (
			r                         retention.Record
			cutoff, started, finished timeCol
		)
		if err := rs.Scan(&r.ID, &r.DataType, &cutoff, &r.Deleted, &started, &finished, &r.Actor, &r.Error); err != nil {
			return nil, fmt.Errorf("list purges: %w", err)
		}
		r.Cutoff, r.StartedAt, r.FinishedAt = cutoff.t, started.t, finished.t
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list purges: %w", err)
	}
	return out, nil
}
