// Package store is secopsd's persistence layer: the SQL implementation of
// incident.Store plus the event log, on an embedded SQLite file or on
// PostgreSQL, with embedded, versioned migrations.
//
// Both backends share one implementation and differ only where their SQL
// dialects do. Every write that touches an incident's timeline runs in one
// transaction that holds the incident row locked, seals the new entries onto
// the hash chain (incident.Seal) and moves the incident's recorded head, so
// the chain stays consistent across goroutines and replicas. The database
// enforces the remaining invariants itself: a partial unique index keeps at
// most one unresolved incident per fingerprint, and triggers reject UPDATE
// and DELETE on the timeline.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// Store is the whole persistence API of secopsd: incidents with their
// timelines, the event log, and the life cycle of the database itself.
type Store interface {
	incident.Store
	// InsertEvents stores events in one transaction: all of them or, on any
	// error (such as an id that already exists), none.
	InsertEvents(ctx context.Context, evs []event.Event) error
	// ListEvents returns the events that match f, newest first.
	ListEvents(ctx context.Context, f EventFilter) ([]event.Event, error)
	// EventLog is the ingestion side of the event log (events.go).
	EventLog
	// Store of internal/auth: API keys, nonces and shared secrets
	// (apikeys.go, nonces.go).
	auth.Store
	// RemediationStore holds playbook runs, step executions and approval
	// requests (remediation.go).
	incident.RemediationStore
	// ForwardCursors are the event forwarders' positions (forward.go).
	ForwardCursors
	// RetentionLog purges events and nonces and keeps the purge log
	// (retention.go).
	RetentionLog
	// CorrelationStore keeps the state of correlation rules (correlation.go).
	CorrelationStore
	// SilenceStore keeps the silences created at run time (silences.go).
	incident.SilenceStore
	// SlackOutbox is the Slack notifier's outbox and threads (slack.go).
	SlackOutbox
	// UISessionStore keeps the web UI's sessions (ui_sessions.go).
	UISessionStore
	// Migrate applies the pending schema migrations and reports how many
	// ran; with none pending it does nothing.
	Migrate(ctx context.Context) (applied int, err error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Backend names the backend: "sqlite" or "postgres".
	Backend() string
	// Close releases the store's connections; closing again does nothing.
	Close() error
}

// EventFilter selects events for ListEvents. Zero fields do not filter.
type EventFilter struct {
	Since       time.Time // at or after
	Until       time.Time // before
	Monitor     string
	Fingerprint string
	Kind        string
	Limit       int            // 0 means DefaultLimit; capped at MaxLimit
	Source      string         // the event's source (an application)
	MinSeverity event.Severity // at least this severity
	Before      *EventCursor   // only events after this one, newest first (paging)
}

// Listing limits shared by ListIncidents and ListEvents.
const (
	// DefaultLimit is how many rows a listing returns when no limit is set.
	DefaultLimit = 100
	// MaxLimit is the most rows one listing returns.
	MaxLimit = 1000
)

// Backend names reported by Store.Backend.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Options tune Open.
type Options struct {
	// MaxConns bounds the connection pool; 0 means the backend's default.
	MaxConns int
	// Logger receives migration and store messages; nil discards them.
	Logger *slog.Logger
	// Migrate applies pending migrations while opening.
	Migrate bool
	// Now tells the time stamped into events' received_at; nil means
	// time.Now.
	Now func() time.Time
}

func (o *Options) validate() error {
	if o.MaxConns < 0 {
		return fmt.Errorf("max conns %d is negative: %w", o.MaxConns, ErrInvalid)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// ErrUnsupportedScheme is returned by Open for a URL whose scheme names no
// known backend.
var ErrUnsupportedScheme = errors.New("unsupported store URL scheme")

// ErrInvalid is wrapped by errors about values a store refuses to write,
// such as an incident without a fingerprint or an unknown status.
var ErrInvalid = errors.New("invalid value")

// ErrDuplicateEvent is wrapped by InsertEvents when an event id is already
// stored (or repeated within the batch).
var ErrDuplicateEvent = errors.New("duplicate event id")

// acceptedSchemes is quoted by errors about a URL's scheme.
const acceptedSchemes = "sqlite://PATH, postgres://… or postgresql://…"

// Open connects to the store named by rawURL, choosing the backend by its
// scheme: sqlite://./relative/path.db, sqlite:///absolute/path.db, or a
// postgres:// (postgresql://) URL as understood by pgx. With opts.Migrate
// it applies pending migrations before returning.
func Open(ctx context.Context, rawURL string, opts Options) (Store, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		// The URL is not echoed: a malformed one may still hold a password.
		return nil, fmt.Errorf("open store: URL has no scheme:// prefix (accepted: %s): %w", acceptedSchemes, ErrUnsupportedScheme)
	}
	var (
		s   Store
		err error
	)
	switch strings.ToLower(scheme) {
	case "sqlite":
		s, err = openSQLite(ctx, rest, opts)
	case "postgres", "postgresql":
		s, err = openPostgres(ctx, rawURL, opts)
	default:
		return nil, fmt.Errorf("open store: scheme %q (accepted: %s): %w", scheme, acceptedSchemes, ErrUnsupportedScheme)
	}
	if err != nil {
		return nil, err
	}
	if opts.Migrate {
		n, err := s.Migrate(ctx)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		opts.Logger.Debug("store migrated", "backend", s.Backend(), "applied", n)
	}
	return s, nil
}

// RedactURL returns rawURL with any password (in the user information or as
// a password or sslpassword query parameter) masked, for logs and errors. A
// URL that does not parse is replaced entirely.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	q := u.Query()
	changed := false
	for k := range q {
		if lk := strings.ToLower(k); lk == "password" || lk == "sslpassword" {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// oneLineError flattens a wrapped error's message onto one line, dropping
// repeated lines (pgx reports each connection attempt on its own line),
// while keeping the error available to errors.Is and errors.As.
type oneLineError struct{ err error }

func (e oneLineError) Error() string { return oneLine(e.err.Error()) }

func (e oneLineError) Unwrap() error { return e.err }

func oneLine(msg string) string {
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		parts = append(parts, l)
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), ":; ", ": ")
}

// clampLimit applies DefaultLimit and MaxLimit to a requested limit.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	default:
		return n
	}
}
