package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The nonces of signed requests and the shared server secrets of
// internal/auth. Both rely on insert-if-absent, which the database decides
// atomically, so they hold across restarts and across replicas that share
// a PostgreSQL database.

// ClaimNonce records (keyID, nonce) until expires and reports whether it
// was fresh. A pair already stored and unexpired at now is a replay
// (false); an expired pair not yet purged is claimed afresh. Of concurrent
// claims of one pair exactly one wins: the loser's upsert sees the
// winner's unexpired row and changes nothing.
func (s *sqlStore) ClaimNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) (bool, error) {
	var got string
	err := s.b.pool().queryRow(ctx, `INSERT INTO nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
		WHERE nonces.expires_at <= $4
		RETURNING key_id`,
		keyID, nonce, s.b.timeArg(expires), s.b.timeArg(now)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim nonce of api key %q: %w", keyID, err)
	}
	return true, nil
}

// PurgeNonces deletes the nonces that expired at or before now and
// reports how many.
func (s *sqlStore) PurgeNonces(ctx context.Context, now time.Time) (int64, error) {
	rs, err := s.b.pool().query(ctx, `DELETE FROM nonces WHERE expires_at <= $1 RETURNING key_id`, s.b.timeArg(now))
	if err != nil {
		return 0, fmt.Errorf("purge nonces: %w", err)
	}
	defer rs.Close()
	var n int64
	for rs.Next() {
		n++
	}
	if err := rs.Err(); err != nil {
		return n, fmt.Errorf("purge nonces: %w", err)
	}
	return n, nil
}

// InitSecret stores value under name unless a value is stored already,
// and returns the stored value: the first writer wins.
func (s *sqlStore) InitSecret(ctx context.Context, name, value string) (string, error) {
	if name == "" || value == "" {
		return "", fmt.Errorf("init secret: empty name or value: %w", ErrInvalid)
	}
	if err := s.b.pool().exec(ctx, `INSERT INTO auth_secrets (name, value, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, value, s.b.timeArg(s.now())); err != nil {
		return "", fmt.Errorf("init secret %q: %w", name, err)
	}
	var got string
	if err := s.b.pool().queryRow(ctx, `SELECT value FROM auth_secrets WHERE name = $1`, name).Scan(&got); err != nil {
		return "", fmt.Errorf("read secret %q: %w", name, err)
	}
	return got, nil
}
