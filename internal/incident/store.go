package incident

import (
	"context"
	"errors"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// ErrNotFound is returned by a Store when the incident asked for does not exist.
var ErrNotFound = errors.New("incident not found")

// ErrDuplicateOpen is returned by Store.CreateIncident when an unresolved
// incident with the same fingerprint already exists.
var ErrDuplicateOpen = errors.New("an unresolved incident with this fingerprint exists")

// Filter selects incidents for listing. Zero fields do not filter.
type Filter struct {
	Status      Status
	Fingerprint string
	Monitor     string
	// Severities keeps only incidents of one of these severities (an
	// exact match; event.SeverityUnknown may be listed). Empty does not
	// filter.
	Severities []event.Severity
	// Tier keeps only incidents of this tier.
	Tier     Tier
	Since    time.Time // opened at or after
	Until    time.Time // opened before
	Limit    int       // 0 means the store's default
	BeforeID int64     // pagination: only incidents with a smaller id
}

// MutateFunc changes an incident inside a store transaction and returns the
// timeline entries to append in the same transaction. It must not do I/O: it
// may be called with the row locked.
type MutateFunc func(inc *Incident) ([]Entry, error)

// Store is what the engine needs from persistence. Every method that writes a
// timeline entry does so atomically with the incident row, maintaining the
// per-incident hash chain (see Seal).
type Store interface {
	// CreateIncident inserts a new unresolved incident with its first
	// timeline entry. If an unresolved incident with the same fingerprint
	// exists it returns that incident and ErrDuplicateOpen.
	CreateIncident(ctx context.Context, inc Incident, first Entry) (Incident, error)
	// OpenIncidentByFingerprint returns the unresolved incident with this
	// fingerprint, or ErrNotFound.
	OpenIncidentByFingerprint(ctx context.Context, fingerprint string) (Incident, error)
	// UnresolvedIncidents returns every unresolved incident raised by monitor.
	UnresolvedIncidents(ctx context.Context, monitor string) ([]Incident, error)
	// MutateIncident locks the incident, applies fn and appends the entries it
	// returns. Status, severity, tier, counters and timestamps are written back.
	MutateIncident(ctx context.Context, id int64, fn MutateFunc) (Incident, []TimelineEntry, error)
	// GetIncident returns one incident or ErrNotFound.
	GetIncident(ctx context.Context, id int64) (Incident, error)
	// ListIncidents returns incidents, newest first.
	ListIncidents(ctx context.Context, f Filter) ([]Incident, error)
	// Timeline returns an incident's entries in sequence order.
	Timeline(ctx context.Context, id int64) ([]TimelineEntry, error)
}
