package retention_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// t0 is the tests' reference time.
var t0 = time.Date(2025, 3, 8, 12, 0, 0, 0, time.UTC)

// policy is the default retention: events 7d, nonces 10m, correlation
// state 1d, hourly.
var policy = retention.Policy{Events: 7 * 24 * time.Hour, Nonces: 10 * time.Minute, CorrelationState: 24 * time.Hour, Interval: time.Hour}

// clock is a settable clock shared by the store and the purger.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// recorder collects the events a Purger records.
type recorder struct {
	mu  sync.Mutex
	evs []event.Event
	err error
}

func (r *recorder) Record(_ context.Context, evs ...event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.evs = append(r.evs, evs...)
	return nil
}

func (r *recorder) events() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.evs...)
}

// correlation stands in for the correlator's store: it reports n rows
// purged per call and remembers the cutoffs it was given.
type correlation struct {
	mu      sync.Mutex
	n       int64
	cutoffs []time.Time
	// block, when set, makes a purge wait until its context ends, after
	// telling blocked.
	block   bool
	blocked chan struct{}
}

func (c *correlation) PurgeCorrelationState(ctx context.Context, before time.Time) (int64, error) {
	c.mu.Lock()
	c.cutoffs = append(c.cutoffs, before)
	n, block := c.n, c.block
	c.n = 0
	c.mu.Unlock()
	if block {
		close(c.blocked)
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return n, nil
}

// fixture is a purger on a real store whose clock the test sets.
type fixture struct {
	st    store.Store
	clock *clock
	rec   *recorder
	corr  *correlation
	reg   *prometheus.Registry
	log   *bytes.Buffer
	p     *retention.Purger
}

func newFixture(t *testing.T, url string, mutate func(*retention.Options)) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: t0}, rec: &recorder{}, corr: &correlation{}, reg: prometheus.NewRegistry(), log: &bytes.Buffer{}}
	st, err := store.Open(context.Background(), url, store.Options{Migrate: true, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f.st = st
	opts := retention.Options{
		Store: st, CorrelationState: f.corr, Policy: policy, Now: f.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(&lockedWriter{w: f.log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Recorder: f.rec, Registerer: f.reg,
	}
	if mutate != nil {
		mutate(&opts)
	}
	if f.p, err = retention.New(opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// lockedWriter serialises writes to a buffer shared with goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// seed stores n events received at each of the given times and claims
// nonces: expired ones that expired at or before t0 and live ones.
func (f *fixture) seed(t *testing.T, at time.Time, n int) {
	t.Helper()
	defer f.clock.Set(f.clock.Now())
	f.clock.Set(at)
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{ID: fmt.Sprintf("%d-%d", at.UnixMicro(), i), Time: at, Source: "shop", Kind: "deploy"}
	}
	if _, err := f.st.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) claimNonces(t *testing.T, expires time.Time, n int) {
	t.Helper()
	for i := range n {
		nonce := fmt.Sprintf("nonce-%d-%08d", expires.UnixMicro(), i)
		if _, err := f.st.ClaimNonce(context.Background(), "keyaaaaaaaaa", nonce, expires.Add(-10*time.Minute), expires); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) purges(t *testing.T) []retention.Record {
	t.Helper()
	recs, err := f.st.ListPurges(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func result(rep retention.Report, dataType string) retention.Result {
	for _, r := range rep.Results {
		if r.DataType == dataType {
			return r
		}
	}
	return retention.Result{DataType: "missing " + dataType}
}

func testBothStores(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, storetest.PostgresURL(t)) })
}

// TestRunOnce purges each data type by its policy, records every purge
// that deleted something in the purge log and as an event, and counts the
// rows in the metrics.
func TestRunOnce(t *testing.T) {
	testBothStores(t, func(t *testing.T, url string) {
		f := newFixture(t, url, nil)
		now := t0.Add(30 * 24 * time.Hour)
		f.seed(t, now.Add(-8*24*time.Hour), 3)     // older than 7d: purged
		f.seed(t, now.Add(-7*24*time.Hour), 2)     // exactly 7d: kept
		f.seed(t, now.Add(-time.Hour), 1)          // kept
		f.claimNonces(t, now.Add(-time.Second), 4) // expired: purged
		f.claimNonces(t, now, 1)                   // expires now: purged
		f.claimNonces(t, now.Add(time.Minute), 2)  // live: kept
		f.corr.n = 6
		f.clock.Set(now)

		rep, err := f.p.RunOnce(context.Background())
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		if rep.DryRun || rep.Actor != retention.DefaultActor || !rep.StartedAt.Equal(now) {
			t.Errorf("report = %+v", rep)
		}
		want := map[string]struct {
			deleted int64
			cutoff  time.Time
		}{
			retention.DataEvents:           {3, now.Add(-7 * 24 * time.Hour)},
			retention.DataNonces:           {5, now},
			retention.DataCorrelationState: {6, now.Add(-24 * time.Hour)},
		}
		for dt, w := range want {
			r := result(rep, dt)
			if r.Deleted != w.deleted || !r.Cutoff.Equal(w.cutoff) || r.RecordID == 0 || r.Error != "" || r.Skipped != "" {
				t.Errorf("%s: result %+v, want %d deleted before %s, recorded", dt, r, w.deleted, w.cutoff)
			}
		}
		if got := result(rep, retention.DataEvents).Retention; got != "7d" {
			t.Errorf("events retention = %q, want 7d", got)
		}
		if n, _ := f.st.CountEventsBefore(context.Background(), now.Add(time.Hour)); n != 3 {
			t.Errorf("%d events left, want 3", n)
		}
		if n, _ := f.st.CountExpiredNonces(context.Background(), now.Add(time.Hour)); n != 2 {
			t.Errorf("%d nonces left, want 2", n)
		}

		recs := f.purges(t)
		if len(recs) != 3 {
			t.Fatalf("purge log = %+v, want 3 records", recs)
		}
		byType := map[string]retention.Record{}
		for _, r := range recs {
			byType[r.DataType] = r
			if r.Actor != "secopsd" || !r.StartedAt.Equal(now) || !r.FinishedAt.Equal(now) || r.Error != "" {
				t.Errorf("record %+v", r)
			}
		}
		for dt, w := range want {
			if r := byType[dt]; r.Deleted != w.deleted || !r.Cutoff.Equal(w.cutoff) || r.ID != result(rep, dt).RecordID {
				t.Errorf("%s record = %+v, want %d deleted before %s", dt, r, w.deleted, w.cutoff)
			}
		}

		evs := f.rec.events()
		if len(evs) != 3 {
			t.Fatalf("recorded %d events, want 3: %+v", len(evs), evs)
		}
		for _, ev := range evs {
			dt := ev.Attributes["data_type"]
			if ev.Kind != "secopsd.retention.purge" || ev.Source != "secopsd" || ev.Severity != event.SeverityInfo ||
				ev.ID == "" || ev.Fingerprint == "" || !ev.Time.Equal(now) ||
				ev.Attributes["deleted"] != fmt.Sprint(want[dt].deleted) ||
				ev.Attributes["purge_id"] != fmt.Sprint(byType[dt].ID) ||
				ev.Attributes["cutoff"] != want[dt].cutoff.Format(time.RFC3339Nano) ||
				ev.Attributes["actor"] != "secopsd" {
				t.Errorf("event %+v", ev)
			}
		}
		for dt, w := range want {
			if got := metric(t, f.reg, "secopsd_retention_purged_rows_total", "data_type", dt); got != float64(w.deleted) {
				t.Errorf("purged rows metric of %s = %v, want %d", dt, got, w.deleted)
			}
		}
		if !strings.Contains(f.log.String(), "retention purge") {
			t.Errorf("the purge was not logged: %s", f.log)
		}
	})
}

// metric sums the samples of the counter name whose label has value.
func metric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestIdlePurgeRecordsOnlyEvents: with nothing to delete, only the purge
// of events is recorded; idle nonce and correlation purges leave no trace
// but a debug line.
func TestIdlePurgeRecordsOnlyEvents(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), nil)
	for range 3 {
		if _, err := f.p.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	recs := f.purges(t)
	if len(recs) != 3 {
		t.Fatalf("purge log = %+v, want 3 records of events", recs)
	}
	for _, r := range recs {
		if r.DataType != retention.DataEvents || r.Deleted != 0 {
			t.Errorf("record %+v, want an events purge of 0 rows", r)
		}
	}
	if evs := f.rec.events(); len(evs) != 3 {
		t.Errorf("recorded %d events, want 3", len(evs))
	}
	if !strings.Contains(f.log.String(), "deleted nothing") {
		t.Errorf("idle purges not logged at debug: %s", f.log)
	}
}

// TestDryRunChangesNothing counts what would be purged and deletes,
// records and emits nothing.
func TestDryRunChangesNothing(t *testing.T) {
	testBothStores(t, func(t *testing.T, url string) {
		f := newFixture(t, url, nil)
		now := t0.Add(30 * 24 * time.Hour)
		f.seed(t, now.Add(-10*24*time.Hour), 4)
		f.claimNonces(t, now.Add(-time.Minute), 2)
		f.corr.n = 9
		f.clock.Set(now)
		rep, err := f.p.DryRun(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !rep.DryRun || result(rep, retention.DataEvents).Deleted != 4 || result(rep, retention.DataNonces).Deleted != 2 {
			t.Errorf("dry run report = %+v", rep)
		}
		if r := result(rep, retention.DataCorrelationState); r.Skipped == "" || r.Deleted != 0 {
			t.Errorf("correlation state in a dry run = %+v, want skipped", r)
		}
		if len(f.corr.cutoffs) != 0 {
			t.Error("a dry run purged correlation state")
		}
		if n, _ := f.st.CountEventsBefore(context.Background(), now); n != 4 {
			t.Errorf("a dry run deleted events: %d left", n)
		}
		if n, _ := f.st.CountExpiredNonces(context.Background(), now); n != 2 {
			t.Errorf("a dry run deleted nonces: %d left", n)
		}
		if recs := f.purges(t); len(recs) != 0 {
			t.Errorf("a dry run was recorded: %+v", recs)
		}
		if evs := f.rec.events(); len(evs) != 0 {
			t.Errorf("a dry run emitted events: %+v", evs)
		}
	})
}

// TestNoCorrelationStoreIsSkipped: without a correlation store the data
// type is reported as skipped, not failed.
func TestNoCorrelationStoreIsSkipped(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), func(o *retention.Options) { o.CorrelationState = nil })
	rep, err := f.p.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := result(rep, retention.DataCorrelationState); r.Skipped == "" || r.RecordID != 0 {
		t.Errorf("correlation state = %+v, want skipped", r)
	}
}

// TestFailuresAreReported: a store that fails makes RunOnce fail for
// every data type, with the error in each result and the error metric.
func TestFailuresAreReported(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), func(o *retention.Options) { o.CorrelationState = nil })
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := f.p.RunOnce(context.Background())
	if err == nil {
		t.Fatal("RunOnce on a closed store succeeded")
	}
	for _, dt := range []string{retention.DataEvents, retention.DataNonces} {
		if r := result(rep, dt); r.Error == "" {
			t.Errorf("%s: result %+v, want an error", dt, r)
		}
		if !strings.Contains(err.Error(), "purge "+dt) {
			t.Errorf("error %q does not name %s", err, dt)
		}
	}
	if got := metric(t, f.reg, "secopsd_retention_purges_total", "outcome", "error"); got != 2 {
		t.Errorf("failed purges counted %v, want 2", got)
	}
}

// TestRecorderFailureIsAnError: the purge record is written, but a purge
// whose event could not be recorded is reported as failed.
func TestRecorderFailureIsAnError(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), nil)
	f.rec.err = errors.New("pipeline refused")
	_, err := f.p.RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "pipeline refused") {
		t.Fatalf("RunOnce = %v, want the recorder's error", err)
	}
	if recs := f.purges(t); len(recs) != 1 {
		t.Errorf("purge log = %+v, want the events purge recorded", recs)
	}
}

// TestScheduleRunsAndStops: between Start and Stop the purger purges on
// its schedule; after Stop it purges nothing more.
func TestScheduleRunsAndStops(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), func(o *retention.Options) {
		o.Policy.Interval = 10 * time.Millisecond
		o.StartDelay = time.Millisecond
		o.NonceInterval = time.Millisecond
	})
	now := t0.Add(30 * 24 * time.Hour)
	f.seed(t, now.Add(-8*24*time.Hour), 2)
	f.claimNonces(t, now.Add(-time.Minute), 3)
	f.corr.n = 1
	f.clock.Set(now)

	f.p.Start()
	f.p.Start() // no second loop
	deadline := time.Now().Add(10 * time.Second)
	for {
		byType := map[string]int64{}
		for _, r := range f.purges(t) {
			byType[r.DataType] += r.Deleted
		}
		if byType[retention.DataEvents] == 2 && byType[retention.DataNonces] == 3 && byType[retention.DataCorrelationState] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled purges did not happen: %+v", f.purges(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestStopIsBounded: Stop waits for a purge in progress only until its
// context ends, then cancels it.
func TestStopIsBounded(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), func(o *retention.Options) {
		o.Policy.Interval = time.Hour
		o.StartDelay = time.Millisecond
		o.NonceInterval = time.Hour
	})
	f.corr.block, f.corr.blocked = true, make(chan struct{})
	f.p.Start()
	select {
	case <-f.corr.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduled purge did not start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.p.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want context.Canceled", err)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	for name, o := range map[string]retention.Options{
		"no store":          {Policy: policy},
		"no policy":         {Store: st},
		"negative interval": {Store: st, Policy: retention.Policy{Events: time.Hour, Nonces: time.Hour, CorrelationState: time.Hour, Interval: -1}},
		"negative delay":    {Store: st, Policy: policy, StartDelay: -1},
	} {
		if _, err := retention.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := retention.New(retention.Options{Store: st, Policy: policy, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := retention.New(retention.Options{Store: st, Policy: policy, Registerer: reg}); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour:            "7d",
		36 * time.Hour:                "1d12h",
		10 * time.Minute:              "10m",
		90 * time.Second:              "1m30s",
		time.Hour:                     "1h",
		24*time.Hour + 30*time.Minute: "1d30m",
		0:                             "0s",
		1500 * time.Millisecond:       "1.5s",
	} {
		if got := retention.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
