package siem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/policies"
)

// shippedDir is the policy directory in the source tree; the embedded
// defaults are the same files.
const shippedDir = "../../policies"

func newTestClassifier(t testing.TB, opts ClassifierOptions) *Classifier {
	t.Helper()
	c, err := NewClassifier(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewClassifier(%+v): %v", opts, err)
	}
	return c
}

// writePolicies writes files (name → content) into a new temporary
// directory, starting from the shipped policies when withDefaults is set.
func writePolicies(t testing.TB, withDefaults bool, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if withDefaults {
		names, err := fs.Glob(policies.FS, "*.rego")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			b, err := fs.ReadFile(policies.FS, name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func monitorCheck(outcome event.Outcome, attrs map[string]string) *event.Event {
	return &event.Event{
		Source:      "monitor",
		Monitor:     "homepage",
		Kind:        "monitor.check",
		Outcome:     outcome,
		Fingerprint: event.Fingerprint("homepage", "status"),
		Title:       "homepage answers 200",
		Attributes:  attrs,
	}
}

// appEvent returns an event of kind pushed by an application.
func appEvent(kind string, attrs map[string]string) *event.Event {
	return &event.Event{Source: "billing-api", Kind: kind, Fingerprint: "fp", Title: kind, Attributes: attrs}
}

type decision struct {
	sev      event.Severity
	category string
	open     bool
}

func TestClassifyShippedPolicies(t *testing.T) {
	tests := []struct {
		name string
		ev   *event.Event
		want decision
	}{
		{"fail without finding_severity", monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "http"}),
			decision{event.SeverityHigh, "availability", true}},
		{"fail with invalid finding_severity", monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "http", "finding_severity": "urgent"}),
			decision{event.SeverityHigh, "availability", true}},
		{"fail with finding_severity unknown", monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "http", "finding_severity": "unknown"}),
			decision{event.SeverityHigh, "availability", true}},
		{"fail with upper-case finding_severity", monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "http", "finding_severity": "LOW"}),
			decision{event.SeverityHigh, "availability", true}},
		{"fail with unknown monitor type", monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "dns", "finding_severity": "critical"}),
			decision{event.SeverityCritical, "monitoring", true}},
		{"fail without attributes", monitorCheck(event.OutcomeFail, nil),
			decision{event.SeverityHigh, "monitoring", true}},
		{"pass", monitorCheck(event.OutcomePass, map[string]string{"monitor_type": "http"}),
			decision{event.SeverityInfo, "availability", false}},
		{"pass ignores finding_severity", monitorCheck(event.OutcomePass, map[string]string{"monitor_type": "http", "finding_severity": "critical"}),
			decision{event.SeverityInfo, "availability", false}},
		{"pass with unknown monitor type", monitorCheck(event.OutcomePass, map[string]string{"monitor_type": "dns"}),
			decision{event.SeverityInfo, "monitoring", false}},
		{"check without outcome", monitorCheck("", map[string]string{"monitor_type": "http"}),
			decision{event.SeverityInfo, "availability", false}},
		{"unknown kind", &event.Event{Kind: "app.unknown", Source: "app", Attributes: map[string]string{"finding_severity": "critical"}},
			decision{event.SeverityInfo, "uncategorized", false}},
		{"auth failure", appEvent("auth.failure", map[string]string{"count": "1", "reason": "bad_secret"}),
			decision{event.SeverityLow, "authentication", false}},
		{"auth failure burst", appEvent("auth.failure", map[string]string{"count": "25"}),
			decision{event.SeverityMedium, "authentication", false}},
		{"auth failure count not a number", appEvent("auth.failure", map[string]string{"count": "many"}),
			decision{event.SeverityLow, "authentication", false}},
		{"secret leaked", appEvent("secret.leaked", nil),
			decision{event.SeverityCritical, "secret-exposure", true}},
		{"personal data breach", appEvent("personal_data.breach", nil),
			decision{event.SeverityCritical, "personal-data-breach", true}},
		{"credential stuffing", appEvent("correlation.credential_stuffing", map[string]string{"count": "20"}),
			decision{event.SeverityHigh, "authentication", true}},
		{"other correlation", appEvent("correlation.monitor_flapping", nil),
			decision{event.SeverityMedium, "correlation", true}},
		{"retention purge", appEvent("secopsd.retention.purge", map[string]string{"deleted": "10"}),
			decision{event.SeverityInfo, "retention", false}},
		{"tls monitor", monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "tls", "finding_severity": "critical"}),
			decision{event.SeverityCritical, "transport-security", true}},
		{"empty kind", &event.Event{},
			decision{event.SeverityInfo, "uncategorized", false}},
	}
	// Every severity name the Go side knows is valid in the policy.
	for s := event.SeverityInfo; s <= event.SeverityCritical; s++ {
		tests = append(tests, struct {
			name string
			ev   *event.Event
			want decision
		}{
			"fail with finding_severity " + s.String(),
			monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "http", "finding_severity": s.String()}),
			decision{s, "availability", s >= event.SeverityMedium},
		})
	}

	for _, src := range []struct{ name, dir string }{{"embedded", ""}, {"dir", shippedDir}} {
		c := newTestClassifier(t, ClassifierOptions{Dir: src.dir})
		for _, tt := range tests {
			t.Run(src.name+"/"+tt.name, func(t *testing.T) {
				ev := *tt.ev
				if err := c.Classify(t.Context(), &ev); err != nil {
					t.Fatalf("Classify: %v", err)
				}
				if got := (decision{ev.Severity, ev.Category, ev.OpenIncident}); got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
			})
		}
	}
}

func TestTierShippedPolicies(t *testing.T) {
	c := newTestClassifier(t, ClassifierOptions{})
	tests := []struct {
		sev  event.Severity
		want incident.Tier
	}{
		{event.SeverityCritical, incident.TierCritical},
		{event.SeverityHigh, incident.TierMajor},
		{event.SeverityMedium, incident.TierMinor},
		{event.SeverityLow, incident.TierMinor},
		{event.SeverityInfo, incident.TierMinor},
		{event.SeverityUnknown, incident.TierMinor},
	}
	for _, tt := range tests {
		t.Run(tt.sev.String(), func(t *testing.T) {
			got, err := c.Tier(t.Context(), incident.TierInput{
				Severity: tt.sev, Category: "web-hardening", Monitor: "homepage", Kind: "monitor.check",
				Attributes: map[string]string{"monitor_type": "headers"},
			})
			if err != nil {
				t.Fatalf("Tier: %v", err)
			}
			if got != tt.want {
				t.Errorf("Tier(%s) = %s, want %s", tt.sev, got, tt.want)
			}
		})
	}
}

func TestInvalidPolicies(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// want are substrings of the error; FILE is replaced by the path
		// of broken.rego in the temporary directory.
		want []string
	}{
		{
			name:  "parse error",
			files: map[string]string{"broken.rego": "package secopsd.broken\n\nx := 1 +\n\ny := 2\n"},
			want:  []string{"FILE:5: rego_parse_error: "},
		},
		{
			name: "type error",
			files: map[string]string{"broken.rego": `package secopsd.broken

x := 1

y := x + "two"
`},
			want: []string{"FILE:5: rego_type_error: "},
		},
		{
			name: "unsafe variable",
			files: map[string]string{"broken.rego": `package secopsd.broken

allow if {
	input.user == u
}
`},
			want: []string{"FILE:4: rego_unsafe_var_error: "},
		},
		{
			name: "strict mode: unused variable",
			files: map[string]string{"broken.rego": `package secopsd.broken

allow if {
	unused := input.user
	input.kind == "x"
}
`},
			want: []string{"FILE:4: rego_compile_error: assigned var unused unused"},
		},
		{
			name:  "empty file",
			files: map[string]string{"broken.rego": "# nothing but a comment\n"},
			want:  []string{"FILE: rego_parse_error: empty module"},
		},
		{
			name: "two errors in two files",
			files: map[string]string{
				"broken.rego": "package secopsd.broken\n\nx := y\n",
				"other.rego":  "package secopsd.other\n\nz := w\n",
			},
			want: []string{"FILE:3: rego_unsafe_var_error: ", "other.rego:3: rego_unsafe_var_error: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePolicies(t, true, tt.files)
			_, err := NewClassifier(t.Context(), ClassifierOptions{Dir: dir})
			if err == nil {
				t.Fatal("NewClassifier succeeded, want an error")
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not wrap ErrInvalidPolicy", err)
			}
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "FILE", filepath.Join(dir, "broken.rego"))
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMissingRules(t *testing.T) {
	tier, err := fs.ReadFile(policies.FS, "tier.rego")
	if err != nil {
		t.Fatal(err)
	}
	classify, err := fs.ReadFile(policies.FS, "classify.rego")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no decision rule", map[string]string{"tier.rego": string(tier)}, "no rule " + ClassifyRule},
		{"no tier rule", map[string]string{"classify.rego": string(classify)}, "no rule " + TierRule},
		{"decision is a function", map[string]string{
			"tier.rego":     string(tier),
			"classify.rego": "package secopsd.classify\n\ndecision(x) := x\n",
		}, "classify.rego:3: " + ClassifyRule + " must be a single-value rule"},
		{"decision is a set", map[string]string{
			"tier.rego":     string(tier),
			"classify.rego": "package secopsd.classify\n\ndecision contains input.kind\n",
		}, "must be a single-value rule"},
		{"only tests", map[string]string{"classify_test.rego": "package secopsd.x_test\n\ntest_x if true\n"}, "no *.rego policies"},
		{"empty directory", nil, "no *.rego policies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePolicies(t, false, tt.files)
			_, err := NewClassifier(t.Context(), ClassifierOptions{Dir: dir})
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("NewClassifier error = %v, want ErrInvalidPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}

	if _, err := NewClassifier(t.Context(), ClassifierOptions{Dir: filepath.Join(t.TempDir(), "missing")}); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("missing directory: error = %v, want ErrInvalidPolicy", err)
	}
}

// constantPolicies classifies every event with severity sev and tiers every
// incident as tier.
func constantPolicies(sev, tier string) map[string]string {
	return map[string]string{
		"classify.rego": fmt.Sprintf(`package secopsd.classify

decision := {"severity": %q, "category": "test", "open_incident": true, "reason": "constant"}
`, sev),
		"tier.rego":    fmt.Sprintf("package secopsd.tier\n\ntier := %q\n", tier),
		"actions.rego": allowAllActions,
	}
}

func TestInvalidDecisions(t *testing.T) {
	tier := "package secopsd.tier\n\ntier := \"MINOR\"\n"
	tests := []struct {
		name     string
		classify string
		want     string
	}{
		{"unknown severity", `decision := {"severity": "urgent", "category": "c", "open_incident": true, "reason": "r"}`,
			`unknown severity "urgent"`},
		{"severity unknown", `decision := {"severity": "unknown", "category": "c", "open_incident": true, "reason": "r"}`,
			`unknown severity "unknown"`},
		{"missing category", `decision := {"severity": "high", "open_incident": true, "reason": "r"}`,
			"field category is missing"},
		{"open_incident not a boolean", `decision := {"severity": "high", "category": "c", "open_incident": "yes", "reason": "r"}`,
			"field open_incident is string, want a boolean"},
		{"severity not a string", `decision := {"severity": 3, "category": "c", "open_incident": true, "reason": "r"}`,
			"field severity is number, want a string"},
		{"missing reason", `decision := {"severity": "high", "category": "c", "open_incident": true}`,
			"field reason is missing"},
		{"not an object", `decision := "high"`,
			"decision is string, want an object"},
		{"undefined", `decision := {"severity": "high", "category": "c", "open_incident": true, "reason": "r"} if input.kind == "other"`,
			ClassifyRule + ` is undefined for kind "monitor.check"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePolicies(t, false, map[string]string{
				"classify.rego": "package secopsd.classify\n\n" + tt.classify + "\n",
				"tier.rego":     tier,
				"actions.rego":  allowAllActions,
			})
			c := newTestClassifier(t, ClassifierOptions{Dir: dir})
			ev := monitorCheck(event.OutcomeFail, nil)
			before := *ev
			err := c.Classify(t.Context(), ev)
			if !errors.Is(err, ErrInvalidDecision) {
				t.Fatalf("Classify error = %v, want ErrInvalidDecision", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ClassifyRule) {
				t.Errorf("error %q does not contain %q and the rule name", err, tt.want)
			}
			if ev.Severity != before.Severity || ev.Category != before.Category || ev.OpenIncident != before.OpenIncident {
				t.Errorf("a failed Classify changed the event: %+v", ev)
			}
		})
	}

	t.Run("conflicting decisions", func(t *testing.T) {
		dir := writePolicies(t, false, map[string]string{
			"classify.rego": `package secopsd.classify

decision := {"severity": "high", "category": "c", "open_incident": true, "reason": "a"} if input.kind == "monitor.check"

decision := {"severity": "low", "category": "c", "open_incident": false, "reason": "b"} if input.outcome == "fail"
`,
			"tier.rego":    tier,
			"actions.rego": allowAllActions,
		})
		c := newTestClassifier(t, ClassifierOptions{Dir: dir})
		err := c.Classify(t.Context(), monitorCheck(event.OutcomeFail, nil))
		if !errors.Is(err, ErrInvalidDecision) {
			t.Fatalf("Classify error = %v, want ErrInvalidDecision", err)
		}
		for _, want := range []string{ClassifyRule, "classify.rego:5: eval_conflict_error", "classify.rego:3"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})

	for _, tt := range []struct{ name, tier, want string }{
		{"unknown tier", `tier := "SEVERE"`, `is "SEVERE", want MINOR, MAJOR or CRITICAL`},
		{"tier not a string", `tier := 3`, "is number, want a string"},
		{"tier undefined", `tier := "MAJOR" if input.severity == "high"`, "is undefined"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := constantPolicies("high", "MINOR")
			files["tier.rego"] = "package secopsd.tier\n\n" + tt.tier + "\n"
			c := newTestClassifier(t, ClassifierOptions{Dir: writePolicies(t, false, files)})
			_, err := c.Tier(t.Context(), incident.TierInput{Severity: event.SeverityLow})
			if !errors.Is(err, ErrInvalidDecision) {
				t.Fatalf("Tier error = %v, want ErrInvalidDecision", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), TierRule) {
				t.Errorf("error %q does not contain %q and the rule name", err, tt.want)
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := writePolicies(t, false, constantPolicies("low", "MINOR"))
	c := newTestClassifier(t, ClassifierOptions{Dir: dir})
	check := func(wantSev event.Severity, wantTier incident.Tier) {
		t.Helper()
		ev := monitorCheck(event.OutcomeFail, nil)
		if err := c.Classify(t.Context(), ev); err != nil {
			t.Fatalf("Classify: %v", err)
		}
		if ev.Severity != wantSev {
			t.Errorf("severity = %s, want %s", ev.Severity, wantSev)
		}
		tier, err := c.Tier(t.Context(), incident.TierInput{Severity: ev.Severity})
		if err != nil {
			t.Fatalf("Tier: %v", err)
		}
		if tier != wantTier {
			t.Errorf("tier = %s, want %s", tier, wantTier)
		}
	}
	check(event.SeverityLow, incident.TierMinor)

	for name, content := range constantPolicies("critical", "CRITICAL") {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Reload(t.Context()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	check(event.SeverityCritical, incident.TierCritical)

	// A broken policy fails the reload and leaves the previous set in use.
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package secopsd.broken\n\nx := y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.Reload(t.Context())
	if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "broken.rego:3") {
		t.Fatalf("Reload error = %v, want ErrInvalidPolicy naming broken.rego:3", err)
	}
	check(event.SeverityCritical, incident.TierCritical)

	// So does a set that lost a required rule.
	if err := os.Remove(filepath.Join(dir, "broken.rego")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "tier.rego")); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(t.Context()); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("Reload error = %v, want ErrInvalidPolicy", err)
	}
	check(event.SeverityCritical, incident.TierCritical)
}

func TestConcurrentClassify(t *testing.T) {
	dir := writePolicies(t, true, nil)
	var evals atomic.Int64
	c := newTestClassifier(t, ClassifierOptions{Dir: dir, ObserveEval: func(time.Duration) { evals.Add(1) }})

	const workers, perWorker = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := range workers {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			for i := range perWorker {
				ev := monitorCheck(event.OutcomeFail, map[string]string{
					"monitor_type":     "http",
					"finding_severity": []string{"low", "medium", "critical"}[(w+i)%3],
				})
				if err := c.Classify(ctx, ev); err != nil {
					errs <- err
					return
				}
				want := []event.Severity{event.SeverityLow, event.SeverityMedium, event.SeverityCritical}[(w+i)%3]
				if ev.Severity != want || ev.Category != "availability" || ev.OpenIncident != (want >= event.SeverityMedium) {
					errs <- fmt.Errorf("worker %d: got %s/%s/%v for %s", w, ev.Severity, ev.Category, ev.OpenIncident, want)
					return
				}
				if _, err := c.Tier(context.Background(), incident.TierInput{Severity: ev.Severity}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Reloads swap the policies while the workers evaluate.
	wg.Go(func() {
		for range 5 {
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
	if got, want := evals.Load(), int64(workers*perWorker*2); got != want {
		t.Errorf("ObserveEval called %d times, want %d", got, want)
	}
}

func TestClassifyCancelledContext(t *testing.T) {
	c := newTestClassifier(t, ClassifierOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ev := monitorCheck(event.OutcomeFail, nil)
	if err := c.Classify(ctx, ev); !errors.Is(err, context.Canceled) {
		t.Errorf("Classify error = %v, want context.Canceled", err)
	}
	if ev.Severity != event.SeverityUnknown {
		t.Errorf("failed Classify set severity %s", ev.Severity)
	}
	if _, err := c.Tier(ctx, incident.TierInput{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Tier error = %v, want context.Canceled", err)
	}
}
