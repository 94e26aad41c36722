-- Positions of the event forwarders (internal/forward): one row per
-- configured output, the (received_at, id) of the last event it has passed
-- (forwarded or filtered out), moved only after the output accepted the
-- batch. Times are INTEGER unix microseconds in UTC, as in 00001.

-- +goose Up
CREATE TABLE forward_cursors (
    name        TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    received_at INTEGER NOT NULL,
    event_id    TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE forward_cursors;
