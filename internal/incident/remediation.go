package incident

import (
	"context"
	"errors"
	"time"
)

// This file declares what the remediation side of the engine needs: the
// playbooks it may run (PlaybookSource), something that executes one step
// (StepRunner), the guardrail policy (Guard), a diagnoser for MAJOR
// incidents, and the persistence of runs, step executions and approvals
// (RemediationStore). The engine owns the hard bounds — attempts per
// incident, builds per rolling hour, circuit breakers — which no policy
// can override.

// Hard bounds of automated remediation, enforced in Go whatever the
// policies say.
const (
	// MaxAttempts is the most playbook runs (fix attempts) per incident;
	// after that the incident is escalated to a human.
	MaxAttempts = 3
	// MaxBuildsPerHour is the most automated builds (build steps) started
	// in any rolling hour across all incidents.
	MaxBuildsPerHour = 5
	// BuildWindow is the rolling window of MaxBuildsPerHour.
	BuildWindow = time.Hour
	// DefaultApprovalTimeout is how long an approval request waits for a
	// human before its timeout action is taken.
	DefaultApprovalTimeout = 30 * time.Minute
)

// StepType names what a playbook step does.
type StepType string

// The step types.
const (
	// StepHTTP calls a (signed) webhook.
	StepHTTP StepType = "http"
	// StepExec runs a program with arguments, without a shell.
	StepExec StepType = "exec"
	// StepNotify tells people something; no side effect on systems.
	StepNotify StepType = "notify"
	// StepWait pauses the playbook.
	StepWait StepType = "wait"
	// StepVerify re-runs the monitor that raised the incident and lets the
	// playbook continue only if it passes.
	StepVerify StepType = "verify"
	// StepBuild triggers a CI/deploy hook; it counts against the build
	// budget.
	StepBuild StepType = "build"
	// StepEscalate hands the incident to a human and ends the playbook.
	StepEscalate StepType = "escalate"
)

// SideEffecting reports whether steps of type t change the systems
// secopsd watches, so that the guardrail policy must allow them first.
func (t StepType) SideEffecting() bool {
	return t == StepHTTP || t == StepExec || t == StepBuild
}

// Valid reports whether t is a known step type.
func (t StepType) Valid() bool {
	switch t {
	case StepHTTP, StepExec, StepNotify, StepWait, StepVerify, StepBuild, StepEscalate:
		return true
	}
	return false
}

// Step is one step of a playbook as the engine sees it; the runner knows
// the type-specific settings behind it.
type Step struct {
	// Name identifies the step within its playbook.
	Name string `json:"name"`
	// Type is what the step does.
	Type StepType `json:"type"`
	// Target names what the step acts on (a URL's host, a program, a build
	// hook): circuit breakers are kept per target.
	Target string `json:"target,omitempty"`
	// Idempotent steps may be run again after a crash interrupted them;
	// others never are.
	Idempotent bool `json:"idempotent,omitempty"`
}

// Playbook is a named list of steps that remediates a kind of incident.
type Playbook struct {
	// Name identifies the playbook (unique).
	Name string `json:"name"`
	// Description says what the playbook is for.
	Description string `json:"description,omitempty"`
	// Steps run in order.
	Steps []Step `json:"steps"`
}

// PlaybookSource holds the loaded playbooks (package playbooks in
// production).
type PlaybookSource interface {
	// Match returns the playbooks that apply to inc, best match first.
	Match(inc Incident) []Playbook
	// Playbook returns the named playbook.
	Playbook(name string) (Playbook, bool)
}

// StepRequest is one step to execute.
type StepRequest struct {
	Incident Incident
	Playbook string
	// RunID and Attempt identify the playbook run; Index is the step's
	// position in the playbook.
	RunID   int64
	Attempt int
	Index   int
	Step    Step
}

// StepResult is the outcome of one executed step.
type StepResult struct {
	// OK is true when the step did what it should (for verify: the monitor
	// passed).
	OK bool `json:"ok"`
	// Output is the step's captured output, already truncated and free of
	// secrets; it goes into the timeline.
	Output string `json:"output,omitempty"`
	// Detail holds step-specific facts for the timeline (status code,
	// exit code, duration...).
	Detail map[string]any `json:"detail,omitempty"`
	// Error says why the step failed, for the timeline.
	Error string `json:"error,omitempty"`
}

// StepRunner executes playbook steps (package playbooks in production). It
// must obey ctx's deadline.
type StepRunner interface {
	RunStep(ctx context.Context, req StepRequest) StepResult
}

// Decision values of the guardrail policy.
const (
	DecisionAllow           = "allow"
	DecisionDeny            = "deny"
	DecisionRequireApproval = "require_approval"
)

// Timeout actions of an approval request.
const (
	TimeoutApprove = "approve"
	TimeoutDeny    = "deny"
)

// ActionInput is what the guardrail policy (policies/actions.rego) sees
// before a side-effecting step runs. It is recorded in the timeline with
// the decision.
type ActionInput struct {
	Incident ActionIncident `json:"incident"`
	Tier     Tier           `json:"tier"`
	Playbook string         `json:"playbook"`
	Step     Step           `json:"step"`
	// Attempt is the run's attempt number (1-based); AttemptsLeft counts
	// the attempts after this one.
	Attempt      int `json:"attempt"`
	AttemptsLeft int `json:"attempts_left"`
	// BuildsLeft is how many builds the rolling-hour budget still allows.
	BuildsLeft int `json:"builds_left"`
	// Time is the decision's time (UTC, RFC 3339); Hour (0-23) and Weekday
	// ("monday"...) are in the daemon's configured time zone.
	Time    string `json:"time"`
	Hour    int    `json:"hour"`
	Weekday string `json:"weekday"`
	// Maintenance lists the names of the maintenance windows in force.
	Maintenance []string `json:"maintenance"`
	// DryRun is true when nothing will be executed.
	DryRun bool `json:"dry_run"`
}

// ActionIncident is the incident as the guardrail policy sees it.
type ActionIncident struct {
	ID       int64  `json:"id"`
	Title    string `json:"title"`
	Monitor  string `json:"monitor"`
	Category string `json:"category"`
	Severity string `json:"severity"`
	Status   Status `json:"status"`
	Failures int    `json:"failures"`
}

// ActionDecision is the guardrail policy's answer.
type ActionDecision struct {
	// Decision is allow, deny or require_approval.
	Decision string `json:"decision"`
	// Reasons explain the decision; they go to the timeline and to the
	// approvers.
	Reasons []string `json:"reasons"`
	// Approvers may decide an approval request ("" means any admin).
	Approvers []string `json:"approvers,omitempty"`
	// Timeout is how long an approval request waits (0: the default).
	Timeout time.Duration `json:"timeout,omitempty"`
	// OnTimeout is the action taken at the deadline: approve or deny.
	OnTimeout string `json:"on_timeout,omitempty"`
}

// Guard is the guardrail policy (policies/actions.rego in production).
type Guard interface {
	Decide(ctx context.Context, in ActionInput) (ActionDecision, error)
}

// Diagnosis is what a diagnoser concluded about a MAJOR incident before
// remediation: the evidence it looked at and the playbooks it ranks.
type Diagnosis struct {
	// Summary is one human sentence.
	Summary string `json:"summary"`
	// Evidence lists the facts considered (recent events, failing
	// monitors), already free of secrets.
	Evidence []string `json:"evidence"`
	// Candidates are playbook names, most promising first.
	Candidates []string `json:"candidates"`
	// Diagnoser names who diagnosed ("local" or a model's name).
	Diagnoser string `json:"diagnoser"`
}

// Diagnoser explains a MAJOR incident and ranks candidate playbooks. The
// local one is deterministic; a model-backed one can plug in later.
type Diagnoser interface {
	Diagnose(ctx context.Context, inc Incident, candidates []Playbook) (Diagnosis, error)
}

// Run statuses.
const (
	RunRunning          = "running"
	RunWaitingApproval  = "waiting_approval"
	RunSucceeded        = "succeeded"
	RunFailed           = "failed"
	RunEscalated        = "escalated"
	RunInterrupted      = "interrupted"
	RunDryRun           = "dry_run"
	RunAbandoned        = "abandoned" // the incident was resolved meanwhile
	StepStatusStarted   = "started"
	StepStatusSucceeded = "succeeded"
	StepStatusFailed    = "failed"
	StepStatusSkipped   = "skipped"     // denied by policy or approver, open breaker, budget
	StepStatusDryRun    = "dry_run"     // recorded, not executed
	StepStatusInterrupt = "interrupted" // found started after a crash
)

// PlaybookRun is one attempt to fix an incident with a playbook. The store
// keeps (incident, playbook, attempt) unique, so the same run never starts
// twice.
type PlaybookRun struct {
	ID         int64      `json:"id"`
	IncidentID int64      `json:"incident_id"`
	Playbook   string     `json:"playbook"`
	Attempt    int        `json:"attempt"`
	Status     string     `json:"status"`
	DryRun     bool       `json:"dry_run"`
	Manual     bool       `json:"manual"`
	Actor      string     `json:"actor"`
	NextStep   int        `json:"next_step"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// StepExecution is the persisted record of one step of a run: written as
// started before the step runs and finished after.
type StepExecution struct {
	ID         int64      `json:"id"`
	RunID      int64      `json:"run_id"`
	IncidentID int64      `json:"incident_id"`
	Index      int        `json:"index"`
	Name       string     `json:"name"`
	Type       StepType   `json:"type"`
	Target     string     `json:"target,omitempty"`
	Idempotent bool       `json:"idempotent"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// Approval statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
)

// Who decided an approval request.
const (
	DecidedByHuman    = "human"
	DecidedByDeadline = "deadline"
)

// Approval is a request for a human decision on one step of a run.
type Approval struct {
	ID         int64      `json:"id"`
	IncidentID int64      `json:"incident_id"`
	RunID      int64      `json:"run_id"`
	StepIndex  int        `json:"step_index"`
	StepName   string     `json:"step_name"`
	Status     string     `json:"status"`
	Approvers  []string   `json:"approvers"`
	Reasons    []string   `json:"reasons"`
	Deadline   time.Time  `json:"deadline"`
	OnTimeout  string     `json:"on_timeout"`
	CreatedAt  time.Time  `json:"created_at"`
	DecidedAt  *time.Time `json:"decided_at"`
	DecidedBy  string     `json:"decided_by,omitempty"` // human or deadline
	Actor      string     `json:"actor,omitempty"`      // who, for a human decision
	Comment    string     `json:"comment,omitempty"`
}

// ErrRunExists is returned by RemediationStore.CreateRun when the run
// (incident, playbook, attempt) was started before.
var ErrRunExists = errors.New("playbook run already exists")

// ErrAlreadyDecided is returned when an approval request is decided again.
var ErrAlreadyDecided = errors.New("approval already decided")

// RemediationStore persists playbook runs, step executions and approval
// requests. The budgets are counted from it, so that a restart or a second
// replica does not reset them.
type RemediationStore interface {
	// CreateRun inserts a run; ErrRunExists if (incident, playbook,
	// attempt) exists.
	CreateRun(ctx context.Context, run PlaybookRun) (PlaybookRun, error)
	// GetRun returns one run or ErrNotFound.
	GetRun(ctx context.Context, id int64) (PlaybookRun, error)
	// UpdateRun sets a run's status and next step; a terminal status sets
	// finished_at. With from non-empty it changes the run only if its
	// status is from, and reports whether it did (claiming a run).
	UpdateRun(ctx context.Context, id int64, from, status string, nextStep int, at time.Time) (bool, error)
	// Runs returns an incident's runs, oldest first.
	Runs(ctx context.Context, incidentID int64) ([]PlaybookRun, error)
	// RunsByStatus returns every run with the status, oldest first.
	RunsByStatus(ctx context.Context, status string) ([]PlaybookRun, error)
	// CountAttempts counts the runs of an incident that are not dry runs.
	CountAttempts(ctx context.Context, incidentID int64) (int, error)
	// StartStep records a step as started and returns it with its id.
	StartStep(ctx context.Context, st StepExecution) (StepExecution, error)
	// FinishStep sets a started step's final status.
	FinishStep(ctx context.Context, id int64, status string, at time.Time) error
	// UnfinishedSteps returns every step still recorded as started.
	UnfinishedSteps(ctx context.Context) ([]StepExecution, error)
	// CountBuildsSince counts build steps started (not skipped nor dry
	// runs) at or after since, across all incidents.
	CountBuildsSince(ctx context.Context, since time.Time) (int, error)
	// CreateApproval inserts a pending approval request.
	CreateApproval(ctx context.Context, a Approval) (Approval, error)
	// GetApproval returns one approval request or ErrNotFound.
	GetApproval(ctx context.Context, id int64) (Approval, error)
	// DecideApproval moves a pending request to approved or denied, once:
	// ErrAlreadyDecided if it was decided before.
	DecideApproval(ctx context.Context, id int64, status, decidedBy, actor, comment string, at time.Time) (Approval, error)
	// RunApprovals returns the approval requests of a run, oldest first.
	RunApprovals(ctx context.Context, runID int64) ([]Approval, error)
	// PendingApprovals returns pending requests whose deadline is at or
	// before due (every pending one when due is zero), oldest deadline
	// first.
	PendingApprovals(ctx context.Context, due time.Time) ([]Approval, error)
}
