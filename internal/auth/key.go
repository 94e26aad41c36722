package auth

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Key format and hashing parameters.
const (
	// TokenPrefix starts every API key token.
	TokenPrefix = "secopsd_"
	// KeyIDLen is the length of a key id: 12 base32 characters (60 bits).
	KeyIDLen = 12
	// secretBytes is the entropy of a key's secret.
	secretBytes = 32
	// secretLen is the length of the encoded secret.
	secretLen = (secretBytes*8 + 4) / 5
	// TokenLen is the length of a whole token.
	TokenLen = len(TokenPrefix) + KeyIDLen + 1 + secretLen
	// DefaultCost is the bcrypt cost of new keys' hashes.
	DefaultCost = 12
	// MaxKeyNameLen bounds a key's name.
	MaxKeyNameLen = 64
)

// encoding is lower-case base32 without padding: tokens are one word of
// letters and digits, with no characters that need quoting.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrInvalidSpec is wrapped by CreateKey's errors about its KeySpec.
var ErrInvalidSpec = errors.New("invalid api key specification")

// Key is a stored API key: everything but its secret, of which only a
// bcrypt hash is kept.
type Key struct {
	// ID names the key; it is public and appears in tokens, logs and
	// events.
	ID string `json:"id"`
	// Name is a free-form label chosen by the operator.
	Name string `json:"name"`
	// Role decides which routes the key may use.
	Role Role `json:"role"`
	// SecretHash is the bcrypt hash of the token's secret part. It is
	// never serialized.
	SecretHash string `json:"-"`
	// RequireSignature refuses requests that are not signed with the
	// key's signing secret; always true for admin keys.
	RequireSignature bool `json:"require_signature"`
	// CreatedAt is when the key was created.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the key stops working; nil means never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// RevokedAt is when the key was revoked; nil means it was not.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// LastUsedAt is when the key last authenticated a request (recorded
	// about once a minute); nil means never.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// KeyStatus is the state of a key at some instant.
type KeyStatus string

// The states of a key.
const (
	StatusActive  KeyStatus = "active"
	StatusExpired KeyStatus = "expired"
	StatusRevoked KeyStatus = "revoked"
)

// Status returns the key's state at now; revocation wins over expiry.
func (k Key) Status(now time.Time) KeyStatus {
	switch {
	case k.RevokedAt != nil && !now.Before(*k.RevokedAt):
		return StatusRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StatusExpired
	default:
		return StatusActive
	}
}

// KeySpec describes a key to create.
type KeySpec struct {
	// Name is an optional label (at most MaxKeyNameLen printable
	// characters).
	Name string
	// Role is required.
	Role Role
	// TTL is how long the key lives; 0 means it never expires.
	TTL time.Duration
	// Signed requires every request to be signed; admin keys always are.
	Signed bool
	// Cost is the bcrypt cost of the secret's hash; 0 means DefaultCost.
	// Only tests should set it lower.
	Cost int
}

func (s *KeySpec) validate() error {
	if !s.Role.Valid() {
		return fmt.Errorf("role %q: want admin, viewer or ingest: %w", s.Role, ErrInvalidSpec)
	}
	if len(s.Name) > MaxKeyNameLen {
		return fmt.Errorf("name is longer than %d characters: %w", MaxKeyNameLen, ErrInvalidSpec)
	}
	for _, r := range s.Name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("name %q: only printable characters are allowed: %w", s.Name, ErrInvalidSpec)
		}
	}
	if s.TTL < 0 {
		return fmt.Errorf("expiry %s is negative: %w", s.TTL, ErrInvalidSpec)
	}
	if s.Cost == 0 {
		s.Cost = DefaultCost
	}
	if s.Cost < bcrypt.MinCost || s.Cost > bcrypt.MaxCost {
		return fmt.Errorf("bcrypt cost %d: want %d to %d: %w", s.Cost, bcrypt.MinCost, bcrypt.MaxCost, ErrInvalidSpec)
	}
	if s.Role == RoleAdmin {
		s.Signed = true
	}
	return nil
}

// NewKey is a key just created, with the credentials shown to its holder
// once and never again.
type NewKey struct {
	// Key is the stored record.
	Key Key
	// Token is the bearer token, secopsd_<id>_<secret>.
	Token string
	// SigningSecret is the hex secret that signs requests; set only for
	// keys that require signatures.
	SigningSecret string
}

// idAttempts bounds CreateKey's retries on an id collision.
const idAttempts = 3

// CreateKey makes a key for spec: a random id and secret, the secret's
// bcrypt hash stored in st, and, for signing keys, the signing secret
// derived from masterKey. The token and signing secret are returned and
// not kept anywhere.
func CreateKey(ctx context.Context, st KeyStore, masterKey []byte, spec KeySpec, now time.Time) (NewKey, error) {
	if err := spec.validate(); err != nil {
		return NewKey{}, fmt.Errorf("create api key: %w", err)
	}
	if spec.Signed && len(masterKey) < MinMasterKeyLen {
		return NewKey{}, fmt.Errorf("create api key: a signing key needs a master key of at least %d bytes", MinMasterKeyLen)
	}
	secret := randomString(secretBytes)
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), spec.Cost)
	if err != nil {
		return NewKey{}, fmt.Errorf("create api key: hash secret: %w", err)
	}
	now = now.UTC().Truncate(time.Microsecond)
	k := Key{
		Name:             spec.Name,
		Role:             spec.Role,
		SecretHash:       string(hash),
		RequireSignature: spec.Signed,
		CreatedAt:        now,
	}
	if spec.TTL > 0 {
		exp := now.Add(spec.TTL)
		k.ExpiresAt = &exp
	}
	for attempt := 1; ; attempt++ {
		k.ID = randomString((KeyIDLen*5 + 7) / 8)[:KeyIDLen]
		err = st.CreateAPIKey(ctx, k)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrKeyExists) || attempt == idAttempts {
			return NewKey{}, fmt.Errorf("create api key: %w", err)
		}
	}
	out := NewKey{Key: k, Token: FormatToken(k.ID, secret)}
	if k.RequireSignature {
		out.SigningSecret = SigningSecret(masterKey, k.ID)
	}
	return out, nil
}

// randomString returns n random bytes, encoded.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24).
	return encoding.EncodeToString(b)
}

// FormatToken assembles a bearer token from a key id and secret.
func FormatToken(id, secret string) string { return TokenPrefix + id + "_" + secret }

// ParseToken splits a bearer token into key id and secret. It accepts
// exactly the form FormatToken makes: the prefix, a KeyIDLen id and a
// secret of the right length, all in the token alphabet.
func ParseToken(token string) (id, secret string, ok bool) {
	if len(token) != TokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return "", "", false
	}
	rest := token[len(TokenPrefix):]
	id, secret = rest[:KeyIDLen], rest[KeyIDLen+1:]
	if rest[KeyIDLen] != '_' || !validID(id) || !inAlphabet(secret) {
		return "", "", false
	}
	return id, secret, true
}

// ValidKeyID reports whether id has the form of a key id.
func ValidKeyID(id string) bool { return validID(id) }

func validID(id string) bool { return len(id) == KeyIDLen && inAlphabet(id) }

// inAlphabet reports whether s uses only the token alphabet.
func inAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
