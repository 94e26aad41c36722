-- Positions of the event forwarders (internal/forward): one row per
-- configured output, the (received_at, id) of the last event it has passed
-- (forwarded or filtered out), moved only after the output accepted the
-- batch.

-- +goose Up
CREATE TABLE forward_cursors (
    name        text        NOT NULL PRIMARY KEY CHECK (name <> ''),
    received_at timestamptz NOT NULL,
    event_id    text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE forward_cursors;
