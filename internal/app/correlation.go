package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
)

// newCorrelator builds the correlator of siem.correlation (the default
// rules when the file sets none; none at all for an empty list) on the
// store's correlation state.
func newCorrelator(cfg *config.Config, st store.CorrelationStore, logger *slog.Logger) (*siem.RuleCorrelator, error) {
	c, err := siem.NewRuleCorrelator(siem.RuleCorrelatorOptions{
		Store:  correlationStore{st},
		Rules:  correlationRules(cfg.SIEM.Correlation.EffectiveRules()),
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("correlation rules: %w", err)
	}
	return c, nil
}

// correlationRules converts the configured rules.
func correlationRules(rules []config.CorrelationRule) []siem.CorrelationRule {
	out := make([]siem.CorrelationRule, len(rules))
	for i, r := range rules {
		out[i] = siem.CorrelationRule{
			Name:           r.Name,
			Kinds:          r.Match.Kinds,
			Source:         r.Match.Source,
			Attributes:     r.Match.Attributes,
			GroupBy:        r.GroupBy,
			Window:         r.Window.Std(),
			Threshold:      int64(r.Threshold),
			CountAttribute: r.CountAttribute,
			Emit: siem.CorrelationEmit{
				Kind:       r.Emit.Kind,
				Title:      r.Emit.Title,
				Attributes: r.Emit.Attributes,
			},
		}
	}
	return out
}

// correlationStore adapts the store's correlation state to
// siem.CorrelationStore.
type correlationStore struct{ st store.CorrelationStore }

var _ siem.CorrelationStore = correlationStore{}

// UpdateCorrelation implements siem.CorrelationStore.
func (c correlationStore) UpdateCorrelation(ctx context.Context, ups []siem.CorrelationUpdate, fire func(siem.CorrelationState) time.Time) error {
	sups := make([]store.CorrelationUpdate, len(ups))
	for i, u := range ups {
		bs := make([]store.CorrelationBucket, len(u.Buckets))
		for j, b := range u.Buckets {
			bs[j] = store.CorrelationBucket(b)
		}
		sups[i] = store.CorrelationUpdate{Rule: u.Rule, Group: u.Group, Values: u.Values, Horizon: u.Horizon, Buckets: bs}
	}
	return c.st.UpdateCorrelation(ctx, sups, func(st store.CorrelationState) time.Time {
		bs := make([]siem.CorrelationBucket, len(st.Buckets))
		for j, b := range st.Buckets {
			bs[j] = siem.CorrelationBucket(b)
		}
		return fire(siem.CorrelationState{Rule: st.Rule, Group: st.Group, Buckets: bs, LastSeen: st.LastSeen, LastFired: st.LastFired})
	})
}

// submitBackoff is the first wait before submitting derived events again
// to a saturated pipeline; it doubles up to submitBackoffMax.
const (
	submitBackoff    = 50 * time.Millisecond
	submitBackoffMax = time.Second
)

// correlateStored passes events stored outside the ingestion pipeline
// (monitor results) to the correlator, and the events it derives to the
// pipeline, which minimizes, classifies and stores them and hands them to
// the incident engine as it does for its own. A saturated pipeline is
// retried until ctx ends. Failures are logged: the stored events stand.
func (a *App) correlateStored(ctx context.Context, evs []event.Event) {
	derived, err := a.correlator.Observe(ctx, evs)
	if err != nil {
		a.logger.Error("correlation of monitor events failed", "events", len(evs), "err", err)
		return
	}
	if len(derived) == 0 {
		return
	}
	wait := submitBackoff
	for {
		_, err := a.pipeline.Submit(ctx, derived)
		if err == nil {
			return
		}
		if !errors.Is(err, siem.ErrSaturated) {
			a.logger.Error("correlated events not stored", "events", len(derived), "err", err)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			a.logger.Error("correlated events not stored: the ingestion pipeline stayed saturated", "events", len(derived), "err", context.Cause(ctx))
			return
		case <-t.C:
		}
		wait = min(2*wait, submitBackoffMax)
	}
}
