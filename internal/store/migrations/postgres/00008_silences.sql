-- Silences created at run time (issue 5), shared by every replica using
-- this schema: while one is in force, the incidents it matches (by monitor
-- and category) notify nobody and run no automation; events are still
-- stored. The maintenance windows of the configuration are not stored.
-- monitors and categories are JSON arrays of strings, kept as text like the
-- other JSON columns.

-- +goose Up
-- Silences are never deleted: expiring one early moves ends_at to the time
-- of expiry and records who did it.
CREATE TABLE silences (
    id         bigserial   NOT NULL PRIMARY KEY,
    monitors   text        NOT NULL DEFAULT '[]',
    categories text        NOT NULL DEFAULT '[]',
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    comment    text        NOT NULL DEFAULT '',
    created_by text        NOT NULL CHECK (created_by <> ''),
    created_at timestamptz NOT NULL,
    expired_at timestamptz,
    expired_by text        NOT NULL DEFAULT '',
    CHECK (ends_at > starts_at OR (expired_at IS NOT NULL AND ends_at = starts_at)),
    CHECK (monitors <> '[]' OR categories <> '[]')
);

-- The silences in force or pending: those that end after now.
CREATE INDEX silences_ends_at ON silences (ends_at);

-- +goose Down
DROP TABLE silences;
