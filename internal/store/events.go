package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// EventLog is the ingestion side of the event log: idempotent batch writes
// (one transaction on SQLite, one COPY on PostgreSQL), reading events in
// the order the store received them, and the look-up that tells which
// events extend an unresolved incident.
type EventLog interface {
	// AppendEvents stores evs durably in one transaction and reports, per
	// event, whether it was new: an event whose id is already stored (or
	// repeated earlier in evs) is skipped, not an error, so that a client
	// retrying a request stores each event once. On error nothing is
	// stored. received_at is stamped with the store's clock.
	AppendEvents(ctx context.Context, evs []event.Event) (inserted []bool, err error)
	// TailEvents returns at most limit events (DefaultLimit when 0, capped
	// at MaxLimit) received after the position after, in the order the
	// store received them; a zero after starts at the oldest event.
	TailEvents(ctx context.Context, after EventCursor, limit int) ([]ReceivedEvent, error)
	// UnresolvedFingerprints returns which of fps are the fingerprints of
	// unresolved incidents.
	UnresolvedFingerprints(ctx context.Context, fps []string) (map[string]bool, error)
}

// EventCursor is a position in an ordering of events: a time and, to
// order events with equal times, the event id. ListEvents orders by the
// event's time, newest first; TailEvents by the time the store received
// it, oldest first.
type EventCursor struct {
	Time time.Time
	ID   string
}

// IsZero reports whether c is the zero cursor (no position).
func (c EventCursor) IsZero() bool { return c.Time.IsZero() && c.ID == "" }

// ReceivedEvent is a stored event with the time the store received it.
type ReceivedEvent struct {
	event.Event
	ReceivedAt time.Time `json:"received_at"`
}

// Cursor returns the position of e in TailEvents' order.
func (e ReceivedEvent) Cursor() EventCursor { return EventCursor{Time: e.ReceivedAt, ID: e.ID} }

// eventAppender is the backend-specific half of AppendEvents.
type eventAppender interface {
	// appendEventRows inserts rows in one transaction, skipping ids that
	// exist, and reports which rows were inserted.
	appendEventRows(ctx context.Context, rows []eventRow) ([]bool, error)
}

var (
	_ eventAppender = (*SQLite)(nil)
	_ eventAppender = (*Postgres)(nil)
)

// eventRow is one event encoded for the events table.
type eventRow struct {
	id, source, monitor, kind, outcome, fingerprint, title, severity, category, attributes, correlationID string
	time, received                                                                                        time.Time
	openIncident                                                                                          bool
}

// eventRowColumns are the events columns in eventRow's argument order
// (args).
const eventRowColumns = `id, time, received_at, source, monitor, kind, outcome, fingerprint,
	title, severity, category, open_incident, attributes, correlation_id`

// args returns the row's values in eventRowColumns order, with times
// encoded by timeArg.
func (r *eventRow) args(timeArg func(time.Time) any) []any {
	return []any{r.id, timeArg(r.time), timeArg(r.received), r.source, r.monitor, r.kind, r.outcome,
		r.fingerprint, r.title, r.severity, r.category, r.openIncident, r.attributes, r.correlationID}
}

// encodeEvents checks evs and encodes them as rows received at received.
func encodeEvents(evs []event.Event, received time.Time) ([]eventRow, error) {
	rows := make([]eventRow, len(evs))
	for i := range evs {
		ev := &evs[i]
		if ev.ID == "" {
			return nil, fmt.Errorf("event %d has no id: %w", i, ErrInvalid)
		}
		if err := validSeverity(ev.Severity); err != nil {
			return nil, fmt.Errorf("event %q: %w", ev.ID, err)
		}
		attrs := "{}"
		if len(ev.Attributes) > 0 {
			b, err := json.Marshal(ev.Attributes)
			if err != nil {
				return nil, fmt.Errorf("encode attributes of event %q: %w", ev.ID, err)
			}
			attrs = string(b)
		}
		rows[i] = eventRow{
			id: ev.ID, time: incident.NormalizeTime(ev.Time), received: received,
			source: ev.Source, monitor: ev.Monitor, kind: ev.Kind, outcome: string(ev.Outcome),
			fingerprint: ev.Fingerprint, title: ev.Title, severity: ev.Severity.String(),
			category: ev.Category, openIncident: ev.OpenIncident, attributes: attrs,
			correlationID: ev.CorrelationID,
		}
	}
	return rows, nil
}

// AppendEvents stores evs in one transaction, skipping events whose id is
// already stored, and reports which were new.
func (s *sqlStore) AppendEvents(ctx context.Context, evs []event.Event) ([]bool, error) {
	if len(evs) == 0 {
		return []bool{}, nil
	}
	rows, err := encodeEvents(evs, incident.NormalizeTime(s.now()))
	if err != nil {
		return nil, fmt.Errorf("append %d events: %w", len(evs), err)
	}
	ap, ok := s.b.(eventAppender)
	if !ok {
		return nil, fmt.Errorf("append events: backend %T cannot append in batches", s.b)
	}
	inserted, err := ap.appendEventRows(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("append %d events: %w", len(evs), err)
	}
	return inserted, nil
}

// sqliteInsertChunk is how many rows one INSERT statement of a batch
// carries on SQLite (14 parameters each, well under SQLite's limit):
// fewer, larger statements spend less time in the driver per row.
const sqliteInsertChunk = 32

// insertEventsSQL returns an INSERT of n rows that skips ids that exist.
func insertEventsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO events (` + eventRowColumns + `) VALUES `)
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range 14 {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", r*14+c+1)
		}
		b.WriteByte(')')
	}
	b.WriteString(` ON CONFLICT (id) DO NOTHING`)
	return b.String()
}

// appendEventRows inserts rows in one transaction (BEGIN IMMEDIATE: the
// commit is the batch's only fsync), sqliteInsertChunk rows per statement.
// A chunk that inserts fewer rows than it holds (an id already stored) is
// undone to a savepoint and inserted again row by row, to learn which rows
// were new; ids repeat only when a client retries, so that path is rare.
func (s *SQLite) appendEventRows(ctx context.Context, rows []eventRow) (inserted []bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				s.logger.Warn("rollback failed", "err", rbErr)
			}
		}
	}()
	var (
		stmts = map[int]*sql.Stmt{}
		args  = make([]any, 0, sqliteInsertChunk*14)
	)
	defer func() {
		for _, st := range stmts {
			_ = st.Close()
		}
	}()
	exec := func(chunk []eventRow) (int64, error) {
		st := stmts[len(chunk)]
		if st == nil {
			if st, err = tx.PrepareContext(ctx, insertEventsSQL(len(chunk))); err != nil {
				return 0, fmt.Errorf("prepare insert: %w", err)
			}
			stmts[len(chunk)] = st
		}
		args = args[:0]
		for i := range chunk {
			args = append(args, chunk[i].args(s.timeArg)...)
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return 0, fmt.Errorf("insert events: %w", err)
		}
		return res.RowsAffected()
	}
	inserted = make([]bool, len(rows))
	for start := 0; start < len(rows); start += sqliteInsertChunk {
		chunk := rows[start:min(start+sqliteInsertChunk, len(rows))]
		if _, err = tx.ExecContext(ctx, `SAVEPOINT chunk`); err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
		n, err := exec(chunk)
		if err != nil {
			return nil, err
		}
		if n == int64(len(chunk)) {
			for i := range chunk {
				inserted[start+i] = true
			}
		} else {
			if _, err = tx.ExecContext(ctx, `ROLLBACK TO chunk`); err != nil {
				return nil, fmt.Errorf("insert events: %w", err)
			}
			for i := range chunk {
				n, err := exec(chunk[i : i+1])
				if err != nil {
					return nil, err
				}
				inserted[start+i] = n == 1
			}
		}
		if _, err = tx.ExecContext(ctx, `RELEASE chunk`); err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit transaction: %w", err)
	}
	return inserted, nil
}

// markInserted reports, per row, whether its id is among those inserted;
// an id repeated within rows is new only the first time.
func markInserted(rows []eventRow, fresh map[string]bool) []bool {
	inserted := make([]bool, len(rows))
	for i := range rows {
		if fresh[rows[i].id] {
			inserted[i] = true
			delete(fresh, rows[i].id)
		}
	}
	return inserted
}

// pgCopyChunk is how many rows one COPY sends at most.
const pgCopyChunk = 5000

// pgStageTable is the session's temporary staging table: rows are copied
// into it, then moved into events skipping ids that exist (COPY itself
// cannot skip conflicts). It is emptied at every commit.
const pgStageTable = "secopsd_events_stage"

// appendEventRows copies rows into the session's staging table (pgx
// CopyFrom, in chunks) and moves them into events with ON CONFLICT DO
// NOTHING, all in one transaction.
func (s *Postgres) appendEventRows(ctx context.Context, rows []eventRow) (inserted []bool, err error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := tx.Rollback(ctx); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
				s.logger.Warn("rollback failed", "err", rbErr)
			}
		}
	}()
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS `+pgStageTable+
		` (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
		return nil, fmt.Errorf("create staging table: %w", err)
	}
	cols := strings.Fields(strings.ReplaceAll(eventRowColumns, ",", " "))
	for start := 0; start < len(rows); start += pgCopyChunk {
		chunk := rows[start:min(start+pgCopyChunk, len(rows))]
		src := pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) {
			return chunk[i].args(s.timeArg), nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{pgStageTable}, cols, src); err != nil {
			return nil, fmt.Errorf("copy events: %w", err)
		}
	}
	rs, err := tx.Query(ctx, `INSERT INTO events (`+eventRowColumns+`)
		SELECT `+eventRowColumns+` FROM `+pgStageTable+`
		ON CONFLICT (id) DO NOTHING
		RETURNING id`)
	if err != nil {
		return nil, fmt.Errorf("move staged events: %w", err)
	}
	fresh := make(map[string]bool, len(rows))
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return nil, fmt.Errorf("move staged events: %w", err)
		}
		fresh[id] = true
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("move staged events: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit transaction: %w", err)
	}
	return markInserted(rows, fresh), nil
}

// severitiesFrom returns the names of the severities at least min.
func severitiesFrom(min event.Severity) []string {
	var out []string
	for s := min; s <= event.SeverityCritical; s++ {
		out = append(out, s.String())
	}
	return out
}

// ListEvents returns the events that match f, newest first (by time, then
// id); f.Before continues a listing after the last event of a page.
func (s *sqlStore) ListEvents(ctx context.Context, f EventFilter) ([]event.Event, error) {
	var w where
	if !f.Since.IsZero() {
		w.add("time >= $%d", s.b.timeArg(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("time < $%d", s.b.timeArg(f.Until))
	}
	if f.Monitor != "" {
		w.add("monitor = $%d", f.Monitor)
	}
	if f.Fingerprint != "" {
		w.add("fingerprint = $%d", f.Fingerprint)
	}
	if f.Kind != "" {
		w.add("kind = $%d", f.Kind)
	}
	if f.Source != "" {
		w.add("source = $%d", f.Source)
	}
	if f.MinSeverity > event.SeverityUnknown {
		if err := validSeverity(f.MinSeverity); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		names := severitiesFrom(f.MinSeverity)
		marks := make([]string, len(names))
		for i, n := range names {
			w.args = append(w.args, n)
			marks[i] = fmt.Sprintf("$%d", len(w.args))
		}
		w.conds = append(w.conds, "severity IN ("+strings.Join(marks, ", ")+")")
	}
	if c := f.Before; c != nil {
		w.args = append(w.args, s.b.timeArg(c.Time), c.ID)
		w.conds = append(w.conds, fmt.Sprintf("(time, id) < ($%d, $%d)", len(w.args)-1, len(w.args)))
	}
	query := `SELECT ` + eventColumns + ` FROM events` + w.sql() + ` ORDER BY time DESC, id DESC` + w.limit(f.Limit)
	out, err := s.queryEvents(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	evs := make([]event.Event, len(out))
	for i := range out {
		evs[i] = out[i].Event
	}
	return evs, nil
}

// TailEvents returns events in the order the store received them, after
// the position after.
func (s *sqlStore) TailEvents(ctx context.Context, after EventCursor, limit int) ([]ReceivedEvent, error) {
	var w where
	if !after.IsZero() {
		w.args = append(w.args, s.b.timeArg(after.Time), after.ID)
		w.conds = append(w.conds, "(received_at, id) > ($1, $2)")
	}
	query := `SELECT ` + eventColumns + ` FROM events` + w.sql() + ` ORDER BY received_at, id` + w.limit(limit)
	out, err := s.queryEvents(ctx, query, w.args...)
	if err != nil {
		return nil, fmt.Errorf("tail events: %w", err)
	}
	return out, nil
}

// unresolvedChunk bounds the parameters of one UnresolvedFingerprints
// query.
const unresolvedChunk = 500

// UnresolvedFingerprints returns which of fps belong to unresolved
// incidents.
func (s *sqlStore) UnresolvedFingerprints(ctx context.Context, fps []string) (map[string]bool, error) {
	out := make(map[string]bool)
	for start := 0; start < len(fps); start += unresolvedChunk {
		chunk := fps[start:min(start+unresolvedChunk, len(fps))]
		args := make([]any, len(chunk))
		marks := make([]string, len(chunk))
		for i, fp := range chunk {
			args[i] = fp
			marks[i] = fmt.Sprintf("$%d", i+1)
		}
		rs, err := s.b.pool().query(ctx, `SELECT DISTINCT fingerprint FROM incidents
			WHERE status <> 'resolved' AND fingerprint IN (`+strings.Join(marks, ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up unresolved incidents: %w", err)
		}
		for rs.Next() {
			var fp string
			if err := rs.Scan(&fp); err != nil {
				rs.Close()
				return nil, fmt.Errorf("look up unresolved incidents: %w", err)
			}
			out[fp] = true
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, fmt.Errorf("look up unresolved incidents: %w", err)
		}
	}
	return out, nil
}

// queryEvents runs a SELECT of eventColumns and scans every row.
func (s *sqlStore) queryEvents(ctx context.Context, query string, args ...any) ([]ReceivedEvent, error) {
	rs, err := s.b.pool().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []ReceivedEvent{}
	for rs.Next() {
		var (
			ev                  ReceivedEvent
			t, received         timeCol
			outcome, sev, attrs string
		)
		if err := rs.Scan(&ev.ID, &t, &received, &ev.Source, &ev.Monitor, &ev.Kind, &outcome, &ev.Fingerprint,
			&ev.Title, &sev, &ev.Category, &ev.OpenIncident, &attrs, &ev.CorrelationID); err != nil {
			return nil, err
		}
		ev.Time, ev.ReceivedAt = t.t, received.t
		ev.Outcome = event.Outcome(outcome)
		if err := ev.Severity.UnmarshalText([]byte(sev)); err != nil {
			return nil, fmt.Errorf("event %q: %w", ev.ID, err)
		}
		if attrs != "" && attrs != "{}" {
			if err := json.Unmarshal([]byte(attrs), &ev.Attributes); err != nil {
				return nil, fmt.Errorf("attributes of event %q: %w", ev.ID, err)
			}
		}
		out = append(out, ev)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
