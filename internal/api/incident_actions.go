package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/incident"
)

// IncidentActions are the human workflow on incidents (the incident
// engine): each action appends one timeline entry naming its actor.
type IncidentActions interface {
	Acknowledge(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)
	Resolve(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)
	Reopen(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)
	AddNote(ctx context.Context, id int64, actor, text string) (incident.Incident, incident.TimelineEntry, error)
}

// SilenceManager lists, creates and expires silences (*incident.Silences).
type SilenceManager interface {
	List(ctx context.Context, all bool) ([]incident.Silence, error)
	Create(ctx context.Context, s incident.Silence) (incident.Silence, error)
	Expire(ctx context.Context, id int64, actor string) (incident.Silence, error)
	// Now is the time the silences are checked against; a silence given
	// a duration starts then.
	Now() time.Time
}

var (
	_ IncidentActions = (*incident.Engine)(nil)
	_ SilenceManager  = (*incident.Silences)(nil)
)

// ActionResult is the answer to an incident action: the incident as it is
// now and the timeline entry the action appended.
type ActionResult struct {
	Incident incident.Incident      `json:"incident"`
	Entry    incident.TimelineEntry `json:"entry"`
}

// ActionRequest is the body of POST /api/v1/incidents/{id}/ack, /resolve
// and /reopen (optional: an empty body means no comment).
type ActionRequest struct {
	Comment string `json:"comment"`
}

// NoteRequest is the body of POST /api/v1/incidents/{id}/notes.
type NoteRequest struct {
	Text string `json:"text"`
}

// SilenceRequest is the body of POST /api/v1/silences: matchers, a comment
// and when the silence ends — ends_at, or a duration (such as "2h" or
// "1d") from starts_at, which defaults to now.
type SilenceRequest struct {
	Monitors   []string  `json:"monitors"`
	Categories []string  `json:"categories"`
	StartsAt   time.Time `json:"starts_at"`
	EndsAt     time.Time `json:"ends_at"`
	Duration   string    `json:"duration"`
	Comment    string    `json:"comment"`
}

// maxNoteBody bounds the body of an incident action or silence request:
// a note of incident.MaxNoteBytes may grow six-fold when JSON escapes it.
const maxNoteBody = 8 * incident.MaxNoteBytes

// routeActions registers the incident action and silence routes that
// Options enables.
func (h *handler) routeActions(mux *http.ServeMux) {
	o := &h.opts
	if o.Actions != nil {
		mux.Handle("POST /api/v1/incidents/{id}/ack", o.protect(auth.RoleAdmin, h.incidentAction("acknowledge", o.Actions.Acknowledge)))
		mux.Handle("POST /api/v1/incidents/{id}/resolve", o.protect(auth.RoleAdmin, h.incidentAction("resolve", o.Actions.Resolve)))
		mux.Handle("POST /api/v1/incidents/{id}/reopen", o.protect(auth.RoleAdmin, h.incidentAction("reopen", o.Actions.Reopen)))
		mux.Handle("POST /api/v1/incidents/{id}/notes", o.protect(auth.RoleAdmin, h.addNote))
	}
	if o.Silences != nil {
		mux.Handle("GET /api/v1/silences", o.protect(auth.RoleViewer, h.listSilences))
		mux.Handle("POST /api/v1/silences", o.protect(auth.RoleAdmin, h.createSilence))
		mux.Handle("POST /api/v1/silences/{id}/expire", o.protect(auth.RoleAdmin, h.expireSilence))
	}
}

type actionFunc func(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)

func (h *handler) incidentAction(name string, act actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		actor := Actor(r.Context())
		var req ActionRequest
		if !decodeBody(w, r, &req, true) {
			return
		}
		inc, entry, err := act(r.Context(), id, actor, req.Comment)
		if err != nil {
			h.actionError(w, name+" incident", id, err)
			return
		}
		writeJSON(w, http.StatusOK, ActionResult{Incident: inc, Entry: entry})
	}
}

func (h *handler) addNote(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	actor := Actor(r.Context())
	var req NoteRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	inc, entry, err := h.opts.Actions.AddNote(r.Context(), id, actor, req.Text)
	if err != nil {
		h.actionError(w, "add note to incident", id, err)
		return
	}
	writeJSON(w, http.StatusCreated, ActionResult{Incident: inc, Entry: entry})
}

func (h *handler) listSilences(w http.ResponseWriter, r *http.Request) {
	all := false
	switch v := r.URL.Query().Get("all"); v {
	case "", "false", "0":
	case "true", "1":
		all = true
	default:
		writeError(w, http.StatusBadRequest, "all: want true or false")
		return
	}
	list, err := h.opts.Silences.List(r.Context(), all)
	if err != nil {
		h.internalError(w, "list silences", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *handler) createSilence(w http.ResponseWriter, r *http.Request) {
	actor := Actor(r.Context())
	var req SilenceRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	sil := incident.Silence{Monitors: req.Monitors, Categories: req.Categories, StartsAt: req.StartsAt, EndsAt: req.EndsAt,
		Comment: req.Comment, CreatedBy: actor}
	switch {
	case req.Duration != "" && !req.EndsAt.IsZero():
		writeError(w, http.StatusBadRequest, "give ends_at or duration, not both")
		return
	case req.Duration != "":
		d, err := parseSilenceDuration(req.Duration)
		if err != nil {
			writeError(w, http.StatusBadRequest, "duration: "+err.Error())
			return
		}
		start := req.StartsAt
		if start.IsZero() {
			start = h.opts.Silences.Now()
		}
		sil.StartsAt, sil.EndsAt = start, start.Add(d)
	case req.EndsAt.IsZero():
		writeError(w, http.StatusBadRequest, "ends_at or duration is required")
		return
	}
	created, err := h.opts.Silences.Create(r.Context(), sil)
	if err != nil {
		h.actionError(w, "create silence", 0, err)
		return
	}
	writeJSON(w, http.StatusCreated, created)
}

func (h *handler) expireSilence(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	actor := Actor(r.Context())
	sil, err := h.opts.Silences.Expire(r.Context(), id, actor)
	if err != nil {
		h.actionError(w, "expire silence", id, err)
		return
	}
	writeJSON(w, http.StatusOK, sil)
}

// parseSilenceDuration parses a Go duration ("90m", "2h") or whole days
// ("3d", "1d12h").
func parseSilenceDuration(s string) (time.Duration, error) {
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 366 {
			return 0, fmt.Errorf("%q: want a duration such as 90m, 2h or 3d", s)
		}
		days, rest = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 90m, 2h or 3d", s)
		}
	}
	if total := days + d; total > 0 {
		return total, nil
	}
	return 0, fmt.Errorf("%q: want a positive duration", s)
}

// decodeBody decodes a JSON object of known fields into v, answering 400
// (or 413) naming the problem. An empty body is accepted when optional.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNoteBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", maxNoteBody))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "body: cannot be read")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, "body: want a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body: want exactly one JSON object")
		return false
	}
	return true
}

// jsonProblem describes a JSON decoding error without echoing the body.
func jsonProblem(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		tim *time.ParseError
	)
	switch {
	case errors.As(err, &tim):
		return "invalid time (want RFC 3339, such as 2026-12-06T02:00:00Z)"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s: want %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	default:
		return "want a JSON object"
	}
}

// actionError answers an action's error: 400 for bad input, 404 for an
// unknown incident or silence, 409 for an action the current state does
// not allow, 500 otherwise (logged, not shown).
func (h *handler) actionError(w http.ResponseWriter, what string, id int64, err error) {
	var (
		ie *incident.InputError
		te *incident.TransitionError
	)
	switch {
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, ie.Error())
	case errors.As(err, &te):
		writeError(w, http.StatusConflict, te.Error())
	case errors.Is(err, incident.ErrInvalidSilence):
		writeError(w, http.StatusBadRequest, strings.ReplaceAll(err.Error(), "\n", "; "))
	case errors.Is(err, incident.ErrNotFound):
		writeError(w, http.StatusNotFound, "incident "+strconv.FormatInt(id, 10)+" not found")
	case errors.Is(err, incident.ErrSilenceNotFound):
		writeError(w, http.StatusNotFound, "silence "+strconv.FormatInt(id, 10)+" not found")
	case errors.Is(err, incident.ErrSilenceEnded):
		writeError(w, http.StatusConflict, "silence "+strconv.FormatInt(id, 10)+" has already ended")
	default:
		h.internalError(w, what, err)
	}
}
