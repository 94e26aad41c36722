package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/monitors"
)

// metrics holds the daemon's Prometheus collectors, registered on a registry
// of its own (no global state), so several apps can run in one test process.
type metrics struct {
	registry         *prometheus.Registry
	monitorRuns      *prometheus.CounterVec
	monitorFailures  *prometheus.CounterVec
	monitorSkipped   *prometheus.CounterVec
	monitorDuration  *prometheus.HistogramVec
	incidentsOpened  prometheus.Counter
	incidentsClosed  prometheus.Counter
	policyEval       prometheus.Histogram
	pipelineFailures prometheus.Counter
}

func newMetrics(version string) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		monitorRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_monitor_runs_total", Help: "Monitor runs by monitor and outcome.",
		}, []string{"monitor", "type", "outcome"}),
		monitorFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_monitor_failures_total", Help: "Failed monitor runs.",
		}, []string{"monitor", "type"}),
		monitorSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_monitor_runs_skipped_total", Help: "Runs skipped because the previous run of the monitor was still going.",
		}, []string{"monitor"}),
		monitorDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "secopsd_monitor_run_duration_seconds", Help: "Duration of monitor runs.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"monitor", "type"}),
		incidentsOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secopsd_incidents_opened_total", Help: "Incidents opened.",
		}),
		incidentsClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secopsd_incidents_resolved_total", Help: "Incidents resolved.",
		}),
		policyEval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "secopsd_policy_eval_duration_seconds", Help: "Latency of one Rego policy evaluation.",
			Buckets: prometheus.ExponentialBuckets(0.000005, 3, 10),
		}),
		pipelineFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secopsd_pipeline_errors_total", Help: "Monitor results that could not be classified, stored or handled.",
		}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "secopsd_build_info", Help: "Always 1; labelled with the secopsd version.",
	}, []string{"version"})
	build.WithLabelValues(version).Set(1)
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build, m.monitorRuns, m.monitorFailures, m.monitorSkipped, m.monitorDuration,
		m.incidentsOpened, m.incidentsClosed, m.policyEval, m.pipelineFailures,
	)
	return m
}

// RunStarted implements monitors.Observer.
func (m *metrics) RunStarted(string) {}

// RunSkipped implements monitors.Observer.
func (m *metrics) RunSkipped(monitor string) { m.monitorSkipped.WithLabelValues(monitor).Inc() }

// RunFinished implements monitors.Observer.
func (m *metrics) RunFinished(r monitors.Result) {
	outcome := "pass"
	if !r.Success {
		outcome = "fail"
		m.monitorFailures.WithLabelValues(r.Monitor, r.Type).Inc()
	}
	m.monitorRuns.WithLabelValues(r.Monitor, r.Type, outcome).Inc()
	m.monitorDuration.WithLabelValues(r.Monitor, r.Type).Observe(r.Duration.Seconds())
}

// IncidentOpened implements incident.Observer.
func (m *metrics) IncidentOpened(incident.Incident) { m.incidentsOpened.Inc() }

// IncidentResolved implements incident.Observer.
func (m *metrics) IncidentResolved(incident.Incident) { m.incidentsClosed.Inc() }

func (m *metrics) observeEval(d time.Duration) { m.policyEval.Observe(d.Seconds()) }

var (
	_ incident.Observer = (*metrics)(nil)
	_ monitors.Observer = (*metrics)(nil)
)
