-- Silences created at run time (issue 5): while one is in force, the
-- incidents it matches (by monitor and category) notify nobody and run no
-- automation; events are still stored. The maintenance windows of the
-- configuration are not stored. Times are INTEGER unix microseconds in UTC,
-- as in 00001; monitors and categories are JSON arrays of strings.

-- +goose Up
-- Silences are never deleted: expiring one early moves ends_at to the time
-- of expiry and records who did it.
CREATE TABLE silences (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    monitors   TEXT    NOT NULL DEFAULT '[]',
    categories TEXT    NOT NULL DEFAULT '[]',
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL CHECK (created_by <> ''),
    created_at INTEGER NOT NULL,
    expired_at INTEGER,
    expired_by TEXT    NOT NULL DEFAULT '',
    CHECK (ends_at > starts_at OR (expired_at IS NOT NULL AND ends_at = starts_at)),
    CHECK (monitors <> '[]' OR categories <> '[]')
) STRICT;

-- The silences in force or pending: those that end after now.
CREATE INDEX silences_ends_at ON silences (ends_at);

-- +goose Down
DROP TABLE silences;
