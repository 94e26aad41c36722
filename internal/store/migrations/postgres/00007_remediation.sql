-- Automated remediation (issue 5): playbook runs, the step executions of
-- each run and approval requests, shared by every replica using this
-- schema. The budgets of the engine (attempts per incident, builds per
-- rolling hour) are counted from these tables, so a restart or a second
-- replica does not reset them.

-- +goose Up
-- One row per attempt to fix an incident with a playbook. The same run
-- (incident, playbook, attempt) is never started twice, whichever replica
-- tries.
CREATE TABLE playbook_runs (
    id          bigserial   NOT NULL PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    playbook    text        NOT NULL CHECK (playbook <> ''),
    attempt     integer     NOT NULL CHECK (attempt <> 0),
    status      text        NOT NULL CHECK (status <> ''),
    dry_run     boolean     NOT NULL DEFAULT false,
    manual      boolean     NOT NULL DEFAULT false,
    actor       text        NOT NULL DEFAULT '',
    next_step   integer     NOT NULL DEFAULT 0 CHECK (next_step >= 0),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    -- Fix attempts are numbered from 1; dry runs, which take no attempt,
    -- may use negative numbers.
    CHECK (attempt > 0 OR dry_run),
    UNIQUE (incident_id, playbook, attempt),
    -- Target of the (run, incident) foreign keys below.
    UNIQUE (id, incident_id)
);

CREATE INDEX playbook_runs_status ON playbook_runs (status, started_at);

-- One row per step of a run: written as started before the step runs and
-- finished after. A row still 'started' after a crash was interrupted.
CREATE TABLE step_executions (
    id          bigserial   NOT NULL PRIMARY KEY,
    run_id      bigint      NOT NULL,
    incident_id bigint      NOT NULL,
    step_index  integer     NOT NULL CHECK (step_index >= 0),
    name        text        NOT NULL DEFAULT '',
    type        text        NOT NULL CHECK (type <> ''),
    target      text        NOT NULL DEFAULT '',
    idempotent  boolean     NOT NULL DEFAULT false,
    status      text        NOT NULL CHECK (status <> ''),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    CHECK ((status = 'started') = (finished_at IS NULL)),
    FOREIGN KEY (run_id, incident_id) REFERENCES playbook_runs (id, incident_id)
);

-- The build budget: builds started in the last rolling hour (status makes
-- the index covering).
CREATE INDEX step_executions_type_started ON step_executions (type, started_at, status);
CREATE INDEX step_executions_run ON step_executions (run_id, step_index);
-- Crash recovery: the steps still recorded as started.
CREATE INDEX step_executions_unfinished ON step_executions (started_at) WHERE status = 'started';

-- Requests for a human decision on one step of a run. Approvers and
-- reasons are JSON arrays of strings. A request is decided once.
CREATE TABLE approvals (
    id          bigserial   NOT NULL PRIMARY KEY,
    incident_id bigint      NOT NULL,
    run_id      bigint      NOT NULL,
    step_index  integer     NOT NULL CHECK (step_index >= 0),
    step_name   text        NOT NULL DEFAULT '',
    status      text        NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    approvers   text        NOT NULL DEFAULT '[]',
    reasons     text        NOT NULL DEFAULT '[]',
    deadline    timestamptz NOT NULL,
    on_timeout  text        NOT NULL CHECK (on_timeout IN ('approve', 'deny')),
    created_at  timestamptz NOT NULL,
    decided_at  timestamptz,
    decided_by  text        NOT NULL DEFAULT '' CHECK (decided_by IN ('', 'human', 'deadline')),
    actor       text        NOT NULL DEFAULT '',
    comment     text        NOT NULL DEFAULT '',
    CHECK (((status = 'pending') = (decided_at IS NULL)) AND ((status = 'pending') = (decided_by = ''))),
    FOREIGN KEY (run_id, incident_id) REFERENCES playbook_runs (id, incident_id)
);

-- Deadlines fire from the store: the pending requests due first.
CREATE INDEX approvals_status_deadline ON approvals (status, deadline);
-- At most one pending request per step of a run, across replicas.
CREATE UNIQUE INDEX approvals_pending_step ON approvals (run_id, step_index) WHERE status = 'pending';

-- +goose Down
DROP TABLE approvals;
DROP TABLE step_executions;
DROP TABLE playbook_runs;
