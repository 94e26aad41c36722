package monitors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// The scheduler tests run in synctest bubbles: cron's timers and the run
// timeouts use the bubble's fake clock, so "@every 1s" fires at once and no
// test waits on the wall clock.

func testMon(name, schedule string) config.Monitor {
	return config.Monitor{
		Name:     name,
		Type:     "test",
		Schedule: schedule,
		Timeout:  config.Duration(time.Hour),
		Labels:   map[string]string{"env": "test"},
	}
}

func passProbe(context.Context, config.Monitor, Env, *slog.Logger) Result {
	return Result{Success: true, Target: "test://target"}
}

// chanSink returns a Sink that sends every result to the returned channel.
func chanSink() (func(context.Context, Result), chan Result) {
	ch := make(chan Result, 100)
	return func(_ context.Context, r Result) { ch <- r }, ch
}

// testObserver records what the scheduler tells it.
type testObserver struct {
	started, finished atomic.Int32
	skipped           chan string
}

func newTestObserver() *testObserver { return &testObserver{skipped: make(chan string, 100)} }

func (o *testObserver) RunStarted(string)   { o.started.Add(1) }
func (o *testObserver) RunFinished(Result)  { o.finished.Add(1) }
func (o *testObserver) RunSkipped(m string) { o.skipped <- m }

var _ Observer = (*testObserver)(nil)

func newTestScheduler(t *testing.T, opts SchedulerOptions) *Scheduler {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := NewScheduler(opts)
	if err != nil {
		t.Fatalf("NewScheduler: %v", err)
	}
	return s
}

func stop(t *testing.T, s *Scheduler) {
	t.Helper()
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestSchedulerRunOnStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, results := chanSink()
		obs := newTestObserver()
		s := newTestScheduler(t, SchedulerOptions{
			Monitors:   []config.Monitor{testMon("a", "@every 15m"), testMon("b", "0 3 * * *")},
			Probers:    map[string]ProbeFunc{"test": passProbe},
			Sink:       sink,
			RunOnStart: true,
			Observer:   obs,
		})
		begin := time.Now()
		s.Start()
		s.Start() // a second Start does nothing
		got := map[string]Result{}
		for range 2 {
			r := <-results
			got[r.Monitor] = r
		}
		if d := time.Since(begin); d != 0 {
			t.Errorf("start-up runs came after %s, want at once", d)
		}
		for _, name := range []string{"a", "b"} {
			r := got[name]
			if !r.Success || r.Type != "test" || r.Target != "test://target" || r.Labels["env"] != "test" {
				t.Errorf("result of %s = %+v", name, r)
			}
		}
		stop(t, s)
		if obs.started.Load() != 2 || obs.finished.Load() != 2 {
			t.Errorf("observer saw %d started, %d finished, want 2 and 2", obs.started.Load(), obs.finished.Load())
		}
		select {
		case r := <-results:
			t.Errorf("unexpected extra run: %+v", r)
		default:
		}
	})
}

func TestSchedulerEverySecondFiresRepeatedly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, results := chanSink()
		s := newTestScheduler(t, SchedulerOptions{
			Monitors: []config.Monitor{testMon("tick", "@every 1s")},
			Probers:  map[string]ProbeFunc{"test": passProbe},
			Sink:     sink,
		})
		begin := time.Now()
		s.Start()
		for i := range 3 {
			r := <-results
			if !r.Success {
				t.Fatalf("run %d failed: %+v", i, r)
			}
		}
		if d := time.Since(begin); d < 3*time.Second || d >= 4*time.Second {
			t.Errorf("three runs of @every 1s took %s, want 3s (no run on start)", d)
		}
		stop(t, s)
	})
}

func TestSchedulerSkipsOverlappingRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, results := chanSink()
		obs := newTestObserver()
		release := make(chan struct{})
		var calls, inFlight, maxInFlight atomic.Int32
		probe := func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
			calls.Add(1)
			n := inFlight.Add(1)
			if n > maxInFlight.Load() {
				maxInFlight.Store(n)
			}
			defer inFlight.Add(-1)
			<-release
			return Result{Success: true}
		}
		s := newTestScheduler(t, SchedulerOptions{
			Monitors:   []config.Monitor{testMon("slow", "@every 1s")},
			Probers:    map[string]ProbeFunc{"test": probe},
			Sink:       sink,
			RunOnStart: true,
			Observer:   obs,
		})
		s.Start()
		// The first run blocks; the ticks at 1s and 2s find it still going.
		for range 2 {
			if m := <-obs.skipped; m != "slow" {
				t.Errorf("skipped %q, want slow", m)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("probe called %d times while blocked, want 1", n)
		}
		// RunOnce is refused too.
		if r, err := s.RunOnce(t.Context(), "slow"); !errors.Is(err, ErrRunInProgress) || !r.Skipped {
			t.Errorf("RunOnce during a run = %+v, %v; want skipped and ErrRunInProgress", r, err)
		}
		close(release)
		if r := <-results; !r.Success {
			t.Errorf("blocked run failed: %+v", r)
		}
		stop(t, s)
		if m := maxInFlight.Load(); m != 1 {
			t.Errorf("max concurrent runs of one monitor = %d, want 1", m)
		}
	})
}

func TestSchedulerRecoversPanickingProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, results := chanSink()
		var n atomic.Int32
		probe := func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
			if n.Add(1) == 1 {
				panic("boom: probe exploded")
			}
			return Result{Success: true}
		}
		s := newTestScheduler(t, SchedulerOptions{
			Monitors:   []config.Monitor{testMon("crashy", "@every 1s")},
			Probers:    map[string]ProbeFunc{"test": probe},
			Sink:       sink,
			RunOnStart: true,
		})
		s.Start()
		r := <-results
		if r.Success || len(r.Findings) != 1 {
			t.Fatalf("panicking run = %+v, want one failure finding", r)
		}
		f := r.Findings[0]
		if f.ID != FindingPanic || f.Fingerprint != event.Fingerprint("crashy", "", FindingPanic) {
			t.Errorf("finding = %+v", f)
		}
		if !strings.Contains(f.Evidence, "boom: probe exploded") || strings.Contains(f.Evidence, "goroutine") {
			t.Errorf("evidence = %q, want the panic value and no stack", f.Evidence)
		}
		if ev := r.Events(time.Now()); len(ev) != 1 || ev[0].Outcome != event.OutcomeFail {
			t.Errorf("events = %+v", ev)
		}
		// The scheduler keeps running.
		if r := <-results; !r.Success {
			t.Errorf("run after the panic = %+v, want success", r)
		}
		stop(t, s)
	})
}

func TestSchedulerTimeout(t *testing.T) {
	mon := func(name string) config.Monitor {
		m := testMon(name, "@every 15m")
		m.Timeout = config.Duration(100 * time.Millisecond)
		return m
	}
	t.Run("probe succeeds after its deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sink, results := chanSink()
			probe := func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
				<-ctx.Done()
				return Result{Success: true, Target: "t"}
			}
			s := newTestScheduler(t, SchedulerOptions{
				Monitors:   []config.Monitor{mon("late")},
				Probers:    map[string]ProbeFunc{"test": probe},
				Sink:       sink,
				RunOnStart: true,
			})
			begin := time.Now()
			s.Start()
			r := <-results
			if d := time.Since(begin); d != 100*time.Millisecond {
				t.Errorf("reported after %s, want at the 100ms timeout", d)
			}
			if r.Success || len(r.Findings) != 1 || r.Findings[0].ID != FindingTimeout {
				t.Fatalf("result = %+v, want a %s failure", r, FindingTimeout)
			}
			if r.Findings[0].Fingerprint != event.Fingerprint("late", "t", FindingTimeout) || r.Details["timed_out"] != "true" {
				t.Errorf("result = %+v", r)
			}
			stop(t, s)
		})
	})
	t.Run("probe reports its own failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			probe := func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
				<-ctx.Done()
				return Result{Target: "t", Findings: []event.Finding{{ID: "custom.down", Title: "down"}}}
			}
			s := newTestScheduler(t, SchedulerOptions{
				Monitors: []config.Monitor{mon("own")},
				Probers:  map[string]ProbeFunc{"test": probe},
			})
			r, err := s.RunOnce(t.Context(), "own")
			if err != nil {
				t.Fatal(err)
			}
			if r.Success || len(r.Findings) != 1 || r.Findings[0].ID != "custom.down" {
				t.Fatalf("result = %+v, want the probe's own finding", r)
			}
			if r.Findings[0].Fingerprint != event.Fingerprint("own", "t", "custom.down") {
				t.Errorf("fingerprint not filled in: %+v", r.Findings[0])
			}
		})
	})
	t.Run("probe ignores its deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			probe := func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
				<-release
				return Result{Success: true}
			}
			s := newTestScheduler(t, SchedulerOptions{
				Monitors:     []config.Monitor{mon("stuck")},
				Probers:      map[string]ProbeFunc{"test": probe},
				TimeoutGrace: 50 * time.Millisecond,
			})
			begin := time.Now()
			r, err := s.RunOnce(t.Context(), "stuck")
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(begin); d != 150*time.Millisecond {
				t.Errorf("reported after %s, want timeout + grace = 150ms", d)
			}
			if r.Success || len(r.Findings) != 1 || r.Findings[0].ID != FindingTimeout {
				t.Fatalf("result = %+v, want a %s failure", r, FindingTimeout)
			}
			// The monitor stays busy until the probe really returns.
			if _, err := s.RunOnce(t.Context(), "stuck"); !errors.Is(err, ErrRunInProgress) {
				t.Errorf("second run while the probe hangs: err = %v, want ErrRunInProgress", err)
			}
			close(release)
			synctest.Wait()
			if r, err := s.RunOnce(t.Context(), "stuck"); err != nil || !r.Success {
				t.Errorf("run after the probe returned = %+v, %v", r, err)
			}
			stop(t, s)
		})
	})
}

func TestSchedulerStopWaitsForInFlightRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, results := chanSink()
		started, release := make(chan struct{}), make(chan struct{})
		probe := func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
			close(started)
			<-release
			return Result{Success: true}
		}
		s := newTestScheduler(t, SchedulerOptions{
			Monitors:   []config.Monitor{testMon("busy", "@every 15m")},
			Probers:    map[string]ProbeFunc{"test": probe},
			Sink:       sink,
			RunOnStart: true,
		})
		s.Start()
		<-started
		stopped := make(chan error, 1)
		go func() { stopped <- s.Stop(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) while a run was in flight", err)
		default:
		}
		close(release)
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		select {
		case r := <-results:
			if !r.Success {
				t.Errorf("in-flight run = %+v", r)
			}
		default:
			t.Error("Stop returned before the in-flight run was reported")
		}
		if _, err := s.RunOnce(t.Context(), "busy"); !errors.Is(err, ErrStopped) {
			t.Errorf("RunOnce after Stop: err = %v, want ErrStopped", err)
		}
	})
}

func TestSchedulerStopDeadlineCancelsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, results := chanSink()
		started := make(chan struct{})
		cancelled := make(chan error, 1)
		probe := func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
			close(started)
			<-ctx.Done()
			cancelled <- ctx.Err()
			return Result{Findings: []event.Finding{{ID: "x.cancelled"}}}
		}
		s := newTestScheduler(t, SchedulerOptions{
			Monitors:   []config.Monitor{testMon("long", "@every 15m")},
			Probers:    map[string]ProbeFunc{"test": probe},
			Sink:       sink,
			RunOnStart: true,
		})
		s.Start()
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.Stop(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "long") {
			t.Errorf("Stop = %v, want a deadline error naming the run", err)
		}
		if err := <-cancelled; !errors.Is(err, context.Canceled) {
			t.Errorf("probe saw %v, want context.Canceled", err)
		}
		synctest.Wait()
		select {
		case r := <-results:
			t.Errorf("a run cancelled by shutdown was reported: %+v", r)
		default:
		}
	})
}

func TestSchedulerConcurrencyBound(t *testing.T) {
	const monitors, bound = 10, 3
	// blockingProbe counts runs in flight and blocks them until gate closes.
	blockingProbe := func(cur, peak *atomic.Int32, gate chan struct{}) ProbeFunc {
		return func(ctx context.Context, m config.Monitor, env Env, l *slog.Logger) Result {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-gate
			cur.Add(-1)
			return Result{Success: true, Target: m.Name}
		}
	}
	var mons []config.Monitor
	for i := range monitors {
		mons = append(mons, testMon(fmt.Sprintf("m%02d", i), "@every 15m"))
	}

	t.Run("RunAll", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var cur, peak atomic.Int32
			gate := make(chan struct{})
			s := newTestScheduler(t, SchedulerOptions{
				Monitors:    mons,
				Probers:     map[string]ProbeFunc{"test": blockingProbe(&cur, &peak, gate)},
				Concurrency: bound,
			})
			done := make(chan []Result)
			go func() { done <- s.RunAll(t.Context()) }()
			synctest.Wait()
			if n := cur.Load(); n != bound {
				t.Errorf("%d runs in flight, want the bound %d", n, bound)
			}
			close(gate)
			res := <-done
			if len(res) != monitors {
				t.Fatalf("got %d results, want %d", len(res), monitors)
			}
			for i, r := range res {
				if r.Monitor != mons[i].Name || !r.Success {
					t.Errorf("result %d = %+v, want a pass of %s (config order)", i, r, mons[i].Name)
				}
			}
			if p := peak.Load(); p != bound {
				t.Errorf("peak concurrency = %d, want %d", p, bound)
			}
		})
	})
	t.Run("scheduled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var cur, peak atomic.Int32
			gate := make(chan struct{})
			sink, results := chanSink()
			s := newTestScheduler(t, SchedulerOptions{
				Monitors:    mons,
				Probers:     map[string]ProbeFunc{"test": blockingProbe(&cur, &peak, gate)},
				Concurrency: bound,
				Sink:        sink,
				RunOnStart:  true,
			})
			s.Start()
			synctest.Wait()
			if n := cur.Load(); n != bound {
				t.Errorf("%d runs in flight, want the bound %d", n, bound)
			}
			close(gate)
			for range monitors {
				<-results
			}
			stop(t, s)
			if p := peak.Load(); p != bound {
				t.Errorf("peak concurrency = %d, want %d", p, bound)
			}
		})
	})
}

func TestSchedulerRunOnceUnknownMonitor(t *testing.T) {
	s := newTestScheduler(t, SchedulerOptions{
		Monitors: []config.Monitor{testMon("a", "@every 1m"), testMon("b", "@every 1m")},
		Probers:  map[string]ProbeFunc{"test": passProbe},
	})
	_, err := s.RunOnce(t.Context(), "nope")
	if !errors.Is(err, ErrUnknownMonitor) || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("err = %v, want ErrUnknownMonitor listing a, b", err)
	}
}

func TestSchedulerSinkPanicDoesNotStopScheduling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		reported := make(chan struct{}, 10)
		s := newTestScheduler(t, SchedulerOptions{
			Monitors:   []config.Monitor{testMon("a", "@every 1s")},
			Probers:    map[string]ProbeFunc{"test": passProbe},
			RunOnStart: true,
			Sink: func(context.Context, Result) {
				reported <- struct{}{}
				if calls.Add(1) == 1 {
					panic("sink bug")
				}
			},
		})
		s.Start()
		<-reported
		<-reported
		stop(t, s)
	})
}

func TestNewSchedulerValidates(t *testing.T) {
	bad := []struct {
		name string
		opts SchedulerOptions
		want string
	}{
		{"unknown type", SchedulerOptions{Monitors: []config.Monitor{{Name: "a", Type: "gopher", Schedule: "@every 1m"}}}, `unknown type "gopher" (known: access, headers, http,`},
		{"bad schedule", SchedulerOptions{Monitors: []config.Monitor{{Name: "a", Type: "http", Schedule: "every minute"}}}, `schedule "every minute"`},
		{"empty schedule", SchedulerOptions{Monitors: []config.Monitor{{Name: "a", Type: "http"}}}, `schedule ""`},
		{"duplicate", SchedulerOptions{Monitors: []config.Monitor{
			{Name: "a", Type: "http", Schedule: "@every 1m"}, {Name: "a", Type: "http", Schedule: "@every 1m"}}}, `"a" is defined twice`},
		{"no name", SchedulerOptions{Monitors: []config.Monitor{{Type: "http", Schedule: "@every 1m"}}}, "has no name"},
		{"negative concurrency", SchedulerOptions{Concurrency: -1}, "concurrency -1"},
		{"negative timeout", SchedulerOptions{Monitors: []config.Monitor{
			{Name: "a", Type: "http", Schedule: "@every 1m", Timeout: config.Duration(-time.Second)}}}, "timeout -1s"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewScheduler(tc.opts)
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidOptions mentioning %q", err, tc.want)
			}
		})
	}
	good := SchedulerOptions{Monitors: []config.Monitor{
		{Name: "a", Type: "http", Schedule: "@every 2s"},
		{Name: "b", Type: "http", Schedule: "@every 15m"},
		{Name: "c", Type: "http", Schedule: "0 3 * * *"},
		{Name: "d", Type: "http", Schedule: "CRON_TZ=Europe/Berlin 30 6 * * 1-5"},
	}}
	if _, err := NewScheduler(good); err != nil {
		t.Errorf("valid options rejected: %v", err)
	}
}

// TestSchedulerWithHTTPProbe wires the default probers to a real server.
func TestSchedulerWithHTTPProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	s := newTestScheduler(t, SchedulerOptions{
		Monitors: []config.Monitor{
			httpMon("up", srv.URL+"/up", nil),
			httpMon("down", srv.URL+"/down", nil),
		},
		Env: testEnv(),
	})
	res := s.RunAll(t.Context())
	if len(res) != 2 || !res[0].Success || res[1].Success {
		t.Fatalf("results = %+v, want up passing and down failing", res)
	}
	if f := res[1].Findings; len(f) != 1 || f[0].ID != FindingHTTPUnhealthy {
		t.Errorf("findings of down = %+v", f)
	}
	r, err := s.RunOnce(t.Context(), "up")
	if err != nil || !r.Success {
		t.Errorf("RunOnce(up) = %+v, %v", r, err)
	}
}
