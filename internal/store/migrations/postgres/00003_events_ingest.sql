-- Indexes for ingested events: newest-first listing with a (time, id)
-- cursor, and tailing in the order the store received the events.
-- events_time (time) is replaced by events_time_id (time, id), which serves
-- every query the former did.

-- +goose Up
DROP INDEX events_time;
CREATE INDEX events_time_id ON events (time, id);
CREATE INDEX events_received ON events (received_at, id);

-- +goose Down
DROP INDEX events_received;
DROP INDEX events_time_id;
CREATE INDEX events_time ON events (time);
