// Package api serves secopsd's HTTP interface: health and readiness probes,
// Prometheus metrics and the JSON API over incidents and their timelines.
// Every response carries the security headers secopsd's own header audit
// demands.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// IncidentReader is what the API needs to read incidents.
type IncidentReader interface {
	ListIncidents(ctx context.Context, f incident.Filter) ([]incident.Incident, error)
	GetIncident(ctx context.Context, id int64) (incident.Incident, error)
	Timeline(ctx context.Context, id int64) ([]incident.TimelineEntry, error)
}

// Options configures the API handler.
type Options struct {
	Incidents IncidentReader
	// Ready reports whether the daemon can serve (the store is reachable).
	Ready func(ctx context.Context) error
	// Metrics serves /metrics; nil disables the route.
	Metrics http.Handler
	Logger  *slog.Logger
	// Auth guards every /api/ route (and /metrics, and the probes when
	// ProtectHealth is set); required.
	Auth Guard
	// ProtectHealth requires a viewer key for /healthz and /readyz.
	ProtectHealth bool
	// PublicMetrics serves /metrics without a key.
	PublicMetrics bool
	// Ingest serves POST /api/v1/events (role ingest); nil disables it.
	Ingest EventIngester
	// Events serves GET /api/v1/events (role viewer); nil disables it.
	Events EventReader
	// Actions serves POST /api/v1/incidents/{id}/ack, /resolve, /reopen
	// and /notes (role admin); nil disables them (incident_actions.go).
	Actions IncidentActions
	// Silences serves GET /api/v1/silences (viewer), POST
	// /api/v1/silences and POST /api/v1/silences/{id}/expire (admin);
	// nil disables them.
	Silences SilenceManager
	// Remediation serves the approval and playbook-run routes; nil
	// disables them.
	Remediation Remediation
	// UI is the auditor web UI (internal/api/ui), mounted at /ui/ with "/"
	// redirecting to it; nil leaves both unrouted.
	UI http.Handler
	// Slack serves /slack/ (interactions and the slash command) outside
	// the API-key guard: it authenticates Slack's request signatures
	// itself. Nil disables the routes.
	Slack http.Handler
	// Exports serves GET /api/v1/incidents/{id}/export and
	// GET /api/v1/export (role viewer); nil disables them (export.go).
	Exports Exporter
}

func (o *Options) validate() error {
	if o.Incidents == nil {
		return errors.New("api: Incidents is required")
	}
	if o.Ready == nil {
		return errors.New("api: Ready is required")
	}
	if o.Auth == nil {
		return errors.New("api: Auth is required")
	}
	return nil
}

// IncidentDetail is an incident with its full timeline, as served by
// GET /api/v1/incidents/{id} and printed by `secopsd incidents show --json`.
type IncidentDetail struct {
	incident.Incident
	Timeline []incident.TimelineEntry `json:"timeline"`
}

// NewHandler returns the daemon's root HTTP handler.
func NewHandler(opts Options) (http.Handler, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{opts: opts, logger: logger}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", opts.probe(h.healthz))
	mux.Handle("GET /readyz", opts.probe(h.readyz))
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.metrics())
	}
	mux.Handle("GET /api/v1/incidents", opts.protect(auth.RoleViewer, h.listIncidents))
	mux.Handle("GET /api/v1/incidents/{id}", opts.protect(auth.RoleViewer, h.getIncident))
	if opts.Ingest != nil {
		mux.Handle("POST /api/v1/events", opts.protect(auth.RoleIngest, h.ingestEvents))
	}
	if opts.Events != nil {
		mux.Handle("GET /api/v1/events", opts.protect(auth.RoleViewer, h.listEvents))
	}
	h.routeRemediation(mux)
	h.routeActions(mux)
	if opts.Slack != nil {
		mux.Handle("/slack/", opts.Slack)
	}
	h.routeExports(mux)
	mux.Handle("/api/", opts.protect(auth.RoleViewer, noRoute))
	if opts.UI != nil {
		mux.Handle("/ui/", opts.UI)
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/incidents", http.StatusSeeOther))
	}
	mux.HandleFunc("/", noRoute)
	return SecurityHeaders(mux), nil
}

type handler struct {
	opts   Options
	logger *slog.Logger
}

// SecurityHeaders sets the response headers that secopsd's own header audit
// requires of any web application. The API serves no scripts, styles or
// frames, so the content security policy denies everything.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
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
		next.ServeHTTP(w, r)
	})
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := h.opts.Ready(ctx); err != nil {
		h.logger.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "store unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *handler) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := incident.Filter{Monitor: q.Get("monitor"), Fingerprint: q.Get("fingerprint")}
	if s := q.Get("status"); s != "" {
		f.Status = incident.Status(s)
		if !f.Status.Valid() {
			writeError(w, http.StatusBadRequest, "status: want one of open, acknowledged, resolved")
			return
		}
	}
	if s := q.Get("severity"); s != "" {
		sev, err := event.ParseSeverity(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "severity: want one of info, low, medium, high, critical")
			return
		}
		f.Severities = []event.Severity{sev}
	}
	if s := q.Get("tier"); s != "" {
		f.Tier = incident.Tier(strings.ToUpper(s))
		if !f.Tier.Valid() {
			writeError(w, http.StatusBadRequest, "tier: want one of MINOR, MAJOR, CRITICAL")
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit: want an integer from 1 to 1000")
			return
		}
		f.Limit = n
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "before: want a positive incident id")
			return
		}
		f.BeforeID = n
	}
	list, err := h.opts.Incidents.ListIncidents(r.Context(), f)
	if err != nil {
		h.internalError(w, "list incidents", err)
		return
	}
	if list == nil {
		list = []incident.Incident{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *handler) getIncident(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "id: want a positive integer")
		return
	}
	inc, err := h.opts.Incidents.GetIncident(r.Context(), id)
	if errors.Is(err, incident.ErrNotFound) {
		writeError(w, http.StatusNotFound, "incident "+strconv.FormatInt(id, 10)+" not found")
		return
	}
	if err != nil {
		h.internalError(w, "get incident", err)
		return
	}
	tl, err := h.opts.Incidents.Timeline(r.Context(), id)
	if err != nil {
		h.internalError(w, "read timeline", err)
		return
	}
	if tl == nil {
		tl = []incident.TimelineEntry{}
	}
	writeJSON(w, http.StatusOK, IncidentDetail{Incident: inc, Timeline: tl})
}

func (h *handler) internalError(w http.ResponseWriter, what string, err error) {
	h.logger.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, what+" failed")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
