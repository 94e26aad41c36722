-- Slack delivery (issue 6): a durable outbox of the notifications to post,
-- the root message (thread) of each incident and the message of each
-- approval request. Times are INTEGER unix microseconds in UTC, as in 00001.

-- +goose Up
-- One row per notified timeline entry: unique per (incident, seq), so that
-- notifying the same entry again (after a restart) enqueues nothing. Rows
-- are kept after they are sent; status says where each is:
--   pending  not posted yet (or Slack refused the last attempt);
--   sending  an attempt started and its outcome is unknown (a crash or a
--            lost answer): the message is looked up in Slack before it
--            is posted again;
--   sent     posted; ts is the message's Slack time stamp.
-- digest_ms > 0 marks a row of a digest route, posted with the other rows
-- of its channel in one message per period; batch names that message.
CREATE TABLE slack_outbox (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    incident_id     INTEGER NOT NULL CHECK (incident_id > 0),
    seq             INTEGER NOT NULL CHECK (seq > 0),
    kind            TEXT    NOT NULL CHECK (kind <> ''),
    channel         TEXT    NOT NULL CHECK (channel <> ''),
    mention         TEXT    NOT NULL DEFAULT '',
    digest_ms       INTEGER NOT NULL DEFAULT 0 CHECK (digest_ms >= 0),
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    batch           TEXT    NOT NULL DEFAULT '',
    ts              TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    UNIQUE (incident_id, seq),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
) STRICT;

-- The rows still to deliver, by due time.
CREATE INDEX slack_outbox_unsent ON slack_outbox (next_attempt_at) WHERE status <> 'sent';

-- The root message of each incident posted to Slack; later entries are
-- replies in its thread. route is the channel as configured (a #name or
-- an id), channel the id Slack answered with.
CREATE TABLE slack_threads (
    incident_id INTEGER NOT NULL PRIMARY KEY,
    route       TEXT    NOT NULL,
    channel     TEXT    NOT NULL CHECK (channel <> ''),
    root_ts     TEXT    NOT NULL CHECK (root_ts <> ''),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX slack_threads_route ON slack_threads (route);

-- The message carrying the Approve / Deny buttons of each approval request,
-- updated with the decision.
CREATE TABLE slack_approval_messages (
    approval_id INTEGER NOT NULL PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    channel     TEXT    NOT NULL CHECK (channel <> ''),
    ts          TEXT    NOT NULL CHECK (ts <> ''),
    created_at  INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE slack_approval_messages;
DROP TABLE slack_threads;
DROP TABLE slack_outbox;
