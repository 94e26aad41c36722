-- Slack outbox claims: exactly one delivery worker (of one or several
-- daemons sharing the store) holds a row while it is being posted.

-- +goose Up
-- claim_token names the claim (attempt) that last took the row; a new
-- claim succeeds only if the row still carries the token its claimer read,
-- so that of two concurrent claimers exactly one wins. While a row is
-- sending, next_attempt_at is the end of its claim's lease: no other worker
-- takes it before then, and one that takes it after looks the message up
-- in Slack before posting it again.
ALTER TABLE slack_outbox ADD COLUMN claim_token text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE slack_outbox DROP COLUMN claim_token;
