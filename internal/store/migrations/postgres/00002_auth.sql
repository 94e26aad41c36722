-- API keys, the nonces of signed requests and server-side secrets
-- (internal/auth), shared by every replica using this schema.

-- +goose Up
-- Only a bcrypt hash of a key's secret is stored. Keys are never deleted:
-- revocation stamps revoked_at. Admin keys always require signatures.
CREATE TABLE api_keys (
    id                text        NOT NULL PRIMARY KEY,
    name              text        NOT NULL DEFAULT '',
    role              text        NOT NULL CHECK (role IN ('admin', 'viewer', 'ingest')),
    secret_hash       text        NOT NULL CHECK (secret_hash <> ''),
    require_signature boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz,
    revoked_at        timestamptz,
    last_used_at      timestamptz,
    CHECK (role <> 'admin' OR require_signature)
);

-- One row per (key, nonce) until it expires: inserting a pair that is
-- already there is a replay, whichever replica sees it.
CREATE TABLE nonces (
    key_id     text        NOT NULL,
    nonce      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key_id, nonce)
);

CREATE INDEX nonces_expires_at ON nonces (expires_at);

-- Secrets every replica must share, such as the signing master key.
CREATE TABLE auth_secrets (
    name       text        NOT NULL PRIMARY KEY,
    value      text        NOT NULL,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE auth_secrets;
DROP TABLE nonces;
DROP TABLE api_keys;
