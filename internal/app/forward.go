package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/store"
)

// newForwarders builds one forwarder per output of the forward section,
// tailing st's event log; nothing runs until startForwarders.
func newForwarders(cfg *config.Config, st store.Store, reg prometheus.Registerer, logger *slog.Logger, version string) ([]*forward.Forwarder, error) {
	if len(cfg.Forward) == 0 {
		return nil, nil
	}
	m, err := forward.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	out := make([]*forward.Forwarder, 0, len(cfg.Forward))
	for _, o := range cfg.Forward {
		f, err := newForwarder(o, st, m, logger.With("output", o.Name), version)
		if err != nil {
			for _, built := range out {
				_ = built.Stop(context.Background()) // not started: returns at once
			}
			return nil, fmt.Errorf("forward output %q: %w", o.Name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// newForwarder builds the forwarder of one validated output.
func newForwarder(o config.ForwardOutput, st store.Store, m *forward.Metrics, logger *slog.Logger, version string) (*forward.Forwarder, error) {
	var (
		output forward.Output
		err    error
	)
	switch o.Type {
	case config.ForwardTypeWebhook:
		output, err = newWebhookOutput(o.Webhook, version)
	case config.ForwardTypeSyslog:
		output, err = newSyslogOutput(o.Syslog)
	default:
		err = fmt.Errorf("unknown output type %q", o.Type)
	}
	if err != nil {
		return nil, err
	}
	filter := forward.Filter{Kinds: o.Filter.Kinds}
	if o.Filter.MinSeverity != "" {
		if filter.MinSeverity, err = event.ParseSeverity(o.Filter.MinSeverity); err != nil {
			return nil, errors.Join(err, output.Close())
		}
	}
	settle := config.DefaultForwardSettleDelay
	if o.SettleDelay != nil {
		settle = o.SettleDelay.Std()
	}
	start := forward.StartNow
	if o.Start == config.ForwardStartOldest {
		start = forward.StartOldest
	}
	f, err := forward.New(forward.Options{
		Name:         o.Name,
		Store:        st,
		Output:       output,
		Filter:       filter,
		Start:        start,
		BatchSize:    o.BatchSize,
		PollInterval: o.PollInterval.Std(),
		SettleDelay:  settle,
		MinBackoff:   o.MinBackoff.Std(),
		MaxBackoff:   o.MaxBackoff.Std(),
		Metrics:      m,
		Logger:       logger,
	})
	if err != nil {
		return nil, errors.Join(err, output.Close())
	}
	return f, nil
}

func newWebhookOutput(w *config.ForwardWebhook, version string) (*forward.Webhook, error) {
	opts := forward.WebhookOptions{
		URL:           w.URL.Reveal(),
		SigningSecret: w.SigningSecret.Reveal(),
		Timeout:       w.Timeout.Std(),
		UserAgent:     "secopsd/" + version,
	}
	if len(w.Headers) > 0 {
		opts.Headers = make(map[string]string, len(w.Headers))
		for k, v := range w.Headers {
			opts.Headers[k] = v.Reveal()
		}
	}
	if w.CAFile != "" {
		pool, err := forward.LoadCertPool(w.CAFile)
		if err != nil {
			return nil, err
		}
		opts.RootCAs = pool
	}
	return forward.NewWebhook(opts)
}

func newSyslogOutput(s *config.ForwardSyslog) (*forward.Syslog, error) {
	facility, ok := config.SyslogFacilityCode(s.Facility)
	if !ok {
		return nil, fmt.Errorf("unknown syslog facility %q", s.Facility)
	}
	opts := forward.SyslogOptions{
		Network:  s.Network,
		Address:  s.Address,
		Facility: facility,
		Hostname: s.Hostname,
		AppName:  s.AppName,
		Timeout:  s.Timeout.Std(),
	}
	if s.Network == config.SyslogNetworkTLS {
		opts.TLSConfig = &tls.Config{ServerName: s.ServerName, MinVersion: tls.VersionTLS12}
		if s.CAFile != "" {
			pool, err := forward.LoadCertPool(s.CAFile)
			if err != nil {
				return nil, err
			}
			opts.TLSConfig.RootCAs = pool
		}
	}
	return forward.NewSyslog(opts)
}

// startForwarders starts tailing the event log for every output.
func (a *App) startForwarders() {
	for _, f := range a.forwarders {
		f.Start()
	}
}

// stopForwarders stops every output at once, letting batches in flight
// finish within ctx; it runs before the store closes.
func (a *App) stopForwarders(ctx context.Context) error {
	errs := make([]error, len(a.forwarders))
	var wg sync.WaitGroup
	for i, f := range a.forwarders {
		wg.Go(func() { errs[i] = f.Stop(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
