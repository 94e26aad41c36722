package playbooks

import (
	"strings"
	"testing"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

func TestMatchSpecificityAndFilters(t *testing.T) {
	pb := func(name, match string, auto bool) *Definition {
		a := "true"
		if !auto {
			a = "false"
		}
		return mustParse(t, "name: "+name+"\nmatch: "+match+"\nauto: "+a+"\nsteps: [{name: tell, type: escalate}]\n")
	}
	set := mustSet(t,
		pb("any-minor", "{tiers: [MINOR, MAJOR, CRITICAL]}", true),
		pb("auth", "{categories: [authentication]}", true),
		pb("auth-b", "{categories: [authentication]}", true), // ties with auth: by name
		pb("auth-login-high", "{categories: [authentication], monitors: [auth-login], severities: [high, critical]}", true),
		pb("auth-login-minor", "{categories: [authentication], monitors: [auth-login], tiers: [MINOR]}", true),
		pb("auth-glob", "{categories: [authentication], monitors: ['auth-*'], tiers: [MINOR], severities: [high]}", true),
		pb("manual-only", "{categories: [authentication], monitors: [auth-login], tiers: [MINOR], severities: [high]}", false),
		pb("critical-only", "{tiers: [CRITICAL]}", true),
		pb("needs-monitor", "{require_monitor: true}", true),
	)
	names := func(inc incident.Incident) string {
		var out []string
		for _, p := range set.Match(inc) {
			out = append(out, p.Name)
		}
		return strings.Join(out, ",")
	}
	inc := incident.Incident{ID: 1, Category: "authentication", Monitor: "auth-login", Tier: incident.TierMinor, Severity: event.SeverityHigh}
	want := "auth-glob,auth-login-minor,auth-login-high,auth,auth-b,any-minor,needs-monitor"
	// auth-glob restricts 4 fields; auth-login-minor and auth-login-high
	// 3, the first with fewer values; auth, auth-b (by name) and any-minor
	// (3 tiers: broader) 1; needs-monitor none. manual-only is not
	// automatic; critical-only does not match the tier.
	if got := names(inc); got != want {
		t.Errorf("Match = %s\nwant    %s", got, want)
	}

	inc.Severity = event.SeverityMedium
	inc.Monitor = "auth-2fa"
	if got := names(inc); got != "auth,auth-b,any-minor,needs-monitor" {
		t.Errorf("medium, other monitor: %s", got)
	}
	inc.Monitor = ""
	if got := names(inc); got != "auth,auth-b,any-minor" {
		t.Errorf("no monitor: %s (globs and require_monitor must not match)", got)
	}
	inc = incident.Incident{Category: "availability", Tier: incident.TierCritical, Severity: event.SeverityCritical}
	if got := names(inc); got != "critical-only,any-minor" {
		t.Errorf("critical availability: %s", got)
	}
	if got := names(incident.Incident{Category: "availability"}); got != "" {
		t.Errorf("an incident without tier matched %s", got)
	}

	// Playbook finds manual playbooks too, with engine steps.
	p, ok := set.Playbook("manual-only")
	if !ok || len(p.Steps) != 1 || p.Steps[0].Type != incident.StepEscalate || !p.Steps[0].Idempotent {
		t.Errorf("Playbook(manual-only) = %+v, %v", p, ok)
	}
	if _, ok := set.Playbook("nope"); ok {
		t.Error("unknown playbook found")
	}
}
