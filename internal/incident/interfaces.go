package incident

import (
	"context"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// TierInput is what the tier policy sees about an incident.
type TierInput struct {
	Severity   event.Severity    `json:"severity"`
	Category   string            `json:"category"`
	Monitor    string            `json:"monitor"`
	Kind       string            `json:"kind"`
	Attributes map[string]string `json:"attributes"`
}

// Tierer chooses an incident's tier (policies/tier.rego in production).
type Tierer interface {
	Tier(ctx context.Context, in TierInput) (Tier, error)
}

// Notification tells on-call people that something happened to an incident.
type Notification struct {
	Incident Incident
	Entry    TimelineEntry
}

// Notifier delivers notifications. It reports whether a failed delivery is
// worth retrying.
type Notifier interface {
	Notify(ctx context.Context, n Notification) (retry bool, err error)
}

// Clock tells the time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
