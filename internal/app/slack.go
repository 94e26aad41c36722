package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/notify"
	"github.com/secopsd/secopsd/internal/notify/slack"
	"github.com/secopsd/secopsd/internal/store"
)

// withSlack returns base alone when Slack is disabled, and otherwise base
// fanned out with a Slack notifier on st's outbox (returned too, so that
// the daemon can start its delivery worker; the CLI only enqueues and the
// daemon delivers). reg, when set, receives the delivery metrics.
func withSlack(cfg *config.Config, st store.Store, base incident.Notifier, clock incident.Clock, logger *slog.Logger, reg prometheus.Registerer) (incident.Notifier, *slack.Notifier, error) {
	sc := cfg.Slack
	if !sc.Enabled {
		return base, nil, nil
	}
	routes := make([]slack.Route, 0, len(sc.Routes))
	for _, r := range sc.Routes {
		routes = append(routes, slack.Route{Severities: r.Severities, Categories: r.Categories, Monitors: r.Monitors,
			Channel: r.Channel, Mention: r.Mention, Digest: r.Digest.Std()})
	}
	opts := slack.Options{
		Store:      slackOutbox{st},
		Incidents:  st,
		Token:      sc.BotToken.Reveal(),
		APIURL:     sc.APIURL,
		UIURL:      sc.UIURL,
		Routes:     routes,
		MinBackoff: sc.Outbox.MinBackoff.Std(),
		MaxBackoff: sc.Outbox.MaxBackoff.Std(),
		Logger:     logger.With("component", "slack"),
	}
	if clock != nil {
		opts.Now = clock.Now
	}
	if reg != nil {
		obs, err := newSlackMetrics(reg)
		if err != nil {
			return nil, nil, err
		}
		opts.Observer = obs
	}
	n, err := slack.New(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("slack: %w", err)
	}
	return notify.Multi{base, n}, n, nil
}

// startSlack starts the Slack delivery worker, if Slack is enabled.
func (a *App) startSlack() {
	if a.slack != nil {
		a.slack.Start()
	}
}

// stopSlack stops the Slack delivery worker within ctx.
func (a *App) stopSlack(ctx context.Context) error {
	if a.slack == nil {
		return nil
	}
	return a.slack.Stop(ctx)
}

// slackMetrics counts Slack deliveries for /metrics.
type slackMetrics struct {
	delivered *prometheus.CounterVec
	failed    *prometheus.CounterVec
}

func newSlackMetrics(reg prometheus.Registerer) (*slackMetrics, error) {
	m := &slackMetrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_slack_messages_delivered_total",
			Help: "Slack messages delivered from the outbox, by timeline entry kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secopsd_slack_delivery_failures_total",
			Help: "Failed Slack delivery attempts, by reason; permanent=true for refusals that retrying does not fix (the message stays queued).",
		}, []string{"reason", "permanent"}),
	}
	for _, c := range []prometheus.Collector{m.delivered, m.failed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register slack metrics: %w", err)
		}
	}
	return m, nil
}

// Delivered counts a delivered message.
func (m *slackMetrics) Delivered(kind string) { m.delivered.WithLabelValues(kind).Inc() }

// Failed counts a failed attempt.
func (m *slackMetrics) Failed(reason string, permanent bool) {
	m.failed.WithLabelValues(reason, fmt.Sprint(permanent)).Inc()
}

// slackOutbox adapts the store's Slack outbox to slack.Store: the row
// types have the same fields.
type slackOutbox struct{ s store.Store }

func (o slackOutbox) EnqueueSlack(ctx context.Context, r slack.OutboxRow) (bool, error) {
	return o.s.EnqueueSlack(ctx, store.SlackOutboxRow(r))
}

func (o slackOutbox) DueSlack(ctx context.Context, now time.Time, limit int) ([]slack.OutboxRow, error) {
	rows, err := o.s.DueSlack(ctx, now, limit)
	out := make([]slack.OutboxRow, len(rows))
	for i, r := range rows {
		out[i] = slack.OutboxRow(r)
	}
	return out, err
}

func (o slackOutbox) ClaimSlack(ctx context.Context, c slack.Claim) (bool, error) {
	sc := store.SlackClaim{Batch: c.Batch, Token: c.Token, Now: c.Now, Until: c.Until}
	for _, r := range c.Rows {
		sc.Rows = append(sc.Rows, store.SlackClaimRow(r))
	}
	return o.s.ClaimSlack(ctx, sc)
}

func (o slackOutbox) RetrySlack(ctx context.Context, ids []int64, token, status string, next time.Time, lastError string) error {
	return o.s.RetrySlack(ctx, ids, token, status, next, lastError)
}

func (o slackOutbox) MarkSlackSent(ctx context.Context, d slack.Delivery) error {
	sd := store.SlackDelivery{IDs: d.IDs, Channel: d.Channel, TS: d.TS, At: d.At}
	if d.Thread != nil {
		t := store.SlackThread(*d.Thread)
		sd.Thread = &t
	}
	if d.Approval != nil {
		m := store.SlackApprovalMessage(*d.Approval)
		sd.Approval = &m
	}
	return o.s.MarkSlackSent(ctx, sd)
}

func (o slackOutbox) SaveSlackThread(ctx context.Context, t slack.Thread) error {
	return o.s.SaveSlackThread(ctx, store.SlackThread(t))
}

func (o slackOutbox) GetSlackThread(ctx context.Context, id int64) (slack.Thread, bool, error) {
	t, ok, err := o.s.GetSlackThread(ctx, id)
	return slack.Thread(t), ok, err
}

func (o slackOutbox) SlackChannelID(ctx context.Context, route string) (string, bool, error) {
	return o.s.SlackChannelID(ctx, route)
}

func (o slackOutbox) GetSlackApprovalMessage(ctx context.Context, id int64) (slack.ApprovalMessage, bool, error) {
	m, ok, err := o.s.GetSlackApprovalMessage(ctx, id)
	return slack.ApprovalMessage(m), ok, err
}
