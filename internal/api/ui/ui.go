// Package ui is secopsd's auditor web UI: server-rendered pages (html/template,
// one embedded stylesheet, no JavaScript) over incidents, their hash-chained
// timelines with a chain-verification badge, and stored events, under /ui/.
//
// People sign in with a viewer or admin API key, which is verified once and
// exchanged for a session: a random 32-byte id in an HttpOnly, SameSite=Strict
// cookie (Secure over TLS), of which only the SHA-256 is stored, ending after
// an idle period and at an absolute deadline, and at once when its key is
// revoked or expires. Every form carries an anti-forgery token checked in
// constant time; the sign-in form uses a double-submit cookie. Viewers see;
// admins also acknowledge, resolve, approve and deny, as "ui:<key name>".
// Sign-ins, failed sign-ins and sign-outs are recorded as events, admin
// actions as timeline entries.
//
// The package declares the interfaces it needs; internal/app implements them
// over the store, the authenticator, the incident engine and the remediator.
package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// IncidentReader reads incidents and their timelines.
type IncidentReader interface {
	ListIncidents(ctx context.Context, f incident.Filter) ([]incident.Incident, error)
	GetIncident(ctx context.Context, id int64) (incident.Incident, error)
	Timeline(ctx context.Context, id int64) ([]incident.TimelineEntry, error)
}

// EventQuery selects stored events, newest first.
type EventQuery struct {
	Since, Until time.Time // at or after Since, before Until; zero: no bound
	MinSeverity  event.Severity
	Source, Kind string
	Limit        int
	// Before continues a listing after an event (its time and id); zero
	// for the first page.
	BeforeTime time.Time
	BeforeID   string
}

// EventSearcher lists stored events.
type EventSearcher interface {
	SearchEvents(ctx context.Context, q EventQuery) ([]event.Event, error)
}

// Authenticator verifies an API key given in the sign-in form (the
// daemon's auth.Authenticator).
type Authenticator interface {
	Authenticate(r *http.Request, token string) (auth.Principal, error)
}

// KeyReader reads an API key's current state, to end the sessions of
// revoked and expired keys.
type KeyReader interface {
	GetAPIKey(ctx context.Context, id string) (auth.Key, error)
}

// Actions are the human workflow actions an admin may take.
type Actions interface {
	Acknowledge(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)
	Resolve(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)
}

// Remediation shows an incident's playbook runs and approval requests and
// decides approvals.
type Remediation interface {
	// Runs lists an incident's playbook runs, oldest first.
	Runs(ctx context.Context, incidentID int64) ([]incident.PlaybookRun, error)
	// IncidentApprovals lists an incident's approval requests, oldest
	// first.
	IncidentApprovals(ctx context.Context, incidentID int64) ([]incident.Approval, error)
	// GetApproval returns one approval request.
	GetApproval(ctx context.Context, id int64) (incident.Approval, error)
	// Decide approves or denies a pending request as actor.
	Decide(ctx context.Context, id int64, approve bool, actor, comment string) (incident.Approval, error)
}

// Exporter writes one incident with its timeline and chain hashes in
// format (json or csv), for offline verification.
type Exporter interface {
	ExportIncident(ctx context.Context, id int64, format string, w io.Writer) error
}

// Recorder stores the UI's own security events (sign-ins, failed sign-ins,
// sign-outs).
type Recorder interface {
	Record(ctx context.Context, evs ...event.Event) error
}

// Options configures the UI handler.
type Options struct {
	// Incidents, Sessions, Auth, Keys and Recorder are required.
	Incidents IncidentReader
	Sessions  SessionStore
	Auth      Authenticator
	Keys      KeyReader
	Recorder  Recorder
	// Events serves the events search; nil hides it.
	Events EventSearcher
	// Actions serves acknowledge and resolve; nil hides them.
	Actions Actions
	// Remediation shows runs and approvals and decides approvals; nil
	// hides them.
	Remediation Remediation
	// Exporter serves the incident exports; nil hides them.
	Exporter Exporter
	// SessionIdle ends sessions unused for this long; SessionMax ends
	// them this long after sign-in. Both required.
	SessionIdle, SessionMax time.Duration
	// KeyCheckTTL is how long a key's state is trusted before it is read
	// again (the authenticator's cache TTL): a revoked key's sessions end
	// within it. 0 reads it on every request.
	KeyCheckTTL time.Duration
	// SecureCookies marks cookies Secure on plain HTTP too (behind a TLS
	// proxy); over TLS they always are.
	SecureCookies bool
	// PageSize is how many incidents or events a page lists; 0 means
	// DefaultPageSize.
	PageSize int
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) validate() error {
	var errs []error
	for name, missing := range map[string]bool{
		"Incidents": o.Incidents == nil, "Sessions": o.Sessions == nil, "Auth": o.Auth == nil,
		"Keys": o.Keys == nil, "Recorder": o.Recorder == nil,
	} {
		if missing {
			errs = append(errs, fmt.Errorf("ui: %s is required", name))
		}
	}
	if o.SessionIdle <= 0 || o.SessionMax <= 0 {
		errs = append(errs, errors.New("ui: SessionIdle and SessionMax must be positive"))
	}
	if o.KeyCheckTTL < 0 {
		errs = append(errs, errors.New("ui: KeyCheckTTL must not be negative"))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return errors.Join(errs...)
}

// Handler serves the UI under /ui/.
type Handler struct {
	opts  Options
	mux   *http.ServeMux
	pages *pages
	keys  *keyCache
}

// New returns the UI handler; mount it at /ui/.
func New(opts Options) (*Handler, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, pages: p, keys: newKeyCache()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/static/ui.css", serveCSS)
	mux.HandleFunc("GET /ui/login", h.loginPage)
	mux.HandleFunc("POST /ui/login", h.login)
	mux.Handle("POST /ui/logout", h.session(auth.RoleViewer, true, h.logout))
	mux.Handle("GET /ui/{$}", http.RedirectHandler("/ui/incidents", http.StatusSeeOther))
	mux.Handle("GET /ui/incidents", h.session(auth.RoleViewer, false, h.incidents))
	mux.Handle("GET /ui/incidents/{id}", h.session(auth.RoleViewer, false, h.incident))
	if opts.Exporter != nil {
		mux.Handle("GET /ui/incidents/{id}/export", h.session(auth.RoleViewer, false, h.export))
	}
	if opts.Events != nil {
		mux.Handle("GET /ui/events", h.session(auth.RoleViewer, false, h.events))
	}
	if opts.Actions != nil {
		mux.Handle("POST /ui/incidents/{id}/ack", h.session(auth.RoleAdmin, true, h.act("ack")))
		mux.Handle("POST /ui/incidents/{id}/resolve", h.session(auth.RoleAdmin, true, h.act("resolve")))
	}
	if opts.Remediation != nil {
		mux.Handle("POST /ui/approvals/{id}/approve", h.session(auth.RoleAdmin, true, h.decide(true)))
		mux.Handle("POST /ui/approvals/{id}/deny", h.session(auth.RoleAdmin, true, h.decide(false)))
	}
	mux.HandleFunc("/ui/", h.notFound)
	h.mux = mux
	return h, nil
}

// ServeHTTP serves one UI request with the UI's security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SecurityHeaders(w, r)
	h.mux.ServeHTTP(w, r)
}

// CSP is the UI's content security policy: its own stylesheet and images,
// forms posting to itself, no scripts, no framing, no plugins.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// SecurityHeaders sets the headers secopsd's own headers monitor demands
// of a web application on a UI response: a CSP without 'unsafe-inline',
// HSTS over TLS, nosniff, no framing, a strict referrer policy, no
// powerful features, and no caching of pages that show audit data.
func SecurityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}
