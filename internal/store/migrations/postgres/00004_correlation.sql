-- State of the SIEM correlation rules (internal/siem/correlate.go), shared
-- by every replica using this schema: per rule and group (such as
-- credential_stuffing for one source address), the newest event time and
-- last firing, and the matching events counted in time buckets of a
-- fraction of the rule's window. Event times (last_seen, last_fired,
-- bucket_start, first_time, last_time) are the events' own; updated_at is
-- the store's clock, which retention purges by. A replica updating a group
-- holds its row locked until it commits, so replicas count into one window
-- and claim each firing once.

-- +goose Up
CREATE TABLE correlation_groups (
    rule         text        NOT NULL,
    group_key    text        NOT NULL,
    group_values text        NOT NULL DEFAULT '{}',
    last_seen    timestamptz NOT NULL,
    last_fired   timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (rule, group_key)
);

CREATE INDEX correlation_groups_updated_at ON correlation_groups (updated_at);

CREATE TABLE correlation_buckets (
    rule         text        NOT NULL,
    group_key    text        NOT NULL,
    bucket_start timestamptz NOT NULL,
    amount       bigint      NOT NULL CHECK (amount > 0),
    first_time   timestamptz NOT NULL,
    last_time    timestamptz NOT NULL,
    PRIMARY KEY (rule, group_key, bucket_start)
);

-- +goose Down
DROP TABLE correlation_buckets;
DROP TABLE correlation_groups;
