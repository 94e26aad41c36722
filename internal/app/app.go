// Package app assembles the whole secopsd daemon from its parts — store,
// classifier, incident engine, monitor scheduler and HTTP server — behind
// New/Start/Stop/Addr, so that tests can run the real daemon in-process on
// 127.0.0.1:0.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/notify"
	slacknotify "github.com/secopsd/secopsd/internal/notify/slack"
	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/monitors"
)

// Options configures an App.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Version string
	// Notifier replaces the default log notifier.
	Notifier incident.Notifier
	// Clock replaces the wall clock of the incident engine.
	Clock incident.Clock
}

func (o *Options) validate() error {
	if o.Config == nil {
		return errors.New("app: Config is required")
	}
	return nil
}

// App is a running (or ready to run) secopsd daemon.
type App struct {
	cfg        *config.Config
	logger     *slog.Logger
	version    string
	store      store.Store
	classifier *siem.Classifier
	engine     *incident.Engine
	scheduler  *monitors.Scheduler
	metrics    *metrics
	auth       *auth.Authenticator
	pipeline   *siem.Pipeline
	forwarders []*forward.Forwarder // outputs to the team's SIEM (forward.go)
	correlator *siem.RuleCorrelator // correlation rules (correlation.go)
	purger     *retention.Purger
	server     *http.Server
	silences   *incident.Silences    // silences and maintenance windows (workflow.go)
	sweeper    *sweeper              // SLA and silence checks (sla.go); guarded by mu
	clock      incident.Clock        // nil: the wall clock
	remediator *incident.Remediator  // nil when remediation is disabled
	slackIn    *slackActions         // Slack buttons and /secops (slack_actions.go); nil when Slack is disabled
	slack      *slacknotify.Notifier // Slack outbox worker; nil when Slack is disabled (slack.go)

	mu       sync.Mutex
	listener net.Listener
	serveErr chan error
}

// New opens the store (applying migrations), compiles the policies and wires
// the engine, scheduler and HTTP server. Nothing runs until Start.
func New(ctx context.Context, opts Options) (*App, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cfg := opts.Config
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	a := &App{cfg: cfg, logger: logger, version: version, metrics: newMetrics(version), clock: opts.Clock}

	st, err := OpenStore(ctx, cfg, logger, true)
	if err != nil {
		return nil, err
	}
	a.store = st

	a.classifier, err = siem.NewClassifier(ctx, siem.ClassifierOptions{
		Dir:         cfg.Policies,
		Logger:      logger.With("component", "classifier"),
		ObserveEval: a.metrics.observeEval,
	})
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("load policies: %w", err)
	}

	notifier := opts.Notifier
	if notifier == nil {
		notifier = &notify.Log{Logger: logger.With("component", "notify")}
		if notifier, a.slack, err = withSlack(cfg, st, notifier, opts.Clock, logger, a.metrics.registry); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	recoverAfter := make(map[string]int, len(cfg.Monitors))
	for _, m := range cfg.Monitors {
		recoverAfter[m.Name] = m.RecoverAfter
	}
	wf, err := a.newWorkflow(st, logger)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	a.engine, err = incident.New(incident.Options{
		Silences:     wf.Silences,
		Redact:       wf.Redact,
		SLA:          wf.SLA,
		Store:        st,
		Tierer:       a.classifier,
		Notifier:     notifier,
		Observer:     a.metrics,
		Clock:        opts.Clock,
		Logger:       logger.With("component", "incident"),
		RecoverAfter: func(m string) int { return recoverAfter[m] },
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}

	a.scheduler, err = newScheduler(cfg, logger, version, a.handleResult, a.metrics)
	if err != nil {
		_ = st.Close()
		return nil, err
	}

	a.remediator, err = a.newRemediation(logger.With("component", "remediation"))
	if err != nil {
		_ = st.Close()
		return nil, err
	}

	a.forwarders, err = newForwarders(cfg, st, a.metrics.registry, logger.With("component", "forward"), version)
	if err != nil {
		_ = st.Close()
		return nil, err
	}

	a.auth, err = newAuthenticator(ctx, cfg, st, eventRecorder{a}, logger.With("component", "auth"), a.metrics.registry)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	ingester, err := a.newIngestion(logger.With("component", "ingest"))
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	a.purger, err = newPurger(cfg, st, eventRecorder{a}, opts.Clock, logger.With("component", "retention"), a.metrics.registry)
	if err != nil {
		_ = a.pipeline.Close(ctx)
		_ = st.Close()
		return nil, err
	}
	var remediation api.Remediation
	if a.remediator != nil {
		remediation = a.remediator
	}
	webUI, err := a.newUI(logger.With("component", "ui"))
	if err != nil {
		_ = a.pipeline.Close(ctx)
		_ = st.Close()
		return nil, err
	}
	a.slackIn, err = a.newSlackActions(logger.With("component", "slack-actions"))
	if err != nil {
		_ = a.pipeline.Close(ctx)
		_ = st.Close()
		return nil, err
	}
	handler, err := api.NewHandler(api.Options{
		Slack:         a.slackIn.httpHandler(),
		UI:            webUI,
		Remediation:   remediation,
		Actions:       a.engine,
		Silences:      a.silences,
		Ingest:        ingester,
		Events:        eventQuerier{st},
		Incidents:     st,
		Exports:       TimelineExporter{Source: st, Now: a.now},
		Ready:         st.Ping,
		Metrics:       promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{Registry: a.metrics.registry}),
		Logger:        logger.With("component", "api"),
		Auth:          a.auth,
		ProtectHealth: !cfg.Auth.PublicHealth,
		PublicMetrics: cfg.Auth.PublicMetrics,
	})
	if err != nil {
		_ = a.pipeline.Close(ctx)
		_ = st.Close()
		return nil, err
	}
	a.server = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return a, nil
}

func newScheduler(cfg *config.Config, logger *slog.Logger, version string, sink func(context.Context, monitors.Result), obs monitors.Observer) (*monitors.Scheduler, error) {
	runOnStart := true
	if cfg.Scheduler.RunOnStart != nil {
		runOnStart = *cfg.Scheduler.RunOnStart
	}
	s, err := monitors.NewScheduler(monitors.SchedulerOptions{
		Monitors:    cfg.Monitors,
		Probers:     monitors.Probers(),
		Env:         monitors.Env{UserAgent: monitors.UserAgent(version), Hosts: monitors.NewHostLimiter(cfg.Scheduler.PerHost)},
		Jitter:      cfg.Scheduler.Jitter,
		Sink:        sink,
		Concurrency: cfg.Scheduler.Concurrency,
		RunOnStart:  runOnStart,
		Logger:      logger.With("component", "scheduler"),
		Observer:    obs,
	})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return s, nil
}

// OpenStore opens the configured store, optionally applying migrations.
func OpenStore(ctx context.Context, cfg *config.Config, logger *slog.Logger, migrate bool) (store.Store, error) {
	st, err := store.Open(ctx, cfg.Store.URL.Reveal(), store.Options{
		MaxConns: cfg.Store.MaxConns,
		Logger:   logger.With("component", "store"),
		Migrate:  migrate,
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Start listens on the configured address, serves HTTP and starts the
// monitor schedule.
func (a *App) Start(ctx context.Context) error {
	ln, err := a.listen(ctx) // TCP, with TLS when configured (ui.go)
	if err != nil {
		return err
	}
	a.adviseAdminKey(ctx)
	a.auth.Start()
	a.purger.Start()
	a.mu.Lock()
	a.listener = ln
	a.serveErr = make(chan error, 1)
	a.mu.Unlock()
	go func() {
		err := a.server.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.serveErr <- err
	}()
	if a.remediator != nil {
		// Before new failures arrive: settle what a crash interrupted.
		if err := a.remediator.Start(ctx); err != nil {
			a.logger.Error("remediation recovery failed", "err", err)
		}
	}
	a.startSweeps()
	a.slackIn.start()
	a.scheduler.Start()
	a.startForwarders()
	a.startSlack()
	a.logger.Info("secopsd started", "addr", ln.Addr().String(), "store", a.store.Backend(),
		"monitors", len(a.cfg.Monitors), "version", a.version)
	return nil
}

// Addr returns the address the HTTP server listens on (useful with port 0).
func (a *App) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Store returns the daemon's store.
func (a *App) Store() store.Store { return a.store }

// Stop stops the schedule (waiting for runs in flight), shuts the HTTP server
// down gracefully and closes the store, all within ctx.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	if err := a.scheduler.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop scheduler: %w", err))
	}
	if err := a.stopSweeps(ctx); err != nil {
		errs = append(errs, err)
	}
	if a.remediator != nil {
		if err := a.remediator.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	a.mu.Lock()
	started := a.listener != nil
	a.mu.Unlock()
	if started {
		if err := a.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down http server: %w", err))
			_ = a.server.Close()
		}
		if err := <-a.serveErr; err != nil {
			errs = append(errs, fmt.Errorf("http server: %w", err))
		}
	}
	if err := a.slackIn.stop(ctx); err != nil {
		errs = append(errs, err)
	}
	// The server is down: record the pending rate-limit hits and
	// authentication failures (through the pipeline), then store what is
	// in the pipeline.
	if err := a.purger.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.auth.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.pipeline.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.stopForwarders(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.stopSlack(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	a.logger.Info("secopsd stopped")
	return errors.Join(errs...)
}

// handleResult is the pipeline for one monitor result: events → classify →
// durable store → incident engine. It runs on the scheduler's goroutine.
func (a *App) handleResult(ctx context.Context, r monitors.Result) {
	// The probe's deadline must not cut the bookkeeping short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := a.HandleResult(ctx, r); err != nil {
		a.metrics.pipelineFailures.Inc()
		a.logger.Error("monitor result not fully processed", "monitor", r.Monitor, "err", err)
	}
}

// HandleResult classifies a monitor result's events, stores them durably and
// hands them to the incident engine, then to the correlator.
func (a *App) HandleResult(ctx context.Context, r monitors.Result) error {
	evs := r.Events(time.Now())
	for i := range evs {
		if err := a.classifier.Classify(ctx, &evs[i]); err != nil {
			return fmt.Errorf("classify event of %s: %w", r.Monitor, err)
		}
	}
	if err := a.store.InsertEvents(ctx, evs); err != nil {
		return fmt.Errorf("store events of %s: %w", r.Monitor, err)
	}
	// Stored events are correlated whatever the engine makes of them.
	defer a.correlateStored(ctx, evs)
	if err := a.engine.HandleRun(ctx, incident.Run{Monitor: r.Monitor, Events: evs, Inconclusive: !r.Conclusive()}); err != nil {
		return fmt.Errorf("incident engine: %w", err)
	}
	return nil
}

// Check runs the named monitors (all when names is empty) once, without a
// store, and returns their results in config order.
func Check(ctx context.Context, cfg *config.Config, logger *slog.Logger, version string, names ...string) ([]monitors.Result, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := newScheduler(cfg, logger, version, nil, nil)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return s.RunAll(ctx), nil
	}
	var out []monitors.Result
	for _, n := range names {
		r, err := s.RunOnce(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// PolicyTest runs the Rego unit tests in dir ("" for the embedded policies).
func PolicyTest(ctx context.Context, dir string, w interface{ Write([]byte) (int, error) }) (passed, failed int, err error) {
	return siem.RunPolicyTests(ctx, dir, w)
}
