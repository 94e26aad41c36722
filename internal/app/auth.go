package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
)

// newAuthenticator builds the API's guard from the auth section of cfg:
// keys, nonces and the signing master key in st; rate-limit hits and
// failed authentications recorded as events through rec; counts in reg.
func newAuthenticator(ctx context.Context, cfg *config.Config, st store.Store, rec auth.Recorder, logger *slog.Logger, reg prometheus.Registerer) (*auth.Authenticator, error) {
	mk, err := auth.LoadMasterKey(ctx, st, []byte(cfg.Auth.MasterKey.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	rl := cfg.Auth.RateLimits
	limit := func(l config.AuthLimit) auth.Limit { return auth.Limit{RPS: l.RPS, Burst: l.Burst} }
	obs, err := newAuthMetrics(reg)
	if err != nil {
		return nil, err
	}
	return auth.New(auth.Options{
		Store:     st,
		MasterKey: mk,
		Limits: auth.Limits{
			Ingest:      limit(rl.Ingest),
			Read:        limit(rl.Read),
			Admin:       limit(rl.Admin),
			AuthFailure: limit(rl.AuthFailure),
		},
		CacheTTL:       cfg.Auth.KeyCacheTTL.Std(),
		TrustedProxies: cfg.Auth.TrustedProxyPrefixes(),
		// Signed ingestion requests are read whole to check the signature.
		MaxSignedBody: max(int64(cfg.SIEM.MaxRequestBytes), auth.DefaultMaxSignedBody),
		Recorder:      rec,
		Observer:      obs,
		Logger:        logger,
		// The retention section is the one source of the nonces' life;
		// the retention purger deletes expired ones and records it.
		NonceTTL:           cfg.Retention.Nonces.Std(),
		ExternalNoncePurge: true,
	})
}

// Auth returns the daemon's authenticator, which also manages API keys.
func (a *App) Auth() *auth.Authenticator { return a.auth }

// adviseAdminKey logs, once at start-up, how to create the first admin key
// when no active one exists. It never creates or prints a key itself.
func (a *App) adviseAdminKey(ctx context.Context) {
	keys, err := a.store.ListAPIKeys(ctx)
	if err != nil {
		a.logger.Warn("cannot list API keys", "err", err)
		return
	}
	now := time.Now()
	for _, k := range keys {
		if k.Role == auth.RoleAdmin && k.Status(now) == auth.StatusActive {
			return
		}
	}
	a.logger.Info("no admin API key exists yet: every /api route needs a key; create one with: ./bin/secopsd apikey create --role admin")
}

// eventRecorder records the daemon's own events (rate-limit hits, failed
// authentications, retention purges) like ingested ones: through the
// ingestion pipeline (minimized, classified, correlated, stored in a
// batch). Should the pipeline refuse them (saturated, or closed), they are
// minimized by the pipeline's minimizer, classified and stored directly
// instead, so that none is lost and none escapes minimization.
type eventRecorder struct{ a *App }

var (
	_ auth.Recorder      = eventRecorder{}
	_ retention.Recorder = eventRecorder{}
)

// Record stores evs durably.
func (r eventRecorder) Record(ctx context.Context, evs ...event.Event) error {
	p := r.a.pipeline
	if p == nil {
		return fmt.Errorf("record %d events: the ingestion pipeline is not set up", len(evs))
	}
	_, err := p.Submit(ctx, evs)
	if err == nil {
		return nil
	}
	r.a.logger.Warn("ingestion pipeline refused the daemon's own events; storing them directly", "events", len(evs), "err", err)
	return recordDirect(ctx, p.Minimizer(), r.a.classifier, r.a.store, evs)
}

// recordDirect minimizes copies of evs with m, exactly as the pipeline
// does, classifies them and stores them in one transaction. An event
// whose id is stored already (the pipeline stored it after all) is
// skipped.
func recordDirect(ctx context.Context, m *siem.Minimizer, c *siem.Classifier, st store.Store, evs []event.Event) error {
	out := make([]event.Event, len(evs))
	for i, ev := range evs {
		ev.Attributes = maps.Clone(ev.Attributes)
		m.Minimize(&ev)
		if err := c.Classify(ctx, &ev); err != nil {
			return fmt.Errorf("classify %s event: %w", ev.Kind, err)
		}
		out[i] = ev
	}
	if _, err := st.AppendEvents(ctx, out); err != nil {
		return fmt.Errorf("store %d events: %w", len(out), err)
	}
	return nil
}

// authMetrics counts authentication outcomes (auth.Observer).
type authMetrics struct {
	requests *prometheus.CounterVec
	failures *prometheus.CounterVec
	limited  *prometheus.CounterVec
}

var _ auth.Observer = (*authMetrics)(nil)

func newAuthMetrics(reg prometheus.Registerer) (*authMetrics, error) {
	m := &authMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_api_auth_requests_total", Help: "Requests to guarded routes by outcome (ok, failed, forbidden, limited) and key role.",
		}, []string{"outcome", "role"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_api_auth_failures_total", Help: "Failed authentications by reason.",
		}, []string{"reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_api_rate_limited_total", Help: "Requests refused by a rate limit, by route class and scope (key or ip).",
		}, []string{"class", "scope"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.failures, m.limited} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register auth metrics: %w", err)
		}
	}
	return m, nil
}

// Authenticated implements auth.Observer.
func (m *authMetrics) Authenticated(role auth.Role) {
	m.requests.WithLabelValues("ok", string(role)).Inc()
}

// AuthFailed implements auth.Observer.
func (m *authMetrics) AuthFailed(reason string) {
	m.requests.WithLabelValues("failed", "").Inc()
	m.failures.WithLabelValues(reason).Inc()
}

// Forbidden implements auth.Observer.
func (m *authMetrics) Forbidden(role auth.Role) {
	m.requests.WithLabelValues("forbidden", string(role)).Inc()
}

// RateLimited implements auth.Observer.
func (m *authMetrics) RateLimited(class, scope string) {
	m.requests.WithLabelValues("limited", "").Inc()
	m.limited.WithLabelValues(class, scope).Inc()
}
