package app_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
	"github.com/secopsd/secopsd/monitors"
)

// postFailures posts n auth.failure events from ip through the API, with
// client ids prefix-0, prefix-1, …, and expects them accepted.
func postFailures(t *testing.T, a *app.App, key, ip, prefix string, n int) {
	t.Helper()
	var lines []string
	for i := range n {
		lines = append(lines, appEvent("auth.failure", fmt.Sprintf(`, "id": "%s-%d", "attributes": {"ip": %q, "route": "/login"}`, prefix, i, ip)))
	}
	var rc map[string]int
	code, _ := call(t, "POST", "http://"+a.Addr()+"/api/v1/events", key, "application/x-ndjson", strings.Join(lines, "\n"), &rc)
	if code != http.StatusAccepted || rc["accepted"] != n {
		t.Fatalf("POST %d failures = %d %v, want 202 with %d accepted", n, code, rc, n)
	}
}

// derivedEvents returns the stored events of kind.
func derivedEvents(t *testing.T, st store.Store, kind string) []event.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), store.EventFilter{Kind: kind, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// waitDerived waits for n stored events of kind and returns them.
func waitDerived(t *testing.T, st store.Store, kind string, n int) []event.Event {
	t.Helper()
	var evs []event.Event
	eventually(t, 10*time.Second, fmt.Sprintf("%d %s events", n, kind), func() bool {
		evs = derivedEvents(t, st, kind)
		return len(evs) >= n
	})
	if len(evs) != n {
		t.Fatalf("%d %s events, want %d: %+v", len(evs), kind, n, evs)
	}
	return evs
}

// runCorrelationEndToEnd posts auth failures through the real API: 25
// from one address derive exactly one correlation.credential_stuffing
// event (classified high, opening one incident); 15 more within the window
// derive nothing more, and the incident stays one.
func runCorrelationEndToEnd(t *testing.T, storeURL string) {
	var logs syncLog
	a := ingestDaemon(t, storeURL, "", &logs)
	key := ingestKey(t, a, auth.RoleIngest)
	st := a.Store()

	postFailures(t, a, key, "203.0.113.66", "burst", 25)
	postFailures(t, a, key, "198.51.100.3", "other", 5) // another address, below the threshold
	ev := waitDerived(t, st, "correlation.credential_stuffing", 1)[0]
	if ev.Source != siem.CorrelatorSource || ev.Severity != event.SeverityHigh || !ev.OpenIncident ||
		ev.Attributes["ip"] != "203.0.113.66" || ev.Attributes["rule"] != "credential_stuffing" || ev.Attributes["window"] != "5m" ||
		ev.CorrelationID == "" || !strings.Contains(ev.Title, "203.0.113.66") {
		t.Errorf("derived event = %+v", ev)
	}
	var inc incident.Incident
	eventually(t, 10*time.Second, "an incident for the credential stuffing", func() bool {
		incs, err := st.ListIncidents(context.Background(), incident.Filter{Fingerprint: ev.Fingerprint})
		if err != nil || len(incs) == 0 {
			return false
		}
		inc = incs[0]
		return true
	})
	if inc.Severity != event.SeverityHigh || inc.Status != incident.StatusOpen {
		t.Errorf("incident = %+v, want open and high", inc)
	}

	postFailures(t, a, key, "203.0.113.66", "more", 15)
	// The pipeline correlates each batch before it takes the next, so once
	// a later batch's events are stored, the earlier ones were correlated.
	postFailures(t, a, key, "192.0.2.200", "marker", 1)
	if evs := derivedEvents(t, st, "correlation.credential_stuffing"); len(evs) != 1 {
		t.Errorf("%d credential-stuffing events after 15 more failures within the window, want still 1", len(evs))
	}
	incs, err := st.ListIncidents(context.Background(), incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 {
		t.Errorf("%d incidents, want exactly 1: %+v", len(incs), incs)
	}
	if strings.Contains(logs.String(), "correlation failed") {
		t.Errorf("the daemon logged a correlation failure:\n%s", logs.String())
	}
}

func TestCorrelationEndToEndSQLite(t *testing.T) {
	runCorrelationEndToEnd(t, storetest.SQLiteURL(t))
}

func TestCorrelationEndToEndPostgres(t *testing.T) {
	runCorrelationEndToEnd(t, storetest.PostgresURL(t))
}

// TestCorrelationSurvivesDaemonRestart: a daemon restarted in the middle
// of a window continues the count, fires once, and a further restart
// within the window does not fire again.
func TestCorrelationSurvivesDaemonRestart(t *testing.T) {
	url := storetest.SQLiteURL(t)
	stop := func(a *app.App) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	a := newIngestDaemon(t, url, "", nil)
	postFailures(t, a, ingestKey(t, a, auth.RoleIngest), "203.0.113.88", "before", 15)
	stop(a)
	if n := len(derivedEvents(t, storetest.OpenURL(t, url), "correlation.credential_stuffing")); n != 0 {
		t.Fatalf("15 failures derived %d events", n)
	}

	a = newIngestDaemon(t, url, "", nil)
	postFailures(t, a, ingestKey(t, a, auth.RoleIngest), "203.0.113.88", "after", 5)
	ev := waitDerived(t, a.Store(), "correlation.credential_stuffing", 1)[0]
	if ev.Attributes["count"] != "20" {
		t.Errorf("count after the restart = %s, want 20 (15 before, 5 after)", ev.Attributes["count"])
	}
	stop(a)

	a = ingestDaemon(t, url, "", nil)
	postFailures(t, a, ingestKey(t, a, auth.RoleIngest), "203.0.113.88", "again", 20)
	postFailures(t, a, ingestKey(t, a, auth.RoleIngest), "192.0.2.201", "marker", 1)
	if n := len(derivedEvents(t, a.Store(), "correlation.credential_stuffing")); n != 1 {
		t.Errorf("%d credential-stuffing events after a second restart within the window, want still 1", n)
	}
}

// TestCorrelationOfMonitorResults: monitor results, which the daemon
// stores outside the ingestion pipeline, are correlated too; the derived
// event is stored, classified and keeps its attributes under an attribute
// allowlist that does not name them.
func TestCorrelationOfMonitorResults(t *testing.T) {
	a := ingestDaemon(t, storetest.SQLiteURL(t), `siem:
  attributes:
    allow: [monitor_type, finding_id, target]
  correlation:
    rules:
      - name: tls_flapping
        match:
          kinds: [monitor.check]
          attributes: {finding_id: tls.expiring}
        group_by: [monitor]
        window: 1h
        threshold: 3
        emit:
          kind: correlation.tls_flapping
          title: "{monitor}: {count} expiry findings within {window}"
          attributes: {team: platform}
`, nil)
	failing := monitors.Result{
		Monitor: "shop-tls", Type: "tls", Target: "shop.example:443", Start: time.Now(),
		Findings: []event.Finding{{ID: "tls.expiring", Severity: event.SeverityMedium, Title: "certificate expires in 20 days"}},
	}
	for range 3 {
		if err := a.HandleResult(context.Background(), failing); err != nil {
			t.Fatal(err)
		}
	}
	ev := waitDerived(t, a.Store(), "correlation.tls_flapping", 1)[0]
	for k, v := range map[string]string{"monitor": "shop-tls", "count": "3", "rule": "tls_flapping", "window": "1h", "team": "platform"} {
		if ev.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q (attributes %v)", k, ev.Attributes[k], v, ev.Attributes)
		}
	}
	if ev.Title != "shop-tls: 3 expiry findings within 1h" || ev.Severity == event.SeverityUnknown {
		t.Errorf("derived event not titled or not classified: %+v", ev)
	}
	// Passes do not count; a fourth failure within the window derives
	// nothing more.
	if err := a.HandleResult(context.Background(), monitors.Result{Monitor: "shop-tls", Type: "tls", Start: time.Now(), Success: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.HandleResult(context.Background(), failing); err != nil {
		t.Fatal(err)
	}
	if n := len(derivedEvents(t, a.Store(), "correlation.tls_flapping")); n != 1 {
		t.Errorf("%d derived events, want still 1", n)
	}
}

// TestCorrelationDisabled: an empty rule list derives nothing.
func TestCorrelationDisabled(t *testing.T) {
	a := ingestDaemon(t, storetest.SQLiteURL(t), "siem:\n  correlation:\n    rules: []\n", nil)
	key := ingestKey(t, a, auth.RoleIngest)
	postFailures(t, a, key, "203.0.113.90", "burst", 30)
	postFailures(t, a, key, "192.0.2.202", "marker", 1)
	if n := len(derivedEvents(t, a.Store(), "correlation.credential_stuffing")); n != 0 {
		t.Errorf("correlation disabled, yet %d events derived", n)
	}
}

// TestCorrelationLimitsAgree: the configuration validates rules with the
// limits that internal/siem enforces.
func TestCorrelationLimitsAgree(t *testing.T) {
	if config.MinCorrelationWindow != siem.MinCorrelationWindow || config.MaxCorrelationWindow != siem.MaxCorrelationWindow ||
		config.MaxCorrelationThreshold != siem.MaxCorrelationThreshold || config.MaxCorrelationTitleLen != siem.MaxCorrelationTitleLen ||
		config.CorrelationKindPrefix != siem.CorrelationKindPrefix {
		t.Error("config and siem disagree on the limits of correlation rules")
	}
	if !slices.Equal(config.CorrelationBuiltinAttributes, siem.CorrelationBuiltinAttributes) {
		t.Errorf("built-in attributes: config %v, siem %v", config.CorrelationBuiltinAttributes, siem.CorrelationBuiltinAttributes)
	}
	for _, f := range []string{"source", "monitor", "kind", "attributes.ip", "ip", "attributes."} {
		c, cok := config.CorrelationGroupAttribute(f)
		s, sok := siem.GroupFieldAttribute(f)
		if c != s || cok != sok {
			t.Errorf("group field %q: config %q %v, siem %q %v", f, c, cok, s, sok)
		}
	}
	// The default rules validate (the daemons above run them).
	cfg := config.Default()
	cfg.SIEM.Correlation.Rules = config.DefaultCorrelationRules()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
