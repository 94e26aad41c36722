package forward_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// backends runs fn against a fresh SQLite store and a fresh PostgreSQL
// store (skipped without a server, unless $CI is set).
func backends(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, storetest.SQLiteURL(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, storetest.PostgresURL(t))
	})
}

// clock is a settable clock for the store and the forwarder.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openStore opens a migrated store at url whose received_at stamps come
// from now, closed when the test ends.
func openStore(t *testing.T, url string, now func() time.Time) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, store.Options{Migrate: true, Now: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// testEvent is a stored event of the given kind and severity.
func testEvent(i int, kind string, sev event.Severity) event.Event {
	return event.Event{
		ID:          fmt.Sprintf("ev-%05d", i),
		Time:        time.Date(2025, 6, 1, 11, 0, 0, i*1000, time.UTC),
		Source:      "billing-api",
		Kind:        kind,
		Fingerprint: fmt.Sprintf("fp-%d", i%7),
		Title:       fmt.Sprintf("event %d", i),
		Severity:    sev,
		Category:    "authentication",
		Attributes:  map[string]string{"user": fmt.Sprintf("u-%d", i), "ip": "203.0.113.7"},
	}
}

// appendEvents stores events first..first+n-1 (kind auth.failure, medium)
// and returns their ids.
func appendEvents(t *testing.T, s store.Store, first, n int) []string {
	t.Helper()
	evs := make([]event.Event, n)
	ids := make([]string, n)
	for i := range n {
		evs[i] = testEvent(first+i, "auth.failure", event.SeverityMedium)
		ids[i] = evs[i].ID
	}
	if _, err := s.AppendEvents(context.Background(), evs); err != nil {
		t.Fatalf("append events: %v", err)
	}
	return ids
}

// sleeps records the backoff a forwarder asks for and returns at once
// (or when ctx is done).
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	// Yield a little so that a failing receiver is not hammered.
	t := time.NewTimer(time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond every few milliseconds until it holds, failing
// the test after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startForwarder starts a forwarder with opts (Name "siem" unless set)
// and stops it when the test ends.
func startForwarder(t *testing.T, opts forward.Options) *forward.Forwarder {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "siem"
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	f, err := forward.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	t.Cleanup(func() { stopForwarder(t, f) })
	return f
}

func stopForwarder(t *testing.T, f *forward.Forwarder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Stop(ctx); err != nil {
		t.Errorf("stop forwarder: %v", err)
	}
}

// metric returns the value of the series name{labels} in reg, or -1 when
// it is absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

// newMetrics returns forwarding metrics on a registry of their own.
func newMetrics(t *testing.T) (*forward.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := forward.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}
