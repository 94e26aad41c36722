package playbooks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// BenchmarkMatch measures choosing playbooks for an incident among 100.
func BenchmarkMatch(b *testing.B) {
	var defs []*Definition
	for i := range 100 {
		text := fmt.Sprintf("name: p%03d\nmatch: {categories: [cat-%d, availability], tiers: [MINOR]}\nsteps: [{name: s, type: escalate}]\n", i, i%10)
		d, err := Parse([]byte(text), "bench.yml")
		if err != nil {
			b.Fatal(err)
		}
		defs = append(defs, d)
	}
	set, err := NewSet(defs...)
	if err != nil {
		b.Fatal(err)
	}
	inc := incident.Incident{Category: "availability", Monitor: "api", Tier: incident.TierMinor, Severity: event.SeverityHigh}
	b.ReportAllocs()
	for b.Loop() {
		if len(set.Match(inc)) != 100 {
			b.Fatal("wrong match")
		}
	}
}

// BenchmarkClean measures removing secrets from a full 64 KiB capture.
func BenchmarkClean(b *testing.B) {
	x, err := NewExecutor(Options{Set: &Set{}})
	if err != nil {
		b.Fatal(err)
	}
	out := strings.Repeat("restarting worker 17 of 32: ok\n", 2200)[:captureLimit-100] + "token=" + fakeGitHubToken()
	clean := x.cleaner([]string{"hook-token-0123456789", "signing-key-abcdef"})
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if !strings.Contains(clean(out), "[REDACTED:github-token]") {
			b.Fatal("not redacted")
		}
	}
}

// BenchmarkParseDefaults measures loading the shipped playbooks.
func BenchmarkParseDefaults(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Defaults(); err != nil {
			b.Fatal(err)
		}
	}
}
