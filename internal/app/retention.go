package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
)

// retentionPolicy is the retention section of cfg as a retention.Policy.
func retentionPolicy(cfg *config.Config) retention.Policy {
	r := cfg.Retention
	idle := cfg.UI.SessionIdle.Std()
	if idle <= 0 {
		idle = config.DefaultUISessionIdle
	}
	return retention.Policy{
		Events:           r.Events.Std(),
		Nonces:           r.Nonces.Std(),
		CorrelationState: r.CorrelationState.Std(),
		Interval:         r.Interval.Std(),
		// UI sessions are purged once they end by the UI's own expiry.
		UISessionIdle: idle,
	}
}

// The store purges the correlator's state (store.CorrelationStore) and
// the web UI's sessions (store.UISessionStore).
var (
	_ retention.CorrelationStore = store.Store(nil)
	_ retention.UISessionStore   = store.Store(nil)
)

// newPurger builds the daemon's scheduled retention purge: its purges
// are recorded through rec (the daemon's event path) and counted in reg;
// clock (nil: the wall clock) sets the cutoffs.
func newPurger(cfg *config.Config, st store.Store, rec retention.Recorder, clock incident.Clock, logger *slog.Logger, reg prometheus.Registerer) (*retention.Purger, error) {
	var now func() time.Time
	if clock != nil {
		now = clock.Now
	}
	p, err := retention.New(retention.Options{
		Store:            st,
		CorrelationState: st,
		UISessions:       st,
		Policy:           retentionPolicy(cfg),
		Now:              now,
		Logger:           logger,
		Recorder:         rec,
		Registerer:       reg,
		Actor:            retention.DefaultActor,
	})
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	return p, nil
}

// Purger returns the daemon's retention purger.
func (a *App) Purger() *retention.Purger { return a.purger }

// PurgeOptions configures Purge.
type PurgeOptions struct {
	// DryRun counts what would be purged and changes nothing.
	DryRun bool
	// Actor names who purges, in the purge log and events, such as
	// "cli:alice"; "" means retention.DefaultActor.
	Actor string
	// Now is the clock of the cutoffs; nil means time.Now.
	Now func() time.Time
}

// Purge runs one retention purge of every data type against the
// configured store, as `secopsd purge` does, and returns its report. The
// purges are recorded like the daemon's: in the purge log and as
// secopsd.retention.purge events, minimized and classified by the
// configured policies and stored directly (no daemon needs to run).
func Purge(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts PurgeOptions) (retention.Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := OpenStore(ctx, cfg, logger, true)
	if err != nil {
		return retention.Report{}, err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			logger.Warn("close store", "err", cerr)
		}
	}()
	var rec retention.Recorder
	if !opts.DryRun {
		cls, err := siem.NewClassifier(ctx, siem.ClassifierOptions{Dir: cfg.Policies, Logger: logger.With("component", "classifier")})
		if err != nil {
			return retention.Report{}, fmt.Errorf("load policies: %w", err)
		}
		m, err := siem.NewMinimizer(siem.MinimizerOptions{Allow: cfg.SIEM.Attributes.Allow, Deny: cfg.SIEM.Attributes.Deny})
		if err != nil {
			return retention.Report{}, err
		}
		rec = directRecorder{m: m, c: cls, st: st}
	}
	p, err := retention.New(retention.Options{
		Store:            st,
		CorrelationState: st,
		UISessions:       st,
		Policy:           retentionPolicy(cfg),
		Now:              opts.Now,
		Logger:           logger.With("component", "retention"),
		Recorder:         rec,
		Actor:            opts.Actor,
	})
	if err != nil {
		return retention.Report{}, fmt.Errorf("retention: %w", err)
	}
	if opts.DryRun {
		return p.DryRun(ctx)
	}
	return p.RunOnce(ctx)
}

// directRecorder records events without a pipeline: minimized, classified
// and stored in one transaction (recordDirect).
type directRecorder struct {
	m  *siem.Minimizer
	c  *siem.Classifier
	st store.Store
}

var _ retention.Recorder = directRecorder{}

// Record implements retention.Recorder.
func (r directRecorder) Record(ctx context.Context, evs ...event.Event) error {
	if r.m == nil || r.c == nil {
		return errors.New("record events: no minimizer or classifier")
	}
	return recordDirect(ctx, r.m, r.c, r.st, evs)
}
