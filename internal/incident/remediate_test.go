package incident_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// scripted is a StepRunner whose outcome per step type is set by the test;
// it counts the calls per step name.
type scripted struct {
	mu    sync.Mutex
	calls map[string]int
	ok    map[incident.StepType]bool
	block chan struct{} // when set, steps of type http block until closed or ctx ends
}

func newScripted() *scripted {
	return &scripted{calls: map[string]int{}, ok: map[incident.StepType]bool{
		incident.StepHTTP: true, incident.StepExec: true, incident.StepBuild: true, incident.StepVerify: true,
		incident.StepNotify: true, incident.StepWait: true, incident.StepEscalate: true,
	}}
}

func (s *scripted) RunStep(ctx context.Context, req incident.StepRequest) incident.StepResult {
	s.mu.Lock()
	s.calls[req.Step.Name]++
	ok := s.ok[req.Step.Type]
	block := s.block
	s.mu.Unlock()
	if block != nil && req.Step.Type == incident.StepHTTP {
		select {
		case <-block:
		case <-ctx.Done():
			return incident.StepResult{Error: ctx.Err().Error()}
		}
	}
	if !ok {
		return incident.StepResult{Error: "scripted failure"}
	}
	return incident.StepResult{OK: true, Output: "done " + req.Step.Name}
}

func (s *scripted) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *scripted) set(t incident.StepType, ok bool) {
	s.mu.Lock()
	s.ok[t] = ok
	s.mu.Unlock()
}

// book is a PlaybookSource with fixed playbooks, all matching.
type book []incident.Playbook

func (b book) Match(incident.Incident) []incident.Playbook { return b }
func (b book) Playbook(name string) (incident.Playbook, bool) {
	for _, p := range b {
		if p.Name == name {
			return p, true
		}
	}
	return incident.Playbook{}, false
}

// guardFunc adapts a function to incident.Guard.
type guardFunc func(incident.ActionInput) incident.ActionDecision

func (g guardFunc) Decide(_ context.Context, in incident.ActionInput) (incident.ActionDecision, error) {
	return g(in), nil
}

func allowAll(incident.ActionInput) incident.ActionDecision {
	return incident.ActionDecision{Decision: incident.DecisionAllow, Reasons: []string{"test allows"}}
}

var restartVerify = incident.Playbook{Name: "restart", Steps: []incident.Step{
	{Name: "restart", Type: incident.StepHTTP, Target: "svc.internal"},
	{Name: "verify", Type: incident.StepVerify},
}}

func (f *fixture) remediator(t *testing.T, pbs book, runner incident.StepRunner, g incident.Guard, dry bool) *incident.Remediator {
	t.Helper()
	r, err := incident.NewRemediator(incident.RemediatorOptions{
		Engine: f.engine, Playbooks: pbs, Runner: runner, Guard: g, DryRun: dry,
		ApprovalPoll: 10 * time.Millisecond, BreakerFailures: 3, BreakerCooldown: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

// open opens one incident of the given severity and waits for the
// automatic remediation it triggers.
func (f *fixture) open(t *testing.T, r *incident.Remediator, fp string, sev event.Severity) incident.Incident {
	t.Helper()
	f.run(t, failing(fp, sev))
	r.Wait()
	inc, err := f.store.OpenIncidentByFingerprint(context.Background(), fp)
	if err != nil {
		inc2, err2 := f.latest(fp)
		if err2 != nil {
			t.Fatalf("incident %s: %v", fp, err)
		}
		return inc2
	}
	return inc
}

func (f *fixture) latest(fp string) (incident.Incident, error) {
	list, err := f.store.ListIncidents(context.Background(), incident.Filter{Fingerprint: fp, Limit: 1})
	if err != nil || len(list) == 0 {
		return incident.Incident{}, fmt.Errorf("no incident %s: %v", fp, err)
	}
	return list[0], nil
}

// entries returns the timeline entries of kind, decoded.
func (f *fixture) entries(t *testing.T, id int64, kind string) []map[string]any {
	t.Helper()
	tl, err := f.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range tl {
		if e.Kind != kind {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(e.Payload, &m); err != nil {
			t.Fatal(err)
		}
		m["_actor"] = e.Actor
		out = append(out, m)
	}
	return out
}

func TestMinorIncidentResolvedByPlaybook(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	r := f.remediator(t, book{restartVerify}, runner, guardFunc(allowAll), false)
	inc := f.open(t, r, "fp-minor", event.SeverityMedium)
	if inc.Tier != incident.TierMinor {
		t.Fatalf("tier = %s, want MINOR", inc.Tier)
	}
	if inc.Status != incident.StatusResolved {
		t.Fatalf("status = %s, want resolved by the playbook; timeline %v", inc.Status, f.kinds(t, inc.ID))
	}
	want := []string{incident.KindOpened, incident.KindPlaybookStarted, incident.KindGuardDecision, incident.KindStepStarted,
		incident.KindStepFinished, incident.KindStepStarted, incident.KindStepFinished, incident.KindPlaybookFinished, incident.KindResolved}
	if got := f.kinds(t, inc.ID); !equal(got, want) {
		t.Fatalf("timeline kinds\n got %v\nwant %v", got, want)
	}
	if runner.count("restart") != 1 || runner.count("verify") != 1 {
		t.Fatalf("calls = %v", runner.calls)
	}
	d := f.entries(t, inc.ID, incident.KindGuardDecision)[0]
	if d["decision"] != "allow" || d["input"] == nil {
		t.Fatalf("guard decision entry lacks its decision or input: %v", d)
	}
	if err := incident.VerifyChain(inc, mustTimeline(t, f, inc.ID)); err != nil {
		t.Fatal(err)
	}
}

func mustTimeline(t *testing.T, f *fixture, id int64) []incident.TimelineEntry {
	t.Helper()
	tl, err := f.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestFourthAttemptRefusedAndEscalated(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	runner.set(incident.StepVerify, false) // the fix never works
	r := f.remediator(t, book{restartVerify}, runner, guardFunc(allowAll), false)
	inc := f.open(t, r, "fp-attempts", event.SeverityMedium) // attempt 1 (automatic)
	for i := 0; i < 4; i++ {                                 // failures trigger attempts 2 and 3, then nothing
		f.run(t, failing("fp-attempts", event.SeverityMedium))
		r.Wait()
	}
	if n := runner.count("restart"); n != incident.MaxAttempts {
		t.Fatalf("restart ran %d times, want %d", n, incident.MaxAttempts)
	}
	_, err := r.RunPlaybook(context.Background(), inc.ID, "", "cli:alice", false)
	if !errors.Is(err, incident.ErrAttemptsExhausted) {
		t.Fatalf("manual 4th attempt: err = %v, want ErrAttemptsExhausted", err)
	}
	if n := runner.count("restart"); n != incident.MaxAttempts {
		t.Fatalf("restart ran %d times after the refused attempt", n)
	}
	if esc := f.entries(t, inc.ID, incident.KindEscalated); len(esc) != 1 {
		t.Fatalf("escalations = %d, want exactly 1: %v", len(esc), esc)
	}
	ref := f.entries(t, inc.ID, incident.KindAttemptRefused)
	if len(ref) != 1 || ref[0]["_actor"] != "cli:alice" || !strings.Contains(ref[0]["reason"].(string), "at most 3") {
		t.Fatalf("refusal entry = %v", ref)
	}
	runs, err := r.Runs(context.Background(), inc.ID)
	if err != nil || len(runs) != 3 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
}

var buildBook = book{{Name: "redeploy", Steps: []incident.Step{
	{Name: "build", Type: incident.StepBuild, Target: "ci"},
}}}

func TestSixthBuildInAnHourRefusedAlsoAfterRestart(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	r := f.remediator(t, buildBook, runner, guardFunc(allowAll), false)
	for i := 1; i <= 5; i++ {
		f.open(t, r, fmt.Sprintf("fp-build-%d", i), event.SeverityMedium)
	}
	if n := runner.count("build"); n != 5 {
		t.Fatalf("builds = %d, want 5", n)
	}
	sixth := f.open(t, r, "fp-build-6", event.SeverityMedium)
	if n := runner.count("build"); n != 5 {
		t.Fatalf("6th build ran: builds = %d", n)
	}
	sk := f.entries(t, sixth.ID, incident.KindStepSkipped)
	if len(sk) != 1 || sk[0]["bound"] != "builds_per_hour" {
		t.Fatalf("6th build: skipped entries %v", sk)
	}

	// A restart (a new remediator on the same store) does not reset the budget.
	_ = r.Stop(context.Background())
	f.engine = f.newEngine(t, 1)
	r2 := f.remediator(t, buildBook, runner, guardFunc(allowAll), false)
	seventh := f.open(t, r2, "fp-build-7", event.SeverityMedium)
	if n := runner.count("build"); n != 5 {
		t.Fatalf("build after restart ran: builds = %d", n)
	}
	if sk := f.entries(t, seventh.ID, incident.KindStepSkipped); len(sk) != 1 {
		t.Fatalf("after restart: skipped entries %v", sk)
	}
	// An hour after the first builds the budget is back.
	f.clock.Advance(incident.BuildWindow)
	f.open(t, r2, "fp-build-8", event.SeverityMedium)
	if n := runner.count("build"); n != 6 {
		t.Fatalf("build an hour later: builds = %d, want 6", n)
	}
}

func TestOpenBreakerSkipsTarget(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	runner.set(incident.StepHTTP, false) // the restart endpoint is broken
	r := f.remediator(t, book{restartVerify}, runner, guardFunc(allowAll), false)
	for i := 1; i <= 3; i++ {
		f.open(t, r, fmt.Sprintf("fp-br-%d", i), event.SeverityMedium)
	}
	if n := runner.count("restart"); n != 3 {
		t.Fatalf("restart calls = %d, want 3", n)
	}
	if s := r.BreakerState("svc.internal"); s != "open" {
		t.Fatalf("breaker = %s, want open", s)
	}
	inc := f.open(t, r, "fp-br-4", event.SeverityMedium)
	if n := runner.count("restart"); n != 3 {
		t.Fatalf("open breaker let the call through: %d calls", n)
	}
	sk := f.entries(t, inc.ID, incident.KindStepSkipped)
	if len(sk) != 1 || sk[0]["bound"] != "circuit_breaker" || sk[0]["target"] != "svc.internal" {
		t.Fatalf("skipped entries %v", sk)
	}
}

func TestPolicyDenyBlocksStep(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	deny := guardFunc(func(incident.ActionInput) incident.ActionDecision {
		return incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{"no restarts on fridays"}}
	})
	r := f.remediator(t, book{restartVerify}, runner, deny, false)
	inc := f.open(t, r, "fp-deny", event.SeverityMedium)
	if runner.count("restart") != 0 {
		t.Fatal("denied step ran")
	}
	d := f.entries(t, inc.ID, incident.KindGuardDecision)
	if len(d) != 1 || d[0]["decision"] != "deny" {
		t.Fatalf("decision entries %v", d)
	}
	if sk := f.entries(t, inc.ID, incident.KindStepSkipped); len(sk) != 1 {
		t.Fatalf("skipped entries %v", sk)
	}
}

// approvalGuard requires approval with a short deadline and the given
// timeout action and approvers.
func approvalGuard(onTimeout string, approvers ...string) guardFunc {
	return func(incident.ActionInput) incident.ActionDecision {
		return incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: []string{"needs a human"},
			Timeout: 30 * time.Minute, OnTimeout: onTimeout, Approvers: approvers}
	}
}

func TestApprovalByHuman(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(fmt.Sprint("approve=", approve), func(t *testing.T) {
			f := newFixture(t, 1)
			runner := newScripted()
			r := f.remediator(t, book{restartVerify}, runner, approvalGuard(incident.TimeoutDeny, "api:alice"), false)
			inc := f.open(t, r, "fp-appr", event.SeverityMedium)
			pending, err := r.PendingApprovals(context.Background())
			if err != nil || len(pending) != 1 {
				t.Fatalf("pending = %v, %v", pending, err)
			}
			if runner.count("restart") != 0 {
				t.Fatal("step ran before approval")
			}
			if _, err := r.Decide(context.Background(), pending[0].ID, true, "api:mallory", ""); !errors.Is(err, incident.ErrNotApprover) {
				t.Fatalf("non-approver: err = %v", err)
			}
			if ref := f.entries(t, inc.ID, incident.KindApprovalRefused); len(ref) != 1 || ref[0]["_actor"] != "api:mallory" {
				t.Fatalf("refusal entries %v", ref)
			}
			if _, err := r.Decide(context.Background(), pending[0].ID, approve, "api:alice", "ok by me"); err != nil {
				t.Fatal(err)
			}
			r.Wait()
			if _, err := r.Decide(context.Background(), pending[0].ID, approve, "api:alice", ""); !errors.Is(err, incident.ErrAlreadyDecided) {
				t.Fatalf("second decision: err = %v", err)
			}
			want := 0
			if approve {
				want = 1
			}
			if n := runner.count("restart"); n != want {
				t.Fatalf("restart ran %d times, want %d", n, want)
			}
			dec := f.entries(t, inc.ID, incident.KindApprovalDecided)
			if len(dec) != 1 || dec[0]["decided_by"] != "human" || dec[0]["_actor"] != "api:alice" {
				t.Fatalf("decision entries %v", dec)
			}
			got, _ := f.store.GetIncident(context.Background(), inc.ID)
			if approve && got.Status != incident.StatusResolved {
				t.Fatalf("approved fix did not resolve: %v", f.kinds(t, inc.ID))
			}
			if sk := f.entries(t, inc.ID, incident.KindStepSkipped); !approve && (len(sk) != 1 || sk[0]["step"] != "restart") {
				t.Fatalf("denied step: skipped entries %v", sk)
			}
		})
	}
}

func TestApprovalDeadlineActsOnceEvenAfterDowntime(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	g := approvalGuard(incident.TimeoutApprove)
	r := f.remediator(t, book{restartVerify}, runner, g, false)
	inc := f.open(t, r, "fp-deadline", event.SeverityCritical)
	if inc.Tier != incident.TierCritical {
		t.Fatalf("tier %s", inc.Tier)
	}
	// The daemon goes down before the deadline and comes back after it.
	_ = r.Stop(context.Background())
	f.clock.Advance(31 * time.Minute)
	f.engine = f.newEngine(t, 1)
	r2, err := incident.NewRemediator(incident.RemediatorOptions{Engine: f.engine, Playbooks: book{restartVerify}, Runner: runner, Guard: g, ApprovalPoll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r3, err := incident.NewRemediator(incident.RemediatorOptions{Engine: f.newEngine(t, 1), Playbooks: book{restartVerify}, Runner: runner, Guard: g, ApprovalPoll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Two replicas sweep at once: the deadline action is taken once.
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, rr := range []*incident.Remediator{r2, r3} {
		wg.Add(1)
		go func() { defer wg.Done(); counts[i] = rr.SweepDeadlines(context.Background()) }()
	}
	wg.Wait()
	r2.Wait()
	r3.Wait()
	if counts[0]+counts[1] != 1 {
		t.Fatalf("deadline decisions = %v, want one in total", counts)
	}
	dec := f.entries(t, inc.ID, incident.KindApprovalDecided)
	if len(dec) != 1 || dec[0]["decided_by"] != "deadline" || dec[0]["decision"] != "approved" {
		t.Fatalf("decision entries %v", dec)
	}
	if n := runner.count("restart"); n != 1 {
		t.Fatalf("restart ran %d times, want once", n)
	}
	if r2.SweepDeadlines(context.Background()) != 0 {
		t.Fatal("a second sweep decided again")
	}
}

func TestCrashMidStepIsNotRerun(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		t.Run(fmt.Sprint("idempotent=", idempotent), func(t *testing.T) {
			f := newFixture(t, 1)
			runner := newScripted()
			runner.block = make(chan struct{})
			pb := incident.Playbook{Name: "restart", Steps: []incident.Step{
				{Name: "restart", Type: incident.StepHTTP, Target: "svc", Idempotent: idempotent},
				{Name: "verify", Type: incident.StepVerify},
			}}
			r := f.remediator(t, book{pb}, runner, guardFunc(allowAll), false)
			f.run(t, failing("fp-crash", event.SeverityMedium))
			deadline := time.Now().Add(10 * time.Second)
			for runner.count("restart") == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			// The process dies mid-step: the step stays recorded as started.
			_ = r.Stop(context.Background())
			inc, _ := f.latest("fp-crash")
			runner.mu.Lock()
			runner.block = nil
			runner.mu.Unlock()

			f.engine = f.newEngine(t, 1)
			r2 := f.remediator(t, book{pb}, runner, guardFunc(allowAll), false)
			r2.Wait()
			in := f.entries(t, inc.ID, incident.KindStepInterrupted)
			if len(in) != 1 {
				t.Fatalf("interrupted entries %v", in)
			}
			got, _ := f.store.GetIncident(context.Background(), inc.ID)
			if idempotent {
				if n := runner.count("restart"); n != 2 || got.Status != incident.StatusResolved {
					t.Fatalf("idempotent step: calls %d, status %s", n, got.Status)
				}
				return
			}
			if n := runner.count("restart"); n != 1 {
				t.Fatalf("non-idempotent step re-run: %d calls", n)
			}
			if len(f.entries(t, inc.ID, incident.KindEscalated)) != 1 {
				t.Fatalf("not escalated: %v", f.kinds(t, inc.ID))
			}
			// A human has it now: later failures start no new attempt.
			f.run(t, failing("fp-crash", event.SeverityMedium))
			r2.Wait()
			if n := runner.count("restart"); n != 1 {
				t.Fatalf("a later failure re-ran the step: %d calls", n)
			}
		})
	}
}

func TestDryRunExecutesNothing(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	r := f.remediator(t, book{restartVerify}, runner, guardFunc(allowAll), true)
	inc := f.open(t, r, "fp-dry", event.SeverityMedium)
	if runner.count("restart")+runner.count("verify") != 0 {
		t.Fatalf("dry run executed: %v", runner.calls)
	}
	if n := len(f.entries(t, inc.ID, incident.KindStepDryRun)); n != 2 {
		t.Fatalf("dry-run entries = %d, want 2", n)
	}
	if n := len(f.entries(t, inc.ID, incident.KindGuardDecision)); n != 1 {
		t.Fatalf("guard decisions = %d, want 1 (recorded in dry run too)", n)
	}
	got, _ := f.store.GetIncident(context.Background(), inc.ID)
	if got.Status == incident.StatusResolved {
		t.Fatal("dry run resolved the incident")
	}
	// Later failures do not start more dry runs.
	f.run(t, failing("fp-dry", event.SeverityMedium))
	r.Wait()
	if n := len(f.entries(t, inc.ID, incident.KindPlaybookStarted)); n != 1 {
		t.Fatalf("dry runs = %d, want 1", n)
	}
}

func TestCriticalAlwaysNeedsApproval(t *testing.T) {
	f := newFixture(t, 1)
	runner := newScripted()
	r := f.remediator(t, book{restartVerify}, runner, guardFunc(allowAll), false)
	inc := f.open(t, r, "fp-crit", event.SeverityCritical)
	if runner.count("restart") != 0 {
		t.Fatal("a CRITICAL side-effecting step ran without approval although the policy allowed it")
	}
	req := f.entries(t, inc.ID, incident.KindApprovalRequested)
	if len(req) != 1 || req[0]["on_timeout"] != "approve" {
		t.Fatalf("approval requests %v", req)
	}
}
