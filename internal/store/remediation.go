package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/secopsd/secopsd/internal/incident"
)

// The persistence of automated remediation (incident.RemediationStore):
// playbook runs, their step executions and approval requests. Every
// guarantee the engine relies on across goroutines, restarts and replicas
// is decided by the database in one statement: a unique key makes a run
// start once, and conditional UPDATEs make claiming a run, finishing a
// step and deciding an approval happen exactly once.

var (
	_ incident.RemediationStore = (*SQLite)(nil)
	_ incident.RemediationStore = (*Postgres)(nil)
)

// ErrStepFinished is wrapped by FinishStep when the step execution is no
// longer recorded as started: someone (another replica's crash recovery,
// say) finished it first.
var ErrStepFinished = errors.New("step execution already finished")

// ErrApprovalPending is wrapped by CreateApproval when a pending request
// for the same step of the same run exists.
var ErrApprovalPending = errors.New("a pending approval request for this step exists")

const playbookRunColumns = `id, incident_id, playbook, attempt, status, dry_run, manual, actor, next_step,
	started_at, finished_at`

const stepExecutionColumns = `id, run_id, incident_id, step_index, name, type, target, idempotent, status,
	started_at, finished_at`

const approvalColumns = `id, incident_id, run_id, step_index, step_name, status, approvers, reasons,
	deadline, on_timeout, created_at, decided_at, decided_by, actor, comment`

// runStatus reports whether status is a known run status and whether it
// is terminal (the run is over: finished_at is set).
func runStatus(status string) (terminal, known bool) {
	switch status {
	case incident.RunRunning, incident.RunWaitingApproval:
		return false, true
	case incident.RunSucceeded, incident.RunFailed, incident.RunEscalated, incident.RunInterrupted,
		incident.RunDryRun, incident.RunAbandoned:
		return true, true
	}
	return false, false
}

// isStepStatus reports whether status is a known step status.
func isStepStatus(status string) bool {
	switch status {
	case incident.StepStatusStarted, incident.StepStatusSucceeded, incident.StepStatusFailed,
		incident.StepStatusSkipped, incident.StepStatusDryRun, incident.StepStatusInterrupt:
		return true
	}
	return false
}

// TerminalRunStatus reports whether a run in status is over, so that the
// store stamps its finished_at; the other known statuses (running,
// waiting_approval) leave finished_at empty.
func TerminalRunStatus(status string) bool {
	terminal, _ := runStatus(status)
	return terminal
}

// notFoundError names the missing row and wraps incident.ErrNotFound.
type notFoundError struct {
	what string
	id   int64
}

func (e notFoundError) Error() string { return fmt.Sprintf("%s %d not found", e.what, e.id) }

func (e notFoundError) Unwrap() error { return incident.ErrNotFound }

// foreignKeyChecker is implemented by the backends: it tells a foreign key
// violation (a row referring to a missing incident or run) from other
// errors.
type foreignKeyChecker interface {
	isForeignKeyViolation(err error) bool
}

var (
	_ foreignKeyChecker = (*SQLite)(nil)
	_ foreignKeyChecker = (*Postgres)(nil)
)

// pgForeignKeyViolation is PostgreSQL's SQLSTATE for foreign_key_violation.
const pgForeignKeyViolation = "23503"

func (s *SQLite) isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func (s *Postgres) isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgForeignKeyViolation
}

func (s *sqlStore) isForeignKeyViolation(err error) bool {
	fk, ok := s.b.(foreignKeyChecker)
	return ok && fk.isForeignKeyViolation(err)
}

// CreateRun inserts a run (status running when empty) and returns it with
// its id. A run (incident, playbook, attempt) that exists fails with an
// error wrapping incident.ErrRunExists, whichever process inserted it; an
// unknown incident with incident.ErrNotFound. A terminal status without a
// finishing time is finished at its start.
func (s *sqlStore) CreateRun(ctx context.Context, run incident.PlaybookRun) (incident.PlaybookRun, error) {
	if run.Status == "" {
		run.Status = incident.RunRunning
	}
	run.StartedAt = incident.NormalizeTime(run.StartedAt)
	run.FinishedAt = normalizePtr(run.FinishedAt)
	if TerminalRunStatus(run.Status) && run.FinishedAt == nil {
		run.FinishedAt = &run.StartedAt
	}
	if err := validateRun(run); err != nil {
		return incident.PlaybookRun{}, fmt.Errorf("create playbook run: %w", err)
	}
	err := s.b.pool().queryRow(ctx, `INSERT INTO playbook_runs (incident_id, playbook, attempt, status, dry_run,
			manual, actor, next_step, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING id`,
		run.IncidentID, run.Playbook, run.Attempt, run.Status, run.DryRun, run.Manual, run.Actor, run.NextStep,
		s.b.timeArg(run.StartedAt), s.nullTimeArg(run.FinishedAt),
	).Scan(&run.ID)
	switch {
	case s.b.isUniqueViolation(err):
		return incident.PlaybookRun{}, fmt.Errorf("create playbook run %q attempt %d of incident %d: %w",
			run.Playbook, run.Attempt, run.IncidentID, incident.ErrRunExists)
	case s.isForeignKeyViolation(err):
		return incident.PlaybookRun{}, fmt.Errorf("create playbook run %q: %w", run.Playbook,
			notFoundError{"incident", run.IncidentID})
	case err != nil:
		return incident.PlaybookRun{}, fmt.Errorf("create playbook run %q attempt %d of incident %d: %w",
			run.Playbook, run.Attempt, run.IncidentID, err)
	}
	return run, nil
}

// validateRun checks a run about to be created.
func validateRun(run incident.PlaybookRun) error {
	terminal, known := runStatus(run.Status)
	switch {
	case run.Playbook == "":
		return fmt.Errorf("run has no playbook: %w", ErrInvalid)
	case run.Attempt == 0 || (run.Attempt < 0 && !run.DryRun):
		return fmt.Errorf("run of playbook %q: attempt %d, want 1 or more (negative only for a dry run): %w",
			run.Playbook, run.Attempt, ErrInvalid)
	case !known:
		return fmt.Errorf("run of playbook %q: unknown status %q: %w", run.Playbook, run.Status, ErrInvalid)
	case run.NextStep < 0:
		return fmt.Errorf("run of playbook %q: next step %d is negative: %w", run.Playbook, run.NextStep, ErrInvalid)
	case run.StartedAt.IsZero():
		return fmt.Errorf("run of playbook %q has no start time: %w", run.Playbook, ErrInvalid)
	case !terminal && run.FinishedAt != nil:
		return fmt.Errorf("run of playbook %q in status %q has a finishing time: %w", run.Playbook, run.Status, ErrInvalid)
	}
	return nil
}

// GetRun returns one run, or an error wrapping incident.ErrNotFound.
func (s *sqlStore) GetRun(ctx context.Context, id int64) (incident.PlaybookRun, error) {
	run, err := scanPlaybookRun(s.b.pool().queryRow(ctx, `SELECT `+playbookRunColumns+` FROM playbook_runs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return incident.PlaybookRun{}, notFoundError{"playbook run", id}
	}
	if err != nil {
		return incident.PlaybookRun{}, fmt.Errorf("get playbook run %d: %w", id, err)
	}
	return run, nil
}

// UpdateRun sets a run's status and next step; a terminal status stamps
// finished_at with at, any other clears it. With from non-empty the run
// changes only if its status is from (one statement, so of concurrent
// claimers on any replica exactly one wins), and the result reports
// whether it did. An unknown run fails with incident.ErrNotFound.
func (s *sqlStore) UpdateRun(ctx context.Context, id int64, from, status string, nextStep int, at time.Time) (bool, error) {
	terminal, known := runStatus(status)
	switch {
	case !known:
		return false, fmt.Errorf("update playbook run %d: unknown status %q: %w", id, status, ErrInvalid)
	case from != "" && !isRunStatus(from):
		return false, fmt.Errorf("update playbook run %d: unknown status %q to change from: %w", id, from, ErrInvalid)
	case nextStep < 0:
		return false, fmt.Errorf("update playbook run %d: next step %d is negative: %w", id, nextStep, ErrInvalid)
	case terminal && at.IsZero():
		return false, fmt.Errorf("update playbook run %d to %s: no finishing time: %w", id, status, ErrInvalid)
	}
	var finished any
	if terminal {
		finished = s.b.timeArg(at)
	}
	query := `UPDATE playbook_runs SET status = $2, next_step = $3, finished_at = $4 WHERE id = $1`
	args := []any{id, status, nextStep, finished}
	if from != "" {
		query += ` AND status = $5`
		args = append(args, from)
	}
	var got int64
	err := s.b.pool().queryRow(ctx, query+` RETURNING id`, args...).Scan(&got)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("update playbook run %d to %s: %w", id, status, err)
	}
	// Nothing changed: the run is missing, or (with from) not in from.
	if _, err := s.GetRun(ctx, id); err != nil {
		return false, fmt.Errorf("update playbook run to %s: %w", status, err)
	}
	if from == "" {
		// The run exists but was not updated: only possible if it vanished
		// and came back in between, which the schema does not allow.
		return false, fmt.Errorf("update playbook run %d to %s: no row changed", id, status)
	}
	return false, nil
}

func isRunStatus(status string) bool {
	_, known := runStatus(status)
	return known
}

// Runs returns an incident's runs, oldest first (none for an unknown
// incident).
func (s *sqlStore) Runs(ctx context.Context, incidentID int64) ([]incident.PlaybookRun, error) {
	runs, err := s.queryPlaybookRuns(ctx, `SELECT `+playbookRunColumns+` FROM playbook_runs
		WHERE incident_id = $1 ORDER BY started_at, id`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("list playbook runs of incident %d: %w", incidentID, err)
	}
	return runs, nil
}

// RunsByStatus returns every run in status, oldest first.
func (s *sqlStore) RunsByStatus(ctx context.Context, status string) ([]incident.PlaybookRun, error) {
	if !isRunStatus(status) {
		return nil, fmt.Errorf("list playbook runs: unknown status %q: %w", status, ErrInvalid)
	}
	runs, err := s.queryPlaybookRuns(ctx, `SELECT `+playbookRunColumns+` FROM playbook_runs
		WHERE status = $1 ORDER BY started_at, id`, status)
	if err != nil {
		return nil, fmt.Errorf("list %s playbook runs: %w", status, err)
	}
	return runs, nil
}

// CountAttempts counts the runs of an incident that are not dry runs, of
// every playbook and status.
func (s *sqlStore) CountAttempts(ctx context.Context, incidentID int64) (int, error) {
	var n int
	if err := s.b.pool().queryRow(ctx, `SELECT COUNT(*) FROM playbook_runs WHERE incident_id = $1 AND NOT dry_run`,
		incidentID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count fix attempts of incident %d: %w", incidentID, err)
	}
	return n, nil
}

// StartStep records a step execution (status started when empty) and
// returns it with its id; an empty IncidentID is taken from the run. A
// step recorded in another status (skipped, dry_run) is finished at its
// start unless FinishedAt says otherwise. An unknown run, or a run of
// another incident, fails with incident.ErrNotFound.
func (s *sqlStore) StartStep(ctx context.Context, st incident.StepExecution) (incident.StepExecution, error) {
	if st.Status == "" {
		st.Status = incident.StepStatusStarted
	}
	st.StartedAt = incident.NormalizeTime(st.StartedAt)
	st.FinishedAt = normalizePtr(st.FinishedAt)
	if st.Status != incident.StepStatusStarted && st.FinishedAt == nil {
		st.FinishedAt = &st.StartedAt
	}
	if err := validateStep(st); err != nil {
		return incident.StepExecution{}, fmt.Errorf("start step: %w", err)
	}
	if st.IncidentID == 0 {
		run, err := s.GetRun(ctx, st.RunID)
		if err != nil {
			return incident.StepExecution{}, fmt.Errorf("start step %d (%s): %w", st.Index, st.Name, err)
		}
		st.IncidentID = run.IncidentID
	}
	err := s.b.pool().queryRow(ctx, `INSERT INTO step_executions (run_id, incident_id, step_index, name, type,
			target, idempotent, status, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING id`,
		st.RunID, st.IncidentID, st.Index, st.Name, string(st.Type), st.Target, st.Idempotent, st.Status,
		s.b.timeArg(st.StartedAt), s.nullTimeArg(st.FinishedAt),
	).Scan(&st.ID)
	if s.isForeignKeyViolation(err) {
		return incident.StepExecution{}, fmt.Errorf("start step %d (%s) of incident %d: %w", st.Index, st.Name,
			st.IncidentID, notFoundError{"playbook run", st.RunID})
	}
	if err != nil {
		return incident.StepExecution{}, fmt.Errorf("start step %d (%s) of playbook run %d: %w", st.Index, st.Name, st.RunID, err)
	}
	return st, nil
}

// validateStep checks a step execution about to be recorded.
func validateStep(st incident.StepExecution) error {
	switch {
	case st.RunID <= 0:
		return fmt.Errorf("step %q has no playbook run: %w", st.Name, ErrInvalid)
	case st.Index < 0:
		return fmt.Errorf("step %q: index %d is negative: %w", st.Name, st.Index, ErrInvalid)
	case !st.Type.Valid():
		return fmt.Errorf("step %q: unknown type %q: %w", st.Name, st.Type, ErrInvalid)
	case !isStepStatus(st.Status):
		return fmt.Errorf("step %q: unknown status %q: %w", st.Name, st.Status, ErrInvalid)
	case st.StartedAt.IsZero():
		return fmt.Errorf("step %q has no start time: %w", st.Name, ErrInvalid)
	case st.Status == incident.StepStatusStarted && st.FinishedAt != nil:
		return fmt.Errorf("step %q is started and has a finishing time: %w", st.Name, ErrInvalid)
	}
	return nil
}

// FinishStep sets a started step's final status and finishing time. It
// changes the step only while it is recorded as started (one statement, so
// of concurrent finishers exactly one wins); otherwise it fails with an
// error wrapping ErrStepFinished, or incident.ErrNotFound for an unknown
// step.
func (s *sqlStore) FinishStep(ctx context.Context, id int64, status string, at time.Time) error {
	switch {
	case status == incident.StepStatusStarted || !isStepStatus(status):
		return fmt.Errorf("finish step execution %d: %q is not a final step status: %w", id, status, ErrInvalid)
	case at.IsZero():
		return fmt.Errorf("finish step execution %d: no finishing time: %w", id, ErrInvalid)
	}
	var got int64
	err := s.b.pool().queryRow(ctx, `UPDATE step_executions SET status = $2, finished_at = $3
		WHERE id = $1 AND status = $4 RETURNING id`,
		id, status, s.b.timeArg(at), incident.StepStatusStarted).Scan(&got)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("finish step execution %d: %w", id, err)
	}
	var cur string
	err = s.b.pool().queryRow(ctx, `SELECT status FROM step_executions WHERE id = $1`, id).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("finish step: %w", notFoundError{"step execution", id})
	}
	if err != nil {
		return fmt.Errorf("finish step execution %d: %w", id, err)
	}
	return fmt.Errorf("finish step execution %d as %s: it is %s: %w", id, status, cur, ErrStepFinished)
}

// UnfinishedSteps returns every step still recorded as started, oldest
// first: after a crash, the steps that were interrupted.
func (s *sqlStore) UnfinishedSteps(ctx context.Context) ([]incident.StepExecution, error) {
	out, err := queryAll(ctx, s.b.pool(), scanStepExecution, `SELECT `+stepExecutionColumns+` FROM step_executions
		WHERE status = $1 ORDER BY started_at, id`, incident.StepStatusStarted)
	if err != nil {
		return nil, fmt.Errorf("list unfinished steps: %w", err)
	}
	return out, nil
}

// CountBuildsSince counts the build steps started at or after since across
// all incidents, except those skipped or recorded as dry runs: a build
// that failed or was interrupted was still triggered.
func (s *sqlStore) CountBuildsSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.b.pool().queryRow(ctx, `SELECT COUNT(*) FROM step_executions
		WHERE type = $1 AND started_at >= $2 AND status <> $3 AND status <> $4`,
		string(incident.StepBuild), s.b.timeArg(since), incident.StepStatusSkipped, incident.StepStatusDryRun,
	).Scan(&n); err != nil {
		return 0, fmt.Errorf("count builds since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}

// CreateApproval inserts a pending approval request (status pending when
// empty) and returns it with its id; an empty IncidentID is taken from the
// run. A pending request for the same step of the run fails with
// ErrApprovalPending, an unknown run with incident.ErrNotFound.
func (s *sqlStore) CreateApproval(ctx context.Context, a incident.Approval) (incident.Approval, error) {
	if a.Status == "" {
		a.Status = incident.ApprovalPending
	}
	a.Deadline = incident.NormalizeTime(a.Deadline)
	a.CreatedAt = incident.NormalizeTime(a.CreatedAt)
	a.Approvers, a.Reasons = nonNil(a.Approvers), nonNil(a.Reasons)
	if err := validateApproval(a); err != nil {
		return incident.Approval{}, fmt.Errorf("create approval request: %w", err)
	}
	approvers, err := json.Marshal(a.Approvers)
	if err != nil {
		return incident.Approval{}, fmt.Errorf("create approval request: encode approvers: %w", err)
	}
	reasons, err := json.Marshal(a.Reasons)
	if err != nil {
		return incident.Approval{}, fmt.Errorf("create approval request: encode reasons: %w", err)
	}
	if a.IncidentID == 0 {
		run, err := s.GetRun(ctx, a.RunID)
		if err != nil {
			return incident.Approval{}, fmt.Errorf("create approval request for step %d: %w", a.StepIndex, err)
		}
		a.IncidentID = run.IncidentID
	}
	err = s.b.pool().queryRow(ctx, `INSERT INTO approvals (incident_id, run_id, step_index, step_name, status,
			approvers, reasons, deadline, on_timeout, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING id`,
		a.IncidentID, a.RunID, a.StepIndex, a.StepName, a.Status, string(approvers), string(reasons),
		s.b.timeArg(a.Deadline), a.OnTimeout, s.b.timeArg(a.CreatedAt),
	).Scan(&a.ID)
	switch {
	case s.b.isUniqueViolation(err):
		return incident.Approval{}, fmt.Errorf("create approval request for step %d of playbook run %d: %w",
			a.StepIndex, a.RunID, ErrApprovalPending)
	case s.isForeignKeyViolation(err):
		return incident.Approval{}, fmt.Errorf("create approval request for step %d of incident %d: %w",
			a.StepIndex, a.IncidentID, notFoundError{"playbook run", a.RunID})
	case err != nil:
		return incident.Approval{}, fmt.Errorf("create approval request for step %d of playbook run %d: %w",
			a.StepIndex, a.RunID, err)
	}
	return a, nil
}

// validateApproval checks an approval request about to be created.
func validateApproval(a incident.Approval) error {
	switch {
	case a.RunID <= 0:
		return fmt.Errorf("request has no playbook run: %w", ErrInvalid)
	case a.StepIndex < 0:
		return fmt.Errorf("request for step index %d, which is negative: %w", a.StepIndex, ErrInvalid)
	case a.Status != incident.ApprovalPending:
		return fmt.Errorf("a new request must be pending, not %q: %w", a.Status, ErrInvalid)
	case a.DecidedAt != nil || a.DecidedBy != "" || a.Actor != "" || a.Comment != "":
		return fmt.Errorf("a new request carries a decision (decided_at, decided_by, actor or comment): %w", ErrInvalid)
	case a.OnTimeout != incident.TimeoutApprove && a.OnTimeout != incident.TimeoutDeny:
		return fmt.Errorf("timeout action %q, want %q or %q: %w", a.OnTimeout, incident.TimeoutApprove, incident.TimeoutDeny, ErrInvalid)
	case a.CreatedAt.IsZero():
		return fmt.Errorf("request has no creation time: %w", ErrInvalid)
	case a.Deadline.IsZero():
		return fmt.Errorf("request has no deadline: %w", ErrInvalid)
	case a.Deadline.Before(a.CreatedAt):
		return fmt.Errorf("deadline %s is before the request's creation %s: %w",
			a.Deadline.Format(time.RFC3339Nano), a.CreatedAt.Format(time.RFC3339Nano), ErrInvalid)
	}
	return nil
}

// GetApproval returns one approval request, or an error wrapping
// incident.ErrNotFound.
func (s *sqlStore) GetApproval(ctx context.Context, id int64) (incident.Approval, error) {
	a, err := scanApproval(s.b.pool().queryRow(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return incident.Approval{}, notFoundError{"approval request", id}
	}
	if err != nil {
		return incident.Approval{}, fmt.Errorf("get approval request %d: %w", id, err)
	}
	return a, nil
}

// DecideApproval moves a pending request to approved or denied and returns
// it. The change is one conditional UPDATE, so of concurrent deciders on
// any replica exactly one wins; the others get an error wrapping
// incident.ErrAlreadyDecided. A human decision names its actor; a decision
// by deadline is only taken at or after the deadline and only as the
// request's timeout action. An unknown request fails with
// incident.ErrNotFound.
func (s *sqlStore) DecideApproval(ctx context.Context, id int64, status, decidedBy, actor, comment string, at time.Time) (incident.Approval, error) {
	var onTimeout string
	switch status {
	case incident.ApprovalApproved:
		onTimeout = incident.TimeoutApprove
	case incident.ApprovalDenied:
		onTimeout = incident.TimeoutDeny
	default:
		return incident.Approval{}, fmt.Errorf("decide approval request %d: status %q, want %q or %q: %w",
			id, status, incident.ApprovalApproved, incident.ApprovalDenied, ErrInvalid)
	}
	switch {
	case decidedBy != incident.DecidedByHuman && decidedBy != incident.DecidedByDeadline:
		return incident.Approval{}, fmt.Errorf("decide approval request %d: decided by %q, want %q or %q: %w",
			id, decidedBy, incident.DecidedByHuman, incident.DecidedByDeadline, ErrInvalid)
	case decidedBy == incident.DecidedByHuman && actor == "":
		return incident.Approval{}, fmt.Errorf("decide approval request %d: a human decision names no actor: %w", id, ErrInvalid)
	case at.IsZero():
		return incident.Approval{}, fmt.Errorf("decide approval request %d: no decision time: %w", id, ErrInvalid)
	}
	query := `UPDATE approvals SET status = $2, decided_at = $3, decided_by = $4, actor = $5, comment = $6
		WHERE id = $1 AND status = $7`
	args := []any{id, status, s.b.timeArg(at), decidedBy, actor, comment, incident.ApprovalPending}
	if decidedBy == incident.DecidedByDeadline {
		query += ` AND deadline <= $3 AND on_timeout = $8`
		args = append(args, onTimeout)
	}
	a, err := scanApproval(s.b.pool().queryRow(ctx, query+` RETURNING `+approvalColumns, args...))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return incident.Approval{}, fmt.Errorf("decide approval request %d: %w", id, err)
	}
	// Nothing changed: tell why. The request's deadline and timeout
	// action never change, and a decided request stays decided, so this
	// read explains the UPDATE.
	cur, err := s.GetApproval(ctx, id)
	switch {
	case err != nil:
		return incident.Approval{}, fmt.Errorf("decide approval request: %w", err)
	case cur.Status != incident.ApprovalPending:
		return cur, fmt.Errorf("decide approval request %d: %s by %s: %w", id, cur.Status, cur.DecidedBy, incident.ErrAlreadyDecided)
	case cur.OnTimeout != onTimeout:
		return incident.Approval{}, fmt.Errorf("decide approval request %d by deadline as %s: its timeout action is %s: %w",
			id, status, cur.OnTimeout, ErrInvalid)
	default:
		return incident.Approval{}, fmt.Errorf("decide approval request %d by deadline at %s: the deadline is %s: %w",
			id, incident.NormalizeTime(at).Format(time.RFC3339Nano), cur.Deadline.Format(time.RFC3339Nano), ErrInvalid)
	}
}

// RunApprovals returns the approval requests of a run, whatever their
// status, oldest first (none for an unknown run).
func (s *sqlStore) RunApprovals(ctx context.Context, runID int64) ([]incident.Approval, error) {
	out, err := s.queryApprovals(ctx, `SELECT `+approvalColumns+` FROM approvals
		WHERE run_id = $1 ORDER BY created_at, id`, runID)
	if err != nil {
		return nil, fmt.Errorf("list approval requests of playbook run %d: %w", runID, err)
	}
	return out, nil
}

// PendingApprovals returns the pending requests whose deadline is at or
// before due (every pending one when due is zero), oldest deadline first.
func (s *sqlStore) PendingApprovals(ctx context.Context, due time.Time) ([]incident.Approval, error) {
	query := `SELECT ` + approvalColumns + ` FROM approvals WHERE status = $1`
	args := []any{incident.ApprovalPending}
	if !due.IsZero() {
		query += ` AND deadline <= $2`
		args = append(args, s.b.timeArg(due))
	}
	out, err := s.queryApprovals(ctx, query+` ORDER BY deadline, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list pending approval requests: %w", err)
	}
	return out, nil
}

// queryApprovals runs a SELECT of approvalColumns and scans every row.
func (s *sqlStore) queryApprovals(ctx context.Context, query string, args ...any) ([]incident.Approval, error) {
	return queryAll(ctx, s.b.pool(), scanApproval, query, args...)
}

// queryPlaybookRuns runs a SELECT of playbookRunColumns and scans every
// row.
func (s *sqlStore) queryPlaybookRuns(ctx context.Context, query string, args ...any) ([]incident.PlaybookRun, error) {
	return queryAll(ctx, s.b.pool(), scanPlaybookRun, query, args...)
}

// scanPlaybookRun scans one row of playbookRunColumns; no row is
// sql.ErrNoRows.
func scanPlaybookRun(r row) (incident.PlaybookRun, error) {
	var (
		run               incident.PlaybookRun
		started, finished timeCol
	)
	err := r.Scan(&run.ID, &run.IncidentID, &run.Playbook, &run.Attempt, &run.Status, &run.DryRun, &run.Manual,
		&run.Actor, &run.NextStep, &started, &finished)
	if err != nil {
		return incident.PlaybookRun{}, err
	}
	run.StartedAt = started.t
	run.FinishedAt = finished.ptr()
	return run, nil
}

// scanStepExecution scans one row of stepExecutionColumns.
func scanStepExecution(r row) (incident.StepExecution, error) {
	var (
		st                incident.StepExecution
		typ               string
		started, finished timeCol
	)
	err := r.Scan(&st.ID, &st.RunID, &st.IncidentID, &st.Index, &st.Name, &typ, &st.Target, &st.Idempotent,
		&st.Status, &started, &finished)
	if err != nil {
		return incident.StepExecution{}, err
	}
	st.Type = incident.StepType(typ)
	st.StartedAt = started.t
	st.FinishedAt = finished.ptr()
	return st, nil
}

// scanApproval scans one row of approvalColumns; no row is sql.ErrNoRows.
func scanApproval(r row) (incident.Approval, error) {
	var (
		a                          incident.Approval
		approvers, reasons         string
		deadline, created, decided timeCol
	)
	err := r.Scan(&a.ID, &a.IncidentID, &a.RunID, &a.StepIndex, &a.StepName, &a.Status, &approvers, &reasons,
		&deadline, &a.OnTimeout, &created, &decided, &a.DecidedBy, &a.Actor, &a.Comment)
	if err != nil {
		return incident.Approval{}, err
	}
	if err := json.Unmarshal([]byte(approvers), &a.Approvers); err != nil {
		return incident.Approval{}, fmt.Errorf("approvers of approval request %d: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(reasons), &a.Reasons); err != nil {
		return incident.Approval{}, fmt.Errorf("reasons of approval request %d: %w", a.ID, err)
	}
	a.Approvers, a.Reasons = nonNil(a.Approvers), nonNil(a.Reasons)
	a.Deadline = deadline.t
	a.CreatedAt = created.t
	a.DecidedAt = decided.ptr()
	return a, nil
}

// nonNil returns ss, or an empty slice for nil: lists are stored and
// returned as JSON arrays, never null.
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
