package store

import (
	"context"
	"fmt"
)

// ForwardCursors persists the position of each event forwarder
// (internal/forward) in the event log, so that a restarted daemon resumes
// forwarding where the output last acknowledged a batch.
type ForwardCursors interface {
	// ForwardCursor returns the stored position of the output called
	// name. When none is stored yet it stores initial first and returns
	// it; of concurrent first calls one wins and all return its position.
	ForwardCursor(ctx context.Context, name string, initial EventCursor) (EventCursor, error)
	// SaveForwardCursor moves the stored position of the output called
	// name to c. A position never moves backwards: saving one before the
	// stored position (a lagging replica) changes nothing.
	SaveForwardCursor(ctx context.Context, name string, c EventCursor) error
}

// ForwardCursor returns the stored position of the forwarder name,
// storing initial when there is none.
func (s *sqlStore) ForwardCursor(ctx context.Context, name string, initial EventCursor) (EventCursor, error) {
	if name == "" {
		return EventCursor{}, fmt.Errorf("forward cursor: empty output name: %w", ErrInvalid)
	}
	if err := s.b.pool().exec(ctx, `INSERT INTO forward_cursors (name, received_at, event_id, updated_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`,
		name, s.b.timeArg(initial.Time), initial.ID, s.b.timeArg(s.now())); err != nil {
		return EventCursor{}, fmt.Errorf("init forward cursor of output %q: %w", name, err)
	}
	var (
		c  EventCursor
		at timeCol
	)
	if err := s.b.pool().queryRow(ctx, `SELECT received_at, event_id FROM forward_cursors WHERE name = $1`, name).
		Scan(&at, &c.ID); err != nil {
		return EventCursor{}, fmt.Errorf("read forward cursor of output %q: %w", name, err)
	}
	c.Time = at.t
	return c, nil
}

// SaveForwardCursor moves the forwarder name's stored position forward to
// c; a position before the stored one is ignored.
func (s *sqlStore) SaveForwardCursor(ctx context.Context, name string, c EventCursor) error {
	if name == "" {
		return fmt.Errorf("save forward cursor: empty output name: %w", ErrInvalid)
	}
	// Row values compare lexicographically in both dialects, as
	// TailEvents orders events: by received_at, then id.
	if err := s.b.pool().exec(ctx, `INSERT INTO forward_cursors (name, received_at, event_id, updated_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET received_at = excluded.received_at,
			event_id = excluded.event_id, updated_at = excluded.updated_at
		WHERE (forward_cursors.received_at, forward_cursors.event_id) < (excluded.received_at, excluded.event_id)`,
		name, s.b.timeArg(c.Time), c.ID, s.b.timeArg(s.now())); err != nil {
		return fmt.Errorf("save forward cursor of output %q: %w", name, err)
	}
	return nil
}
