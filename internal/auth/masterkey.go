package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MinMasterKeyLen is the least length, in bytes, of the signing master key.
const MinMasterKeyLen = 32

// MasterKeyName is the name under which a generated master key is kept in
// the store's secrets.
const MasterKeyName = "signing_master_key"

// signingContext separates signing-secret derivation from any other use of
// the master key.
const signingContext = "secopsd-sign-v1:"

// LoadMasterKey returns the master key that signing secrets derive from:
// configured when it is set (auth.master_key), otherwise the key kept in
// the store, generated (32 random bytes, hex) by whichever process needs
// it first. Replicas sharing a PostgreSQL store therefore share it.
func LoadMasterKey(ctx context.Context, st SecretStore, configured []byte) ([]byte, error) {
	if len(configured) > 0 {
		if len(configured) < MinMasterKeyLen {
			return nil, fmt.Errorf("signing master key: want at least %d bytes, got %d", MinMasterKeyLen, len(configured))
		}
		return configured, nil
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24).
	v, err := st.InitSecret(ctx, MasterKeyName, hex.EncodeToString(b))
	if err != nil {
		return nil, fmt.Errorf("signing master key: %w", err)
	}
	if len(v) < MinMasterKeyLen {
		return nil, fmt.Errorf("signing master key: the stored key is shorter than %d bytes", MinMasterKeyLen)
	}
	return []byte(v), nil
}

// SigningSecret derives the signing secret of a key from the master key:
// hex(HMAC-SHA256(masterKey, "secopsd-sign-v1:" + keyID)). The server
// recomputes it and never stores it; its holder signs requests with the
// 32 bytes it encodes.
func SigningSecret(masterKey []byte, keyID string) string {
	return hex.EncodeToString(deriveSigningKey(masterKey, keyID))
}

func deriveSigningKey(masterKey []byte, keyID string) []byte {
	m := hmac.New(sha256.New, masterKey)
	m.Write([]byte(signingContext))
	m.Write([]byte(keyID))
	return m.Sum(nil)
}
