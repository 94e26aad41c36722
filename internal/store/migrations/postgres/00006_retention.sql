-- The purge log of internal/retention: one row per purge of one data type
-- (events, nonces, correlation_state) that deleted something, and one per
-- purge of events even when it deleted nothing.

-- +goose Up
CREATE TABLE purges (
    id          bigserial   NOT NULL PRIMARY KEY,
    data_type   text        NOT NULL CHECK (data_type <> ''),
    cutoff      timestamptz NOT NULL,
    deleted     bigint      NOT NULL CHECK (deleted >= 0),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    actor       text        NOT NULL CHECK (actor <> ''),
    error       text        NOT NULL DEFAULT '',
    CHECK (finished_at >= started_at)
);

CREATE INDEX purges_data_type ON purges (data_type, id);

-- The purge log is append-only, like the timeline: the database itself
-- rejects edits, so a purge cannot be hidden after the fact.
-- +goose StatementBegin
CREATE FUNCTION purges_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'purges is append-only: % rejected', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER purges_reject_update_delete
    BEFORE UPDATE OR DELETE ON purges
    FOR EACH ROW EXECUTE FUNCTION purges_reject_change();

CREATE TRIGGER purges_reject_truncate
    BEFORE TRUNCATE ON purges
    FOR EACH STATEMENT EXECUTE FUNCTION purges_reject_change();

-- +goose Down
DROP TABLE purges;
DROP FUNCTION purges_reject_change();
