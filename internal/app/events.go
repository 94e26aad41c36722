package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
)

// newPipeline builds the ingestion pipeline of the siem section of cfg:
// minimized, classified events stored in batches in st, correlated by
// corr and handed to the incident engine.
func newPipeline(cfg *config.Config, st store.Store, cls *siem.Classifier, eng *incident.Engine, corr *siem.RuleCorrelator, logger *slog.Logger) (*siem.Pipeline, error) {
	sc := cfg.SIEM
	minimizer, err := siem.NewMinimizer(siem.MinimizerOptions{Allow: sc.Attributes.Allow, Deny: sc.Attributes.Deny})
	if err != nil {
		return nil, err
	}
	p, err := siem.NewPipeline(siem.PipelineOptions{
		Store:                 st,
		Classifier:            cls,
		Minimizer:             minimizer,
		Incidents:             eng,
		Correlator:            corr,
		MaxRequestEvents:      sc.MaxRequestEvents,
		MaxRequestBytes:       int64(sc.MaxRequestBytes),
		MaxEventAge:           sc.MaxEventAge.Std(),
		QueueSize:             sc.QueueSize,
		BatchMaxRows:          sc.BatchMaxRows,
		BatchInterval:         sc.BatchInterval.Std(),
		FingerprintAttributes: sc.FingerprintAttributes,
		Logger:                logger,
	})
	if err != nil {
		return nil, fmt.Errorf("ingestion pipeline: %w", err)
	}
	return p, nil
}

// newIngestion starts the ingestion pipeline (a.pipeline) and returns the
// API's side of it, counted in the daemon's metrics.
func (a *App) newIngestion(logger *slog.Logger) (api.EventIngester, error) {
	corr, err := newCorrelator(a.cfg, a.store, a.logger.With("component", "correlation"))
	if err != nil {
		return nil, err
	}
	a.correlator = corr
	p, err := newPipeline(a.cfg, a.store, a.classifier, a.engine, corr, logger)
	if err != nil {
		return nil, err
	}
	m, err := newIngestMetrics(a.metrics.registry, p)
	if err != nil {
		_ = p.Close(context.Background()) // nothing in flight yet
		return nil, err
	}
	a.pipeline = p
	return pipelineIngester{p: p, m: m}, nil
}

// Pipeline returns the daemon's event ingestion pipeline (for producers of
// events inside secopsd: see siem.Pipeline.Submit).
func (a *App) Pipeline() *siem.Pipeline { return a.pipeline }

// ingestMetrics counts ingestion outcomes.
type ingestMetrics struct {
	events   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	inFlight prometheus.GaugeFunc
}

func newIngestMetrics(reg prometheus.Registerer, p *siem.Pipeline) (*ingestMetrics, error) {
	m := &ingestMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_ingest_events_total", Help: "Ingested events stored durably, by result (stored, duplicate).",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_ingest_requests_refused_total", Help: "Ingestion requests refused, by HTTP status.",
		}, []string{"status"}),
		inFlight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "secopsd_ingest_requests_in_flight", Help: "Ingestion requests in the pipeline (decoding, queued or being written); at siem.queue_size new ones are refused.",
		}, func() float64 { return float64(p.Stats().InFlight) }),
	}
	for _, c := range []prometheus.Collector{m.events, m.refused, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingestion metrics: %w", err)
		}
	}
	return m, nil
}

// pipelineIngester adapts the pipeline to api.EventIngester.
type pipelineIngester struct {
	p *siem.Pipeline
	m *ingestMetrics
}

var _ api.EventIngester = pipelineIngester{}

// IngestEvents implements api.EventIngester.
func (pi pipelineIngester) IngestEvents(ctx context.Context, contentType string, body io.Reader) (int, int, error) {
	rc, err := pi.p.Ingest(ctx, contentType, body)
	if err != nil {
		status := "cancelled"
		var ie *siem.IngestError
		if errors.As(err, &ie) {
			status = fmt.Sprint(ie.HTTPStatus())
		}
		pi.m.refused.WithLabelValues(status).Inc()
		return 0, 0, err
	}
	pi.m.events.WithLabelValues("stored").Add(float64(rc.Accepted - rc.Duplicates))
	pi.m.events.WithLabelValues("duplicate").Add(float64(rc.Duplicates))
	return rc.Accepted, rc.Duplicates, nil
}

// eventQuerier adapts the store to api.EventReader.
type eventQuerier struct{ st store.Store }

var _ api.EventReader = eventQuerier{}

// QueryEvents implements api.EventReader.
func (q eventQuerier) QueryEvents(ctx context.Context, eq api.EventQuery) ([]event.Event, error) {
	f := store.EventFilter{
		Since: eq.Since, Until: eq.Until, MinSeverity: eq.MinSeverity,
		Source: eq.Source, Kind: eq.Kind, Limit: eq.Limit,
	}
	if eq.After != nil {
		f.Before = &store.EventCursor{Time: eq.After.Time, ID: eq.After.ID}
	}
	return q.st.ListEvents(ctx, f)
}
