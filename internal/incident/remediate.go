package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Timeline entry kinds written by remediation.
const (
	KindRemediationSuppressed = "remediation.suppressed"
	KindNoPlaybook            = "remediation.no_playbook"
	KindDiagnosis             = "diagnosis"
	KindPlaybookStarted       = "playbook.started"
	KindPlaybookFinished      = "playbook.finished"
	KindGuardDecision         = "guard.decision"
	KindStepStarted           = "step.started"
	KindStepFinished          = "step.finished"
	KindStepSkipped           = "step.skipped"
	KindStepDryRun            = "step.dry_run"
	KindStepInterrupted       = "step.interrupted"
	KindApprovalRequested     = "approval.requested"
	KindApprovalDecided       = "approval.decided"
	KindApprovalRefused       = "approval.refused"
	KindEscalated             = "incident.escalated"
	KindAttemptRefused        = "remediation.refused"
)

// Actors of remediation entries.
const (
	ActorRemediation = "secopsd/remediation"
	ActorGuard       = "secopsd/guard"
	ActorDeadline    = "secopsd/deadline"
)

// maxTracked bounds the incidents whose last trigger time is kept.
const maxTracked = 10000

// Errors of remediation requests.
var (
	// ErrAttemptsExhausted is returned when an incident has used its
	// MaxAttempts fix attempts.
	ErrAttemptsExhausted = errors.New("fix attempts exhausted")
	// ErrNoPlaybook is returned when no playbook applies.
	ErrNoPlaybook = errors.New("no playbook")
	// ErrRunActive is returned when a run of the incident is in progress
	// or waiting for an approval.
	ErrRunActive = errors.New("a playbook run of this incident is in progress")
	// ErrNotApprover is returned when someone not among the approvers of
	// a request tries to decide it.
	ErrNotApprover = errors.New("not an approver of this request")
	// ErrResolved is returned for a request about a resolved incident.
	ErrResolved = errors.New("incident is resolved")
)

// RemediatorOptions configures a Remediator.
type RemediatorOptions struct {
	// Engine is the incident engine whose incidents are remediated; its
	// store must implement RemediationStore.
	Engine *Engine
	// Playbooks, Runner and Guard are required.
	Playbooks PlaybookSource
	Runner    StepRunner
	Guard     Guard
	// Diagnoser explains MAJOR incidents; nil uses a diagnosis that ranks
	// the matching playbooks as they are.
	Diagnoser Diagnoser
	// Silenced returns the silences and maintenance windows in force for
	// an incident; automation is suppressed while any is. Nil: none.
	Silenced func(inc Incident, at time.Time) []string
	// DryRun records decisions and what would be done, executing nothing.
	DryRun bool
	// Location is the time zone of the policy input's hour and weekday;
	// nil means UTC.
	Location *time.Location
	// StepTimeout bounds one step (default 5m); a step's own timeout is
	// the runner's business.
	StepTimeout time.Duration
	// BreakerFailures is how many consecutive failures of a target open
	// its circuit breaker (default 3); BreakerCooldown how long it stays
	// open before a trial (default 5m).
	BreakerFailures int
	BreakerCooldown time.Duration
	// ApprovalPoll is how often approval deadlines are checked (default
	// 1s).
	ApprovalPoll time.Duration
	// Redact removes secrets from human-written text (approval comments)
	// before it reaches the timeline; nil keeps the text.
	Redact func(string) string
	// Logger receives remediation messages; nil uses the engine's.
	Logger *slog.Logger
}

// Remediator runs playbooks for incidents within the hard bounds, asking
// the guardrail policy before every side-effecting step and waiting for
// human approvals where it says so. Every decision and step is a timeline
// entry; runs, steps and approvals are persisted so that budgets, deadlines
// and crash recovery work across restarts and replicas.
type Remediator struct {
	e        *Engine
	rs       ApprovalStore // the engine's store
	opts     RemediatorOptions
	logger   *slog.Logger
	breakers sync.Map // target → *gobreaker.TwoStepCircuitBreaker[struct{}]
	noticed  sync.Map // "incident/kind" → true: notices written once

	wg        sync.WaitGroup
	mu        sync.Mutex
	active    map[int64]bool      // incidents with a run executing in this process
	triggered map[int64]time.Time // last automatic trigger per incident
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewRemediator returns a Remediator and hooks it into the engine: every
// opened incident, and every new failure of an incident whose previous run
// failed, triggers a fix attempt. Nothing runs until Start.
func NewRemediator(opts RemediatorOptions) (*Remediator, error) {
	var errs []error
	if opts.Engine == nil {
		errs = append(errs, errors.New("remediator: Engine is required"))
	}
	if opts.Playbooks == nil {
		errs = append(errs, errors.New("remediator: Playbooks is required"))
	}
	if opts.Runner == nil {
		errs = append(errs, errors.New("remediator: Runner is required"))
	}
	if opts.Guard == nil {
		errs = append(errs, errors.New("remediator: Guard is required"))
	}
	var rs ApprovalStore
	if opts.Engine != nil {
		var ok bool
		if rs, ok = opts.Engine.store.(ApprovalStore); !ok {
			errs = append(errs, errors.New("remediator: the engine's store does not implement RemediationStore"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.StepTimeout <= 0 {
		opts.StepTimeout = 5 * time.Minute
	}
	if opts.BreakerFailures <= 0 {
		opts.BreakerFailures = 3
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = 5 * time.Minute
	}
	if opts.ApprovalPoll <= 0 {
		opts.ApprovalPoll = time.Second
	}
	if opts.Diagnoser == nil {
		opts.Diagnoser = rankAsMatched{}
	}
	logger := opts.Logger
	if logger == nil {
		logger = opts.Engine.logger
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Remediator{
		e: opts.Engine, rs: rs, opts: opts, logger: logger,
		active: map[int64]bool{}, triggered: map[int64]time.Time{}, ctx: ctx, cancel: cancel,
	}
	opts.Engine.setRemediationHook(r.trigger)
	return r, nil
}

// Start recovers what a crash interrupted and starts the approval
// deadline loop.
func (r *Remediator) Start(ctx context.Context) error {
	if err := r.Recover(ctx); err != nil {
		return err
	}
	r.done = make(chan struct{})
	go r.deadlineLoop()
	return nil
}

// Stop stops the deadline loop and waits, within ctx, for the runs in
// progress; a step cut short by ctx is found interrupted at the next start.
func (r *Remediator) Stop(ctx context.Context) error {
	r.cancel()
	if r.done != nil {
		<-r.done
	}
	finished := make(chan struct{})
	go func() { r.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop remediation: runs still in progress: %w", ctx.Err())
	}
}

// Wait blocks until no run is executing in this process (for tests and
// one-shot commands).
func (r *Remediator) Wait() { r.wg.Wait() }

// retriggerAfter is the least time between two automatic triggers of one
// incident: a burst of failures (thousands of pushed events extending one
// incident) costs one look at the store, not one per event.
const retriggerAfter = 10 * time.Second

// trigger starts a fix attempt for inc in the background, unless one is
// executing already or one was triggered less than retriggerAfter ago.
func (r *Remediator) trigger(inc Incident) {
	if r.ctx.Err() != nil {
		return
	}
	now := r.e.clock.Now()
	r.mu.Lock()
	last, seen := r.triggered[inc.ID]
	if seen && now.Sub(last) < retriggerAfter && now.Sub(last) >= 0 {
		r.mu.Unlock()
		return
	}
	r.triggered[inc.ID] = now
	if len(r.triggered) > maxTracked {
		for id, t := range r.triggered {
			if now.Sub(t) >= retriggerAfter {
				delete(r.triggered, id)
			}
		}
	}
	r.mu.Unlock()
	r.goRun(inc.ID, func(ctx context.Context) {
		if _, err := r.attempt(ctx, inc.ID, attemptRequest{}); err != nil && !isQuiet(err) {
			r.logger.Warn("remediation attempt not started", "incident", inc.ID, "err", err)
		}
	})
}

// isQuiet reports whether an attempt error is an expected outcome rather
// than a failure worth a log line.
func isQuiet(err error) bool {
	return errors.Is(err, ErrRunActive) || errors.Is(err, ErrResolved) || errors.Is(err, ErrAttemptsExhausted) ||
		errors.Is(err, ErrNoPlaybook) || errors.Is(err, ErrRunExists) || errors.Is(err, errSuppressed) ||
		errors.Is(err, errHandedOver)
}

// goRun runs fn for incident id in a tracked goroutine unless one runs for
// it already.
func (r *Remediator) goRun(id int64, fn func(ctx context.Context)) bool {
	r.mu.Lock()
	if r.active[id] {
		r.mu.Unlock()
		return false
	}
	r.active[id] = true
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer func() {
			r.mu.Lock()
			delete(r.active, id)
			r.mu.Unlock()
			r.wg.Done()
		}()
		fn(r.ctx)
	}()
	return true
}

// attemptRequest is a request to run a playbook.
type attemptRequest struct {
	playbook string // "" chooses
	manual   bool
	actor    string
	dryRun   bool
}

var (
	errSuppressed = errors.New("automation suppressed by a silence or maintenance window")
	errHandedOver = errors.New("the incident was escalated to a human; automation waits for a manual run")
)

// lastRealRun returns the newest run that is not a dry run, or nil.
func lastRealRun(runs []PlaybookRun) *PlaybookRun {
	for i := len(runs) - 1; i >= 0; i-- {
		if !runs[i].DryRun {
			return &runs[i]
		}
	}
	return nil
}

// RunPlaybook starts a manual fix attempt of incident id with the named
// playbook ("" chooses as automation would) and waits for it to finish or
// to pause for an approval. The hard bounds apply as to automatic runs.
func (r *Remediator) RunPlaybook(ctx context.Context, id int64, playbook, actor string, dryRun bool) (PlaybookRun, error) {
	var (
		run PlaybookRun
		err error
	)
	started := r.goRunWait(id, func(ctx context.Context) {
		run, err = r.attempt(ctx, id, attemptRequest{playbook: playbook, manual: true, actor: actor, dryRun: dryRun})
	})
	if !started {
		return PlaybookRun{}, ErrRunActive
	}
	if err != nil {
		return run, err
	}
	if got, gerr := r.rs.GetRun(ctx, run.ID); gerr == nil {
		run = got
	}
	return run, nil
}

// goRunWait is goRun that waits for fn.
func (r *Remediator) goRunWait(id int64, fn func(ctx context.Context)) bool {
	finished := make(chan struct{})
	ok := r.goRun(id, func(ctx context.Context) { defer close(finished); fn(ctx) })
	if ok {
		<-finished
	}
	return ok
}

// attempt starts a fix attempt and executes it until it finishes or waits
// for an approval.
func (r *Remediator) attempt(ctx context.Context, id int64, req attemptRequest) (PlaybookRun, error) {
	inc, err := r.e.store.GetIncident(ctx, id)
	if err != nil {
		return PlaybookRun{}, fmt.Errorf("load incident %d: %w", id, err)
	}
	if inc.Status == StatusResolved {
		return PlaybookRun{}, ErrResolved
	}
	now := r.e.clock.Now()
	runs, err := r.rs.Runs(ctx, id)
	if err != nil {
		return PlaybookRun{}, fmt.Errorf("list runs of incident %d: %w", id, err)
	}
	attempts := 0
	for _, run := range runs {
		switch {
		case run.Status == RunRunning || run.Status == RunWaitingApproval:
			return PlaybookRun{}, ErrRunActive
		case run.DryRun && !req.manual && (r.opts.DryRun || req.dryRun):
			return PlaybookRun{}, ErrRunExists // one automatic dry run per incident
		case !run.DryRun:
			attempts++
		}
	}
	dry := r.opts.DryRun || req.dryRun
	if !req.manual && !dry {
		if last := lastRealRun(runs); last != nil && (last.Status == RunEscalated || last.Status == RunInterrupted) {
			// A human has the incident now: automation does not start
			// again by itself (a person may still run a playbook).
			return PlaybookRun{}, errHandedOver
		}
	}
	if !req.manual && r.opts.Silenced != nil {
		if names := r.opts.Silenced(inc, now); len(names) > 0 {
			r.appendOnce(ctx, id, KindRemediationSuppressed, map[string]any{
				"silences": names, "reason": "automation is suppressed while a silence or maintenance window is in force",
			})
			return PlaybookRun{}, errSuppressed
		}
	}
	if attempts >= MaxAttempts && !dry {
		r.escalateOnce(ctx, inc, runs, fmt.Sprintf("%d fix attempts used (the most secopsd allows per incident); a human must take over", attempts))
		if req.manual {
			r.append(ctx, id, req.actor, KindAttemptRefused, map[string]any{
				"reason": fmt.Sprintf("attempt %d refused: at most %d fix attempts per incident", attempts+1, MaxAttempts),
			})
		}
		return PlaybookRun{}, ErrAttemptsExhausted
	}

	pb, err := r.choose(ctx, inc, req)
	if err != nil {
		return PlaybookRun{}, err
	}
	actor := req.actor
	if actor == "" {
		actor = ActorRemediation
	}
	attemptNo := attempts + 1
	if dry {
		attemptNo = -(len(runs) + 1) // dry runs never take an attempt number
	}
	run, err := r.rs.CreateRun(ctx, PlaybookRun{
		IncidentID: id, Playbook: pb.Name, Attempt: attemptNo, Status: RunRunning,
		DryRun: dry, Manual: req.manual, Actor: actor, StartedAt: NormalizeTime(now),
	})
	if err != nil {
		return PlaybookRun{}, fmt.Errorf("start run of %s for incident %d: %w", pb.Name, id, err)
	}
	r.append(ctx, id, actor, KindPlaybookStarted, map[string]any{
		"run_id": run.ID, "playbook": pb.Name, "attempt": max(attemptNo, 0), "tier": string(inc.Tier),
		"dry_run": dry, "manual": req.manual, "steps": len(pb.Steps),
		"attempts_left": max(MaxAttempts-attempts-1, 0),
	})
	r.execute(ctx, run, pb, 0)
	return run, nil
}

// choose picks the playbook of an attempt: the requested one, or the best
// match (for MAJOR incidents after a diagnosis).
func (r *Remediator) choose(ctx context.Context, inc Incident, req attemptRequest) (Playbook, error) {
	if req.playbook != "" {
		pb, ok := r.opts.Playbooks.Playbook(req.playbook)
		if !ok {
			return Playbook{}, fmt.Errorf("playbook %q: %w", req.playbook, ErrNoPlaybook)
		}
		return pb, nil
	}
	candidates := r.opts.Playbooks.Match(inc)
	if len(candidates) == 0 {
		r.appendOnce(ctx, inc.ID, KindNoPlaybook, map[string]any{
			"reason": "no playbook matches this incident's category, monitor and tier; a human must act",
		})
		return Playbook{}, ErrNoPlaybook
	}
	if inc.Tier != TierMajor {
		return candidates[0], nil
	}
	d, err := r.opts.Diagnoser.Diagnose(ctx, inc, candidates)
	if err != nil {
		r.append(ctx, inc.ID, ActorRemediation, KindDiagnosis, map[string]any{
			"error": err.Error(), "fallback": candidates[0].Name,
		})
		return candidates[0], nil
	}
	r.append(ctx, inc.ID, ActorRemediation, KindDiagnosis, d)
	for _, name := range d.Candidates {
		for _, c := range candidates {
			if c.Name == name {
				return c, nil
			}
		}
	}
	return candidates[0], nil
}

// execute runs the steps of run from index from on, until the run ends or
// pauses for an approval.
func (r *Remediator) execute(ctx context.Context, run PlaybookRun, pb Playbook, from int) {
	verified := false
	for i := from; i < len(pb.Steps); i++ {
		if ctx.Err() != nil {
			return // the step is not started; the run resumes at next start
		}
		inc, err := r.e.store.GetIncident(ctx, run.IncidentID)
		if err != nil {
			r.logger.Error("remediation: load incident", "incident", run.IncidentID, "err", err)
			return
		}
		if inc.Status == StatusResolved {
			r.finish(ctx, run, RunAbandoned, "the incident was resolved before the playbook finished")
			return
		}
		step := pb.Steps[i]
		outcome := r.runStep(ctx, run, inc, step, i, false)
		switch outcome {
		case stepPaused:
			return
		case stepEscalated:
			r.finish(ctx, run, RunEscalated, fmt.Sprintf("step %s escalated the incident", step.Name))
			r.escalate(ctx, inc, fmt.Sprintf("playbook %s asked for a human (step %s)", pb.Name, step.Name))
			return
		case stepFailed:
			r.finish(ctx, run, RunFailed, fmt.Sprintf("step %s failed", step.Name))
			return
		case stepInterrupted:
			return
		case stepVerified:
			verified = true
		}
		if _, err := r.rs.UpdateRun(ctx, run.ID, "", RunRunning, i+1, r.e.clock.Now()); err != nil {
			r.logger.Error("remediation: record progress", "run", run.ID, "err", err)
		}
	}
	if run.DryRun {
		r.finish(ctx, run, RunDryRun, "dry run: every step recorded, nothing executed")
		return
	}
	r.finish(ctx, run, RunSucceeded, "every step succeeded")
	if verified {
		r.resolve(ctx, run, pb)
	}
}

type stepOutcome int

const (
	stepDone stepOutcome = iota
	stepVerified
	stepSkipped
	stepFailed
	stepPaused
	stepEscalated
	stepInterrupted
)

// runStep takes one step through the bounds, the breaker, the guard and
// the runner. approved is true when a human (or the deadline) approved it
// already, so the guard is not asked again.
func (r *Remediator) runStep(ctx context.Context, run PlaybookRun, inc Incident, step Step, i int, approved bool) stepOutcome {
	now := r.e.clock.Now()
	base := map[string]any{"run_id": run.ID, "playbook": run.Playbook, "step_index": i, "step": step.Name, "type": string(step.Type)}
	with := func(kv ...any) map[string]any {
		m := make(map[string]any, len(base)+len(kv)/2)
		for k, v := range base {
			m[k] = v
		}
		for j := 0; j+1 < len(kv); j += 2 {
			m[kv[j].(string)] = kv[j+1]
		}
		return m
	}
	if step.Type.SideEffecting() && !run.DryRun {
		buildsLeft := MaxBuildsPerHour
		if step.Type == StepBuild {
			n, err := r.rs.CountBuildsSince(ctx, now.Add(-BuildWindow))
			if err != nil {
				r.append(ctx, inc.ID, ActorRemediation, KindStepSkipped, with("reason", "cannot count the builds of the last hour; refusing the build", "error", err.Error()))
				return stepFailed
			}
			buildsLeft = MaxBuildsPerHour - n
			if buildsLeft <= 0 {
				r.append(ctx, inc.ID, ActorRemediation, KindStepSkipped, with(
					"reason", fmt.Sprintf("build budget exhausted: %d builds started in the last hour (at most %d)", n, MaxBuildsPerHour),
					"bound", "builds_per_hour"))
				return stepFailed
			}
		}
		if step.Target != "" && r.breaker(step.Target).State() == gobreaker.StateOpen {
			r.append(ctx, inc.ID, ActorRemediation, KindStepSkipped, with(
				"reason", fmt.Sprintf("circuit breaker open for target %s after repeated failures", step.Target),
				"bound", "circuit_breaker", "target", step.Target))
			return stepSkipped
		}
		if !approved {
			switch r.decide(ctx, run, inc, step, i, buildsLeft, with) {
			case DecisionDeny:
				return stepSkipped
			case DecisionRequireApproval:
				return stepPaused
			}
		}
	} else if step.Type.SideEffecting() && run.DryRun && !approved {
		// A dry run still asks the policy, to record what it would decide.
		r.decide(ctx, run, inc, step, i, MaxBuildsPerHour, with)
	}

	status := StepStatusStarted
	if run.DryRun {
		status = StepStatusDryRun // recorded as done at once: never counted as a build
	}
	se, err := r.rs.StartStep(ctx, StepExecution{
		RunID: run.ID, IncidentID: inc.ID, Index: i, Name: step.Name, Type: step.Type,
		Target: step.Target, Idempotent: step.Idempotent, Status: status, StartedAt: NormalizeTime(now),
	})
	if err != nil {
		r.logger.Error("remediation: record step start", "run", run.ID, "step", step.Name, "err", err)
		return stepFailed // never run a step that is not recorded as started
	}
	if run.DryRun {
		r.append(ctx, inc.ID, ActorRemediation, KindStepDryRun, with("target", step.Target,
			"reason", "dry run: the step would run here; nothing was executed"))
		return stepDone
	}
	r.append(ctx, inc.ID, ActorRemediation, KindStepStarted, with("step_execution", se.ID, "target", step.Target, "idempotent", step.Idempotent))

	sctx, cancel := context.WithTimeout(ctx, r.opts.StepTimeout)
	res, breakerErr := r.call(sctx, step, StepRequest{Incident: inc, Playbook: run.Playbook, RunID: run.ID, Attempt: run.Attempt, Index: i, Step: step})
	cancel()
	if ctx.Err() != nil {
		// Shutting down mid-step: leave it recorded as started, so the next
		// start finds it interrupted and does not blindly re-run it.
		return stepInterrupted
	}
	status = StepStatusSucceeded
	if !res.OK {
		status = StepStatusFailed
	}
	if breakerErr != nil {
		status = StepStatusSkipped
	}
	if err := r.rs.FinishStep(ctx, se.ID, status, r.e.clock.Now()); err != nil {
		r.logger.Error("remediation: record step end", "run", run.ID, "step", step.Name, "err", err)
	}
	if breakerErr != nil {
		r.append(ctx, inc.ID, ActorRemediation, KindStepSkipped, with(
			"reason", fmt.Sprintf("circuit breaker for target %s: %v", step.Target, breakerErr), "bound", "circuit_breaker", "target", step.Target))
		return stepSkipped
	}
	r.append(ctx, inc.ID, ActorRemediation, KindStepFinished, with("step_execution", se.ID, "ok", res.OK,
		"output", res.Output, "detail", res.Detail, "error", res.Error))
	switch {
	case !res.OK:
		return stepFailed
	case step.Type == StepEscalate:
		return stepEscalated
	case step.Type == StepVerify:
		return stepVerified
	}
	return stepDone
}

// call runs a step through its target's circuit breaker.
func (r *Remediator) call(ctx context.Context, step Step, req StepRequest) (StepResult, error) {
	if !step.Type.SideEffecting() || step.Target == "" {
		return r.opts.Runner.RunStep(ctx, req), nil
	}
	done, err := r.breaker(step.Target).Allow()
	if err != nil {
		return StepResult{}, err
	}
	res := r.opts.Runner.RunStep(ctx, req)
	if res.OK {
		done(nil)
	} else {
		done(errors.New(res.Error))
	}
	return res, nil
}

// breaker returns the circuit breaker of a target.
func (r *Remediator) breaker(target string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	if b, ok := r.breakers.Load(target); ok {
		return b.(*gobreaker.TwoStepCircuitBreaker[struct{}])
	}
	failures := uint32(r.opts.BreakerFailures)
	b := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        target,
		MaxRequests: 1,
		Timeout:     r.opts.BreakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			r.logger.Warn("circuit breaker changed state", "target", name, "from", from.String(), "to", to.String())
		},
	})
	actual, _ := r.breakers.LoadOrStore(target, b)
	return actual.(*gobreaker.TwoStepCircuitBreaker[struct{}])
}

// BreakerState returns the state of a target's circuit breaker: closed,
// open or half-open.
func (r *Remediator) BreakerState(target string) string { return r.breaker(target).State().String() }

// decide asks the guardrail policy about a side-effecting step, records
// the decision with its input, and for require_approval records the
// approval request and pauses the run. It returns the effective decision.
func (r *Remediator) decide(ctx context.Context, run PlaybookRun, inc Incident, step Step, i, buildsLeft int, with func(...any) map[string]any) string {
	now := r.e.clock.Now()
	attempt := max(run.Attempt, 0)
	in := ActionInput{
		Incident: ActionIncident{ID: inc.ID, Title: inc.Title, Monitor: inc.Monitor, Category: inc.Category,
			Severity: inc.Severity.String(), Status: inc.Status, Failures: inc.Failures},
		Tier: inc.Tier, Playbook: run.Playbook, Step: step,
		Attempt: attempt, AttemptsLeft: max(MaxAttempts-attempt, 0), BuildsLeft: buildsLeft,
		Time: now.UTC().Format(time.RFC3339), Hour: now.In(r.opts.Location).Hour(),
		Weekday:     strings.ToLower(now.In(r.opts.Location).Weekday().String()),
		Maintenance: []string{}, DryRun: run.DryRun,
	}
	if r.opts.Silenced != nil {
		if names := r.opts.Silenced(inc, now); len(names) > 0 {
			in.Maintenance = names
		}
	}
	dec, err := r.opts.Guard.Decide(ctx, in)
	if err != nil {
		dec = ActionDecision{Decision: DecisionDeny, Reasons: []string{"the guardrail policy gave no usable decision, so the step is denied: " + err.Error()}}
	}
	if inc.Tier == TierCritical && dec.Decision == DecisionAllow && !run.DryRun {
		dec.Decision = DecisionRequireApproval
		dec.Reasons = append(dec.Reasons, "CRITICAL incident: every side-effecting step needs a human approval (enforced by secopsd, not overridable by policy)")
	}
	if dec.Decision == DecisionRequireApproval {
		if dec.Timeout <= 0 {
			dec.Timeout = DefaultApprovalTimeout
		}
		if dec.OnTimeout == "" {
			dec.OnTimeout = TimeoutDeny
			if inc.Tier == TierCritical {
				dec.OnTimeout = TimeoutApprove
			}
		}
	}
	r.append(ctx, inc.ID, ActorGuard, KindGuardDecision, with("input", in, "decision", dec.Decision,
		"reasons", dec.Reasons, "approvers", dec.Approvers, "timeout", dec.Timeout.String(), "on_timeout", dec.OnTimeout))
	switch dec.Decision {
	case DecisionAllow:
		return DecisionAllow
	case DecisionRequireApproval:
		if run.DryRun {
			return DecisionAllow // recorded; a dry run asks nobody
		}
		a, err := r.rs.CreateApproval(ctx, Approval{
			IncidentID: inc.ID, RunID: run.ID, StepIndex: i, StepName: step.Name, Status: ApprovalPending,
			Approvers: dec.Approvers, Reasons: dec.Reasons, Deadline: NormalizeTime(now.Add(dec.Timeout)),
			OnTimeout: dec.OnTimeout, CreatedAt: NormalizeTime(now),
		})
		if err != nil {
			r.append(ctx, inc.ID, ActorRemediation, KindStepSkipped, with("reason", "cannot record the approval request; the step is not run", "error", err.Error()))
			return DecisionDeny
		}
		if _, err := r.rs.UpdateRun(ctx, run.ID, "", RunWaitingApproval, i, now); err != nil {
			r.logger.Error("remediation: pause run", "run", run.ID, "err", err)
		}
		entry := r.append(ctx, inc.ID, ActorRemediation, KindApprovalRequested, with("approval_id", a.ID,
			"reasons", a.Reasons, "approvers", a.Approvers, "deadline", a.Deadline, "on_timeout", a.OnTimeout, "target", step.Target))
		r.notifyEntry(ctx, inc.ID, entry)
		return DecisionRequireApproval
	default:
		r.append(ctx, inc.ID, ActorGuard, KindStepSkipped, with("reason", "denied by the guardrail policy", "reasons", dec.Reasons))
		return DecisionDeny
	}
}

// Decide records a human decision on a pending approval request and
// resumes its run: approved, the step runs; denied, it is skipped. actor
// must be among the request's approvers when it names any.
func (r *Remediator) Decide(ctx context.Context, approvalID int64, approve bool, actor, comment string) (Approval, error) {
	a, err := DecideApproval(ctx, r.rs, approvalID, approve, actor, r.redact(comment), r.e.clock.Now())
	if err != nil {
		return a, err
	}
	r.notifyDecision(ctx, a)
	r.resume(a)
	return a, nil
}

func (r *Remediator) redact(s string) string {
	if r.opts.Redact != nil {
		return r.opts.Redact(s)
	}
	return s
}

// ApprovalStore is what DecideApproval needs: incidents with their
// timelines and the approval requests.
type ApprovalStore interface {
	Store
	RemediationStore
}

// DecideApproval records a human decision on a pending approval request:
// exactly once (ErrAlreadyDecided afterwards), by one of its approvers when
// it names any (ErrNotApprover otherwise, itself recorded). It does not
// resume the run: the daemon's remediator does, within its poll interval,
// so a decision taken by the CLI against the store works too. comment must
// be free of secrets already.
func DecideApproval(ctx context.Context, s ApprovalStore, id int64, approve bool, actor, comment string, now time.Time) (Approval, error) {
	a, err := s.GetApproval(ctx, id)
	if err != nil {
		return Approval{}, fmt.Errorf("approval %d: %w", id, err)
	}
	if a.Status != ApprovalPending {
		return a, fmt.Errorf("approval %d was %s by %s: %w", id, a.Status, a.DecidedBy, ErrAlreadyDecided)
	}
	if len(a.Approvers) > 0 && !contains(a.Approvers, actor) {
		_, _, aerr := s.MutateIncident(ctx, a.IncidentID, func(*Incident) ([]Entry, error) {
			return []Entry{{Time: now, Actor: actor, Kind: KindApprovalRefused, Payload: map[string]any{
				"approval_id": a.ID, "actor": actor, "reason": "not among the approvers of this request", "approvers": a.Approvers,
			}}}, nil
		})
		return a, errors.Join(fmt.Errorf("%s on approval %d: %w", actor, a.ID, ErrNotApprover), aerr)
	}
	status := ApprovalDenied
	if approve {
		status = ApprovalApproved
	}
	return settleApproval(ctx, s, a, status, DecidedByHuman, actor, comment, now)
}

// settleApproval decides a request (exactly once across replicas) and
// records the decision in the incident's timeline.
func settleApproval(ctx context.Context, s ApprovalStore, a Approval, status, decidedBy, actor, comment string, now time.Time) (Approval, error) {
	decided, err := s.DecideApproval(ctx, a.ID, status, decidedBy, actor, comment, now)
	if err != nil {
		return decided, fmt.Errorf("decide approval %d: %w", a.ID, err)
	}
	payload := map[string]any{
		"approval_id": decided.ID, "run_id": decided.RunID, "step": decided.StepName, "step_index": decided.StepIndex,
		"decision": status, "decided_by": decidedBy, "deadline": decided.Deadline,
	}
	if comment != "" {
		payload["comment"] = comment
	}
	if _, _, err := s.MutateIncident(ctx, decided.IncidentID, func(*Incident) ([]Entry, error) {
		return []Entry{{Time: now, Actor: actor, Kind: KindApprovalDecided, Payload: payload}}, nil
	}); err != nil {
		return decided, fmt.Errorf("record decision of approval %d: %w", a.ID, err)
	}
	return decided, nil
}

// notifyDecision notifies about the newest approval.decided entry of a's
// incident.
func (r *Remediator) notifyDecision(ctx context.Context, a Approval) {
	tl, err := r.e.store.Timeline(ctx, a.IncidentID)
	if err != nil {
		return
	}
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].Kind == KindApprovalDecided {
			r.notifyEntry(ctx, a.IncidentID, tl[i])
			return
		}
	}
}

// settle takes a deadline decision and resumes the run.
func (r *Remediator) settle(ctx context.Context, a Approval, status, decidedBy, actor, comment string) (Approval, error) {
	decided, err := settleApproval(ctx, r.rs, a, status, decidedBy, actor, comment, r.e.clock.Now())
	if err != nil {
		return decided, err
	}
	r.notifyDecision(ctx, decided)
	r.resume(decided)
	return decided, nil
}

// resume continues the run of a decided approval request in the
// background, claiming it so that only one process does.
func (r *Remediator) resume(a Approval) {
	r.goRun(a.IncidentID, func(ctx context.Context) {
		ok, err := r.rs.UpdateRun(ctx, a.RunID, RunWaitingApproval, RunRunning, a.StepIndex, r.e.clock.Now())
		if err != nil || !ok {
			if err != nil {
				r.logger.Error("remediation: claim run", "run", a.RunID, "err", err)
			}
			return // another process resumed it
		}
		run, err := r.rs.GetRun(ctx, a.RunID)
		if err != nil {
			r.logger.Error("remediation: load run", "run", a.RunID, "err", err)
			return
		}
		pb, ok := r.opts.Playbooks.Playbook(run.Playbook)
		if !ok || a.StepIndex >= len(pb.Steps) {
			r.finish(ctx, run, RunFailed, fmt.Sprintf("playbook %s (or its step %d) no longer exists", run.Playbook, a.StepIndex))
			return
		}
		inc, err := r.e.store.GetIncident(ctx, run.IncidentID)
		if err != nil {
			return
		}
		if inc.Status == StatusResolved {
			r.finish(ctx, run, RunAbandoned, "the incident was resolved while the step waited for approval")
			return
		}
		if a.Status == ApprovalDenied {
			r.append(ctx, inc.ID, a.Actor, KindStepSkipped, map[string]any{
				"run_id": run.ID, "step_index": a.StepIndex, "step": a.StepName, "approval_id": a.ID,
				"reason": fmt.Sprintf("approval denied (decided by %s)", a.DecidedBy),
			})
			r.execute(ctx, run, pb, a.StepIndex+1)
			return
		}
		switch r.runStep(ctx, run, inc, pb.Steps[a.StepIndex], a.StepIndex, true) {
		case stepFailed:
			r.finish(ctx, run, RunFailed, fmt.Sprintf("step %s failed", a.StepName))
			return
		case stepInterrupted, stepPaused:
			return
		case stepEscalated:
			r.finish(ctx, run, RunEscalated, fmt.Sprintf("step %s escalated the incident", a.StepName))
			r.escalate(ctx, inc, fmt.Sprintf("playbook %s asked for a human (step %s)", pb.Name, a.StepName))
			return
		}
		_, _ = r.rs.UpdateRun(ctx, run.ID, "", RunRunning, a.StepIndex+1, r.e.clock.Now())
		r.execute(ctx, run, pb, a.StepIndex+1)
	})
}

// deadlineLoop takes the timeout action of every approval request whose
// deadline has passed, polling the store.
func (r *Remediator) deadlineLoop() {
	defer close(r.done)
	t := time.NewTicker(r.opts.ApprovalPoll)
	defer t.Stop()
	for {
		r.SweepDeadlines(r.ctx)
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepDeadlines takes the timeout action of every pending approval
// request whose deadline has passed; it reports how many it decided. A
// request decided meanwhile by someone else is left alone.
func (r *Remediator) SweepDeadlines(ctx context.Context) int {
	due, err := r.rs.PendingApprovals(ctx, r.e.clock.Now())
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Error("remediation: list due approvals", "err", err)
		}
		return 0
	}
	n := 0
	for _, a := range due {
		status := ApprovalDenied
		if a.OnTimeout == TimeoutApprove {
			status = ApprovalApproved
		}
		if _, err := r.settle(ctx, a, status, DecidedByDeadline, ActorDeadline, ""); err != nil {
			if !errors.Is(err, ErrAlreadyDecided) {
				r.logger.Error("remediation: deadline action", "approval", a.ID, "err", err)
			}
			continue
		}
		n++
	}
	r.resumeDecided(ctx)
	return n
}

// resumeDecided resumes the waiting runs whose approval request was
// decided by another process (the CLI, or a replica that died before
// resuming).
func (r *Remediator) resumeDecided(ctx context.Context) {
	waiting, err := r.rs.RunsByStatus(ctx, RunWaitingApproval)
	if err != nil {
		return
	}
	for _, run := range waiting {
		as, err := r.rs.RunApprovals(ctx, run.ID)
		if err != nil {
			return
		}
		for _, a := range as {
			if a.Status != ApprovalPending && a.StepIndex == run.NextStep {
				r.resume(a)
			}
		}
	}
}

// Recover deals with what a crash left behind: a step recorded as started
// but never finished is marked interrupted and never blindly re-run (an
// idempotent step is run again; any other ends its run and escalates);
// a run between steps resumes at its next step; a run waiting for an
// approval already decided resumes.
func (r *Remediator) Recover(ctx context.Context) error {
	steps, err := r.rs.UnfinishedSteps(ctx)
	if err != nil {
		return fmt.Errorf("recover remediation: %w", err)
	}
	interrupted := map[int64]StepExecution{}
	for _, se := range steps {
		if err := r.rs.FinishStep(ctx, se.ID, StepStatusInterrupt, r.e.clock.Now()); err != nil {
			// Another replica recovering at the same time got there first:
			// it handles this step.
			r.logger.Warn("remediation: step not marked interrupted", "step_execution", se.ID, "err", err)
			continue
		}
		interrupted[se.RunID] = se
	}
	running, err := r.rs.RunsByStatus(ctx, RunRunning)
	if err != nil {
		return fmt.Errorf("recover remediation: %w", err)
	}
	for _, run := range running {
		pb, ok := r.opts.Playbooks.Playbook(run.Playbook)
		if !ok {
			r.finish(ctx, run, RunFailed, fmt.Sprintf("playbook %s no longer exists", run.Playbook))
			continue
		}
		se, wasMid := interrupted[run.ID]
		if !wasMid {
			run := run
			r.goRun(run.IncidentID, func(ctx context.Context) { r.execute(ctx, run, pb, run.NextStep) })
			continue
		}
		payload := map[string]any{"run_id": run.ID, "playbook": run.Playbook, "step_index": se.Index, "step": se.Name,
			"type": string(se.Type), "idempotent": se.Idempotent, "started_at": se.StartedAt}
		if se.Idempotent {
			payload["reason"] = "the step was cut short by a crash or shutdown; it is idempotent, so it runs again"
			r.append(ctx, run.IncidentID, ActorRemediation, KindStepInterrupted, payload)
			run := run
			r.goRun(run.IncidentID, func(ctx context.Context) { r.execute(ctx, run, pb, se.Index) })
			continue
		}
		payload["reason"] = "the step was cut short by a crash or shutdown and is not idempotent: it is not run again; a human must check its effect"
		r.append(ctx, run.IncidentID, ActorRemediation, KindStepInterrupted, payload)
		r.finish(ctx, run, RunInterrupted, fmt.Sprintf("step %s interrupted", se.Name))
		if inc, err := r.e.store.GetIncident(ctx, run.IncidentID); err == nil && inc.Status != StatusResolved {
			r.escalate(ctx, inc, fmt.Sprintf("step %s of playbook %s was interrupted and is not idempotent", se.Name, run.Playbook))
		}
	}
	r.resumeDecided(ctx)
	return nil
}

// finish ends a run with a status and records it.
func (r *Remediator) finish(ctx context.Context, run PlaybookRun, status, reason string) {
	if _, err := r.rs.UpdateRun(ctx, run.ID, "", status, run.NextStep, r.e.clock.Now()); err != nil {
		r.logger.Error("remediation: finish run", "run", run.ID, "err", err)
	}
	entry := r.append(ctx, run.IncidentID, ActorRemediation, KindPlaybookFinished, map[string]any{
		"run_id": run.ID, "playbook": run.Playbook, "attempt": max(run.Attempt, 0), "status": status, "reason": reason, "dry_run": run.DryRun,
	})
	if status != RunSucceeded && status != RunDryRun && status != RunAbandoned {
		r.notifyEntry(ctx, run.IncidentID, entry)
	}
}

// resolve resolves the incident of a run whose verify step passed.
func (r *Remediator) resolve(ctx context.Context, run PlaybookRun, pb Playbook) {
	now := r.e.clock.Now()
	updated, entries, err := r.e.store.MutateIncident(ctx, run.IncidentID, func(cur *Incident) ([]Entry, error) {
		if cur.Status == StatusResolved {
			return nil, nil
		}
		cur.Status = StatusResolved
		t := NormalizeTime(now)
		cur.ResolvedAt = &t
		return []Entry{{Time: now, Actor: ActorRemediation, Kind: KindResolved, Payload: map[string]any{
			"reason":   fmt.Sprintf("playbook %s (attempt %d) ran every step and its verify step passed", pb.Name, run.Attempt),
			"run_id":   run.ID,
			"playbook": pb.Name,
			"failures": cur.Failures,
		}}}, nil
	})
	if err != nil {
		r.logger.Error("remediation: resolve incident", "incident", run.IncidentID, "err", err)
		return
	}
	if len(entries) > 0 {
		r.e.logger.Info("incident resolved by playbook", "incident", updated.ID, "playbook", pb.Name)
		if r.e.observer != nil {
			r.e.observer.IncidentResolved(updated)
		}
		r.e.notify(ctx, updated, entries[len(entries)-1])
	}
}

// escalateOnce escalates an incident whose attempts are exhausted, once:
// the last run is marked escalated by a compare-and-set.
func (r *Remediator) escalateOnce(ctx context.Context, inc Incident, runs []PlaybookRun, reason string) {
	last := lastRealRun(runs)
	if last == nil || last.Status == RunEscalated {
		return
	}
	ok, err := r.rs.UpdateRun(ctx, last.ID, last.Status, RunEscalated, last.NextStep, r.e.clock.Now())
	if err != nil || !ok {
		return
	}
	r.escalate(ctx, inc, reason)
}

// escalate records that a human must take over and notifies.
func (r *Remediator) escalate(ctx context.Context, inc Incident, reason string) {
	entry := r.append(ctx, inc.ID, ActorRemediation, KindEscalated, map[string]any{"reason": reason, "tier": string(inc.Tier)})
	r.notifyEntry(ctx, inc.ID, entry)
}

// append writes one timeline entry and returns it (zero on failure, which
// is logged).
func (r *Remediator) append(ctx context.Context, id int64, actor, kind string, payload any) TimelineEntry {
	if actor == "" {
		actor = ActorRemediation
	}
	now := r.e.clock.Now()
	_, entries, err := r.e.store.MutateIncident(ctx, id, func(*Incident) ([]Entry, error) {
		return []Entry{{Time: now, Actor: actor, Kind: kind, Payload: payload}}, nil
	})
	if err != nil || len(entries) == 0 {
		r.logger.Error("remediation: append timeline entry", "incident", id, "kind", kind, "err", err)
		return TimelineEntry{}
	}
	return entries[0]
}

// appendOnce writes an entry of kind unless the incident's timeline has one
// already (for notices that would otherwise repeat with every failure).
func (r *Remediator) appendOnce(ctx context.Context, id int64, kind string, payload any) {
	key := fmt.Sprintf("%d/%s", id, kind)
	if _, seen := r.noticed.Load(key); seen {
		return
	}
	entries, err := r.e.store.Timeline(ctx, id)
	if err != nil {
		return
	}
	for _, en := range entries {
		if en.Kind == kind {
			r.noticed.Store(key, true)
			return
		}
	}
	r.append(ctx, id, ActorRemediation, kind, payload)
	r.noticed.Store(key, true)
}

// notifyEntry notifies about a written entry.
func (r *Remediator) notifyEntry(ctx context.Context, id int64, entry TimelineEntry) {
	if entry.Seq == 0 {
		return
	}
	inc, err := r.e.store.GetIncident(ctx, id)
	if err != nil {
		return
	}
	r.e.notify(ctx, inc, entry)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rankAsMatched is the diagnosis used when none is configured: it keeps
// the playbooks in match order.
type rankAsMatched struct{}

func (rankAsMatched) Diagnose(_ context.Context, inc Incident, candidates []Playbook) (Diagnosis, error) {
	d := Diagnosis{Diagnoser: "match-order", Summary: fmt.Sprintf("no diagnoser configured; %d playbook(s) match %s", len(candidates), inc.Title)}
	for _, c := range candidates {
		d.Candidates = append(d.Candidates, c.Name)
	}
	return d, nil
}

// PendingApprovals lists the approval requests waiting for a decision,
// oldest deadline first.
func (r *Remediator) PendingApprovals(ctx context.Context) ([]Approval, error) {
	return r.rs.PendingApprovals(ctx, time.Time{})
}

// GetApproval returns one approval request.
func (r *Remediator) GetApproval(ctx context.Context, id int64) (Approval, error) {
	return r.rs.GetApproval(ctx, id)
}

// Runs lists an incident's playbook runs, oldest first.
func (r *Remediator) Runs(ctx context.Context, incidentID int64) ([]PlaybookRun, error) {
	if _, err := r.e.store.GetIncident(ctx, incidentID); err != nil {
		return nil, fmt.Errorf("incident %d: %w", incidentID, err)
	}
	return r.rs.Runs(ctx, incidentID)
}
