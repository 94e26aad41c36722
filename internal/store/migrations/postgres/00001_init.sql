-- Initial schema for the PostgreSQL store. Objects are created in the
-- current schema (the first of search_path), as is goose's version table.

-- +goose Up
CREATE TABLE events (
    id             text        NOT NULL PRIMARY KEY,
    time           timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    source         text        NOT NULL DEFAULT '',
    monitor        text        NOT NULL DEFAULT '',
    kind           text        NOT NULL DEFAULT '',
    outcome        text        NOT NULL DEFAULT '',
    fingerprint    text        NOT NULL DEFAULT '',
    title          text        NOT NULL DEFAULT '',
    severity       text        NOT NULL DEFAULT 'unknown',
    category       text        NOT NULL DEFAULT '',
    open_incident  boolean     NOT NULL DEFAULT false,
    attributes     text        NOT NULL DEFAULT '{}',
    correlation_id text        NOT NULL DEFAULT ''
);

CREATE INDEX events_time ON events (time);
CREATE INDEX events_fingerprint ON events (fingerprint, time);
CREATE INDEX events_monitor ON events (monitor, time);

CREATE TABLE incidents (
    id              bigserial   NOT NULL PRIMARY KEY,
    fingerprint     text        NOT NULL CHECK (fingerprint <> ''),
    title           text        NOT NULL DEFAULT '',
    monitor         text        NOT NULL DEFAULT '',
    category        text        NOT NULL DEFAULT '',
    severity        text        NOT NULL DEFAULT 'unknown',
    tier            text        NOT NULL DEFAULT '',
    status          text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    opened_at       timestamptz NOT NULL,
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    failures        integer     NOT NULL DEFAULT 0,
    recovery_passes integer     NOT NULL DEFAULT 0,
    last_seq        bigint      NOT NULL DEFAULT 0,
    head_hash       text        NOT NULL DEFAULT ''
);

-- At most one unresolved incident per fingerprint, across every replica.
CREATE UNIQUE INDEX incidents_unresolved_fingerprint
    ON incidents (fingerprint) WHERE status <> 'resolved';
CREATE INDEX incidents_fingerprint ON incidents (fingerprint);
CREATE INDEX incidents_monitor ON incidents (monitor);
CREATE INDEX incidents_opened_at ON incidents (opened_at);

-- payload is text, not jsonb: the exact canonical bytes that were hashed are
-- kept.
CREATE TABLE timeline (
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    seq         bigint      NOT NULL CHECK (seq >= 1),
    time        timestamptz NOT NULL,
    actor       text        NOT NULL,
    kind        text        NOT NULL,
    payload     text        NOT NULL,
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

-- The timeline is append-only: the database itself rejects edits.
-- +goose StatementBegin
CREATE FUNCTION timeline_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timeline is append-only: % rejected', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER timeline_reject_update_delete
    BEFORE UPDATE OR DELETE ON timeline
    FOR EACH ROW EXECUTE FUNCTION timeline_reject_change();

CREATE TRIGGER timeline_reject_truncate
    BEFORE TRUNCATE ON timeline
    FOR EACH STATEMENT EXECUTE FUNCTION timeline_reject_change();

-- +goose Down
DROP TABLE timeline;
DROP FUNCTION timeline_reject_change();
DROP TABLE incidents;
DROP TABLE events;
