-- API keys, the nonces of signed requests and server-side secrets
-- (internal/auth). Times are INTEGER unix microseconds in UTC, booleans 0
-- or 1, as in 00001.

-- +goose Up
-- Only a bcrypt hash of a key's secret is stored. Keys are never deleted:
-- revocation stamps revoked_at. Admin keys always require signatures.
CREATE TABLE api_keys (
    id                TEXT    NOT NULL PRIMARY KEY,
    name              TEXT    NOT NULL DEFAULT '',
    role              TEXT    NOT NULL CHECK (role IN ('admin', 'viewer', 'ingest')),
    secret_hash       TEXT    NOT NULL CHECK (secret_hash <> ''),
    require_signature INTEGER NOT NULL DEFAULT 0 CHECK (require_signature IN (0, 1)),
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER,
    revoked_at        INTEGER,
    last_used_at      INTEGER,
    CHECK (role <> 'admin' OR require_signature = 1)
) STRICT;

-- One row per (key, nonce) until it expires: inserting a pair that is
-- already there is a replay.
CREATE TABLE nonces (
    key_id     TEXT    NOT NULL,
    nonce      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
) STRICT, WITHOUT ROWID;

CREATE INDEX nonces_expires_at ON nonces (expires_at);

-- Secrets every replica must share, such as the signing master key.
CREATE TABLE auth_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE auth_secrets;
DROP TABLE nonces;
DROP TABLE api_keys;
