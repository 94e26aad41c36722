package auth

import (
	"context"
	"errors"
	"time"
)

// Errors of the Store.
var (
	// ErrKeyNotFound is wrapped by errors about a key id that is not stored.
	ErrKeyNotFound = errors.New("api key not found")
	// ErrKeyExists is wrapped by CreateAPIKey when the id is taken.
	ErrKeyExists = errors.New("api key id already exists")
)

// KeyStore persists API keys. Keys are never deleted: revocation stamps
// them, so that listings and the audit trail keep them.
type KeyStore interface {
	// CreateAPIKey stores a new key; an id that exists fails with an
	// error wrapping ErrKeyExists.
	CreateAPIKey(ctx context.Context, k Key) error
	// GetAPIKey returns the key with this id or an error wrapping
	// ErrKeyNotFound.
	GetAPIKey(ctx context.Context, id string) (Key, error)
	// ListAPIKeys returns every key, oldest first.
	ListAPIKeys(ctx context.Context) ([]Key, error)
	// RevokeAPIKey stamps the key revoked at at, unless it already is, and
	// returns it; an unknown id fails with ErrKeyNotFound.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (Key, error)
	// TouchAPIKey records that the key was last used at at (never moving
	// the time backwards); an unknown id is ignored.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// NonceStore remembers the nonces of signed requests, shared by every
// replica that uses the same database.
type NonceStore interface {
	// ClaimNonce records nonce for keyID until expires and reports
	// whether it was fresh: false means the pair is already recorded and
	// has not expired at now (a replay). Concurrent claims of one pair
	// have exactly one winner, across processes sharing the store.
	ClaimNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) (fresh bool, err error)
	// PurgeNonces deletes the nonces that expired at or before now and
	// reports how many.
	PurgeNonces(ctx context.Context, now time.Time) (int64, error)
}

// SecretStore keeps server-side secrets, such as the signing master key,
// that every replica must share.
type SecretStore interface {
	// InitSecret stores value under name unless a value is stored already,
	// and returns the stored value: the first writer wins, across
	// processes sharing the store.
	InitSecret(ctx context.Context, name, value string) (string, error)
}

// Store is everything the package needs from secopsd's store.
type Store interface {
	KeyStore
	NonceStore
	SecretStore
}
