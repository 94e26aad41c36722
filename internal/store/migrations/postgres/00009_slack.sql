-- Slack delivery (issue 6): a durable outbox of the notifications to post,
-- the root message (thread) of each incident and the message of each
-- approval request. Times are timestamptz.

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
    id              bigserial NOT NULL PRIMARY KEY,
    incident_id     bigint NOT NULL CHECK (incident_id > 0),
    seq             bigint NOT NULL CHECK (seq > 0),
    kind            text    NOT NULL CHECK (kind <> ''),
    channel         text    NOT NULL CHECK (channel <> ''),
    mention         text    NOT NULL DEFAULT '',
    digest_ms       bigint NOT NULL DEFAULT 0 CHECK (digest_ms >= 0),
    status          text    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent')),
    attempts        bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text    NOT NULL DEFAULT '',
    batch           text    NOT NULL DEFAULT '',
    ts              text    NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    UNIQUE (incident_id, seq),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

-- The rows still to deliver, by due time.
CREATE INDEX slack_outbox_unsent ON slack_outbox (next_attempt_at) WHERE status <> 'sent';

-- The root message of each incident posted to Slack; later entries are
-- replies in its thread. route is the channel as configured (a #name or
-- an id), channel the id Slack answered with.
CREATE TABLE slack_threads (
    incident_id bigint NOT NULL PRIMARY KEY,
    route       text    NOT NULL,
    channel     text    NOT NULL CHECK (channel <> ''),
    root_ts     text    NOT NULL CHECK (root_ts <> ''),
    created_at  timestamptz NOT NULL
);

CREATE INDEX slack_threads_route ON slack_threads (route);

-- The message carrying the Approve / Deny buttons of each approval request,
-- updated with the decision.
CREATE TABLE slack_approval_messages (
    approval_id bigint NOT NULL PRIMARY KEY,
    incident_id bigint NOT NULL,
    channel     text    NOT NULL CHECK (channel <> ''),
    ts          text    NOT NULL CHECK (ts <> ''),
    created_at  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE slack_approval_messages;
DROP TABLE slack_threads;
DROP TABLE slack_outbox;
