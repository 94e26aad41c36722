package siem

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

func benchEvent() *event.Event {
	return monitorCheck(event.OutcomeFail, map[string]string{
		"monitor_type":     "http",
		"finding_severity": "critical",
		"status":           "503",
		"url":              "https://example.com/",
	})
}

func benchClassify(b *testing.B, c *Classifier, ev *event.Event) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e := *ev
		if err := c.Classify(ctx, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassify measures one classification with the shipped policies.
func BenchmarkClassify(b *testing.B) {
	c := newTestClassifier(b, ClassifierOptions{})
	b.Run("background", func(b *testing.B) { benchClassify(b, c, benchEvent()) })
	// A cancellable context (the common case in the daemon) adds the
	// cancellation hook.
	b.Run("cancellable", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ev := benchEvent()
		b.ReportAllocs()
		for b.Loop() {
			e := *ev
			if err := c.Classify(ctx, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		ev := benchEvent()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				e := *ev
				if err := c.Classify(ctx, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// generatedRules returns a policy in package secopsd.classify adding n
// decision rules, one per kind gen.kindN, each led by an equality on
// input.kind that OPA's rule index selects on.
func generatedRules(n int) string {
	var sb strings.Builder
	sb.WriteString("package secopsd.classify\n")
	for i := range n {
		fmt.Fprintf(&sb, `
decision := {"severity": "low", "category": "generated", "open_incident": false, "reason": "generated rule %[1]d"} if {
	input.kind == "gen.kind%[1]d"
	input.source != "blocked"
}
`, i)
	}
	return sb.String()
}

// BenchmarkClassifyRules shows that the cost of a classification stays flat
// as indexable rules are added: the rule index picks the one rule whose
// input.kind matches.
func BenchmarkClassifyRules(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			dir := writePolicies(b, true, map[string]string{"generated.rego": generatedRules(n)})
			c := newTestClassifier(b, ClassifierOptions{Dir: dir})
			// Check the generated rules are live, then time the
			// shipped monitor.check rule among them.
			gen := &event.Event{Kind: fmt.Sprintf("gen.kind%d", n-1)}
			if err := c.Classify(context.Background(), gen); err != nil || gen.Category != "generated" {
				b.Fatalf("generated rule: category %q, err %v", gen.Category, err)
			}
			benchClassify(b, c, benchEvent())
		})
	}
}

// BenchmarkTier measures one tier decision with the shipped policies.
func BenchmarkTier(b *testing.B) {
	c := newTestClassifier(b, ClassifierOptions{})
	in := incident.TierInput{Severity: event.SeverityHigh, Category: "availability", Monitor: "homepage", Kind: "monitor.check"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Tier(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
