package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
)

// The API keys of internal/auth. Only a bcrypt hash of each key's secret
// is stored; keys are never deleted, revocation stamps them.

var (
	_ auth.Store = (*SQLite)(nil)
	_ auth.Store = (*Postgres)(nil)
)

const apiKeyColumns = `id, name, role, secret_hash, require_signature, created_at, expires_at, revoked_at, last_used_at`

// CreateAPIKey stores a new key; an id already stored fails with an error
// wrapping auth.ErrKeyExists.
func (s *sqlStore) CreateAPIKey(ctx context.Context, k auth.Key) error {
	if err := validateKey(k); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	err := s.b.pool().exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.Name, string(k.Role), k.SecretHash, k.RequireSignature, s.b.timeArg(k.CreatedAt),
		s.nullTimeArg(k.ExpiresAt), s.nullTimeArg(k.RevokedAt), s.nullTimeArg(k.LastUsedAt))
	if s.b.isUniqueViolation(err) {
		return fmt.Errorf("create api key %s: %w", k.ID, auth.ErrKeyExists)
	}
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// validateKey checks a key about to be stored.
func validateKey(k auth.Key) error {
	switch {
	case !auth.ValidKeyID(k.ID):
		return fmt.Errorf("key id %q is not %d characters of the token alphabet: %w", k.ID, auth.KeyIDLen, ErrInvalid)
	case !k.Role.Valid():
		return fmt.Errorf("key %s: unknown role %q: %w", k.ID, k.Role, ErrInvalid)
	case k.SecretHash == "":
		return fmt.Errorf("key %s has no secret hash: %w", k.ID, ErrInvalid)
	case k.Role == auth.RoleAdmin && !k.RequireSignature:
		return fmt.Errorf("key %s: admin keys must require signatures: %w", k.ID, ErrInvalid)
	case k.CreatedAt.IsZero():
		return fmt.Errorf("key %s has no creation time: %w", k.ID, ErrInvalid)
	}
	return nil
}

// GetAPIKey returns the key with this id, or an error wrapping
// auth.ErrKeyNotFound.
func (s *sqlStore) GetAPIKey(ctx context.Context, id string) (auth.Key, error) {
	k, err := scanAPIKey(s.b.pool().queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return auth.Key{}, fmt.Errorf("get api key %q: %w", id, err)
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (s *sqlStore) ListAPIKeys(ctx context.Context) ([]auth.Key, error) {
	rs, err := s.b.pool().query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rs.Close()
	out := []auth.Key{}
	for rs.Next() {
		k, err := scanAPIKey(rs)
		if err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey stamps the key revoked at at unless it already is, and
// returns it; an unknown id fails with auth.ErrKeyNotFound.
func (s *sqlStore) RevokeAPIKey(ctx context.Context, id string, at time.Time) (auth.Key, error) {
	if err := s.b.pool().exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,
		id, s.b.timeArg(at)); err != nil {
		return auth.Key{}, fmt.Errorf("revoke api key %q: %w", id, err)
	}
	k, err := s.GetAPIKey(ctx, id)
	if err != nil {
		return auth.Key{}, fmt.Errorf("revoke: %w", err)
	}
	return k, nil
}

// TouchAPIKey records the key's last use, never moving it backwards; an
// unknown id is ignored.
func (s *sqlStore) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	t := s.b.timeArg(at)
	if err := s.b.pool().exec(ctx, `UPDATE api_keys SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, t); err != nil {
		return fmt.Errorf("record last use of api key %q: %w", id, err)
	}
	return nil
}

// scanAPIKey scans one row of apiKeyColumns; no row is
// auth.ErrKeyNotFound.
func scanAPIKey(r row) (auth.Key, error) {
	var (
		k                               auth.Key
		role                            string
		created, expires, revoked, used timeCol
	)
	err := r.Scan(&k.ID, &k.Name, &role, &k.SecretHash, &k.RequireSignature, &created, &expires, &revoked, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Key{}, auth.ErrKeyNotFound
	}
	if err != nil {
		return auth.Key{}, fmt.Errorf("read api key: %w", err)
	}
	k.Role = auth.Role(role)
	k.CreatedAt = created.t
	k.ExpiresAt = expires.ptr()
	k.RevokedAt = revoked.ptr()
	k.LastUsedAt = used.ptr()
	return k, nil
}
