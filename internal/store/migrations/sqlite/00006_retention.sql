-- The purge log of internal/retention: one row per purge of one data type
-- (events, nonces, correlation_state) that deleted something, and one per
-- purge of events even when it deleted nothing. Times are INTEGER unix
-- microseconds in UTC, as in 00001.

-- +goose Up
CREATE TABLE purges (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    data_type   TEXT    NOT NULL CHECK (data_type <> ''),
    cutoff      INTEGER NOT NULL,
    deleted     INTEGER NOT NULL CHECK (deleted >= 0),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    actor       TEXT    NOT NULL CHECK (actor <> ''),
    error       TEXT    NOT NULL DEFAULT '',
    CHECK (finished_at >= started_at)
) STRICT;

CREATE INDEX purges_data_type ON purges (data_type, id);

-- The purge log is append-only, like the timeline: the database itself
-- rejects edits, so a purge cannot be hidden after the fact.
-- +goose StatementBegin
CREATE TRIGGER purges_reject_update BEFORE UPDATE ON purges
BEGIN
    SELECT RAISE(ABORT, 'purges is append-only: UPDATE rejected');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER purges_reject_delete BEFORE DELETE ON purges
BEGIN
    SELECT RAISE(ABORT, 'purges is append-only: DELETE rejected');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER purges_reject_delete;
DROP TRIGGER purges_reject_update;
DROP TABLE purges;
