-- Automated remediation (issue 5): playbook runs, the step executions of
-- each run and approval requests. The budgets of the engine (attempts per
-- incident, builds per rolling hour) are counted from these tables, so a
-- restart or a second process does not reset them. Times are INTEGER unix
-- microseconds in UTC, booleans 0 or 1, as in 00001.

-- +goose Up
-- One row per attempt to fix an incident with a playbook. The same run
-- (incident, playbook, attempt) is never started twice.
CREATE TABLE playbook_runs (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    playbook    TEXT    NOT NULL CHECK (playbook <> ''),
    attempt     INTEGER NOT NULL CHECK (attempt <> 0),
    status      TEXT    NOT NULL CHECK (status <> ''),
    dry_run     INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
    manual      INTEGER NOT NULL DEFAULT 0 CHECK (manual IN (0, 1)),
    actor       TEXT    NOT NULL DEFAULT '',
    next_step   INTEGER NOT NULL DEFAULT 0 CHECK (next_step >= 0),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    -- Fix attempts are numbered from 1; dry runs, which take no attempt,
    -- may use negative numbers.
    CHECK (attempt > 0 OR dry_run = 1),
    UNIQUE (incident_id, playbook, attempt),
    -- Target of the (run, incident) foreign keys below.
    UNIQUE (id, incident_id)
) STRICT;

CREATE INDEX playbook_runs_status ON playbook_runs (status, started_at);

-- One row per step of a run: written as started before the step runs and
-- finished after. A row still 'started' after a crash was interrupted.
CREATE TABLE step_executions (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL,
    incident_id INTEGER NOT NULL,
    step_index  INTEGER NOT NULL CHECK (step_index >= 0),
    name        TEXT    NOT NULL DEFAULT '',
    type        TEXT    NOT NULL CHECK (type <> ''),
    target      TEXT    NOT NULL DEFAULT '',
    idempotent  INTEGER NOT NULL DEFAULT 0 CHECK (idempotent IN (0, 1)),
    status      TEXT    NOT NULL CHECK (status <> ''),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    CHECK ((status = 'started') = (finished_at IS NULL)),
    FOREIGN KEY (run_id, incident_id) REFERENCES playbook_runs (id, incident_id)
) STRICT;

-- The build budget: builds started in the last rolling hour (status makes
-- the index covering).
CREATE INDEX step_executions_type_started ON step_executions (type, started_at, status);
CREATE INDEX step_executions_run ON step_executions (run_id, step_index);
-- Crash recovery: the steps still recorded as started.
CREATE INDEX step_executions_unfinished ON step_executions (started_at) WHERE status = 'started';

-- Requests for a human decision on one step of a run. Approvers and
-- reasons are JSON arrays of strings. A request is decided once.
CREATE TABLE approvals (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL,
    run_id      INTEGER NOT NULL,
    step_index  INTEGER NOT NULL CHECK (step_index >= 0),
    step_name   TEXT    NOT NULL DEFAULT '',
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    approvers   TEXT    NOT NULL DEFAULT '[]',
    reasons     TEXT    NOT NULL DEFAULT '[]',
    deadline    INTEGER NOT NULL,
    on_timeout  TEXT    NOT NULL CHECK (on_timeout IN ('approve', 'deny')),
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    decided_by  TEXT    NOT NULL DEFAULT '' CHECK (decided_by IN ('', 'human', 'deadline')),
    actor       TEXT    NOT NULL DEFAULT '',
    comment     TEXT    NOT NULL DEFAULT '',
    CHECK (((status = 'pending') = (decided_at IS NULL)) AND ((status = 'pending') = (decided_by = ''))),
    FOREIGN KEY (run_id, incident_id) REFERENCES playbook_runs (id, incident_id)
) STRICT;

-- Deadlines fire from the store: the pending requests due first.
CREATE INDEX approvals_status_deadline ON approvals (status, deadline);
-- At most one pending request per step of a run.
CREATE UNIQUE INDEX approvals_pending_step ON approvals (run_id, step_index) WHERE status = 'pending';

-- +goose Down
DROP TABLE approvals;
DROP TABLE step_executions;
DROP TABLE playbook_runs;
