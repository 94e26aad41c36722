package monitors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Defaults applied by SchedulerOptions when a field is left zero.
const (
	// DefaultConcurrency is the default bound on runs in flight at once.
	DefaultConcurrency = 4
	// DefaultTimeout bounds a run of a monitor that has no timeout.
	DefaultTimeout = 10 * time.Second
	// DefaultTimeoutGrace is how long after a run's timeout the scheduler
	// waits for a probe to return before reporting it as timed out.
	DefaultTimeoutGrace = time.Second
)

// Errors returned by the Scheduler; test for them with errors.Is.
var (
	// ErrInvalidOptions wraps every problem found by NewScheduler.
	ErrInvalidOptions = errors.New("invalid scheduler options")
	// ErrUnknownMonitor is returned by RunOnce for a name not configured.
	ErrUnknownMonitor = errors.New("unknown monitor")
	// ErrRunInProgress is returned when a run of the same monitor is still
	// going; the new run is skipped.
	ErrRunInProgress = errors.New("previous run still in progress")
	// ErrStopped is returned for runs asked of a stopped scheduler.
	ErrStopped = errors.New("scheduler stopped")
)

// Observer is told about every run, for example to export metrics; its
// methods are called from many goroutines and must not block.
type Observer interface {
	// RunStarted is called when a probe starts.
	RunStarted(monitor string)
	// RunFinished is called with the final result of every run that
	// started, including runs cancelled by the caller or by Stop.
	RunFinished(r Result)
	// RunSkipped is called when a run is skipped because the previous run
	// of the same monitor is still in progress.
	RunSkipped(monitor string)
}

type noopObserver struct{}

func (noopObserver) RunStarted(string)  {}
func (noopObserver) RunFinished(Result) {}
func (noopObserver) RunSkipped(string)  {}

var _ Observer = noopObserver{}

// SchedulerOptions configures a Scheduler.
type SchedulerOptions struct {
	// Monitors are the monitors to run, in config order.
	Monitors []config.Monitor
	// Probers maps a monitor type to its probe; nil means Probers().
	Probers map[string]ProbeFunc
	// Env is passed to every probe.
	Env Env
	// Sink receives the result of every scheduled run. It may be nil when
	// only RunOnce and RunAll are used (they return results instead).
	Sink func(ctx context.Context, r Result)
	// Concurrency bounds the runs in flight at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// RunOnStart runs every monitor once when Start is called.
	RunOnStart bool
	// Logger receives the scheduler's logs; nil discards them.
	Logger *slog.Logger
	// Location is the time zone of cron schedules; nil means time.Local.
	Location *time.Location
	// Observer, if set, is told about every run.
	Observer Observer
	// DefaultTimeout bounds runs of monitors without a timeout; 0 means
	// DefaultTimeout.
	DefaultTimeout time.Duration
	// TimeoutGrace is how long after a run's timeout a probe may take to
	// return its own result; 0 means DefaultTimeoutGrace.
	TimeoutGrace time.Duration
	// Jitter shifts each monitor's schedule by a fixed offset drawn from
	// ±Jitter × its interval (0 to 0.5; 0 disables), derived from the
	// monitor's name, so that many monitors on one schedule do not fire in
	// the same instant while each keeps a steady period.
	Jitter float64
}

// validate fills in defaults and reports every problem of the options.
func (o *SchedulerOptions) validate() error {
	var errs []error
	if o.Probers == nil {
		o.Probers = Probers()
	}
	switch {
	case o.Concurrency < 0:
		errs = append(errs, fmt.Errorf("concurrency %d is negative", o.Concurrency))
	case o.Concurrency == 0:
		o.Concurrency = DefaultConcurrency
	}
	switch {
	case o.DefaultTimeout < 0:
		errs = append(errs, fmt.Errorf("default timeout %s is negative", o.DefaultTimeout))
	case o.DefaultTimeout == 0:
		o.DefaultTimeout = DefaultTimeout
	}
	if o.Jitter < 0 || o.Jitter > 0.5 {
		errs = append(errs, fmt.Errorf("jitter %g is outside 0 to 0.5", o.Jitter))
	}
	switch {
	case o.TimeoutGrace < 0:
		errs = append(errs, fmt.Errorf("timeout grace %s is negative", o.TimeoutGrace))
	case o.TimeoutGrace == 0:
		o.TimeoutGrace = DefaultTimeoutGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Observer == nil {
		o.Observer = noopObserver{}
	}
	types := slices.Sorted(maps.Keys(o.Probers))
	seen := make(map[string]bool, len(o.Monitors))
	for i, m := range o.Monitors {
		if m.Name == "" {
			errs = append(errs, fmt.Errorf("monitor #%d has no name", i+1))
			continue
		}
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("monitor %q is defined twice", m.Name))
		}
		seen[m.Name] = true
		if p, ok := o.Probers[m.Type]; !ok || p == nil {
			errs = append(errs, fmt.Errorf("monitor %q: unknown type %q (known: %s)",
				m.Name, m.Type, strings.Join(types, ", ")))
		}
		if _, err := cron.ParseStandard(m.Schedule); err != nil {
			errs = append(errs, fmt.Errorf("monitor %q: schedule %q: %w", m.Name, m.Schedule, err))
		}
		if m.Timeout < 0 {
			errs = append(errs, fmt.Errorf("monitor %q: timeout %s is negative", m.Name, m.Timeout.Std()))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}

// Scheduler runs monitors on their cron schedules: at most one run per
// monitor at a time, at most Concurrency runs at once, each bounded by the
// monitor's timeout, with probe panics and overruns reported as failures.
type Scheduler struct {
	opts      SchedulerOptions
	schedules []cron.Schedule
	index     map[string]int
	cron      *cron.Cron
	sem       chan struct{}
	logger    *slog.Logger

	mu      sync.Mutex
	running map[string]context.CancelFunc // in-flight runs, by monitor
	started bool
	stopped bool
	wg      sync.WaitGroup // scheduled jobs and in-flight runs
}

// NewScheduler validates opts and returns a Scheduler that is not started.
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.Monitors = slices.Clone(opts.Monitors)
	opts.Probers = maps.Clone(opts.Probers)
	s := &Scheduler{
		opts:    opts,
		index:   make(map[string]int, len(opts.Monitors)),
		sem:     make(chan struct{}, opts.Concurrency),
		logger:  opts.Logger,
		running: make(map[string]context.CancelFunc),
	}
	for i, m := range opts.Monitors {
		sched, err := cron.ParseStandard(m.Schedule)
		if err != nil { // validate parsed it already
			return nil, fmt.Errorf("%w: monitor %q: schedule %q: %w", ErrInvalidOptions, m.Name, m.Schedule, err)
		}
		s.schedules = append(s.schedules, jittered(sched, m.Name, opts.Jitter, time.Now()))
		s.index[m.Name] = i
	}
	s.cron = cron.New(
		cron.WithLocation(opts.Location),
		cron.WithLogger(cronLogger{opts.Logger}),
	)
	return s, nil
}

// Start schedules every monitor and, with RunOnStart, runs each once now.
// It returns at once; calling it again, or after Stop, does nothing.
func (s *Scheduler) Start() {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.mu.Unlock()

	for i, m := range s.opts.Monitors {
		s.cron.Schedule(s.schedules[i], cron.FuncJob(func() { s.scheduled(m) }))
	}
	s.cron.Start()
	s.logger.Info("monitor scheduler started", "monitors", len(s.opts.Monitors),
		"concurrency", s.opts.Concurrency, "run_on_start", s.opts.RunOnStart)
	if s.opts.RunOnStart {
		for _, m := range s.opts.Monitors {
			go s.scheduled(m)
		}
	}
}

// Stop stops scheduling and waits for in-flight runs to finish. If ctx ends
// first, it cancels the runs still going and returns ctx's error.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()

	cronDone := s.cron.Stop()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		<-cronDone.Done()
		close(done)
	}()
	select {
	case <-done:
		s.logger.Info("monitor scheduler stopped")
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	names := slices.Sorted(maps.Keys(s.running))
	for _, cancel := range s.running {
		cancel()
	}
	s.mu.Unlock()
	s.logger.Warn("monitor scheduler stopped before in-flight runs finished; cancelled them",
		"runs", names)
	return fmt.Errorf("stop scheduler: cancelled in-flight runs of %s: %w",
		strings.Join(names, ", "), ctx.Err())
}

// RunOnce runs the named monitor now and returns its result without
// sending it to the Sink. It honours the concurrency bound and fails with
// ErrRunInProgress if a run of that monitor is already going.
func (s *Scheduler) RunOnce(ctx context.Context, name string) (Result, error) {
	i, ok := s.index[name]
	if !ok {
		names := make([]string, len(s.opts.Monitors))
		for j, m := range s.opts.Monitors {
			names[j] = m.Name
		}
		return Result{}, fmt.Errorf("%w %q (configured: %s)", ErrUnknownMonitor, name, strings.Join(names, ", "))
	}
	return s.execute(ctx, s.opts.Monitors[i], nil)
}

// RunAll runs every monitor now, concurrently within the bound, and returns
// the results in config order without sending them to the Sink.
func (s *Scheduler) RunAll(ctx context.Context) []Result {
	results := make([]Result, len(s.opts.Monitors))
	var wg sync.WaitGroup
	for i, m := range s.opts.Monitors {
		wg.Go(func() { results[i], _ = s.execute(ctx, m, nil) })
	}
	wg.Wait()
	return results
}

// enter registers a scheduled job with the wait group unless stopped.
func (s *Scheduler) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(1)
	return true
}

// scheduled is one cron (or start-up) run of m, reported to the Sink.
func (s *Scheduler) scheduled(m config.Monitor) {
	if !s.enter() {
		return
	}
	defer s.wg.Done()
	_, _ = s.execute(context.Background(), m, s.report)
}

// report hands r to the Sink, recovering a panicking sink.
func (s *Scheduler) report(ctx context.Context, r Result) {
	if s.opts.Sink == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.logger.Error("monitor result sink panicked", "monitor", r.Monitor,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	s.opts.Sink(ctx, r)
}

// begin marks m as running, or reports why it cannot run.
func (s *Scheduler) begin(name string, cancel context.CancelFunc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if _, busy := s.running[name]; busy {
		return ErrRunInProgress
	}
	s.running[name] = cancel
	s.wg.Add(1)
	return nil
}

// end marks m as no longer running.
func (s *Scheduler) end(name string) {
	s.mu.Lock()
	delete(s.running, name)
	s.mu.Unlock()
	s.wg.Done()
}

// outcome is what the probe goroutine hands back.
type outcome struct {
	r         Result
	ctxErr    error // the probe context's error when the probe returned
	abandoned bool  // the probe had not returned by timeout + grace
}

// execute runs m once under parent, passing the result to report (if not
// nil) before the run counts as finished. Runs of the same monitor never
// overlap: the monitor stays busy until both its probe has returned and its
// result has been reported.
func (s *Scheduler) execute(parent context.Context, m config.Monitor, report func(context.Context, Result)) (Result, error) {
	log := s.logger.With("monitor", m.Name)
	runCtx, cancel := context.WithCancel(parent)
	if err := s.begin(m.Name, cancel); err != nil {
		cancel()
		r := s.notRun(m, err)
		if errors.Is(err, ErrRunInProgress) {
			log.Warn("skipping run: previous run still in progress")
			s.opts.Observer.RunSkipped(m.Name)
		}
		return r, err
	}

	select {
	case s.sem <- struct{}{}:
	case <-runCtx.Done():
		err := context.Cause(runCtx)
		cancel()
		s.end(m.Name)
		return s.notRun(m, err), err
	}
	// The run is over when both the probe goroutine and this function are
	// done with it; the last one frees the slot and the monitor.
	var refs atomic.Int32
	refs.Store(2)
	release := func() {
		if refs.Add(-1) == 0 {
			<-s.sem
			cancel()
			s.end(m.Name)
		}
	}
	defer release()

	s.opts.Observer.RunStarted(m.Name)
	start := s.opts.Env.now()
	timeout := m.Timeout.Std()
	if timeout <= 0 {
		timeout = s.opts.DefaultTimeout
	}
	probeCtx, probeCancel := context.WithTimeout(runCtx, timeout)
	ch := make(chan outcome, 1)
	go func() {
		defer release()
		defer probeCancel()
		r := s.safeProbe(probeCtx, m, log)
		ch <- outcome{r: r, ctxErr: probeCtx.Err()}
	}()

	var out outcome
	select {
	case out = <-ch:
	case <-probeCtx.Done():
		grace := time.NewTimer(s.opts.TimeoutGrace)
		select {
		case out = <-ch:
		case <-grace.C:
			out = outcome{ctxErr: probeCtx.Err(), abandoned: true}
			log.Warn("probe did not return after its timeout; reporting a timeout and leaving the monitor busy until it does",
				"timeout", timeout, "grace", s.opts.TimeoutGrace)
		}
		grace.Stop()
	}

	r := s.finalize(m, start, timeout, out)
	s.opts.Observer.RunFinished(r)
	if err := runCtx.Err(); err != nil {
		// Cancelled by the caller or by a forced Stop: the failure says
		// nothing about the target, so it is not reported.
		log.Info("run cancelled; result not reported", "error", err)
		return r, err
	}
	s.logResult(log, r)
	if report != nil {
		report(runCtx, r)
	}
	return r, nil
}

// safeProbe runs the probe of m, turning a panic into a failed Result.
func (s *Scheduler) safeProbe(ctx context.Context, m config.Monitor, log *slog.Logger) (r Result) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		log.Error("probe panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		evidence := fmt.Sprintf("panic: %v", v)
		r = Result{
			Success: false,
			Details: map[string]string{"error": evidence},
			Findings: []event.Finding{newFinding(m.Name, "", FindingPanic, event.SeverityMedium,
				fmt.Sprintf("%s: the %s probe crashed", m.Name, m.Type), evidence,
				"This is a bug in secopsd: report it with the logged stack trace. "+
					"Until it is fixed the monitor does not check its target.")},
		}
	}()
	return s.opts.Probers[m.Type](ctx, m, s.opts.Env, log)
}

// finalize fills in what the probe left out and turns overruns into
// failures.
func (s *Scheduler) finalize(m config.Monitor, start time.Time, timeout time.Duration, out outcome) Result {
	r := out.r
	r.Monitor = m.Name
	r.Type = m.Type
	if r.Start.IsZero() {
		r.Start = start
	}
	if r.Duration <= 0 {
		r.Duration = s.opts.Env.now().Sub(start)
	}
	if r.Labels == nil {
		r.Labels = maps.Clone(m.Labels)
	}
	if r.Details == nil {
		r.Details = map[string]string{}
	}

	switch {
	case errors.Is(out.ctxErr, context.DeadlineExceeded):
		r.Details["timed_out"] = "true"
		if out.abandoned || r.Success || len(r.Findings) == 0 {
			msg := fmt.Sprintf("the probe did not finish within %s", timeout)
			if out.abandoned {
				msg += fmt.Sprintf(" (nor return within %s after)", s.opts.TimeoutGrace)
			}
			r.Success = false
			r.Details["error"] = msg
			r.Findings = []event.Finding{newFinding(m.Name, r.Target, FindingTimeout, event.SeverityHigh,
				fmt.Sprintf("%s: check timed out after %s", m.Name, timeout), msg,
				"The target may be hanging or very slow; check it, or raise the monitor's timeout if the check is legitimately slow.")}
		}
	case out.abandoned:
		msg := "the run was cancelled before the probe returned"
		r.Success = false
		r.Details["error"] = msg
		r.Findings = []event.Finding{newFinding(m.Name, r.Target, FindingCancelled, event.SeverityLow,
			m.Name+": check cancelled", msg, "None needed if secopsd was shutting down.")}
	}

	if !r.Success && len(r.Findings) == 0 {
		r.Findings = []event.Finding{failedFinding(r)}
	}
	for i, f := range r.Findings {
		if f.Fingerprint == "" {
			r.Findings[i].Fingerprint = event.Fingerprint(m.Name, r.Target, f.ID)
		}
	}
	return r
}

// notRun is the Result of a run that never started.
func (s *Scheduler) notRun(m config.Monitor, err error) Result {
	r := Result{
		Monitor: m.Name,
		Type:    m.Type,
		Start:   s.opts.Env.now(),
		Labels:  maps.Clone(m.Labels),
		Details: map[string]string{"error": err.Error()},
	}
	if errors.Is(err, ErrRunInProgress) {
		r.Skipped = true
		return r
	}
	r.Findings = []event.Finding{newFinding(m.Name, "", FindingCancelled, event.SeverityLow,
		m.Name+": check not run", err.Error(), "None needed if secopsd was shutting down.")}
	return r
}

func (s *Scheduler) logResult(log *slog.Logger, r Result) {
	if r.Success {
		log.Debug("monitor check passed", "duration", r.Duration, "attempts", r.Attempts)
		return
	}
	ids := make([]string, len(r.Findings))
	for i, f := range r.Findings {
		ids[i] = f.ID
	}
	sort.Strings(ids)
	why := r.Details["error"]
	if why == "" && len(r.Findings) > 0 {
		why = r.Findings[0].Title
	}
	log.Info("monitor check failed", "duration", r.Duration, "attempts", r.Attempts,
		"findings", ids, "error", why)
}

// cronLogger hands robfig/cron's log lines to slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "error", err)...)
}

var _ cron.Logger = cronLogger{}
