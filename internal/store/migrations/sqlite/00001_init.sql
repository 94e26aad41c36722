-- Initial schema for the embedded SQLite store.
--
-- Times are INTEGER unix microseconds in UTC, so that they round-trip exactly
-- at incident.TimePrecision and sort numerically. Booleans are 0 or 1.

-- +goose Up
CREATE TABLE events (
    id             TEXT    NOT NULL PRIMARY KEY,
    time           INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    source         TEXT    NOT NULL DEFAULT '',
    monitor        TEXT    NOT NULL DEFAULT '',
    kind           TEXT    NOT NULL DEFAULT '',
    outcome        TEXT    NOT NULL DEFAULT '',
    fingerprint    TEXT    NOT NULL DEFAULT '',
    title          TEXT    NOT NULL DEFAULT '',
    severity       TEXT    NOT NULL DEFAULT 'unknown',
    category       TEXT    NOT NULL DEFAULT '',
    open_incident  INTEGER NOT NULL DEFAULT 0 CHECK (open_incident IN (0, 1)),
    attributes     TEXT    NOT NULL DEFAULT '{}',
    correlation_id TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_time ON events (time);
CREATE INDEX events_fingerprint ON events (fingerprint, time);
CREATE INDEX events_monitor ON events (monitor, time);

CREATE TABLE incidents (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    fingerprint     TEXT    NOT NULL CHECK (fingerprint <> ''),
    title           TEXT    NOT NULL DEFAULT '',
    monitor         TEXT    NOT NULL DEFAULT '',
    category        TEXT    NOT NULL DEFAULT '',
    severity        TEXT    NOT NULL DEFAULT 'unknown',
    tier            TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    opened_at       INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    recovery_passes INTEGER NOT NULL DEFAULT 0,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    head_hash       TEXT    NOT NULL DEFAULT ''
) STRICT;

-- At most one unresolved incident per fingerprint.
CREATE UNIQUE INDEX incidents_unresolved_fingerprint
    ON incidents (fingerprint) WHERE status <> 'resolved';
CREATE INDEX incidents_fingerprint ON incidents (fingerprint);
CREATE INDEX incidents_monitor ON incidents (monitor);
CREATE INDEX incidents_opened_at ON incidents (opened_at);

CREATE TABLE timeline (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    time        INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    PRIMARY KEY (incident_id, seq)
) STRICT;

-- The timeline is append-only: the database itself rejects edits.
-- +goose StatementBegin
CREATE TRIGGER timeline_reject_update BEFORE UPDATE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'timeline is append-only: UPDATE rejected');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER timeline_reject_delete BEFORE DELETE ON timeline
BEGIN
    SELECT RAISE(ABORT, 'timeline is append-only: DELETE rejected');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER timeline_reject_delete;
DROP TRIGGER timeline_reject_update;
DROP TABLE timeline;
DROP TABLE incidents;
DROP TABLE events;
