-- Sessions of the auditor web UI (issue 7). A session is created when a
-- viewer or admin API key signs in; the browser holds a random 32-byte id
-- in a cookie and only its SHA-256 (hex) is stored here, so a copy of the
-- database cannot be replayed as a session. Times are INTEGER unix
-- microseconds in UTC, as in 00001.

-- +goose Up
CREATE TABLE ui_sessions (
    id_hash      TEXT    NOT NULL PRIMARY KEY CHECK (length(id_hash) = 64),
    key_id       TEXT    NOT NULL CHECK (key_id <> ''),
    key_name     TEXT    NOT NULL DEFAULT '',
    role         TEXT    NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    CHECK (expires_at > created_at)
) STRICT, WITHOUT ROWID;

-- Purging finds sessions past their absolute or idle expiry.
CREATE INDEX ui_sessions_expires_at ON ui_sessions (expires_at);
CREATE INDEX ui_sessions_last_seen_at ON ui_sessions (last_seen_at);

-- +goose Down
DROP TABLE ui_sessions;
