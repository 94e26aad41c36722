package siem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/secopsd/secopsd/internal/incident"
)

// ActionsRule is the guardrail rule (policies/actions.rego) the classifier
// evaluates before every side-effecting playbook step.
const ActionsRule = "data.secopsd.actions.decision"

// MaxApprovalTimeout is the longest approval timeout a guardrail decision
// may set; a longer one makes the decision invalid.
const MaxApprovalTimeout = 24 * time.Hour

var _ incident.Guard = (*Classifier)(nil)

// actionKeys are the object keys of guardrail inputs and decisions, built
// once per classifier.
type actionKeys struct {
	// input
	incident, tier, playbook, step, attempt, attemptsLeft, buildsLeft *ast.Term
	time, hour, weekday, maintenance, dryRun                          *ast.Term
	// input.incident
	id, title, monitor, category, severity, status, failures *ast.Term
	// input.step
	name, typ, target, idempotent *ast.Term
	// decision
	decision, reasons, approvers, timeout, onTimeout *ast.Term
}

func newActionKeys() actionKeys {
	s := ast.StringTerm
	return actionKeys{
		incident: s("incident"), tier: s("tier"), playbook: s("playbook"), step: s("step"),
		attempt: s("attempt"), attemptsLeft: s("attempts_left"), buildsLeft: s("builds_left"),
		time: s("time"), hour: s("hour"), weekday: s("weekday"), maintenance: s("maintenance"),
		dryRun: s("dry_run"),
		id:     s("id"), title: s("title"), monitor: s("monitor"), category: s("category"),
		severity: s("severity"), status: s("status"), failures: s("failures"),
		name: s("name"), typ: s("type"), target: s("target"), idempotent: s("idempotent"),
		decision: s("decision"), reasons: s("reasons"), approvers: s("approvers"),
		timeout: s("timeout"), onTimeout: s("on_timeout"),
	}
}

// Decide evaluates the guardrail policy for one playbook step: allow, deny
// or require_approval, with reasons. A require_approval decision that
// omits them gets the default timeout (incident.DefaultApprovalTimeout)
// and timeout action (approve for a CRITICAL incident, deny otherwise). A
// decision that is undefined, conflicting or of the wrong shape gives an
// error wrapping ErrInvalidDecision.
func (c *Classifier) Decide(ctx context.Context, in incident.ActionInput) (incident.ActionDecision, error) {
	set := c.set.Load()
	v, err := c.eval(ctx, set, &set.actions, c.actionInput(set, in))
	if err != nil {
		return incident.ActionDecision{}, fmt.Errorf("evaluate %s for step %q: %w", ActionsRule, in.Step.Name, err)
	}
	if v == nil {
		return incident.ActionDecision{}, fmt.Errorf("%w: %s is undefined for step %q", ErrInvalidDecision, ActionsRule, in.Step.Name)
	}
	d, err := c.decodeAction(v, in.Tier)
	if err != nil {
		return incident.ActionDecision{}, fmt.Errorf("%w: %s for step %q: %w", ErrInvalidDecision, ActionsRule, in.Step.Name, err)
	}
	return d, nil
}

// actionInput builds the policy input for in. It has every field of
// incident.ActionInput's JSON form, including those JSON omits when empty,
// and maintenance is always an array.
func (c *Classifier) actionInput(set *policySet, in incident.ActionInput) ast.Value {
	k := &c.akeys
	a := newTermArena(set.literals, 13+len(in.Maintenance))
	maintenance := make([]*ast.Term, len(in.Maintenance))
	for i, name := range in.Maintenance {
		maintenance[i] = a.str(name)
	}
	inc := ast.NewObject(
		[2]*ast.Term{k.id, ast.InternedTerm(in.Incident.ID)},
		[2]*ast.Term{k.title, a.str(in.Incident.Title)},
		[2]*ast.Term{k.monitor, a.str(in.Incident.Monitor)},
		[2]*ast.Term{k.category, a.str(in.Incident.Category)},
		[2]*ast.Term{k.severity, a.str(in.Incident.Severity)},
		[2]*ast.Term{k.status, a.str(string(in.Incident.Status))},
		[2]*ast.Term{k.failures, ast.InternedTerm(in.Incident.Failures)},
	)
	step := ast.NewObject(
		[2]*ast.Term{k.name, a.str(in.Step.Name)},
		[2]*ast.Term{k.typ, a.str(string(in.Step.Type))},
		[2]*ast.Term{k.target, a.str(in.Step.Target)},
		[2]*ast.Term{k.idempotent, ast.InternedTerm(in.Step.Idempotent)},
	)
	return ast.NewObject(
		[2]*ast.Term{k.incident, ast.NewTerm(inc)},
		[2]*ast.Term{k.tier, a.str(string(in.Tier))},
		[2]*ast.Term{k.playbook, a.str(in.Playbook)},
		[2]*ast.Term{k.step, ast.NewTerm(step)},
		[2]*ast.Term{k.attempt, ast.InternedTerm(in.Attempt)},
		[2]*ast.Term{k.attemptsLeft, ast.InternedTerm(in.AttemptsLeft)},
		[2]*ast.Term{k.buildsLeft, ast.InternedTerm(in.BuildsLeft)},
		[2]*ast.Term{k.time, a.str(in.Time)},
		[2]*ast.Term{k.hour, ast.InternedTerm(in.Hour)},
		[2]*ast.Term{k.weekday, a.str(in.Weekday)},
		[2]*ast.Term{k.maintenance, ast.ArrayTerm(maintenance...)},
		[2]*ast.Term{k.dryRun, ast.InternedTerm(in.DryRun)},
	)
}

// decodeAction checks the shape of a guardrail decision strictly and
// extracts it, filling in the defaults of an approval request for tier.
func (c *Classifier) decodeAction(v ast.Value, tier incident.Tier) (incident.ActionDecision, error) {
	k := &c.akeys
	obj, ok := v.(ast.Object)
	if !ok {
		return incident.ActionDecision{}, fmt.Errorf("decision is %s, want an object", ast.ValueName(v))
	}
	var unknown []string
	obj.Foreach(func(key, _ *ast.Term) {
		switch {
		case key.Equal(k.decision), key.Equal(k.reasons), key.Equal(k.approvers),
			key.Equal(k.timeout), key.Equal(k.onTimeout):
		default:
			unknown = append(unknown, key.String())
		}
	})
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return incident.ActionDecision{}, fmt.Errorf("unknown field %s, want decision, reasons, approvers, timeout or on_timeout",
			strings.Join(unknown, ", "))
	}

	var d incident.ActionDecision
	var err error
	if d.Decision, err = stringField(obj, k.decision); err != nil {
		return incident.ActionDecision{}, err
	}
	switch d.Decision {
	case incident.DecisionAllow, incident.DecisionDeny, incident.DecisionRequireApproval:
	default:
		return incident.ActionDecision{}, fmt.Errorf("field decision is %q, want %s, %s or %s", d.Decision,
			incident.DecisionAllow, incident.DecisionDeny, incident.DecisionRequireApproval)
	}
	if d.Reasons, err = stringsField(obj, k.reasons, true); err != nil {
		return incident.ActionDecision{}, err
	}

	if d.Decision != incident.DecisionRequireApproval {
		for _, key := range []*ast.Term{k.approvers, k.timeout, k.onTimeout} {
			if obj.Get(key) != nil {
				return incident.ActionDecision{}, fmt.Errorf("field %s is only valid with decision %s, not %s",
					string(key.Value.(ast.String)), incident.DecisionRequireApproval, d.Decision)
			}
		}
		return d, nil
	}

	if obj.Get(k.approvers) != nil {
		if d.Approvers, err = stringsField(obj, k.approvers, false); err != nil {
			return incident.ActionDecision{}, err
		}
	}
	d.Timeout = incident.DefaultApprovalTimeout
	if obj.Get(k.timeout) != nil {
		s, err := stringField(obj, k.timeout)
		if err != nil {
			return incident.ActionDecision{}, err
		}
		t, err := time.ParseDuration(s)
		if err != nil || t <= 0 || t > MaxApprovalTimeout {
			return incident.ActionDecision{}, fmt.Errorf("field timeout is %q, want a positive duration of at most %s, like \"30m\"",
				s, MaxApprovalTimeout)
		}
		d.Timeout = t
	}
	d.OnTimeout = incident.TimeoutDeny
	if tier == incident.TierCritical {
		d.OnTimeout = incident.TimeoutApprove
	}
	if obj.Get(k.onTimeout) != nil {
		if d.OnTimeout, err = stringField(obj, k.onTimeout); err != nil {
			return incident.ActionDecision{}, err
		}
		if d.OnTimeout != incident.TimeoutApprove && d.OnTimeout != incident.TimeoutDeny {
			return incident.ActionDecision{}, fmt.Errorf("field on_timeout is %q, want %s or %s",
				d.OnTimeout, incident.TimeoutApprove, incident.TimeoutDeny)
		}
	}
	return d, nil
}

// stringsField returns the array of non-empty strings at key; with
// nonEmpty the array must hold at least one.
func stringsField(obj ast.Object, key *ast.Term, nonEmpty bool) ([]string, error) {
	name := string(key.Value.(ast.String))
	t := obj.Get(key)
	if t == nil {
		return nil, fmt.Errorf("field %s is missing", name)
	}
	arr, ok := t.Value.(*ast.Array)
	if !ok {
		return nil, fmt.Errorf("field %s is %s, want an array of strings", name, ast.ValueName(t.Value))
	}
	if arr.Len() == 0 {
		if nonEmpty {
			return nil, fmt.Errorf("field %s is empty, want at least one", name)
		}
		return nil, nil
	}
	out := make([]string, arr.Len())
	for i := range arr.Len() {
		s, ok := arr.Elem(i).Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is %s, want a string", name, i, ast.ValueName(arr.Elem(i).Value))
		}
		if strings.TrimSpace(string(s)) == "" {
			return nil, fmt.Errorf("%s[%d] is empty", name, i)
		}
		out[i] = string(s)
	}
	return out, nil
}
