package monitors

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

func TestProbersListsHTTP(t *testing.T) {
	if Probers()["http"] == nil {
		t.Fatal(`Probers() lacks "http"`)
	}
}

func TestResultEventsFailure(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	r := Result{
		Monitor:  "api-health",
		Type:     "http",
		Target:   "https://api.example.com/healthz",
		Duration: 1500 * time.Millisecond,
		Attempts: 3,
		Details:  map[string]string{"status_code": "500", "target": "must not win"},
		Labels:   map[string]string{"team": "platform"},
		Findings: []event.Finding{
			newFinding("api-health", "https://api.example.com/healthz", "http.unhealthy", event.SeverityHigh,
				"api-health: HTTP 500", "status=500", "fix it"),
			{ID: "other.thing", Severity: event.SeverityLow, Title: "other", Evidence: "e2"},
		},
	}
	evs := r.Events(now)
	if len(evs) != 2 {
		t.Fatalf("got %d events, want one per finding", len(evs))
	}
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for i, e := range evs {
		f := r.Findings[i]
		if e.Kind != EventKind || e.Source != EventSource || e.Outcome != event.OutcomeFail ||
			e.Monitor != "api-health" || e.Title != f.Title || !e.Time.Equal(now) {
			t.Errorf("event %d = %+v", i, e)
		}
		wantFP := event.Fingerprint("api-health", r.Target, f.ID)
		if e.Fingerprint != wantFP {
			t.Errorf("event %d fingerprint = %s, want %s", i, e.Fingerprint, wantFP)
		}
		want := map[string]string{
			"monitor_type":     "http",
			"target":           r.Target,
			"finding_id":       f.ID,
			"finding_severity": f.Severity.String(),
			"evidence":         f.Evidence,
			"status_code":      "500",
			"team":             "platform",
			"attempts":         "3",
			"duration_ms":      "1500",
		}
		for k, v := range want {
			if e.Attributes[k] != v {
				t.Errorf("event %d attribute %s = %q, want %q", i, k, e.Attributes[k], v)
			}
		}
		if !hexID.MatchString(e.ID) {
			t.Errorf("event id %q is not 128-bit hex", e.ID)
		}
	}
	if evs[0].ID == evs[1].ID {
		t.Error("event ids are not unique")
	}
	if evs[0].Attributes["remediation"] != "fix it" {
		t.Errorf("remediation = %q", evs[0].Attributes["remediation"])
	}
}

func TestResultEventsPass(t *testing.T) {
	r := Result{Monitor: "api-health", Type: "http", Target: "http://x", Success: true,
		Labels: map[string]string{"team": "platform"}}
	evs := r.Events(time.Now())
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	e := evs[0]
	if e.Outcome != event.OutcomePass || e.Fingerprint != event.Fingerprint("api-health", "pass") ||
		e.Kind != EventKind || e.Attributes["team"] != "platform" || e.Attributes["target"] != "http://x" {
		t.Errorf("pass event = %+v", e)
	}
	if _, ok := e.Attributes["finding_id"]; ok {
		t.Error("a pass event has a finding_id")
	}
}

func TestResultEventsFailureWithoutFindings(t *testing.T) {
	r := Result{Monitor: "m", Type: "x", Target: "t", Details: map[string]string{"error": "broken"}}
	evs := r.Events(time.Now())
	if len(evs) != 1 || evs[0].Outcome != event.OutcomeFail || evs[0].Attributes["finding_id"] != FindingFailed ||
		evs[0].Fingerprint != event.Fingerprint("m", "t", FindingFailed) || evs[0].Attributes["evidence"] != "broken" {
		t.Errorf("events = %+v", evs)
	}
}

func TestConclusive(t *testing.T) {
	cases := map[string]struct {
		r    Result
		want bool
	}{
		"pass":              {Result{Success: true}, true},
		"ordinary finding":  {Result{Findings: []event.Finding{{ID: "headers.csp.missing"}}}, true},
		"unreachable":       {Result{Findings: []event.Finding{{ID: "headers.csp.missing"}, {ID: "headers.unreachable"}}}, false},
		"timeout":           {Result{Findings: []event.Finding{{ID: FindingTimeout}}}, false},
		"panic":             {Result{Findings: []event.Finding{{ID: FindingPanic}}}, false},
		"probe said so":     {Result{Inconclusive: true, Findings: []event.Finding{{ID: "x"}}}, false},
		"failed, no reason": {Result{}, false},
	}
	for name, c := range cases {
		if got := c.r.Conclusive(); got != c.want {
			t.Errorf("%s: Conclusive() = %v, want %v", name, got, c.want)
		}
	}
}

// Every monitor type the configuration accepts has a probe, and every probe
// a configuration type: the two tables cannot drift apart.
func TestProbersMatchConfigTypes(t *testing.T) {
	var probes []string
	for name := range Probers() {
		probes = append(probes, name)
	}
	slices.Sort(probes)
	if types := config.MonitorTypes(); !slices.Equal(probes, types) {
		t.Errorf("probers %v, config types %v", probes, types)
	}
}

// A monitor whose type-specific section is missing fails every run the
// same way, whatever its type: one high FindingConfig finding that names
// the monitor, explains itself in Details["error"] too, is not conclusive,
// and leaves the monitor's own labels alone. No probe touches the network
// for it.
func TestMissingSectionIsMisconfigured(t *testing.T) {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for typ, probe := range Probers() {
		t.Run(typ, func(t *testing.T) {
			var ticks time.Duration
			env := Env{Clock: func() time.Time { ticks += time.Second; return start.Add(ticks) }}
			m := config.Monitor{Name: "shop-" + typ, Type: typ, Labels: map[string]string{"team": "payments"}}
			r := probe(t.Context(), m, env, nil)

			if r.Monitor != m.Name || r.Type != typ || !r.Start.Equal(start.Add(time.Second)) {
				t.Errorf("monitor %q type %q start %v, want %q %q %v", r.Monitor, r.Type, r.Start, m.Name, typ, start.Add(time.Second))
			}
			if r.Success || r.Duration <= 0 || r.Conclusive() || r.Attempts != 0 {
				t.Errorf("success %v, duration %v, conclusive %v, attempts %d; want a failed, timed, inconclusive run without attempts",
					r.Success, r.Duration, r.Conclusive(), r.Attempts)
			}
			if len(r.Findings) != 1 {
				t.Fatalf("findings %+v, want one", r.Findings)
			}
			f := r.Findings[0]
			if f.ID != FindingConfig || f.Severity != event.SeverityHigh {
				t.Errorf("finding %s %s, want %s high", f.ID, f.Severity, FindingConfig)
			}
			if !regexp.MustCompile(`^shop-` + typ + `: ` + typ + ` monitor `).MatchString(f.Title) {
				t.Errorf("title %q does not name the monitor and its type", f.Title)
			}
			if f.Evidence == "" || f.Evidence != r.Details["error"] || f.Remediation == "" {
				t.Errorf("evidence %q, Details[error] %q, remediation %q: want the same explanation twice and a fix",
					f.Evidence, r.Details["error"], f.Remediation)
			}
			if f.Fingerprint != event.Fingerprint(m.Name, "", FindingConfig) {
				t.Errorf("fingerprint %s is not stable for monitor and finding", f.Fingerprint)
			}
			r.Labels["team"] = "changed"
			if m.Labels["team"] != "payments" {
				t.Error("the result shares its labels map with the configuration")
			}
		})
	}
}

func TestAddReports(t *testing.T) {
	reports := []targetReport{
		{findings: []event.Finding{{ID: "a"}}, details: map[string]string{"grade": "A"}},
		{findings: []event.Finding{{ID: "b"}, {ID: "c"}}, details: map[string]string{"grade": "F"}, inconclusive: true},
	}
	var r Result
	r.Details = map[string]string{}
	r.addReports(reports, func(i int) string { return []string{"one/", "two/"}[i] })
	if ids := []string{r.Findings[0].ID, r.Findings[1].ID, r.Findings[2].ID}; !slices.Equal(ids, []string{"a", "b", "c"}) || !r.Inconclusive {
		t.Errorf("findings %v inconclusive %v, want a b c in order and inconclusive", ids, r.Inconclusive)
	}
	if r.Details["one/grade"] != "A" || r.Details["two/grade"] != "F" || len(r.Details) != 2 {
		t.Errorf("details %v, want each report's keys under its prefix", r.Details)
	}

	// A single report keeps its keys as they are.
	single := Result{Details: map[string]string{}}
	single.addReports(reports[:1], func(int) string { return "one/" })
	if single.Details["grade"] != "A" || len(single.Details) != 1 || single.Inconclusive {
		t.Errorf("single report: details %v inconclusive %v", single.Details, single.Inconclusive)
	}
}

func TestProbeTargetsKeepsOrder(t *testing.T) {
	targets := []int{5, 1, 4, 2, 3}
	reports := probeTargets(targets, func(n int) targetReport {
		return targetReport{details: map[string]string{"n": strconv.Itoa(n)}}
	})
	for i, rep := range reports {
		if rep.details["n"] != strconv.Itoa(targets[i]) {
			t.Errorf("report %d is for %s, want %d", i, rep.details["n"], targets[i])
		}
	}
}
