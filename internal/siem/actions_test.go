package siem

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// allowAllActions is a guardrail policy that allows every step, for tests
// of the other policies that need a complete policy set.
const allowAllActions = `package secopsd.actions

decision := {"decision": "allow", "reasons": ["test: every step is allowed"]}
`

// actionPolicies is a complete policy set whose guardrail policy is the
// given body of package secopsd.actions.
func actionPolicies(t testing.TB, actions string) string {
	t.Helper()
	files := constantPolicies("high", "MAJOR")
	files["actions.rego"] = "package secopsd.actions\n\n" + actions + "\n"
	return writePolicies(t, false, files)
}

// actionInput is a live http step of a MAJOR incident on a Wednesday
// morning; mutate adjusts it.
func actionInput(mutate func(in *incident.ActionInput)) incident.ActionInput {
	in := incident.ActionInput{
		Incident: incident.ActionIncident{
			ID: 42, Title: "auth-health fails", Monitor: "auth-health", Category: "authentication",
			Severity: "high", Status: incident.StatusOpen, Failures: 3,
		},
		Tier:         incident.TierMajor,
		Playbook:     "auth",
		Step:         incident.Step{Name: "flush-sessions", Type: incident.StepHTTP, Target: "auth.internal", Idempotent: true},
		Attempt:      1,
		AttemptsLeft: 2,
		BuildsLeft:   incident.MaxBuildsPerHour,
		Time:         "2026-03-04T10:00:00Z",
		Hour:         10,
		Weekday:      "wednesday",
		Maintenance:  []string{},
	}
	if mutate != nil {
		mutate(&in)
	}
	return in
}

func TestDecideShippedPolicies(t *testing.T) {
	build := func(in *incident.ActionInput) {
		in.Step = incident.Step{Name: "redeploy", Type: incident.StepBuild, Target: "ci"}
	}
	approval := func(onTimeout string, reasons ...string) incident.ActionDecision {
		return incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: reasons,
			Timeout: 30 * time.Minute, OnTimeout: onTimeout}
	}
	tests := []struct {
		name string
		in   incident.ActionInput
		want incident.ActionDecision
	}{
		{"MINOR step runs unattended", actionInput(func(in *incident.ActionInput) {
			in.Tier, in.Step.Idempotent, in.Hour, in.Weekday = incident.TierMinor, false, 3, "sunday"
		}), incident.ActionDecision{Decision: incident.DecisionAllow, Reasons: []string{
			`MINOR incident: http step "flush-sessions" of playbook "auth" runs unattended, within the hard bounds`}}},
		{"MAJOR idempotent exec is allowed", actionInput(func(in *incident.ActionInput) { in.Step.Type = incident.StepExec }),
			incident.ActionDecision{Decision: incident.DecisionAllow, Reasons: []string{
				`MAJOR incident: exec step "flush-sessions" of playbook "auth" is idempotent and runs unattended after the diagnosis, within the hard bounds`}}},
		{"MAJOR non-idempotent step needs approval", actionInput(func(in *incident.ActionInput) {
			in.Step = incident.Step{Name: "switch-provider", Type: incident.StepHTTP, Target: "payments"}
		}), approval(incident.TimeoutDeny,
			`MAJOR incident: http step "switch-provider" of playbook "auth" is not idempotent and needs a human approval`,
			"denied if nobody answers within 30 minutes")},
		{"MAJOR build needs approval", actionInput(build), approval(incident.TimeoutDeny,
			`MAJOR incident: build step "redeploy" of playbook "auth" redeploys a service and needs a human approval`,
			"requested during business hours",
			"denied if nobody answers within 30 minutes")},
		{"CRITICAL step needs approval, approved at the deadline", actionInput(func(in *incident.ActionInput) {
			in.Tier = incident.TierCritical
		}), approval(incident.TimeoutApprove,
			`CRITICAL incident: http step "flush-sessions" of playbook "auth" needs a human approval`,
			"approved if nobody answers within 30 minutes (the documented default for CRITICAL incidents)")},
		{"CRITICAL personal-data breach is denied at the deadline", actionInput(func(in *incident.ActionInput) {
			in.Tier, in.Incident.Category = incident.TierCritical, "personal-data-breach"
		}), approval(incident.TimeoutDeny,
			`CRITICAL incident: http step "flush-sessions" of playbook "auth" needs a human approval`,
			"personal-data-breach incident: denied if nobody answers within 30 minutes, so that no unattended change touches the evidence")},
		{"MINOR build in business hours is allowed", actionInput(func(in *incident.ActionInput) {
			build(in)
			in.Tier = incident.TierMinor
		}), incident.ActionDecision{Decision: incident.DecisionAllow, Reasons: []string{
			`MINOR incident: build step "redeploy" of playbook "auth" runs unattended, within the hard bounds`}}},
		{"MINOR build at night needs approval", actionInput(func(in *incident.ActionInput) {
			build(in)
			in.Tier, in.Hour = incident.TierMinor, 22
		}), approval(incident.TimeoutDeny,
			`MINOR incident, but build step "redeploy" of playbook "auth" is a build outside business hours (Monday to Friday, 08:00-18:00) and needs a human approval`,
			"denied if nobody answers within 30 minutes")},
		{"maintenance denies", actionInput(func(in *incident.ActionInput) {
			in.Tier, in.Maintenance = incident.TierCritical, []string{"db-upgrade", "silence-7"}
		}), incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{
			"maintenance window in force (db-upgrade, silence-7): no automated change runs during maintenance"}}},
		{"resolved incident is denied", actionInput(func(in *incident.ActionInput) { in.Incident.Status = incident.StatusResolved }),
			incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{"the incident is resolved: there is nothing left to fix"}}},
		{"fourth attempt is denied", actionInput(func(in *incident.ActionInput) { in.Attempt, in.AttemptsLeft = 4, 0 }),
			incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{
				"attempt 4 exceeds the limit of 3 fix attempts per incident: a human takes over"}}},
		{"build without budget is denied", actionInput(func(in *incident.ActionInput) {
			build(in)
			in.Tier, in.BuildsLeft = incident.TierMinor, 0
		}), incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{
			"the build budget is spent: at most 5 automated builds run in any rolling hour"}}},
		{"unknown step type is denied", actionInput(func(in *incident.ActionInput) { in.Step.Type = "shell" }),
			incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{
				`step type "shell" is unknown to the guardrail policy: only http, exec and build steps can be allowed`}}},
		{"unknown tier is denied", actionInput(func(in *incident.ActionInput) { in.Tier = "SEVERE" }),
			incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{
				"the incident's tier is not MINOR, MAJOR or CRITICAL: nothing runs without a known tier"}}},
		{"dry run is allowed and says what a real run would get", actionInput(func(in *incident.ActionInput) {
			in.Tier, in.DryRun = incident.TierCritical, true
		}), incident.ActionDecision{Decision: incident.DecisionAllow, Reasons: []string{
			"dry run: nothing is executed",
			"a real run would get the decision require_approval",
			`CRITICAL incident: http step "flush-sessions" of playbook "auth" needs a human approval`,
			"approved if nobody answers within 30 minutes (the documented default for CRITICAL incidents)"}}},
		{"nil maintenance is none", actionInput(func(in *incident.ActionInput) { in.Maintenance = nil }),
			incident.ActionDecision{Decision: incident.DecisionAllow, Reasons: []string{
				`MAJOR incident: http step "flush-sessions" of playbook "auth" is idempotent and runs unattended after the diagnosis, within the hard bounds`}}},
		{"zero input is denied", incident.ActionInput{}, incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{
			`step type "" is unknown to the guardrail policy: only http, exec and build steps can be allowed`}}},
	}
	for _, src := range []struct{ name, dir string }{{"embedded", ""}, {"dir", shippedDir}} {
		c := newTestClassifier(t, ClassifierOptions{Dir: src.dir})
		for _, tt := range tests {
			t.Run(src.name+"/"+tt.name, func(t *testing.T) {
				got, err := c.Decide(t.Context(), tt.in)
				if err != nil {
					t.Fatalf("Decide: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Decide =\n  %#v\nwant\n  %#v", got, tt.want)
				}
			})
		}
	}
}

// TestDecideInputIsTheJSONForm checks that the policy sees the input as
// the timeline records it (incident.ActionInput's JSON form), with the
// fields JSON omits when empty present too.
func TestDecideInputIsTheJSONForm(t *testing.T) {
	c := newTestClassifier(t, ClassifierOptions{Dir: actionPolicies(t,
		`decision := {"decision": "deny", "reasons": [json.marshal(input)]}`)})
	for _, in := range []incident.ActionInput{
		actionInput(func(in *incident.ActionInput) {
			in.Maintenance, in.DryRun, in.Incident.ID = []string{"freeze", "löschen"}, true, 1<<40
		}),
		actionInput(func(in *incident.ActionInput) {
			in.Step.Target, in.Step.Idempotent, in.Maintenance = "", false, nil
			in.Attempt, in.AttemptsLeft, in.BuildsLeft, in.Hour = 3, 0, -1, 0
		}),
	} {
		d, err := c.Decide(t.Context(), in)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(d.Reasons[0]), &got); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		step := want["step"].(map[string]any)
		step["target"], step["idempotent"] = in.Step.Target, in.Step.Idempotent
		if in.Maintenance == nil {
			want["maintenance"] = []any{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("policy input =\n  %v\nwant\n  %v", got, want)
		}
	}
}

func TestDecideDefaults(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		tier   incident.Tier
		want   incident.ActionDecision
	}{
		{"approval defaults for MINOR", `decision := {"decision": "require_approval", "reasons": ["r"]}`, incident.TierMinor,
			incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: []string{"r"},
				Timeout: incident.DefaultApprovalTimeout, OnTimeout: incident.TimeoutDeny}},
		{"approval defaults for MAJOR", `decision := {"decision": "require_approval", "reasons": ["r"]}`, incident.TierMajor,
			incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: []string{"r"},
				Timeout: incident.DefaultApprovalTimeout, OnTimeout: incident.TimeoutDeny}},
		{"approval defaults for CRITICAL", `decision := {"decision": "require_approval", "reasons": ["r"]}`, incident.TierCritical,
			incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: []string{"r"},
				Timeout: incident.DefaultApprovalTimeout, OnTimeout: incident.TimeoutApprove}},
		{"explicit approval fields", `decision := {"decision": "require_approval", "reasons": ["r1", "r2"],
			"approvers": ["alice", "oncall-sre"], "timeout": "1h30m", "on_timeout": "approve"}`, incident.TierMinor,
			incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: []string{"r1", "r2"},
				Approvers: []string{"alice", "oncall-sre"}, Timeout: 90 * time.Minute, OnTimeout: incident.TimeoutApprove}},
		{"explicit deny at the deadline for CRITICAL", `decision := {"decision": "require_approval", "reasons": ["r"], "on_timeout": "deny", "timeout": "24h"}`,
			incident.TierCritical,
			incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: []string{"r"},
				Timeout: 24 * time.Hour, OnTimeout: incident.TimeoutDeny}},
		{"empty approvers mean any admin", `decision := {"decision": "require_approval", "reasons": ["r"], "approvers": []}`, incident.TierMajor,
			incident.ActionDecision{Decision: incident.DecisionRequireApproval, Reasons: []string{"r"},
				Timeout: incident.DefaultApprovalTimeout, OnTimeout: incident.TimeoutDeny}},
		{"allow has no approval fields", `decision := {"decision": "allow", "reasons": ["ok"]}`, incident.TierCritical,
			incident.ActionDecision{Decision: incident.DecisionAllow, Reasons: []string{"ok"}}},
		{"deny has no approval fields", `decision := {"decision": "deny", "reasons": ["no"]}`, incident.TierMinor,
			incident.ActionDecision{Decision: incident.DecisionDeny, Reasons: []string{"no"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClassifier(t, ClassifierOptions{Dir: actionPolicies(t, tt.policy)})
			got, err := c.Decide(t.Context(), actionInput(func(in *incident.ActionInput) { in.Tier = tt.tier }))
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decide =\n  %#v\nwant\n  %#v", got, tt.want)
			}
		})
	}
}

func TestDecideInvalidDecisions(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   string
	}{
		{"not an object", `decision := "allow"`, "decision is string, want an object"},
		{"missing decision", `decision := {"reasons": ["r"]}`, "field decision is missing"},
		{"decision not a string", `decision := {"decision": true, "reasons": ["r"]}`, "field decision is boolean, want a string"},
		{"unknown decision", `decision := {"decision": "maybe", "reasons": ["r"]}`,
			`field decision is "maybe", want allow, deny or require_approval`},
		{"upper-case decision", `decision := {"decision": "ALLOW", "reasons": ["r"]}`, `field decision is "ALLOW"`},
		{"missing reasons", `decision := {"decision": "allow"}`, "field reasons is missing"},
		{"empty reasons", `decision := {"decision": "deny", "reasons": []}`, "field reasons is empty, want at least one"},
		{"reasons not an array", `decision := {"decision": "deny", "reasons": "because"}`, "field reasons is string, want an array of strings"},
		{"reasons a set", `decision := {"decision": "deny", "reasons": {"because"}}`, "field reasons is set, want an array of strings"},
		{"reason not a string", `decision := {"decision": "deny", "reasons": ["a", 2]}`, "reasons[1] is number, want a string"},
		{"blank reason", `decision := {"decision": "deny", "reasons": ["a", " "]}`, "reasons[1] is empty"},
		{"unknown field", `decision := {"decision": "require_approval", "reasons": ["r"], "ontimeout": "approve"}`,
			`unknown field "ontimeout", want decision, reasons, approvers, timeout or on_timeout`},
		{"several unknown fields", `decision := {"decision": "allow", "reasons": ["r"], "z": 1, "a": 2}`, `unknown field "a", "z"`},
		{"bad timeout", `decision := {"decision": "require_approval", "reasons": ["r"], "timeout": "soon"}`,
			`field timeout is "soon", want a positive duration of at most 24h0m0s, like "30m"`},
		{"zero timeout", `decision := {"decision": "require_approval", "reasons": ["r"], "timeout": "0s"}`, `field timeout is "0s"`},
		{"negative timeout", `decision := {"decision": "require_approval", "reasons": ["r"], "timeout": "-5m"}`, `field timeout is "-5m"`},
		{"timeout too long", `decision := {"decision": "require_approval", "reasons": ["r"], "timeout": "24h1s"}`, `field timeout is "24h1s"`},
		{"timeout a number", `decision := {"decision": "require_approval", "reasons": ["r"], "timeout": 1800}`,
			"field timeout is number, want a string"},
		{"bad on_timeout", `decision := {"decision": "require_approval", "reasons": ["r"], "on_timeout": "escalate"}`,
			`field on_timeout is "escalate", want approve or deny`},
		{"on_timeout not a string", `decision := {"decision": "require_approval", "reasons": ["r"], "on_timeout": true}`,
			"field on_timeout is boolean, want a string"},
		{"approvers not an array", `decision := {"decision": "require_approval", "reasons": ["r"], "approvers": "alice"}`,
			"field approvers is string, want an array of strings"},
		{"approver not a string", `decision := {"decision": "require_approval", "reasons": ["r"], "approvers": [{"name": "alice"}]}`,
			"approvers[0] is object, want a string"},
		{"blank approver", `decision := {"decision": "require_approval", "reasons": ["r"], "approvers": ["alice", ""]}`,
			"approvers[1] is empty"},
		{"timeout with allow", `decision := {"decision": "allow", "reasons": ["r"], "timeout": "30m"}`,
			"field timeout is only valid with decision require_approval, not allow"},
		{"on_timeout with deny", `decision := {"decision": "deny", "reasons": ["r"], "on_timeout": "deny"}`,
			"field on_timeout is only valid with decision require_approval, not deny"},
		{"approvers with allow", `decision := {"decision": "allow", "reasons": ["r"], "approvers": ["alice"]}`,
			"field approvers is only valid with decision require_approval, not allow"},
		{"undefined", `decision := {"decision": "allow", "reasons": ["r"]} if input.tier == "MINOR"`,
			ActionsRule + ` is undefined for step "flush-sessions"`},
		{"conflict", `decision := {"decision": "allow", "reasons": ["r"]} if input.tier == "MAJOR"

decision := {"decision": "deny", "reasons": ["r"]} if input.step.type == "http"`, "eval_conflict_error"},
		{"failing built-in", `decision := {"decision": "allow", "reasons": [sprintf("%d", [1 / input.attempts_left])]} if input.tier == "MAJOR"`,
			ActionsRule + ` is undefined for step "flush-sessions"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClassifier(t, ClassifierOptions{Dir: actionPolicies(t, tt.policy)})
			d, err := c.Decide(t.Context(), actionInput(func(in *incident.ActionInput) { in.AttemptsLeft = 0 }))
			if !errors.Is(err, ErrInvalidDecision) {
				t.Fatalf("Decide = %+v, %v; want an error wrapping ErrInvalidDecision", d, err)
			}
			for _, want := range []string{tt.want, ActionsRule, `"flush-sessions"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if !reflect.DeepEqual(d, incident.ActionDecision{}) {
				t.Errorf("a failed Decide returned a decision: %+v", d)
			}
		})
	}
}

func TestMissingActionsRule(t *testing.T) {
	tests := []struct {
		name    string
		actions string // "" leaves actions.rego out
		want    string
	}{
		{"no actions policy", "", "the policies define no rule " + ActionsRule},
		{"decision in another package", "package secopsd.guard\n\ndecision := 1\n", "the policies define no rule " + ActionsRule},
		{"decision is a function", "package secopsd.actions\n\ndecision(x) := x\n", "actions.rego:3: " + ActionsRule + " must be a single-value rule"},
		{"decision is a set", "package secopsd.actions\n\ndecision contains input.tier\n", ActionsRule + " must be a single-value rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := constantPolicies("high", "MAJOR")
			delete(files, "actions.rego")
			if tt.actions != "" {
				files["actions.rego"] = tt.actions
			}
			_, err := NewClassifier(t.Context(), ClassifierOptions{Dir: writePolicies(t, false, files)})
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("NewClassifier error = %v, want ErrInvalidPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestReloadSwapsActions(t *testing.T) {
	dir := actionPolicies(t, `decision := {"decision": "allow", "reasons": ["first"]}`)
	c := newTestClassifier(t, ClassifierOptions{Dir: dir})
	check := func(want string) {
		t.Helper()
		d, err := c.Decide(t.Context(), actionInput(nil))
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if d.Decision != want {
			t.Errorf("decision = %+v, want %s", d, want)
		}
	}
	check(incident.DecisionAllow)

	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "actions.rego"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("package secopsd.actions\n\ndecision := {\"decision\": \"deny\", \"reasons\": [\"second\"]}\n")
	if err := c.Reload(t.Context()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	check(incident.DecisionDeny)

	// A broken guardrail policy fails the reload and the previous one stays.
	write("package secopsd.actions\n\ndecision := {\"decision\": x}\n")
	if err := c.Reload(t.Context()); !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "actions.rego:3") {
		t.Fatalf("Reload error = %v, want ErrInvalidPolicy naming actions.rego:3", err)
	}
	check(incident.DecisionDeny)

	// So does a set without the guardrail policy.
	if err := os.Remove(filepath.Join(dir, "actions.rego")); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(t.Context()); !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "no rule "+ActionsRule) {
		t.Fatalf("Reload error = %v, want ErrInvalidPolicy naming %s", err, ActionsRule)
	}
	check(incident.DecisionDeny)
}

func TestConcurrentDecide(t *testing.T) {
	c := newTestClassifier(t, ClassifierOptions{Dir: writePolicies(t, true, nil)})
	tiers := []incident.Tier{incident.TierMinor, incident.TierMajor, incident.TierCritical}
	want := []string{incident.DecisionAllow, incident.DecisionAllow, incident.DecisionRequireApproval}
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for w := range 8 {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			for i := range 100 {
				k := (w + i) % len(tiers)
				d, err := c.Decide(ctx, actionInput(func(in *incident.ActionInput) { in.Tier = tiers[k] }))
				if err != nil {
					errs <- err
					return
				}
				if d.Decision != want[k] {
					errs <- errors.New("tier " + string(tiers[k]) + ": got " + d.Decision + ", want " + want[k])
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if err := c.Reload(t.Context()); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDecideCancelledContext(t *testing.T) {
	c := newTestClassifier(t, ClassifierOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Decide(ctx, actionInput(nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("Decide error = %v, want context.Canceled", err)
	}
}

// BenchmarkDecide measures one guardrail decision with the shipped
// policies.
func BenchmarkDecide(b *testing.B) {
	c := newTestClassifier(b, ClassifierOptions{})
	for _, bc := range []struct {
		name string
		in   incident.ActionInput
	}{
		{"allow", actionInput(nil)},
		{"require_approval", actionInput(func(in *incident.ActionInput) { in.Tier = incident.TierCritical })},
		{"deny", actionInput(func(in *incident.ActionInput) { in.Maintenance = []string{"freeze"} })},
		{"dry_run", actionInput(func(in *incident.ActionInput) { in.DryRun = true })},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decide(ctx, bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTierShippedCategories checks the category rules of the shipped tier
// policy through the Go input (TestTierShippedPolicies covers severities).
func TestTierShippedCategories(t *testing.T) {
	c := newTestClassifier(t, ClassifierOptions{})
	tests := []struct {
		sev      event.Severity
		category string
		want     incident.Tier
	}{
		{event.SeverityLow, "personal-data-breach", incident.TierCritical},
		{event.SeverityHigh, "personal-data-breach", incident.TierCritical},
		{event.SeverityInfo, "secret-exposure", incident.TierCritical},
		{event.SeverityMedium, "authentication", incident.TierMajor},
		{event.SeverityMedium, "access-control", incident.TierMajor},
		{event.SeverityMedium, "privilege-escalation", incident.TierMajor},
		{event.SeverityMedium, "data-access", incident.TierMajor},
		{event.SeverityLow, "authentication", incident.TierMinor},
		{event.SeverityMedium, "availability", incident.TierMinor},
		{event.SeverityHigh, "availability", incident.TierMinor},
		{event.SeverityHigh, "web-hardening", incident.TierMajor},
		{event.SeverityCritical, "availability", incident.TierCritical},
	}
	for _, tt := range tests {
		t.Run(tt.sev.String()+"/"+tt.category, func(t *testing.T) {
			got, err := c.Tier(t.Context(), incident.TierInput{
				Severity: tt.sev, Category: tt.category, Monitor: "m", Kind: "k",
				// Attributes never change a tier.
				Attributes: map[string]string{"tier": "MINOR", "category": "availability", "severity": "info"},
			})
			if err != nil {
				t.Fatalf("Tier: %v", err)
			}
			if got != tt.want {
				t.Errorf("Tier(%s, %s) = %s, want %s", tt.sev, tt.category, got, tt.want)
			}
		})
	}
}
