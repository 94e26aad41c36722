package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// Observer is told about incident life-cycle changes (the app exports them as
// Prometheus metrics). Its methods must not block.
type Observer interface {
	IncidentOpened(inc Incident)
	IncidentResolved(inc Incident)
}

// Options configures an Engine.
type Options struct {
	Store    Store
	Tierer   Tierer
	Notifier Notifier // optional
	Observer Observer // optional
	Clock    Clock    // optional, defaults to the wall clock
	Logger   *slog.Logger
	// RecoverAfter returns how many consecutive passing runs of a monitor
	// resolve its incidents; nil or a result below 1 means 1.
	RecoverAfter func(monitor string) int
	// Silences suppress notifications about the incidents they match
	// (silence.go); nil silences nothing.
	Silences Silencer
	// Redact removes secrets from the text people write into the
	// timeline (notes, comments); nil keeps the text.
	Redact func(string) string
	// SLA runs the SLA clocks of incidents (sla.go); nil runs none.
	SLA *SLAPolicy
}

func (o *Options) validate() error {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("incident engine: Store is required"))
	}
	if o.Tierer == nil {
		errs = append(errs, errors.New("incident engine: Tierer is required"))
	}
	return errors.Join(errs...)
}

// Engine turns classified events into incidents and timeline entries.
type Engine struct {
	store    Store
	tierer   Tierer
	notifier Notifier
	observer Observer
	clock    Clock
	logger   *slog.Logger
	recover  func(string) int

	// remediate, when set (NewRemediator), is told about every opened
	// incident and every new failure of an unresolved one.
	remediate atomic.Pointer[func(Incident)]

	// wf holds the human workflow, silences and SLA clocks (workflow*.go).
	wf *workflow

	// mu serialises decisions so that one process never races itself on a
	// fingerprint; across processes the store's unique index decides.
	mu sync.Mutex
}

// New returns an Engine.
func New(opts Options) (*Engine, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		store:    opts.Store,
		tierer:   opts.Tierer,
		notifier: opts.Notifier,
		observer: opts.Observer,
		clock:    opts.Clock,
		logger:   opts.Logger,
		recover:  opts.RecoverAfter,
	}
	if e.clock == nil {
		e.clock = ClockFunc(time.Now)
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	e.initWorkflow(opts)
	return e, nil
}

func (e *Engine) recoverAfter(monitor string) int {
	if e.recover == nil {
		return 1
	}
	if n := e.recover(monitor); n > 0 {
		return n
	}
	return 1
}

// Run is the classified outcome of one monitor run.
type Run struct {
	Monitor string
	Events  []event.Event
	// Inconclusive marks a run that could not check everything it covers
	// (a target was unreachable, the probe panicked or timed out): its
	// failures still count, but the absence of a failure proves nothing, so
	// no incident counts a passing check.
	Inconclusive bool
}

// HandleRun processes the classified events of one monitor run. Failing
// events open or extend incidents; unless the run is inconclusive, every
// unresolved incident of the monitor whose fingerprint did not fail in this
// run counts a passing check, and is resolved after RecoverAfter
// consecutive passes.
func (e *Engine) HandleRun(ctx context.Context, run Run) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	monitor, evs := run.Monitor, run.Events
	failing := make(map[string]bool)
	var errs []error
	for i := range evs {
		ev := &evs[i]
		if ev.Outcome != event.OutcomeFail {
			continue
		}
		failing[ev.Fingerprint] = true
		if err := e.handleFailure(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	if run.Inconclusive {
		return errors.Join(errs...)
	}
	unresolved, err := e.store.UnresolvedIncidents(ctx, monitor)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list unresolved incidents of %q: %w", monitor, err))...)
	}
	passAt := e.clock.Now()
	for _, ev := range evs {
		if ev.Outcome == event.OutcomePass && !ev.Time.IsZero() {
			passAt = ev.Time
		}
	}
	for _, inc := range unresolved {
		if failing[inc.Fingerprint] {
			continue
		}
		if err := e.recordPass(ctx, inc, monitor, passAt); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HandleEvent processes one classified event that is not part of a monitor
// run (for example one pushed by an application): it opens an incident when
// the classifier says so, and extends an unresolved incident with the same
// fingerprint otherwise.
func (e *Engine) HandleEvent(ctx context.Context, ev event.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.handleFailure(ctx, &ev)
}

func eventPayload(ev *event.Event) map[string]any {
	p := map[string]any{
		"event_id":      ev.ID,
		"event_time":    ev.Time.UTC(),
		"kind":          ev.Kind,
		"source":        ev.Source,
		"severity":      ev.Severity.String(),
		"category":      ev.Category,
		"open_incident": ev.OpenIncident,
	}
	if ev.Monitor != "" {
		p["monitor"] = ev.Monitor
	}
	if ev.Outcome != "" {
		p["outcome"] = string(ev.Outcome)
	}
	if ev.Title != "" {
		p["title"] = ev.Title
	}
	if len(ev.Attributes) > 0 {
		p["attributes"] = ev.Attributes
	}
	return p
}

func (e *Engine) handleFailure(ctx context.Context, ev *event.Event) error {
	now := e.clock.Now()
	existing, err := e.store.OpenIncidentByFingerprint(ctx, ev.Fingerprint)
	switch {
	case err == nil:
		return e.appendFailure(ctx, existing, ev, now)
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("look up incident for fingerprint %s: %w", ev.Fingerprint, err)
	case !ev.OpenIncident:
		return nil // recorded as an event only
	}

	tierIn := TierInput{Severity: ev.Severity, Category: ev.Category, Monitor: ev.Monitor, Kind: ev.Kind, Attributes: ev.Attributes}
	tier, err := e.tierer.Tier(ctx, tierIn)
	if err != nil {
		return fmt.Errorf("choose tier for %s: %w", ev.Fingerprint, err)
	}
	title := ev.Title
	if title == "" {
		title = ev.Kind
		if ev.Monitor != "" {
			title = ev.Monitor + ": " + ev.Kind
		}
	}
	inc := Incident{
		Fingerprint: ev.Fingerprint,
		Title:       title,
		Monitor:     ev.Monitor,
		Category:    ev.Category,
		Severity:    ev.Severity,
		Tier:        tier,
		Status:      StatusOpen,
		OpenedAt:    now,
		Failures:    1,
	}
	payload := eventPayload(ev)
	payload["reason"] = fmt.Sprintf("classified %s with open_incident=true and no unresolved incident for this fingerprint", ev.Severity)
	payload["tier"] = string(tier)
	payload["tier_input"] = tierIn
	e.slaAtOpening(payload, inc)
	created, err := e.store.CreateIncident(ctx, inc, Entry{Time: now, Actor: ActorEngine, Kind: KindOpened, Payload: payload})
	if errors.Is(err, ErrDuplicateOpen) {
		// Another replica opened it first: this failure extends that incident.
		return e.appendFailure(ctx, created, ev, now)
	}
	if err != nil {
		return fmt.Errorf("open incident for %s: %w", ev.Fingerprint, err)
	}
	e.logger.Info("incident opened", "incident", created.ID, "title", created.Title,
		"severity", created.Severity.String(), "tier", string(created.Tier), "monitor", created.Monitor)
	if e.observer != nil {
		e.observer.IncidentOpened(created)
	}
	entries, err := e.store.Timeline(ctx, created.ID)
	if err == nil && len(entries) > 0 {
		e.notify(ctx, created, entries[0])
	}
	e.triggerRemediation(created)
	return nil
}

// setRemediationHook makes fn receive every opened incident and every new
// failure of an unresolved one.
func (e *Engine) setRemediationHook(fn func(Incident)) { e.remediate.Store(&fn) }

func (e *Engine) triggerRemediation(inc Incident) {
	if fn := e.remediate.Load(); fn != nil {
		(*fn)(inc)
	}
}

func (e *Engine) appendFailure(ctx context.Context, inc Incident, ev *event.Event, now time.Time) error {
	updated, entries, err := e.store.MutateIncident(ctx, inc.ID, func(cur *Incident) ([]Entry, error) {
		if cur.Status == StatusResolved {
			return nil, nil
		}
		cur.Failures++
		cur.RecoveryPasses = 0
		payload := eventPayload(ev)
		payload["failures"] = cur.Failures
		if ev.Severity > cur.Severity {
			payload["severity_raised_from"] = cur.Severity.String()
			cur.Severity = ev.Severity
		}
		return []Entry{{Time: now, Actor: ActorEngine, Kind: KindFailure, Payload: payload}}, nil
	})
	if err != nil {
		return fmt.Errorf("record failure on incident %d: %w", inc.ID, err)
	}
	for _, en := range entries {
		e.logger.Debug("failure appended", "incident", updated.ID, "seq", en.Seq)
	}
	if len(entries) > 0 {
		e.triggerRemediation(updated)
	}
	return nil
}

func (e *Engine) recordPass(ctx context.Context, inc Incident, monitor string, at time.Time) error {
	need := e.recoverAfter(monitor)
	now := e.clock.Now()
	updated, entries, err := e.store.MutateIncident(ctx, inc.ID, func(cur *Incident) ([]Entry, error) {
		if cur.Status == StatusResolved {
			return nil, nil
		}
		cur.RecoveryPasses++
		out := []Entry{{Time: now, Actor: ActorEngine, Kind: KindPass, Payload: map[string]any{
			"monitor":         monitor,
			"check_time":      at.UTC(),
			"recovery_passes": cur.RecoveryPasses,
			"recover_after":   need,
		}}}
		if cur.RecoveryPasses >= need {
			cur.Status = StatusResolved
			t := NormalizeTime(now)
			cur.ResolvedAt = &t
			out = append(out, Entry{Time: now, Actor: ActorEngine, Kind: KindResolved, Payload: map[string]any{
				"reason":        fmt.Sprintf("monitor %s passed %d consecutive check(s) (recover_after=%d)", monitor, cur.RecoveryPasses, need),
				"recover_after": need,
				"failures":      cur.Failures,
			}})
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("record pass on incident %d: %w", inc.ID, err)
	}
	if updated.Status == StatusResolved && len(entries) > 0 && entries[len(entries)-1].Kind == KindResolved {
		e.logger.Info("incident resolved", "incident", updated.ID, "title", updated.Title, "monitor", monitor)
		if e.observer != nil {
			e.observer.IncidentResolved(updated)
		}
		e.notify(ctx, updated, entries[len(entries)-1])
	}
	return nil
}

func (e *Engine) notify(ctx context.Context, inc Incident, entry TimelineEntry) {
	if e.notifier == nil {
		return
	}
	if _, err := e.notifier.Notify(ctx, Notification{Incident: inc, Entry: entry}); err != nil {
		e.logger.Warn("notification failed", "incident", inc.ID, "kind", entry.Kind, "err", err)
	}
}

// VerifyReport is the outcome of verifying every incident's timeline.
type VerifyReport struct {
	Incidents int
	Entries   int
	// Broken lists one ChainError per incident whose chain does not verify,
	// in increasing incident id order.
	Broken []*ChainError
}

// VerifyAll checks the hash chain of every incident in the store.
func VerifyAll(ctx context.Context, s Store) (VerifyReport, error) {
	var rep VerifyReport
	var before int64
	for {
		page, err := s.ListIncidents(ctx, Filter{Limit: 500, BeforeID: before})
		if err != nil {
			return rep, fmt.Errorf("list incidents: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, inc := range page {
			entries, err := s.Timeline(ctx, inc.ID)
			if err != nil {
				return rep, fmt.Errorf("read timeline of incident %d: %w", inc.ID, err)
			}
			verr := VerifyChain(inc, entries)
			if verr != nil {
				// An entry appended between reading the incident and its
				// timeline looks like a moved head: read both again once.
				inc2, err2 := s.GetIncident(ctx, inc.ID)
				entries2, err3 := s.Timeline(ctx, inc.ID)
				if err2 == nil && err3 == nil {
					entries, verr = entries2, VerifyChain(inc2, entries2)
				}
			}
			rep.Incidents++
			rep.Entries += len(entries)
			if verr != nil {
				var ce *ChainError
				if !errors.As(verr, &ce) {
					return rep, verr
				}
				rep.Broken = append(rep.Broken, ce)
			}
		}
		before = page[len(page)-1].ID
	}
	sort.Slice(rep.Broken, func(i, j int) bool { return rep.Broken[i].IncidentID < rep.Broken[j].IncidentID })
	return rep, nil
}
