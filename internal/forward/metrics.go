package forward

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors shared by a daemon's forwarders,
// labelled by output name.
type Metrics struct {
	forwarded *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	failures  *prometheus.CounterVec
	lag       *lagCollector
}

// NewMetrics creates the forwarding metrics and registers them on reg:
//
//	secopsd_forward_events_total{output}           events the output accepted
//	secopsd_forward_skipped_events_total{output}   events passed over by the filter
//	secopsd_forward_failures_total{output,reason}  failed attempts: retryable, permanent or store
//	secopsd_forward_lag_seconds{output}            age of the oldest event not yet passed (0 when caught up)
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_forward_events_total", Help: "Events accepted by a forwarding output.",
		}, []string{"output"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_forward_skipped_events_total", Help: "Events a forwarding output's filter passed over.",
		}, []string{"output"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_forward_failures_total", Help: "Failed forwarding attempts, by reason (retryable, permanent, store); every failed batch is sent again.",
		}, []string{"output", "reason"}),
		lag: &lagCollector{
			desc: prometheus.NewDesc("secopsd_forward_lag_seconds",
				"Age of the oldest stored event a forwarding output has not passed yet; 0 when caught up.", []string{"output"}, nil),
			outputs: map[string]func() float64{},
		},
	}
	for _, c := range []prometheus.Collector{m.forwarded, m.skipped, m.failures, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register forwarding metrics: %w", err)
		}
	}
	return m, nil
}

// add starts reporting the lag of the output name.
func (m *Metrics) add(name string, lag func() float64) error {
	m.lag.mu.Lock()
	defer m.lag.mu.Unlock()
	if _, dup := m.lag.outputs[name]; dup {
		return fmt.Errorf("forwarder %q: an output of that name already runs", name)
	}
	m.lag.outputs[name] = lag
	// Show the output in every series from the start, at 0.
	m.forwarded.WithLabelValues(name)
	m.skipped.WithLabelValues(name)
	return nil
}

// remove stops reporting the lag of the output name.
func (m *Metrics) remove(name string) {
	m.lag.mu.Lock()
	defer m.lag.mu.Unlock()
	delete(m.lag.outputs, name)
}

// lagCollector reports each running output's lag when scraped, so that
// the figure grows during an outage rather than freezing at the last
// attempt.
type lagCollector struct {
	desc    *prometheus.Desc
	mu      sync.Mutex
	outputs map[string]func() float64
}

// Describe implements prometheus.Collector.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, lag := range c.outputs {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, lag(), name)
	}
}
