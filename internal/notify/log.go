// Package notify holds incident notifiers. This file is the log notifier,
// which needs no external service: every notification becomes one structured
// log line. Chat notifiers (Slack) live in sub-packages.
package notify

import (
	"context"
	"log/slog"

	"github.com/secopsd/secopsd/internal/incident"
)

var _ incident.Notifier = (*Log)(nil)

// Log writes notifications to a slog.Logger.
type Log struct {
	Logger *slog.Logger
}

// Notify logs the notification. It never fails.
func (l *Log) Notify(_ context.Context, n incident.Notification) (bool, error) {
	l.Logger.Info("incident notification",
		"incident", n.Incident.ID,
		"title", n.Incident.Title,
		"status", string(n.Incident.Status),
		"severity", n.Incident.Severity.String(),
		"tier", string(n.Incident.Tier),
		"monitor", n.Incident.Monitor,
		"entry", n.Entry.Kind,
		"seq", n.Entry.Seq,
	)
	return false, nil
}
