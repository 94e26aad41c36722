package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/notify"
	"github.com/secopsd/secopsd/internal/secretscan"
	"github.com/secopsd/secopsd/internal/store"
)

// workflowParts are what the incident engine needs for the human
// workflow: silences, a redactor of human-written text and the SLA
// policy.
type workflowParts struct {
	Silences *incident.Silences
	Redact   func(string) string
	SLA      *incident.SLAPolicy
}

// newWorkflow builds the workflow parts of cfg on st and keeps the
// silences for the API.
func (a *App) newWorkflow(st store.Store, logger *slog.Logger) (workflowParts, error) {
	wf, err := buildWorkflow(a.cfg, st, a.clock, logger)
	if err != nil {
		return workflowParts{}, err
	}
	a.silences = wf.Silences
	return wf, nil
}

func buildWorkflow(cfg *config.Config, st store.Store, clock incident.Clock, logger *slog.Logger) (workflowParts, error) {
	static, err := staticSilences(cfg)
	if err != nil {
		return workflowParts{}, err
	}
	opts := incident.SilencesOptions{Static: static, Store: st, Logger: logger.With("component", "silences")}
	if clock != nil {
		opts.Now = clock.Now
	}
	sil, err := incident.NewSilences(opts)
	if err != nil {
		return workflowParts{}, fmt.Errorf("silences: %w", err)
	}
	sla, err := slaPolicy(cfg.SLA)
	if err != nil {
		return workflowParts{}, err
	}
	return workflowParts{Silences: sil, Redact: newRedactor(), SLA: sla}, nil
}

// newRedactor returns a function that replaces the secrets the monitors
// recognise (internal/secretscan) in human-written text.
func newRedactor() func(string) string {
	sc := secretscan.NewScanner(secretscan.DefaultRules())
	return func(s string) string {
		out, _ := sc.Redact(s)
		return out
	}
}

// staticSilences converts the configured maintenance windows.
func staticSilences(cfg *config.Config) ([]incident.Silence, error) {
	out := make([]incident.Silence, 0, len(cfg.Silences))
	for _, s := range cfg.Silences {
		start, end, err := s.Window()
		if err != nil {
			return nil, fmt.Errorf("silence %q: %w", s.Name, err)
		}
		out = append(out, incident.Silence{Name: s.Name, Monitors: s.Monitors, Categories: s.Categories,
			StartsAt: start, EndsAt: end, Comment: s.Comment})
	}
	return out, nil
}

// slaPolicy converts the sla section.
func slaPolicy(c config.SLAConfig) (*incident.SLAPolicy, error) {
	loc, err := c.Location()
	if err != nil {
		return nil, fmt.Errorf("sla.timezone: %w", err)
	}
	period := func(path string, p config.SLAPeriod) (incident.SLAPeriod, error) {
		d, bd, err := p.Parse()
		if err != nil {
			return incident.SLAPeriod{}, fmt.Errorf("%s: %w", path, err)
		}
		return incident.SLAPeriod{Duration: d, BusinessDays: bd}, nil
	}
	pol := &incident.SLAPolicy{
		Location:         loc,
		Acknowledge:      map[event.Severity]incident.SLAPeriod{},
		Resolve:          map[event.Severity]incident.SLAPeriod{},
		BreachCategories: c.BreachNotification.Categories,
	}
	var errs []error
	for _, clock := range []struct {
		key string
		sev config.SLASeverities
		out map[event.Severity]incident.SLAPeriod
	}{{"acknowledge", c.Acknowledge, pol.Acknowledge}, {"resolve", c.Resolve, pol.Resolve}} {
		for name, p := range clock.sev.BySeverity() {
			sev, err := event.ParseSeverity(name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			per, err := period("sla."+clock.key+"."+name, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !per.IsZero() {
				clock.out[sev] = per
			}
		}
	}
	pol.BreachNotification, err = period("sla.breach_notification.within", c.BreachNotification.Within)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return pol, nil
}

// Silences returns the daemon's silences and maintenance windows.
func (a *App) Silences() *incident.Silences { return a.silences }

// Engine returns the daemon's incident engine.
func (a *App) Engine() *incident.Engine { return a.engine }

// Workflow is what the CLI needs to act on incidents and silences without
// a running daemon: the store, an incident engine on it (with the
// configured silences, SLA clocks and redaction) and the silences.
type Workflow struct {
	Store    store.Store
	Engine   *incident.Engine
	Silences *incident.Silences
}

// noTiering is the Tierer of a Workflow's engine, which never opens
// incidents.
type noTiering struct{}

func (noTiering) Tier(context.Context, incident.TierInput) (incident.Tier, error) {
	return "", errors.New("tiering is not available to one-off incident actions")
}

// OpenWorkflow opens the configured store (applying migrations) and an
// incident engine for one-off human actions; notifications go to the log
// notifier on logger. Close it when done.
func OpenWorkflow(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*Workflow, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := OpenStore(ctx, cfg, logger, true)
	if err != nil {
		return nil, err
	}
	wf, err := buildWorkflow(cfg, st, nil, logger)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	// Slack, when enabled, gets the entries too: they are enqueued in the
	// store's outbox and the daemon's worker delivers them.
	notifier, _, err := withSlack(cfg, st, &notify.Log{Logger: logger.With("component", "notify")}, nil, logger, nil)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	eng, err := incident.New(incident.Options{
		Store:    st,
		Tierer:   noTiering{},
		Notifier: notifier,
		Logger:   logger.With("component", "incident"),
		Silences: wf.Silences,
		Redact:   wf.Redact,
		SLA:      wf.SLA,
	})
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return &Workflow{Store: st, Engine: eng, Silences: wf.Silences}, nil
}

// Close closes the workflow's store.
func (w *Workflow) Close() error { return w.Store.Close() }
