-- State of the SIEM correlation rules (internal/siem/correlate.go): per
-- rule and group (such as credential_stuffing for one source address), the
-- newest event time and last firing, and the matching events counted in
-- time buckets of a fraction of the rule's window. Event times (last_seen,
-- last_fired, bucket_start, first_time, last_time) are the events' own;
-- updated_at is the store's clock, which retention purges by. Times are
-- INTEGER unix microseconds in UTC, as in 00001.

-- +goose Up
CREATE TABLE correlation_groups (
    rule         TEXT    NOT NULL,
    group_key    TEXT    NOT NULL,
    group_values TEXT    NOT NULL DEFAULT '{}',
    last_seen    INTEGER NOT NULL,
    last_fired   INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (rule, group_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX correlation_groups_updated_at ON correlation_groups (updated_at);

CREATE TABLE correlation_buckets (
    rule         TEXT    NOT NULL,
    group_key    TEXT    NOT NULL,
    bucket_start INTEGER NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    first_time   INTEGER NOT NULL,
    last_time    INTEGER NOT NULL,
    PRIMARY KEY (rule, group_key, bucket_start)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE correlation_buckets;
DROP TABLE correlation_groups;
