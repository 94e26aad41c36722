package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

// The silences created at run time (incident.SilenceStore). They are never
// deleted: expiring one moves its end to the time of expiry, in one
// conditional UPDATE, so that a silence is expired once whoever asks.

var (
	_ incident.SilenceStore = (*SQLite)(nil)
	_ incident.SilenceStore = (*Postgres)(nil)
)

const silenceColumns = `id, monitors, categories, starts_at, ends_at, comment, created_by, created_at,
	expired_at, expired_by`

// CreateSilence stores a silence and returns it with its id. It must pass
// incident.Silence.Validate and name its creator; times are stored at
// incident.TimePrecision.
func (s *sqlStore) CreateSilence(ctx context.Context, sil incident.Silence) (incident.Silence, error) {
	sil.ID, sil.Name, sil.ExpiredAt, sil.ExpiredBy = 0, "", nil, ""
	sil.StartsAt = incident.NormalizeTime(sil.StartsAt)
	sil.EndsAt = incident.NormalizeTime(sil.EndsAt)
	sil.CreatedAt = incident.NormalizeTime(sil.CreatedAt)
	if sil.Monitors == nil {
		sil.Monitors = []string{}
	}
	if sil.Categories == nil {
		sil.Categories = []string{}
	}
	if err := sil.Validate(); err != nil {
		return incident.Silence{}, fmt.Errorf("create silence: %w: %w", ErrInvalid, err)
	}
	if sil.CreatedBy == "" {
		return incident.Silence{}, fmt.Errorf("create silence: no creator: %w", ErrInvalid)
	}
	if sil.CreatedAt.IsZero() {
		return incident.Silence{}, fmt.Errorf("create silence: no creation time: %w", ErrInvalid)
	}
	monitors, err := json.Marshal(sil.Monitors)
	if err != nil {
		return incident.Silence{}, fmt.Errorf("create silence: %w", err)
	}
	categories, err := json.Marshal(sil.Categories)
	if err != nil {
		return incident.Silence{}, fmt.Errorf("create silence: %w", err)
	}
	err = s.b.pool().queryRow(ctx, `INSERT INTO silences (monitors, categories, starts_at, ends_at, comment,
			created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING id`,
		string(monitors), string(categories), s.b.timeArg(sil.StartsAt), s.b.timeArg(sil.EndsAt), sil.Comment,
		sil.CreatedBy, s.b.timeArg(sil.CreatedAt)).Scan(&sil.ID)
	if err != nil {
		return incident.Silence{}, fmt.Errorf("create silence: %w", err)
	}
	return sil, nil
}

// GetSilence returns one silence or an error wrapping
// incident.ErrSilenceNotFound.
func (s *sqlStore) GetSilence(ctx context.Context, id int64) (incident.Silence, error) {
	sil, err := scanSilence(s.b.pool().queryRow(ctx, `SELECT `+silenceColumns+` FROM silences WHERE id = $1`, id))
	if err != nil {
		return incident.Silence{}, fmt.Errorf("get silence %d: %w", id, err)
	}
	return sil, nil
}

// ListSilences returns the silences that match f, newest (highest id)
// first, at most f.Limit (DefaultLimit when 0, capped at MaxLimit).
func (s *sqlStore) ListSilences(ctx context.Context, f incident.SilenceFilter) ([]incident.Silence, error) {
	var w where
	if !f.EndsAfter.IsZero() {
		w.add("ends_at > $%d", s.b.timeArg(f.EndsAfter))
	}
	query := `SELECT ` + silenceColumns + ` FROM silences` + w.sql() + ` ORDER BY id DESC` + w.limit(f.Limit)
	out, err := queryAll(ctx, s.b.pool(), scanSilence, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	return out, nil
}

// ExpireSilence ends a silence at at, recording actor: its end moves to
// at (and so does its start, if it had not started). A silence that had
// ended fails with incident.ErrSilenceEnded, an unknown id with
// incident.ErrSilenceNotFound.
func (s *sqlStore) ExpireSilence(ctx context.Context, id int64, actor string, at time.Time) (incident.Silence, error) {
	if actor == "" {
		return incident.Silence{}, fmt.Errorf("expire silence %d: no actor: %w", id, ErrInvalid)
	}
	t := s.b.timeArg(incident.NormalizeTime(at))
	sil, err := scanSilence(s.b.pool().queryRow(ctx, `UPDATE silences
		SET ends_at = $2,
			starts_at = CASE WHEN starts_at > $2 THEN $2 ELSE starts_at END,
			expired_at = $2,
			expired_by = $3
		WHERE id = $1 AND ends_at > $2
		RETURNING `+silenceColumns, id, t, actor))
	if errors.Is(err, incident.ErrSilenceNotFound) {
		if _, gerr := s.GetSilence(ctx, id); gerr != nil {
			return incident.Silence{}, fmt.Errorf("expire: %w", gerr)
		}
		return incident.Silence{}, fmt.Errorf("expire silence %d: %w", id, incident.ErrSilenceEnded)
	}
	if err != nil {
		return incident.Silence{}, fmt.Errorf("expire silence %d: %w", id, err)
	}
	return sil, nil
}

// scanSilence scans one row of silenceColumns; no row is
// incident.ErrSilenceNotFound.
func scanSilence(r row) (incident.Silence, error) {
	var (
		sil                          incident.Silence
		monitors, categories         string
		starts, ends, created, until timeCol
	)
	err := r.Scan(&sil.ID, &monitors, &categories, &starts, &ends, &sil.Comment, &sil.CreatedBy, &created,
		&until, &sil.ExpiredBy)
	if errors.Is(err, sql.ErrNoRows) {
		return incident.Silence{}, incident.ErrSilenceNotFound
	}
	if err != nil {
		return incident.Silence{}, fmt.Errorf("read silence: %w", err)
	}
	if err := json.Unmarshal([]byte(monitors), &sil.Monitors); err != nil {
		return incident.Silence{}, fmt.Errorf("read monitors of silence %d: %w", sil.ID, err)
	}
	if err := json.Unmarshal([]byte(categories), &sil.Categories); err != nil {
		return incident.Silence{}, fmt.Errorf("read categories of silence %d: %w", sil.ID, err)
	}
	sil.StartsAt, sil.EndsAt, sil.CreatedAt = starts.t, ends.t, created.t
	sil.ExpiredAt = until.ptr()
	return sil, nil
}
