package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

// The sessions of the auditor web UI (internal/api/ui). The browser holds
// a random session id; only its SHA-256 is stored, so neither a database
// dump nor a log of queries can be replayed as a session. Sessions are
// never updated but to move their last use forward or to revoke them.

// ErrUISessionNotFound is returned for a session id hash that names no
// stored session.
var ErrUISessionNotFound = errors.New("ui session not found")

// UISession is one stored web UI session.
type UISession struct {
	// IDHash is the lower-case hex SHA-256 of the session id (64
	// characters); the id itself is never stored.
	IDHash string
	// KeyID, KeyName and Role are those of the API key that signed in.
	KeyID   string
	KeyName string
	Role    string
	// CreatedAt is when the key signed in.
	CreatedAt time.Time
	// LastSeenAt is the session's last use (written at most about once a
	// minute); the idle expiry counts from it.
	LastSeenAt time.Time
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
	// RevokedAt is when the session was signed out; nil while it is not.
	RevokedAt *time.Time
}

// UISessionStore keeps the sessions of the web UI.
type UISessionStore interface {
	// CreateUISession stores a new session.
	CreateUISession(ctx context.Context, s UISession) error
	// GetUISession returns the session whose id hashes to idHash, or an
	// error wrapping ErrUISessionNotFound.
	GetUISession(ctx context.Context, idHash string) (UISession, error)
	// TouchUISession moves a session's last use forward to at (never
	// back).
	TouchUISession(ctx context.Context, idHash string, at time.Time) error
	// RevokeUISession signs a session out at at and reports whether it
	// was active (not revoked before).
	RevokeUISession(ctx context.Context, idHash string, at time.Time) (bool, error)
	// PurgeUISessions deletes the sessions that expired at or before now,
	// were last used at or before idleBefore, or were revoked at or
	// before now, and reports how many.
	PurgeUISessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
	// CountExpiredUISessions counts the sessions PurgeUISessions would
	// delete.
	CountExpiredUISessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
}

var (
	_ UISessionStore = (*SQLite)(nil)
	_ UISessionStore = (*Postgres)(nil)
)

const uiSessionColumns = `id_hash, key_id, key_name, role, created_at, last_seen_at, expires_at, revoked_at`

// CreateUISession stores a new session. Its id hash must be 64 hex
// characters, its role admin or viewer, and its expiry after its
// creation; times are stored at incident.TimePrecision.
func (s *sqlStore) CreateUISession(ctx context.Context, u UISession) error {
	switch {
	case !validIDHash(u.IDHash):
		return fmt.Errorf("create ui session: id hash is not 64 lower-case hex characters: %w", ErrInvalid)
	case u.KeyID == "":
		return fmt.Errorf("create ui session: no key id: %w", ErrInvalid)
	case u.Role != "admin" && u.Role != "viewer":
		return fmt.Errorf("create ui session: role %q (want admin or viewer): %w", u.Role, ErrInvalid)
	case !u.ExpiresAt.After(u.CreatedAt):
		return fmt.Errorf("create ui session: expiry not after creation: %w", ErrInvalid)
	}
	created := incident.NormalizeTime(u.CreatedAt)
	seen := incident.NormalizeTime(u.LastSeenAt)
	if seen.Before(created) {
		seen = created
	}
	err := s.b.pool().exec(ctx, `INSERT INTO ui_sessions (`+uiSessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
		u.IDHash, u.KeyID, u.KeyName, u.Role, s.b.timeArg(created), s.b.timeArg(seen),
		s.b.timeArg(incident.NormalizeTime(u.ExpiresAt)))
	if err != nil {
		if s.b.isUniqueViolation(err) {
			return fmt.Errorf("create ui session: id hash exists: %w", ErrInvalid)
		}
		return fmt.Errorf("create ui session: %w", err)
	}
	return nil
}

// GetUISession returns one session by the hash of its id.
func (s *sqlStore) GetUISession(ctx context.Context, idHash string) (UISession, error) {
	var (
		u                               UISession
		created, seen, expires, revoked timeCol
	)
	err := s.b.pool().queryRow(ctx, `SELECT `+uiSessionColumns+` FROM ui_sessions WHERE id_hash = $1`, idHash).
		Scan(&u.IDHash, &u.KeyID, &u.KeyName, &u.Role, &created, &seen, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return UISession{}, fmt.Errorf("get ui session: %w", ErrUISessionNotFound)
	}
	if err != nil {
		return UISession{}, fmt.Errorf("get ui session: %w", err)
	}
	u.CreatedAt, u.LastSeenAt, u.ExpiresAt, u.RevokedAt = created.t, seen.t, expires.t, revoked.ptr()
	return u, nil
}

// TouchUISession moves the session's last use forward to at; an earlier
// at changes nothing. An unknown session is ErrUISessionNotFound.
func (s *sqlStore) TouchUISession(ctx context.Context, idHash string, at time.Time) error {
	var got string
	t := s.b.timeArg(incident.NormalizeTime(at))
	err := s.b.pool().queryRow(ctx, `UPDATE ui_sessions
		SET last_seen_at = CASE WHEN last_seen_at < $2 THEN $2 ELSE last_seen_at END
		WHERE id_hash = $1 RETURNING id_hash`, idHash, t).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("touch ui session: %w", ErrUISessionNotFound)
	}
	if err != nil {
		return fmt.Errorf("touch ui session: %w", err)
	}
	return nil
}

// RevokeUISession stamps revoked_at on a session not revoked before and
// reports whether it did; an unknown session is ErrUISessionNotFound.
func (s *sqlStore) RevokeUISession(ctx context.Context, idHash string, at time.Time) (bool, error) {
	var got string
	err := s.b.pool().queryRow(ctx, `UPDATE ui_sessions SET revoked_at = $2
		WHERE id_hash = $1 AND revoked_at IS NULL RETURNING id_hash`,
		idHash, s.b.timeArg(incident.NormalizeTime(at))).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		if _, gerr := s.GetUISession(ctx, idHash); gerr != nil {
			return false, fmt.Errorf("revoke ui session: %w", gerr)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("revoke ui session: %w", err)
	}
	return true, nil
}

// PurgeUISessions deletes the sessions past their absolute expiry at now,
// idle since idleBefore, or revoked, and reports how many it deleted.
func (s *sqlStore) PurgeUISessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	n := s.b.timeArg(incident.NormalizeTime(now))
	rs, err := s.b.pool().query(ctx, `DELETE FROM ui_sessions WHERE `+uiSessionsEnded+`
		RETURNING id_hash`, n, s.b.timeArg(incident.NormalizeTime(idleBefore)))
	if err != nil {
		return 0, fmt.Errorf("purge ui sessions: %w", err)
	}
	defer rs.Close()
	var count int64
	for rs.Next() {
		count++
	}
	if err := rs.Err(); err != nil {
		return count, fmt.Errorf("purge ui sessions: %w", err)
	}
	return count, nil
}

// uiSessionsEnded selects the sessions that ended at $1 (now): past their
// absolute expiry, last used at or before $2 (idle), or signed out.
const uiSessionsEnded = `(expires_at <= $1 OR last_seen_at <= $2 OR (revoked_at IS NOT NULL AND revoked_at <= $1))`

// CountExpiredUISessions counts the sessions PurgeUISessions(now,
// idleBefore) would delete, deleting nothing.
func (s *sqlStore) CountExpiredUISessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	var n int64
	err := s.b.pool().queryRow(ctx, `SELECT COUNT(*) FROM ui_sessions WHERE `+uiSessionsEnded,
		s.b.timeArg(incident.NormalizeTime(now)), s.b.timeArg(incident.NormalizeTime(idleBefore))).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count expired ui sessions: %w", err)
	}
	return n, nil
}

// validIDHash reports whether h is a lower-case hex SHA-256.
func validIDHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
