package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
)

// Store is what a Forwarder needs of the store: the event log in the
// order the store received the events, and the persisted positions.
type Store interface {
	// TailEvents returns at most limit events received after the
	// position after, oldest first (store.EventLog).
	TailEvents(ctx context.Context, after store.EventCursor, limit int) ([]store.ReceivedEvent, error)
	store.ForwardCursors
}

// Output delivers batches of events to one receiver. It is used by one
// goroutine at a time.
type Output interface {
	// Send delivers batch, in order, and returns nil once the receiver
	// accepted all of it. On an error the forwarder sends the same batch
	// again later; a *DeliveryError tells whether the receiver refused it
	// for good and how long it asked to be left alone.
	Send(ctx context.Context, batch []store.ReceivedEvent) error
	// Close releases the output's connections.
	Close() error
}

// DeliveryError is a failed delivery classified by the output.
type DeliveryError struct {
	// Permanent is set when the receiver refused the batch itself (such
	// as an HTTP 400 or 401): sending it again succeeds only once the
	// receiver or secopsd's configuration changes.
	Permanent bool
	// RetryAfter is the wait the receiver asked for (Retry-After); 0 if
	// none.
	RetryAfter time.Duration
	// Err describes the failure; it never holds a secret.
	Err error
}

// Error returns the description of the failure.
func (e *DeliveryError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying failure.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Start is where a forwarder without a stored position begins.
type Start int

// Starting positions.
const (
	// StartNow forwards the events stored from the forwarder's first
	// start on.
	StartNow Start = iota
	// StartOldest forwards every event still in the store.
	StartOldest
)

// Filter selects the events a forwarder sends; the others are passed
// over (the position moves past them without sending them).
type Filter struct {
	// MinSeverity is the least severity sent; SeverityUnknown sends every
	// event, unclassified ones included.
	MinSeverity event.Severity
	// Kinds are the kinds sent: exact kinds, or prefixes ending in "*"
	// ("auth.*"); empty sends every kind.
	Kinds []string
}

// Match reports whether ev passes the filter.
func (f Filter) Match(ev *event.Event) bool {
	if ev.Severity < f.MinSeverity {
		return false
	}
	if len(f.Kinds) == 0 {
		return true
	}
	for _, k := range f.Kinds {
		if prefix, ok := strings.CutSuffix(k, "*"); ok {
			if strings.HasPrefix(ev.Kind, prefix) {
				return true
			}
		} else if ev.Kind == k {
			return true
		}
	}
	return false
}

// Defaults and bounds of Options.
const (
	// DefaultBatchSize is how many events one batch holds at most.
	DefaultBatchSize = 500
	// DefaultPollInterval is how often a caught-up forwarder looks for
	// new events.
	DefaultPollInterval = time.Second
	// DefaultMinBackoff is the wait after the first failed attempt.
	DefaultMinBackoff = time.Second
	// DefaultMaxBackoff bounds the wait between attempts.
	DefaultMaxBackoff = 5 * time.Minute
	// MaxRetryAfter bounds how long a receiver's Retry-After may hold a
	// forwarder back.
	MaxRetryAfter = time.Hour
)

// Options configure a Forwarder.
type Options struct {
	// Name identifies the output in logs and metrics and keys its stored
	// position; required.
	Name string
	// Store holds the events and the position; required.
	Store Store
	// Output receives the batches; required. The forwarder closes it
	// when it stops.
	Output Output
	// Filter selects the events sent.
	Filter Filter
	// Start is where a forwarder without a stored position begins.
	Start Start
	// BatchSize is the most events per batch; 0 means DefaultBatchSize.
	// At most store.MaxLimit.
	BatchSize int
	// PollInterval is the wait between reads once caught up; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// SettleDelay holds back events received less than this long ago, so
	// that writes committed out of order (concurrent batches, replicas)
	// are visible before the position passes them; 0 holds nothing back.
	SettleDelay time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed attempts;
	// 0 means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Metrics counts the forwarder's work; nil counts nothing.
	Metrics *Metrics
	// Logger receives failures and recoveries; nil discards them.
	Logger *slog.Logger
	// Now tells the time (the starting position, the settle delay and
	// the lag); nil means time.Now.
	Now func() time.Time
	// Sleep waits d between failed attempts, or until ctx is done (then
	// returning its error); nil uses a timer. Tests inject it to observe
	// the backoff without waiting for it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a random number in [0, 1] that randomizes each
	// backoff; nil uses math/rand/v2.
	Jitter func() float64
}

func (o *Options) validate() error {
	var errs []error
	if o.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if o.Output == nil {
		errs = append(errs, errors.New("output is required"))
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchSize < 0 || o.BatchSize > store.MaxLimit {
		errs = append(errs, fmt.Errorf("batch size %d is not between 1 and %d", o.BatchSize, store.MaxLimit))
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	switch {
	case o.PollInterval < 0 || o.SettleDelay < 0 || o.MinBackoff < 0:
		errs = append(errs, errors.New("poll interval, settle delay and backoff must not be negative"))
	case o.MaxBackoff < o.MinBackoff:
		errs = append(errs, fmt.Errorf("max backoff %s is less than min backoff %s", o.MaxBackoff, o.MinBackoff))
	}
	if o.Start != StartNow && o.Start != StartOldest {
		errs = append(errs, fmt.Errorf("unknown start %d", o.Start))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("forwarder %q: %w", o.Name, err)
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Forwarder tails the event log and sends every event that passes its
// filter to one output, in the order the store received them, at least
// once.
type Forwarder struct {
	o      Options
	logger *slog.Logger

	// pendingSince is the received_at (unix nanoseconds) of the oldest
	// event not yet passed, 0 when caught up: the lag metric.
	pendingSince atomic.Int64

	mu      sync.Mutex
	started bool
	stopped bool
	// halt cancels waits and stops the loop from starting another batch;
	// abort also cancels the batch in flight. Both are set by Start.
	halt, abort context.CancelFunc
	done        chan struct{}
	stopErr     error
}

// New checks opts and returns a forwarder that runs once started.
func New(opts Options) (*Forwarder, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	f := &Forwarder{o: opts, logger: opts.Logger.With("output", opts.Name), done: make(chan struct{})}
	if opts.Metrics != nil {
		if err := opts.Metrics.add(opts.Name, f.lagSeconds); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Name returns the output's name.
func (f *Forwarder) Name() string { return f.o.Name }

// Start starts forwarding in the background; starting again, or after
// Stop, does nothing.
func (f *Forwarder) Start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started || f.stopped {
		return
	}
	f.started = true
	// abortCtx lives until Stop gives up waiting; haltCtx ends when Stop
	// is called.
	abortCtx, abort := context.WithCancel(context.Background())
	haltCtx, halt := context.WithCancel(abortCtx)
	f.halt, f.abort = halt, abort
	go f.run(haltCtx, abortCtx)
}

// Stop stops forwarding: no further batch starts, and the batch in flight
// may finish until ctx is done, when it is cancelled (and sent again after
// the next start). It closes the output. Stopping again returns the first
// result.
func (f *Forwarder) Stop(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return f.stopErr
	}
	f.stopped = true
	var errs []error
	if f.started {
		f.halt()
		select {
		case <-f.done:
		case <-ctx.Done():
			f.abort()
			<-f.done
			errs = append(errs, fmt.Errorf("stop forwarder %q: %w", f.o.Name, ctx.Err()))
		}
		f.abort()
	}
	if f.o.Metrics != nil {
		f.o.Metrics.remove(f.o.Name)
	}
	if err := f.o.Output.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close output %q: %w", f.o.Name, err))
	}
	f.stopErr = errors.Join(errs...)
	return f.stopErr
}

// lagSeconds is the age of the oldest event not yet passed, 0 when caught
// up.
func (f *Forwarder) lagSeconds() float64 {
	since := f.pendingSince.Load()
	if since == 0 {
		return 0
	}
	return max(0, f.o.Now().Sub(time.Unix(0, since)).Seconds())
}

// run is the forwarder's loop: read a batch after the position, send it,
// move the position; on failure wait with backoff and send the same
// events again. haltCtx ends the waits; abortCtx cancels store calls and
// sends.
func (f *Forwarder) run(haltCtx, abortCtx context.Context) {
	defer close(f.done)
	cursor, ok := f.initCursor(haltCtx, abortCtx)
	if !ok {
		return
	}
	var (
		failures int
		dirty    bool // the position moved but could not be saved yet
	)
	for haltCtx.Err() == nil {
		more, err := f.step(abortCtx, &cursor, &dirty)
		if err != nil {
			if haltCtx.Err() != nil {
				return // stopping: the batch is sent again after a restart
			}
			failures++
			wait := f.retryWait(failures, err)
			f.failed(err, failures, wait)
			if f.o.Sleep(haltCtx, wait) != nil {
				return
			}
			continue
		}
		if failures > 0 {
			f.logger.Info("forwarding recovered", "failed_attempts", failures)
			failures = 0
		}
		if !more && sleep(haltCtx, f.o.PollInterval) != nil {
			return
		}
	}
}

// initCursor reads (or, on the first start, stores) the position, retrying
// while the store fails. It returns false when the forwarder stops first.
func (f *Forwarder) initCursor(haltCtx, abortCtx context.Context) (store.EventCursor, bool) {
	initial := store.EventCursor{}
	if f.o.Start == StartNow {
		initial.Time = f.o.Now()
	}
	for attempt := 1; ; attempt++ {
		c, err := f.o.Store.ForwardCursor(abortCtx, f.o.Name, initial)
		if err == nil {
			return c, true
		}
		if haltCtx.Err() != nil {
			return store.EventCursor{}, false
		}
		err = &storeError{err}
		wait := f.retryWait(attempt, err)
		f.failed(err, attempt, wait)
		if f.o.Sleep(haltCtx, wait) != nil {
			return store.EventCursor{}, false
		}
	}
}

// storeError is a failure to read events or to read or save the position.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// step forwards one batch after *cursor and moves it. more reports that
// a full batch was forwarded, so the next may follow at once.
func (f *Forwarder) step(ctx context.Context, cursor *store.EventCursor, dirty *bool) (more bool, err error) {
	if *dirty {
		if err := f.o.Store.SaveForwardCursor(ctx, f.o.Name, *cursor); err != nil {
			return false, &storeError{err}
		}
		*dirty = false
	}
	evs, err := f.o.Store.TailEvents(ctx, *cursor, f.o.BatchSize)
	if err != nil {
		return false, &storeError{err}
	}
	// Only events received before the horizon: one received later may
	// still have company committing behind it.
	horizon := f.o.Now().Add(-f.o.SettleDelay)
	ready := len(evs)
	for i := range evs {
		if evs[i].ReceivedAt.After(horizon) {
			ready = i
			break
		}
	}
	if ready == 0 {
		f.setPending(evs, 0)
		return false, nil
	}
	batch := make([]store.ReceivedEvent, 0, ready)
	for i := range evs[:ready] {
		if f.o.Filter.Match(&evs[i].Event) {
			batch = append(batch, evs[i])
		}
	}
	f.setPending(evs, 0)
	if len(batch) > 0 {
		if err := f.o.Output.Send(ctx, batch); err != nil {
			return false, err
		}
	}
	*cursor = evs[ready-1].Cursor()
	if m := f.o.Metrics; m != nil {
		m.forwarded.WithLabelValues(f.o.Name).Add(float64(len(batch)))
		m.skipped.WithLabelValues(f.o.Name).Add(float64(ready - len(batch)))
	}
	more = ready == f.o.BatchSize
	if more {
		// The next event is no older than the last one passed.
		f.setPending(evs, ready-1)
	} else {
		f.setPending(evs, ready)
	}
	if err := f.o.Store.SaveForwardCursor(ctx, f.o.Name, *cursor); err != nil {
		// The output has the batch: do not send it again now, but keep
		// trying to save the position before the next one.
		*dirty = true
		return false, &storeError{err}
	}
	return more, nil
}

// setPending records evs[i] as the oldest event not yet passed, or none
// when i is past the end.
func (f *Forwarder) setPending(evs []store.ReceivedEvent, i int) {
	if i >= len(evs) {
		f.pendingSince.Store(0)
		return
	}
	f.pendingSince.Store(evs[i].ReceivedAt.UnixNano())
}

// retryWait is the wait before attempt failures+1: the maximum backoff
// after a permanent refusal, otherwise an exponential backoff with jitter,
// lengthened to the receiver's Retry-After.
func (f *Forwarder) retryWait(failures int, err error) time.Duration {
	var de *DeliveryError
	isDelivery := errors.As(err, &de)
	if isDelivery && de.Permanent {
		return f.o.MaxBackoff
	}
	d := backoff(failures, f.o.MinBackoff, f.o.MaxBackoff, f.o.Jitter())
	if isDelivery && de.RetryAfter > 0 {
		d = max(d, min(de.RetryAfter, MaxRetryAfter))
	}
	return d
}

// backoff returns the wait after n failed attempts: minimum doubled n-1
// times, capped at maximum, then randomized down to half of it by jitter
// in [0, 1] (equal jitter), never below minimum.
func backoff(n int, minimum, maximum time.Duration, jitter float64) time.Duration {
	d := minimum
	for i := 1; i < n && d < maximum; i++ {
		d *= 2
	}
	d = min(d, maximum)
	d = d/2 + time.Duration(float64(d/2)*min(max(jitter, 0), 1))
	return max(d, minimum)
}

// failed logs and counts a failed attempt.
func (f *Forwarder) failed(err error, attempt int, wait time.Duration) {
	reason := "retryable"
	var (
		de *DeliveryError
		se *storeError
	)
	switch {
	case errors.As(err, &se):
		reason = "store"
	case errors.As(err, &de) && de.Permanent:
		reason = "permanent"
	}
	if m := f.o.Metrics; m != nil {
		m.failures.WithLabelValues(f.o.Name, reason).Inc()
	}
	switch reason {
	case "permanent":
		f.logger.Error("the receiver refused the batch; it is sent again every max_backoff until the receiver or the output's configuration is fixed (events are never skipped)",
			"err", err, "attempt", attempt, "retry_in", wait)
	case "store":
		f.logger.Warn("reading or saving the forwarding position failed; retrying", "err", err, "attempt", attempt, "retry_in", wait)
	default:
		f.logger.Warn("forwarding failed; retrying", "err", err, "attempt", attempt, "retry_in", wait)
	}
}
