package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secopsd/secopsd/internal/event"
)

// Data types a Purger purges, as named in reports, purge records, events
// and metrics.
const (
	// DataEvents are raw events, purged by the time the store received
	// them.
	DataEvents = "events"
	// DataNonces are the nonces of signed API requests, purged once
	// expired.
	DataNonces = "nonces"
	// DataCorrelationState is the state of correlation windows.
	DataCorrelationState = "correlation_state"
	// DataUISessions are the web UI's sessions, purged once they ended:
	// past their absolute expiry, idle too long, or signed out.
	DataUISessions = "ui_sessions"
)

// The event a Purger records for every recorded purge.
const (
	// EventKind is the kind of the purge event.
	EventKind = "secopsd.retention.purge"
	// EventSource is the source of the purge event.
	EventSource = "secopsd"
)

// Defaults of Options.
const (
	// DefaultActor names the daemon's scheduled purges.
	DefaultActor = "secopsd"
	// DefaultNonceInterval is how often expired nonces are purged.
	DefaultNonceInterval = time.Minute
	// DefaultStartDelay is how long after Start the first purge of
	// events, correlation state and UI sessions runs: soon enough that a daemon
	// restarted more often than Policy.Interval still purges.
	DefaultStartDelay = time.Minute
	// maxErrorLen bounds the error text kept in a purge record.
	maxErrorLen = 500
	// recordTimeout bounds writing a purge's record and event, which
	// outlive the purge's own context.
	recordTimeout = 5 * time.Second
)

// Record is one purge of one data type, as the store's append-only purge
// log keeps it.
type Record struct {
	// ID is assigned by the store.
	ID int64 `json:"id"`
	// DataType is DataEvents, DataNonces, DataCorrelationState or
	// DataUISessions.
	DataType string `json:"data_type"`
	// Cutoff is the time before which (for nonces and UI sessions: at or
	// before which they expired) rows were deleted.
	Cutoff time.Time `json:"cutoff"`
	// Deleted is how many rows were deleted.
	Deleted int64 `json:"deleted"`
	// StartedAt and FinishedAt bound the purge.
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Actor is who purged: "secopsd" for the daemon's schedule, or the
	// command-line user.
	Actor string `json:"actor"`
	// Error is why the purge stopped early (Deleted rows were deleted
	// before it did); empty when it completed.
	Error string `json:"error,omitempty"`
}

// Store is what a Purger needs from secopsd's store.
type Store interface {
	// PurgeEvents deletes the events the store received before before,
	// in bounded chunks, and reports how many it deleted (also when it
	// fails part-way).
	PurgeEvents(ctx context.Context, before time.Time) (int64, error)
	// CountEventsBefore counts the events PurgeEvents would delete.
	CountEventsBefore(ctx context.Context, before time.Time) (int64, error)
	// PurgeNonces deletes the nonces that expired at or before now and
	// reports how many.
	PurgeNonces(ctx context.Context, now time.Time) (int64, error)
	// CountExpiredNonces counts the nonces PurgeNonces would delete.
	CountExpiredNonces(ctx context.Context, now time.Time) (int64, error)
	// RecordPurge appends rec to the purge log and returns its id.
	RecordPurge(ctx context.Context, rec Record) (int64, error)
}

// CorrelationStore purges the state of correlation windows that was last
// updated before before, and reports how many rows it deleted.
type CorrelationStore interface {
	PurgeCorrelationState(ctx context.Context, before time.Time) (int64, error)
}

// UISessionStore purges the web UI's sessions that ended at now: past
// their absolute expiry, last used at or before idleBefore, or signed
// out.
type UISessionStore interface {
	// PurgeUISessions deletes those sessions and reports how many.
	PurgeUISessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
	// CountExpiredUISessions counts the sessions PurgeUISessions would
	// delete.
	CountExpiredUISessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
}

// Recorder stores events that secopsd produces itself; the daemon records
// them like ingested ones (minimized, classified, stored, forwarded).
type Recorder interface {
	Record(ctx context.Context, evs ...event.Event) error
}

// Policy is how long each data type is kept, and how often events and
// correlation state are purged.
type Policy struct {
	// Events is how long an event is kept after the store received it.
	Events time.Duration
	// Nonces is how long a nonce is remembered. The nonce's expiry is
	// stamped when it is claimed (auth.Options.NonceTTL); the purge
	// deletes the expired ones, so it only reports this value.
	Nonces time.Duration
	// CorrelationState is how long correlation state is kept after its
	// last update.
	CorrelationState time.Duration
	// Interval is how often events, correlation state and UI sessions
	// are purged.
	Interval time.Duration
	// UISessionIdle is how long an unused web UI session lasts (the UI's
	// idle expiry): a session last used that long ago is purged, as is
	// one past its absolute expiry or signed out. Required when
	// Options.UISessions is set.
	UISessionIdle time.Duration
}

func (p Policy) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"Events", p.Events}, {"Nonces", p.Nonces}, {"CorrelationState", p.CorrelationState}, {"Interval", p.Interval}} {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("retention: Policy.%s must be greater than 0, got %s", d.name, d.d))
		}
	}
	if p.UISessionIdle < 0 {
		errs = append(errs, fmt.Errorf("retention: Policy.UISessionIdle must not be negative, got %s", p.UISessionIdle))
	}
	return errors.Join(errs...)
}

// Options configures a Purger.
type Options struct {
	// Store is where events, nonces and purge records are; required.
	Store Store
	// CorrelationState purges correlation state; nil skips that data type
	// (reported as skipped).
	CorrelationState CorrelationStore
	// UISessions purges the web UI's ended sessions; nil skips that data
	// type (reported as skipped).
	UISessions UISessionStore
	// Policy is the retention of each data type; required.
	Policy Policy
	// Now is the clock that cutoffs and records use; nil means time.Now.
	Now func() time.Time
	// Logger receives a line per purge; nil discards them.
	Logger *slog.Logger
	// Recorder receives a secopsd.retention.purge event per recorded
	// purge; nil records none (the purge log still has the purge).
	Recorder Recorder
	// Registerer receives the purge metrics; nil registers none.
	Registerer prometheus.Registerer
	// Actor names who purges, in records and events; "" means
	// DefaultActor.
	Actor string
	// NonceInterval is how often Start's schedule purges expired nonces;
	// 0 means DefaultNonceInterval, or Policy.Interval if shorter.
	NonceInterval time.Duration
	// StartDelay is how long after Start the first purge of events,
	// correlation state and UI sessions runs; 0 means DefaultStartDelay, or
	// Policy.Interval if shorter.
	StartDelay time.Duration
}

func (o *Options) validate() error {
	if o.Store == nil {
		return errors.New("retention: Store is required")
	}
	if err := o.Policy.validate(); err != nil {
		return err
	}
	if o.UISessions != nil && o.Policy.UISessionIdle <= 0 {
		return errors.New("retention: Policy.UISessionIdle must be greater than 0 when UISessions is set")
	}
	if o.NonceInterval < 0 || o.StartDelay < 0 {
		return errors.New("retention: NonceInterval and StartDelay must not be negative")
	}
	if o.NonceInterval == 0 {
		o.NonceInterval = min(DefaultNonceInterval, o.Policy.Interval)
	}
	if o.StartDelay == 0 {
		o.StartDelay = min(DefaultStartDelay, o.Policy.Interval)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Actor == "" {
		o.Actor = DefaultActor
	}
	return nil
}

// Report is the outcome of one purge run.
type Report struct {
	// DryRun marks a run that counted what it would delete and deleted,
	// recorded and emitted nothing.
	DryRun bool `json:"dry_run"`
	// Actor is who ran the purge.
	Actor string `json:"actor"`
	// StartedAt and FinishedAt bound the run.
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Results has one entry per data type, in the order purged.
	Results []Result `json:"results"`
}

// Result is the outcome of purging one data type.
type Result struct {
	// DataType is DataEvents, DataNonces, DataCorrelationState or
	// DataUISessions.
	DataType string `json:"data_type"`
	// Retention is how long the data type is kept, such as "7d"; for UI
	// sessions, their idle expiry.
	Retention string `json:"retention"`
	// Cutoff is the time before which rows were (or would be) deleted;
	// for nonces and UI sessions, the time at or before which they
	// expired.
	Cutoff time.Time `json:"cutoff"`
	// Deleted is how many rows were deleted, or in a dry run would be.
	Deleted int64 `json:"deleted"`
	// Skipped says why the data type was not purged (or, in a dry run,
	// not counted); empty otherwise.
	Skipped string `json:"skipped,omitempty"`
	// RecordID is the id of the purge record, 0 if none was written.
	RecordID int64 `json:"record_id,omitempty"`
	// Error is why the purge failed; empty when it succeeded.
	Error string `json:"error,omitempty"`
}

// Purger purges data past its retention: RunOnce now, or on a schedule
// between Start and Stop. It is safe for concurrent use; runs never
// overlap.
type Purger struct {
	opts    Options
	metrics *metrics

	// runMu serialises runs, scheduled or not.
	runMu sync.Mutex

	mu      sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
	stopped bool
}

// New returns a Purger; nothing runs until Start or RunOnce.
func New(opts Options) (*Purger, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Purger{opts: opts, metrics: m}, nil
}

// RunOnce purges every data type now and records each purge that deleted
// something, and the purge of events always. It returns the report and
// the errors of the data types that failed, joined; the others are purged
// regardless.
func (p *Purger) RunOnce(ctx context.Context) (Report, error) {
	return p.run(ctx, false, DataEvents, DataCorrelationState, DataNonces, DataUISessions)
}

// DryRun counts, for every data type, what RunOnce would delete now; it
// deletes, records and emits nothing.
func (p *Purger) DryRun(ctx context.Context) (Report, error) {
	return p.run(ctx, true, DataEvents, DataCorrelationState, DataNonces, DataUISessions)
}

// run purges (or counts) the given data types in one run.
func (p *Purger) run(ctx context.Context, dry bool, types ...string) (Report, error) {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	rep := Report{DryRun: dry, Actor: p.opts.Actor, StartedAt: p.opts.Now()}
	var errs []error
	for _, dt := range types {
		res, err := p.purge(ctx, dt, dry)
		rep.Results = append(rep.Results, res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	rep.FinishedAt = p.opts.Now()
	return rep, errors.Join(errs...)
}

// purge purges (or counts) one data type, then records, emits, logs and
// counts the purge as its policy says.
func (p *Purger) purge(ctx context.Context, dataType string, dry bool) (Result, error) {
	started := p.opts.Now()
	res := Result{DataType: dataType}
	var (
		n   int64
		err error
	)
	switch dataType {
	case DataEvents:
		res.Retention = FormatDuration(p.opts.Policy.Events)
		res.Cutoff = started.Add(-p.opts.Policy.Events)
		if dry {
			n, err = p.opts.Store.CountEventsBefore(ctx, res.Cutoff)
		} else {
			n, err = p.opts.Store.PurgeEvents(ctx, res.Cutoff)
		}
	case DataNonces:
		res.Retention = FormatDuration(p.opts.Policy.Nonces)
		res.Cutoff = started
		if dry {
			n, err = p.opts.Store.CountExpiredNonces(ctx, res.Cutoff)
		} else {
			n, err = p.opts.Store.PurgeNonces(ctx, res.Cutoff)
		}
	case DataCorrelationState:
		res.Retention = FormatDuration(p.opts.Policy.CorrelationState)
		res.Cutoff = started.Add(-p.opts.Policy.CorrelationState)
		switch {
		case p.opts.CorrelationState == nil:
			res.Skipped = "the store keeps no correlation state"
			return res, nil
		case dry:
			res.Skipped = "a dry run cannot count correlation state"
			return res, nil
		}
		n, err = p.opts.CorrelationState.PurgeCorrelationState(ctx, res.Cutoff)
	case DataUISessions:
		res.Retention = FormatDuration(p.opts.Policy.UISessionIdle)
		res.Cutoff = started
		idleBefore := started.Add(-p.opts.Policy.UISessionIdle)
		switch {
		case p.opts.UISessions == nil:
			res.Skipped = "the store keeps no UI sessions"
			return res, nil
		case dry:
			n, err = p.opts.UISessions.CountExpiredUISessions(ctx, res.Cutoff, idleBefore)
		default:
			n, err = p.opts.UISessions.PurgeUISessions(ctx, res.Cutoff, idleBefore)
		}
	default:
		return res, fmt.Errorf("purge: unknown data type %q", dataType)
	}
	res.Deleted = n
	if err != nil {
		res.Error = err.Error()
		err = fmt.Errorf("purge %s: %w", dataType, err)
	}
	if dry {
		return res, err
	}
	finished := p.opts.Now()
	p.metrics.observe(dataType, n, err == nil, finished)
	if n == 0 && dataType != DataEvents {
		// Nothing to record: no row per minute for an idle nonce table
		// (nor per interval for correlation state or UI sessions).
		if err != nil {
			p.opts.Logger.Error("retention purge failed", "data_type", dataType, "err", err)
		} else {
			p.opts.Logger.Debug("retention purge deleted nothing", "data_type", dataType, "cutoff", res.Cutoff)
		}
		return res, err
	}
	rec := Record{
		DataType: dataType, Cutoff: res.Cutoff, Deleted: n,
		StartedAt: started, FinishedAt: finished, Actor: p.opts.Actor, Error: truncate(res.Error, maxErrorLen),
	}
	// The record and the event are written even when the purge was
	// cancelled part-way, so that the rows it did delete are accounted
	// for; briefly, so that a stuck database cannot hold Stop up.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	id, rerr := p.opts.Store.RecordPurge(wctx, rec)
	if rerr != nil {
		err = errors.Join(err, fmt.Errorf("record purge of %s: %w", dataType, rerr))
	} else {
		res.RecordID, rec.ID = id, id
	}
	attrs := []any{"data_type", dataType, "deleted", n, "cutoff", res.Cutoff, "retention", res.Retention,
		"actor", p.opts.Actor, "purge_id", rec.ID, "duration", finished.Sub(started)}
	if res.Error != "" {
		p.opts.Logger.Error("retention purge failed part-way", append(attrs, "err", res.Error)...)
	} else {
		p.opts.Logger.Info("retention purge", attrs...)
	}
	if p.opts.Recorder != nil {
		if rerr := p.opts.Recorder.Record(wctx, purgeEvent(rec, res.Retention)); rerr != nil {
			p.opts.Logger.Error("record retention purge event", "data_type", dataType, "purge_id", rec.ID, "err", rerr)
			err = errors.Join(err, fmt.Errorf("record purge event of %s: %w", dataType, rerr))
		}
	}
	return res, err
}

// purgeEvent is the SIEM event of a recorded purge.
func purgeEvent(rec Record, retention string) event.Event {
	attrs := map[string]string{
		"data_type":   rec.DataType,
		"deleted":     strconv.FormatInt(rec.Deleted, 10),
		"cutoff":      rec.Cutoff.UTC().Format(time.RFC3339Nano),
		"retention":   retention,
		"actor":       rec.Actor,
		"duration_ms": strconv.FormatInt(rec.FinishedAt.Sub(rec.StartedAt).Milliseconds(), 10),
	}
	if rec.ID != 0 {
		attrs["purge_id"] = strconv.FormatInt(rec.ID, 10)
	}
	title := fmt.Sprintf("retention purge deleted %d %s older than %s", rec.Deleted, rec.DataType, retention)
	switch rec.DataType {
	case DataNonces:
		title = fmt.Sprintf("retention purge deleted %d expired nonces", rec.Deleted)
	case DataUISessions:
		title = fmt.Sprintf("retention purge deleted %d ended ui sessions (idle expiry %s)", rec.Deleted, retention)
	}
	if rec.Error != "" {
		attrs["error"] = rec.Error
		title += " (failed part-way)"
	}
	return event.Event{
		ID:          newEventID(),
		Time:        rec.FinishedAt.UTC(),
		Source:      EventSource,
		Kind:        EventKind,
		Severity:    event.SeverityInfo,
		Fingerprint: event.Fingerprint(EventKind, rec.DataType),
		Title:       title,
		Attributes:  attrs,
	}
}

// newEventID returns 128 random bits in hex.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	return hex.EncodeToString(b[:])
}

// truncate shortens s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// FormatDuration writes d as the configuration does: "7d", "1d12h",
// "10m", "1m30s".
func FormatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d <= 0 {
		return d.String()
	}
	var b strings.Builder
	if days := d / day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
	}
	if rest := d % day; rest > 0 {
		s := rest.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		b.WriteString(s)
	}
	return b.String()
}

// Start runs the schedule until Stop: expired nonces every NonceInterval;
// events, correlation state and UI sessions StartDelay after Start, then
// every Policy.Interval. Calling it again, or after Stop, does nothing.
func (p *Purger) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil || p.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done, p.cancel = make(chan struct{}), make(chan struct{}), cancel
	go p.loop(ctx, p.stop, p.done)
}

// Stop ends the schedule, letting a purge in progress finish (and be
// recorded) until ctx ends; then the purge is cancelled and Stop waits
// only for its record to be written (a few seconds at most). Calling it
// again does nothing.
func (p *Purger) Stop(ctx context.Context) error {
	p.mu.Lock()
	stop, done, cancel, already := p.stop, p.done, p.cancel, p.stopped
	p.stopped = true
	p.mu.Unlock()
	if already || stop == nil {
		return nil
	}
	close(stop)
	defer cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return fmt.Errorf("stop retention purger: %w", context.Cause(ctx))
	}
}

func (p *Purger) loop(ctx context.Context, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	full := time.NewTimer(p.opts.StartDelay)
	defer full.Stop()
	nonces := time.NewTicker(p.opts.NonceInterval)
	defer nonces.Stop()
	for {
		select {
		case <-stop:
			return
		case <-nonces.C:
			p.scheduled(ctx, p.opts.NonceInterval, DataNonces)
		case <-full.C:
			p.scheduled(ctx, p.opts.Policy.Interval, DataEvents, DataCorrelationState, DataUISessions)
			full.Reset(p.opts.Policy.Interval)
		}
	}
}

// scheduled runs one scheduled purge, bounded by its interval so that a
// stuck database does not pile runs up. Errors are logged by purge.
func (p *Purger) scheduled(ctx context.Context, bound time.Duration, types ...string) {
	ctx, cancel := context.WithTimeout(ctx, max(bound, time.Minute))
	defer cancel()
	_, _ = p.run(ctx, false, types...)
}

// metrics counts purges; nil-safe when no Registerer was given.
type metrics struct {
	rows *prometheus.CounterVec
	runs *prometheus.CounterVec
	last *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_retention_purged_rows_total", Help: "Rows deleted by retention purges, by data type (events, nonces, correlation_state, ui_sessions).",
		}, []string{"data_type"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_retention_purges_total", Help: "Retention purges run, by data type and outcome (ok, error).",
		}, []string{"data_type", "outcome"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "secopsd_retention_last_success_timestamp_seconds", Help: "Unix time of the last successful retention purge, by data type.",
		}, []string{"data_type"}),
	}
	for _, c := range []prometheus.Collector{m.rows, m.runs, m.last} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register retention metrics: %w", err)
		}
	}
	return m, nil
}

// observe counts one purge of dataType that deleted n rows.
func (m *metrics) observe(dataType string, n int64, ok bool, at time.Time) {
	if m == nil {
		return
	}
	m.rows.WithLabelValues(dataType).Add(float64(n))
	if !ok {
		m.runs.WithLabelValues(dataType, "error").Inc()
		return
	}
	m.runs.WithLabelValues(dataType, "ok").Inc()
	m.last.WithLabelValues(dataType).Set(float64(at.UnixNano()) / 1e9)
}
