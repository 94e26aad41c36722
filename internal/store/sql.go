package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// The SQL below is shared by both backends: it uses $N placeholders, which
// SQLite binds by position too, and only syntax both dialects accept
// (RETURNING, ON CONFLICT … DO NOTHING on a partial index). Where they
// differ, the backend interface supplies the difference.

// row is one result row, as returned by QueryRow in both drivers.
type row interface {
	Scan(dest ...any) error
}

// rows is a result set, the common subset of *sql.Rows and pgx.Rows.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// queryAll runs query on q and scans every row with scan, for listings
// that read whole result sets. Errors are returned as they come; callers
// add what they were listing.
func queryAll[T any](ctx context.Context, q querier, scan func(row) (T, error), query string, args ...any) ([]T, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []T{}
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// querier runs statements on a pool or inside a transaction.
type querier interface {
	exec(ctx context.Context, query string, args ...any) error
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

// backend is what a SQL backend supplies to the shared implementation.
type backend interface {
	// pool runs statements outside any transaction.
	pool() querier
	// inTx runs fn in a write transaction, committing when it returns nil
	// and rolling back otherwise; fn's error is returned unchanged.
	inTx(ctx context.Context, fn func(q querier) error) error
	// isUniqueViolation reports whether err is a unique or primary key
	// constraint violation.
	isUniqueViolation(err error) bool
	// timeArg encodes a time as a statement argument.
	timeArg(t time.Time) any
	// lockSuffix is appended to a SELECT to lock the selected row for the
	// rest of the transaction ("" where the transaction already does).
	lockSuffix() string
}

// sqlStore implements incident.Store and the event log on a backend.
type sqlStore struct {
	b   backend
	now func() time.Time
}

const incidentColumns = `id, fingerprint, title, monitor, category, severity, tier, status,
	opened_at, acknowledged_at, resolved_at, failures, recovery_passes, last_seq, head_hash`

const timelineColumns = `incident_id, seq, time, actor, kind, payload, prev_hash, hash`

const eventColumns = `id, time, received_at, source, monitor, kind, outcome, fingerprint,
	title, severity, category, open_incident, attributes, correlation_id`

// createAttempts bounds CreateIncident's retries when the unresolved
// incident it collided with is resolved before it could be read.
const createAttempts = 5

// CreateIncident inserts a new unresolved incident with its first timeline
// entry (sequence 1). An empty status means open. If an unresolved incident
// with the same fingerprint exists, it returns that incident and an error
// wrapping incident.ErrDuplicateOpen.
func (s *sqlStore) CreateIncident(ctx context.Context, inc incident.Incident, first incident.Entry) (incident.Incident, error) {
	if inc.Status == "" {
		inc.Status = incident.StatusOpen
	}
	if inc.OpenedAt.IsZero() {
		inc.OpenedAt = first.Time
	}
	if first.Time.IsZero() {
		first.Time = inc.OpenedAt
	}
	inc.LastSeq, inc.HeadHash = 0, ""
	normalizeIncident(&inc)
	if err := validateNew(inc); err != nil {
		return incident.Incident{}, fmt.Errorf("create incident: %w", err)
	}
	for range createAttempts {
		created, existing, err := s.tryCreate(ctx, inc, first)
		switch {
		case err != nil:
			return incident.Incident{}, fmt.Errorf("create incident for fingerprint %q: %w", inc.Fingerprint, err)
		case existing != nil:
			return *existing, fmt.Errorf("create incident for fingerprint %q: incident %d: %w", inc.Fingerprint, existing.ID, incident.ErrDuplicateOpen)
		case created != nil:
			return *created, nil
		}
		// The conflicting incident was resolved in between: try again.
	}
	return incident.Incident{}, fmt.Errorf("create incident for fingerprint %q: gave up after %d conflicting attempts", inc.Fingerprint, createAttempts)
}

// tryCreate inserts inc in one transaction. It returns the created incident,
// or the unresolved incident it conflicts with, or neither when the conflict
// vanished before it could be read.
func (s *sqlStore) tryCreate(ctx context.Context, inc incident.Incident, first incident.Entry) (created, existing *incident.Incident, err error) {
	err = s.b.inTx(ctx, func(q querier) error {
		created, existing = nil, nil
		var id int64
		err := q.queryRow(ctx, `INSERT INTO incidents (fingerprint, title, monitor, category, severity, tier,
				status, opened_at, acknowledged_at, resolved_at, failures, recovery_passes, last_seq, head_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, '')
			ON CONFLICT (fingerprint) WHERE status <> 'resolved' DO NOTHING
			RETURNING id`,
			inc.Fingerprint, inc.Title, inc.Monitor, inc.Category, inc.Severity.String(), string(inc.Tier),
			string(inc.Status), s.b.timeArg(inc.OpenedAt), s.nullTimeArg(inc.AcknowledgedAt), s.nullTimeArg(inc.ResolvedAt),
			inc.Failures, inc.RecoveryPasses,
		).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			// Conflict: read the winner. Under READ COMMITTED this new
			// statement sees the row the conflicting transaction committed.
			cur, err := scanIncident(q.queryRow(ctx, `SELECT `+incidentColumns+` FROM incidents
				WHERE fingerprint = $1 AND status <> 'resolved'`, inc.Fingerprint))
			if errors.Is(err, incident.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			existing = &cur
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert incident: %w", err)
		}
		inc.ID = id
		if _, err := s.appendEntries(ctx, q, &inc, []incident.Entry{first}); err != nil {
			return err
		}
		if err := q.exec(ctx, `UPDATE incidents SET last_seq = $2, head_hash = $3 WHERE id = $1`,
			inc.ID, inc.LastSeq, inc.HeadHash); err != nil {
			return fmt.Errorf("update incident head: %w", err)
		}
		created = &inc
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return created, existing, nil
}

// OpenIncidentByFingerprint returns the unresolved incident with this
// fingerprint, or an error wrapping incident.ErrNotFound.
func (s *sqlStore) OpenIncidentByFingerprint(ctx context.Context, fingerprint string) (incident.Incident, error) {
	inc, err := scanIncident(s.b.pool().queryRow(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE fingerprint = $1 AND status <> 'resolved'`, fingerprint))
	if err != nil {
		return incident.Incident{}, fmt.Errorf("get unresolved incident for fingerprint %q: %w", fingerprint, err)
	}
	return inc, nil
}

// UnresolvedIncidents returns every unresolved incident raised by monitor,
// oldest first.
func (s *sqlStore) UnresolvedIncidents(ctx context.Context, monitor string) ([]incident.Incident, error) {
	incs, err := s.queryIncidents(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE monitor = $1 AND status <> 'resolved' ORDER BY id`, monitor)
	if err != nil {
		return nil, fmt.Errorf("list unresolved incidents of monitor %q: %w", monitor, err)
	}
	return incs, nil
}

// MutateIncident locks the incident, applies fn to a copy and, unless fn
// fails, writes back its mutable fields (title, category, severity, tier,
// status, acknowledged and resolved times, counters) and appends the entries
// fn returned, chained in order, all in one transaction. An error from fn
// rolls everything back and is returned unchanged. Changes fn makes to the
// id, fingerprint, monitor, opening time or head are ignored.
func (s *sqlStore) MutateIncident(ctx context.Context, id int64, fn incident.MutateFunc) (incident.Incident, []incident.TimelineEntry, error) {
	var (
		out      incident.Incident
		appended []incident.TimelineEntry
		fnErr    error
	)
	err := s.b.inTx(ctx, func(q querier) error {
		cur, err := scanIncident(q.queryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`+s.b.lockSuffix(), id))
		if err != nil {
			return err
		}
		next := cur
		entries, err := fn(&next)
		if err != nil {
			fnErr = err
			return err
		}
		next.ID, next.Fingerprint, next.Monitor, next.OpenedAt = cur.ID, cur.Fingerprint, cur.Monitor, cur.OpenedAt
		next.LastSeq, next.HeadHash = cur.LastSeq, cur.HeadHash
		normalizeIncident(&next)
		if err := validateFields(next); err != nil {
			return err
		}
		appended, err = s.appendEntries(ctx, q, &next, entries)
		if err != nil {
			return err
		}
		err = q.exec(ctx, `UPDATE incidents SET title = $2, category = $3, severity = $4, tier = $5, status = $6,
				acknowledged_at = $7, resolved_at = $8, failures = $9, recovery_passes = $10,
				last_seq = $11, head_hash = $12
			WHERE id = $1`,
			next.ID, next.Title, next.Category, next.Severity.String(), string(next.Tier), string(next.Status),
			s.nullTimeArg(next.AcknowledgedAt), s.nullTimeArg(next.ResolvedAt), next.Failures, next.RecoveryPasses,
			next.LastSeq, next.HeadHash)
		if s.b.isUniqueViolation(err) {
			return fmt.Errorf("reopen: %w", incident.ErrDuplicateOpen)
		}
		if err != nil {
			return fmt.Errorf("update incident: %w", err)
		}
		out = next
		return nil
	})
	if fnErr != nil {
		return incident.Incident{}, nil, fnErr
	}
	if err != nil {
		return incident.Incident{}, nil, fmt.Errorf("mutate incident %d: %w", id, err)
	}
	if appended == nil {
		appended = []incident.TimelineEntry{}
	}
	return out, appended, nil
}

// appendEntries seals entries onto inc's chain, inserts them and advances
// inc.LastSeq and inc.HeadHash; the caller writes the head back to the
// incident row in the same transaction. The previous entry is the head
// recorded on the locked incident row.
func (s *sqlStore) appendEntries(ctx context.Context, q querier, inc *incident.Incident, entries []incident.Entry) ([]incident.TimelineEntry, error) {
	out := make([]incident.TimelineEntry, 0, len(entries))
	var prev *incident.TimelineEntry
	if inc.LastSeq > 0 {
		prev = &incident.TimelineEntry{IncidentID: inc.ID, Seq: inc.LastSeq, Hash: inc.HeadHash}
	}
	for i, e := range entries {
		if e.Time.IsZero() {
			return nil, fmt.Errorf("timeline entry %d (%s) has no time: %w", i, e.Kind, ErrInvalid)
		}
		if e.Kind == "" {
			return nil, fmt.Errorf("timeline entry %d has no kind: %w", i, ErrInvalid)
		}
		payload, err := incident.CanonicalPayload(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("timeline entry %d (%s): %w", i, e.Kind, err)
		}
		next := incident.TimelineEntry{
			IncidentID: inc.ID,
			Time:       e.Time,
			Actor:      e.Actor,
			Kind:       e.Kind,
			Payload:    payload,
		}
		incident.Seal(prev, &next)
		if err := q.exec(ctx, `INSERT INTO timeline (`+timelineColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			next.IncidentID, next.Seq, s.b.timeArg(next.Time), next.Actor, next.Kind, string(next.Payload),
			next.PrevHash, next.Hash); err != nil {
			return nil, fmt.Errorf("append timeline entry %d: %w", next.Seq, err)
		}
		out = append(out, next)
		prev = &out[len(out)-1]
	}
	if prev != nil {
		inc.LastSeq, inc.HeadHash = prev.Seq, prev.Hash
	}
	return out, nil
}

// GetIncident returns one incident or an error wrapping
// incident.ErrNotFound.
func (s *sqlStore) GetIncident(ctx context.Context, id int64) (incident.Incident, error) {
	inc, err := scanIncident(s.b.pool().queryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, id))
	if err != nil {
		return incident.Incident{}, fmt.Errorf("get incident %d: %w", id, err)
	}
	return inc, nil
}

// ListIncidents returns the incidents that match f, newest (highest id)
// first, at most f.Limit of them (DefaultLimit when 0, capped at MaxLimit).
func (s *sqlStore) ListIncidents(ctx context.Context, f incident.Filter) ([]incident.Incident, error) {
	var w where
	if f.Status != "" {
		w.add("status = $%d", string(f.Status))
	}
	if f.Fingerprint != "" {
		w.add("fingerprint = $%d", f.Fingerprint)
	}
	if f.Monitor != "" {
		w.add("monitor = $%d", f.Monitor)
	}
	if len(f.Severities) > 0 {
		// severity IN ($n, $n+1, …), one parameter per severity.
		params := make([]string, len(f.Severities))
		for i, sev := range f.Severities {
			if err := validSeverity(sev); err != nil {
				return nil, fmt.Errorf("list incidents: %w", err)
			}
			w.args = append(w.args, sev.String())
			params[i] = fmt.Sprintf("$%d", len(w.args))
		}
		w.conds = append(w.conds, "severity IN ("+strings.Join(params, ", ")+")")
	}
	if f.Tier != "" {
		if !f.Tier.Valid() {
			return nil, fmt.Errorf("list incidents: unknown tier %q: %w", f.Tier, ErrInvalid)
		}
		w.add("tier = $%d", string(f.Tier))
	}
	if !f.Since.IsZero() {
		w.add("opened_at >= $%d", s.b.timeArg(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("opened_at < $%d", s.b.timeArg(f.Until))
	}
	if f.BeforeID > 0 {
		w.add("id < $%d", f.BeforeID)
	}
	query := `SELECT ` + incidentColumns + ` FROM incidents` + w.sql() + ` ORDER BY id DESC` + w.limit(f.Limit)
	incs, err := s.queryIncidents(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return incs, nil
}

// Timeline returns an incident's entries in sequence order, or an error
// wrapping incident.ErrNotFound if the incident does not exist.
func (s *sqlStore) Timeline(ctx context.Context, id int64) ([]incident.TimelineEntry, error) {
	rs, err := s.b.pool().query(ctx, `SELECT `+timelineColumns+` FROM timeline WHERE incident_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("read timeline of incident %d: %w", id, err)
	}
	defer rs.Close()
	out := []incident.TimelineEntry{}
	for rs.Next() {
		var (
			e       incident.TimelineEntry
			t       timeCol
			payload string
		)
		if err := rs.Scan(&e.IncidentID, &e.Seq, &t, &e.Actor, &e.Kind, &payload, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("read timeline of incident %d: %w", id, err)
		}
		e.Time = t.t
		e.Payload = json.RawMessage(payload)
		out = append(out, e)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read timeline of incident %d: %w", id, err)
	}
	if len(out) == 0 {
		// Every incident has an entry; tell "no incident" from "empty".
		if _, err := s.GetIncident(ctx, id); err != nil {
			return nil, fmt.Errorf("read timeline: %w", err)
		}
	}
	return out, nil
}

// InsertEvents stores evs in one transaction; an id that is empty, already
// stored or repeated in evs fails the whole batch (ErrInvalid,
// ErrDuplicateEvent). received_at is stamped with the store's clock.
func (s *sqlStore) InsertEvents(ctx context.Context, evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	received := incident.NormalizeTime(s.now())
	err := s.b.inTx(ctx, func(q querier) error {
		for i := range evs {
			ev := &evs[i]
			if ev.ID == "" {
				return fmt.Errorf("event %d has no id: %w", i, ErrInvalid)
			}
			if err := validSeverity(ev.Severity); err != nil {
				return fmt.Errorf("event %q: %w", ev.ID, err)
			}
			attrs := []byte("{}")
			if len(ev.Attributes) > 0 {
				b, err := json.Marshal(ev.Attributes)
				if err != nil {
					return fmt.Errorf("encode attributes of event %q: %w", ev.ID, err)
				}
				attrs = b
			}
			err := q.exec(ctx, `INSERT INTO events (`+eventColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				ev.ID, s.b.timeArg(ev.Time), s.b.timeArg(received), ev.Source, ev.Monitor, ev.Kind,
				string(ev.Outcome), ev.Fingerprint, ev.Title, ev.Severity.String(), ev.Category,
				ev.OpenIncident, string(attrs), ev.CorrelationID)
			if s.b.isUniqueViolation(err) {
				return fmt.Errorf("event %q: %w", ev.ID, ErrDuplicateEvent)
			}
			if err != nil {
				return fmt.Errorf("event %q: %w", ev.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(evs), err)
	}
	return nil
}

// queryIncidents runs a SELECT of incidentColumns and scans every row.
func (s *sqlStore) queryIncidents(ctx context.Context, query string, args ...any) ([]incident.Incident, error) {
	rs, err := s.b.pool().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []incident.Incident{}
	for rs.Next() {
		inc, err := scanIncident(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *sqlStore) nullTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.b.timeArg(*t)
}

// scanIncident scans one row of incidentColumns; no row is
// incident.ErrNotFound.
func scanIncident(r row) (incident.Incident, error) {
	var (
		inc                    incident.Incident
		sev, tier, status      string
		opened, acked, resolve timeCol
	)
	err := r.Scan(&inc.ID, &inc.Fingerprint, &inc.Title, &inc.Monitor, &inc.Category, &sev, &tier, &status,
		&opened, &acked, &resolve, &inc.Failures, &inc.RecoveryPasses, &inc.LastSeq, &inc.HeadHash)
	if errors.Is(err, sql.ErrNoRows) {
		return incident.Incident{}, incident.ErrNotFound
	}
	if err != nil {
		return incident.Incident{}, fmt.Errorf("read incident: %w", err)
	}
	if err := inc.Severity.UnmarshalText([]byte(sev)); err != nil {
		return incident.Incident{}, fmt.Errorf("read incident %d: %w", inc.ID, err)
	}
	inc.Tier = incident.Tier(tier)
	inc.Status = incident.Status(status)
	inc.OpenedAt = opened.t
	inc.AcknowledgedAt = acked.ptr()
	inc.ResolvedAt = resolve.ptr()
	return inc, nil
}

// normalizeIncident brings inc's times to the stored precision, in UTC.
func normalizeIncident(inc *incident.Incident) {
	inc.OpenedAt = incident.NormalizeTime(inc.OpenedAt)
	inc.AcknowledgedAt = normalizePtr(inc.AcknowledgedAt)
	inc.ResolvedAt = normalizePtr(inc.ResolvedAt)
}

func normalizePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := incident.NormalizeTime(*t)
	return &n
}

// validateNew checks an incident about to be created.
func validateNew(inc incident.Incident) error {
	if inc.Fingerprint == "" {
		return fmt.Errorf("incident has no fingerprint: %w", ErrInvalid)
	}
	if inc.OpenedAt.IsZero() {
		return fmt.Errorf("incident has no opening time (neither OpenedAt nor the first entry's Time): %w", ErrInvalid)
	}
	if inc.Status == incident.StatusResolved {
		return fmt.Errorf("a new incident cannot be resolved: %w", ErrInvalid)
	}
	return validateFields(inc)
}

// validateFields checks the enumerated fields of an incident to be written.
func validateFields(inc incident.Incident) error {
	if !inc.Status.Valid() {
		return fmt.Errorf("unknown status %q: %w", inc.Status, ErrInvalid)
	}
	if inc.Tier != "" && !inc.Tier.Valid() {
		return fmt.Errorf("unknown tier %q: %w", inc.Tier, ErrInvalid)
	}
	return validSeverity(inc.Severity)
}

func validSeverity(s event.Severity) error {
	if s < event.SeverityUnknown || s > event.SeverityCritical {
		return fmt.Errorf("unknown severity %d: %w", int(s), ErrInvalid)
	}
	return nil
}

// timeCol scans a stored time from either backend: unix microseconds
// (SQLite) or a timestamptz (PostgreSQL), and NULL.
type timeCol struct {
	t     time.Time
	valid bool
}

// Scan implements sql.Scanner.
func (c *timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c = timeCol{}
	case int64:
		*c = timeCol{t: time.UnixMicro(v).UTC(), valid: true}
	case time.Time:
		*c = timeCol{t: incident.NormalizeTime(v), valid: true}
	default:
		return fmt.Errorf("scan time: unsupported type %T", src)
	}
	return nil
}

func (c timeCol) ptr() *time.Time {
	if !c.valid {
		return nil
	}
	t := c.t
	return &t
}

// where builds a parameterized WHERE clause: each condition holds one
// "$%d", replaced by its argument's position.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, fmt.Sprintf(cond, len(w.args)))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limit returns a LIMIT clause for the clamped limit, as a parameter.
func (w *where) limit(n int) string {
	w.args = append(w.args, clampLimit(n))
	return fmt.Sprintf(" LIMIT $%d", len(w.args))
}
