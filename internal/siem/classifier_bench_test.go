package siem

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkClassifyRulesByKind shows that the other paths through the
// shipped policy stay flat as rules are added too: a kind whose severity
// depends on attributes, the correlation.* rule (indexed by its prefix)
// and a kind without a rule (the default decision).
func BenchmarkClassifyRulesByKind(b *testing.B) {
	events := []*event.Event{
		{Source: "checkout-api", Kind: "auth.failure", Attributes: map[string]string{"reason": "bad_secret", "ip": "203.0.113.7", "count": "37"}},
		{Source: "secopsd/correlator", Kind: "correlation.monitor_flapping", Attributes: map[string]string{"rule": "monitor_flapping", "count": "6"}},
		{Source: "checkout-api", Kind: "billing.invoice_paid", Attributes: map[string]string{"amount": "12.00"}},
	}
	classifiers := map[int]*Classifier{}
	for _, n := range []int{10, 1000} {
		dir := writePolicies(b, true, map[string]string{"generated.rego": generatedRules(n)})
		classifiers[n] = newTestClassifier(b, ClassifierOptions{Dir: dir})
	}
	for _, ev := range events {
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("kind=%s/rules=%d", ev.Kind, n), func(b *testing.B) { benchClassify(b, classifiers[n], ev) })
		}
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

// shippedMix returns events in the proportions a busy deployment sends
// them: mostly authentication failures and rate-limit hits (secopsd's own
// and the applications'), monitor results, and a tail of rarer kinds,
// including correlation events and a kind without a rule. The attributes
// are those left after minimization.
func shippedMix() []*event.Event {
	app := func(kind string, attrs map[string]string) *event.Event {
		return &event.Event{Source: "checkout-api", Kind: kind, Title: kind,
			Fingerprint: event.Fingerprint("checkout-api", kind), Attributes: attrs}
	}
	weighted := []struct {
		n  int
		ev *event.Event
	}{
		{30, app("auth.failure", map[string]string{"reason": "bad_secret", "ip": "203.0.113.7", "route": "POST /login", "count": "1", "user": "u-42"})},
		{8, app("auth.failure", map[string]string{"reason": "unknown_key", "ip": "198.51.100.3", "route": "POST /api/v1/events", "count": "37"})},
		{15, app("ratelimit.hit", map[string]string{"class": "read", "scope": "key", "key_id": "k-1", "ip": "203.0.113.9", "limit": "20/s burst 40", "route": "GET /api/v1/events", "count": "3"})},
		{3, app("ratelimit.hit", map[string]string{"class": "auth_failure", "scope": "ip", "ip": "203.0.113.7", "limit": "1/s burst 5", "route": "POST /login", "count": "250"})},
		{12, monitorCheck(event.OutcomePass, map[string]string{"monitor_type": "http", "status_code": "200", "latency_ms": "41"})},
		{4, monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "headers", "finding_id": "headers.csp.missing", "finding_severity": "medium"})},
		{2, monitorCheck(event.OutcomeFail, map[string]string{"monitor_type": "tls", "finding_id": "tls.certificate.expiring", "finding_severity": "critical"})},
		{6, app("schema.violation", map[string]string{"route": "POST /api/orders", "field": "quantity"})},
		{5, app("admin.access_denied", map[string]string{"route": "DELETE /admin/users/7", "user": "u-9", "role": "support"})},
		{4, app("data.export", map[string]string{"records": "25000", "bytes": "7340032", "user": "u-3"})},
		{3, app("deploy", map[string]string{"version": "2026.04.1", "service": "checkout-api"})},
		{2, app("tls.certificate_expiring", map[string]string{"days_left": "12", "host": "api.example.com"})},
		{1, app("privilege.change", map[string]string{"user": "u-3", "role": "admin"})},
		{1, app("secret.leaked", map[string]string{"rule": "aws-access-key", "place": "body"})},
		{1, &event.Event{Source: "secopsd/correlator", Kind: "correlation.credential_stuffing", Attributes: map[string]string{"rule": "credential_stuffing", "ip": "203.0.113.7", "count": "20", "window": "5m0s"}}},
		{1, &event.Event{Source: "secopsd/correlator", Kind: "correlation.monitor_flapping", Attributes: map[string]string{"rule": "monitor_flapping", "monitor": "homepage", "count": "6"}}},
		{1, &event.Event{Source: "secopsd", Kind: "secopsd.retention.purge", Attributes: map[string]string{"data_type": "events", "deleted": "120000"}}},
		{1, app("billing.invoice_paid", map[string]string{"amount": "12.00"})},
	}
	var mix []*event.Event
	for _, w := range weighted {
		for range w.n {
			mix = append(mix, w.ev)
		}
	}
	// Interleave the kinds deterministically, as they arrive in practice.
	for i := range mix {
		j := (i * 7919) % len(mix)
		mix[i], mix[j] = mix[j], mix[i]
	}
	return mix
}

// latencyHistogram counts durations in latencyBucket-wide buckets up to
// latencyBuckets*latencyBucket, and the rest in one overflow count. It
// never allocates, so that measuring does not add garbage to the
// benchmark it measures.
type latencyHistogram struct {
	counts   [latencyBuckets]uint64
	overflow uint64
	max      time.Duration
}

const (
	latencyBucket  = 100 * time.Nanosecond
	latencyBuckets = 20_000 // up to 2ms
)

func (h *latencyHistogram) add(d time.Duration) {
	if d > h.max {
		h.max = d
	}
	if i := int(d / latencyBucket); i < latencyBuckets {
		h.counts[i]++
		return
	}
	h.overflow++
}

func (h *latencyHistogram) merge(o *latencyHistogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.overflow += o.overflow
	h.max = max(h.max, o.max)
}

func (h *latencyHistogram) total() uint64 {
	n := h.overflow
	for _, c := range h.counts {
		n += c
	}
	return n
}

// quantile returns the upper bound of the bucket holding quantile q, or
// the largest duration seen when that is beyond the buckets.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	rank := uint64(math.Ceil(q * float64(h.total())))
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(i+1) * latencyBucket
		}
	}
	return h.max
}

// reportLatency reports the throughput of the events in h over elapsed,
// and their 99th percentile latency.
func reportLatency(b *testing.B, h *latencyHistogram, elapsed time.Duration) {
	b.Helper()
	n := h.total()
	if n == 0 || elapsed <= 0 {
		return
	}
	b.ReportMetric(float64(h.quantile(0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
}

func TestLatencyHistogram(t *testing.T) {
	var h latencyHistogram
	for i := range 1000 {
		h.add(time.Duration(i+1) * time.Microsecond / 10) // 0.1µs … 100µs
	}
	// The 990th of the 1,000 values is 99µs; its bucket ends 100ns later.
	if got := h.quantile(0.99); got != 99*time.Microsecond+latencyBucket {
		t.Errorf("p99 = %v, want 99.1µs", got)
	}
	var o latencyHistogram
	o.add(time.Second)
	h.merge(&o)
	if h.total() != 1001 || h.quantile(1) != time.Second {
		t.Errorf("after merge: total %d, max quantile %v; want 1001 and 1s", h.total(), h.quantile(1))
	}
}

// BenchmarkClassifyShippedMix classifies a realistic mix of the kinds the
// shipped policies know, on one goroutine and on every core, and reports
// events/s and the 99th percentile latency of one classification.
func BenchmarkClassifyShippedMix(b *testing.B) {
	c := newTestClassifier(b, ClassifierOptions{})
	mix := shippedMix()
	ctx := context.Background()
	// Every event of the mix must classify, and the mix must exercise the
	// rules it claims to (not the uncategorized fallback alone).
	categories := map[string]bool{}
	for _, ev := range mix {
		e := *ev
		if err := c.Classify(ctx, &e); err != nil {
			b.Fatalf("classify %s: %v", ev.Kind, err)
		}
		categories[e.Category] = true
	}
	if len(categories) < 10 {
		b.Fatalf("the mix reaches %d categories, want ≥ 10: %v", len(categories), categories)
	}

	b.Run("serial", func(b *testing.B) {
		h := new(latencyHistogram)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e := *mix[i%len(mix)]
			i++
			start := time.Now()
			if err := c.Classify(ctx, &e); err != nil {
				b.Fatal(err)
			}
			h.add(time.Since(start))
		}
		reportLatency(b, h, b.Elapsed())
	})
	b.Run("parallel", func(b *testing.B) {
		var (
			mu  sync.Mutex
			all = new(latencyHistogram)
			seq atomic.Int64
		)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			h := new(latencyHistogram)
			i := int(seq.Add(1)) * 31
			for pb.Next() {
				e := *mix[i%len(mix)]
				i++
				start := time.Now()
				if err := c.Classify(ctx, &e); err != nil {
					b.Error(err)
					return
				}
				h.add(time.Since(start))
			}
			mu.Lock()
			all.merge(h)
			mu.Unlock()
		})
		reportLatency(b, all, b.Elapsed())
	})
}
