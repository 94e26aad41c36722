package ui

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// DefaultPageSize is how many incidents or events one page shows.
const DefaultPageSize = 50

func (h *Handler) pageSize() int {
	if h.opts.PageSize > 0 {
		return h.opts.PageSize
	}
	return DefaultPageSize
}

// incidentsView is the incident list's data.
type incidentsView struct {
	Query     IncidentQuery
	Form      url.Values
	Error     string
	Incidents []incident.Incident
	Next      string
}

func (h *Handler) incidents(w http.ResponseWriter, r *http.Request, v *viewer) {
	view := incidentsView{Form: r.URL.Query()}
	q, err := ParseIncidentQuery(r.URL.Query())
	if err != nil {
		view.Error = err.Error()
		h.render(w, r, http.StatusBadRequest, "incidents", v, view)
		return
	}
	view.Query = q
	list, next, err := h.listIncidents(r, q)
	if err != nil {
		h.fail(w, r, v, "list incidents", err)
		return
	}
	view.Incidents = list
	if next > 0 {
		vals := q.Values()
		vals.Set("before", strconv.FormatInt(next, 10))
		view.Next = "/ui/incidents?" + vals.Encode()
	}
	h.render(w, r, http.StatusOK, "incidents", v, view)
}

// listIncidents returns one page of the incidents that match q, and the
// before cursor of the next page (0 when there is none). The store applies
// every filter; one more incident than a page is read to know whether
// another page follows.
func (h *Handler) listIncidents(r *http.Request, q IncidentQuery) ([]incident.Incident, int64, error) {
	size := h.pageSize()
	f := incident.Filter{Status: q.Status, Tier: q.Tier, Monitor: q.Monitor,
		Since: q.Since, Until: q.Until, BeforeID: q.Before, Limit: size + 1}
	if q.HasSeverity {
		f.Severities = []event.Severity{q.Severity}
	}
	list, err := h.opts.Incidents.ListIncidents(r.Context(), f)
	if err != nil {
		return nil, 0, err
	}
	if len(list) > size {
		list = list[:size]
		return list, list[size-1].ID, nil
	}
	return list, 0, nil
}

// incidentView is the incident page's data.
type incidentView struct {
	Incident    incident.Incident
	ChainOK     bool
	ChainError  string
	Entries     []entryView
	SLA         []slaView
	Runs        []incident.PlaybookRun
	Approvals   []incident.Approval
	CanAct      bool
	CanAck      bool
	CanResolve  bool
	CanDecide   bool
	Exports     bool
	Remediation bool
	Done        string
}

func (h *Handler) incident(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, ok := h.pathID(w, r, v)
	if !ok {
		return
	}
	ctx := r.Context()
	inc, err := h.opts.Incidents.GetIncident(ctx, id)
	if errors.Is(err, incident.ErrNotFound) {
		h.errorPage(w, r, v, http.StatusNotFound, "Incident "+strconv.FormatInt(id, 10)+" does not exist.")
		return
	}
	if err != nil {
		h.fail(w, r, v, "read incident", err)
		return
	}
	tl, err := h.opts.Incidents.Timeline(ctx, id)
	if err != nil {
		h.fail(w, r, v, "read timeline", err)
		return
	}
	view := incidentView{Incident: inc, ChainOK: true, Exports: h.opts.Exporter != nil, Remediation: h.opts.Remediation != nil}
	if err := incident.VerifyChain(inc, tl); err != nil {
		view.ChainOK, view.ChainError = false, err.Error()
	}
	view.Entries = entryViews(tl)
	view.SLA = slaViews(inc, tl, h.opts.Now())
	if h.opts.Remediation != nil {
		if view.Runs, err = h.opts.Remediation.Runs(ctx, id); err != nil {
			h.fail(w, r, v, "read playbook runs", err)
			return
		}
		if view.Approvals, err = h.opts.Remediation.IncidentApprovals(ctx, id); err != nil {
			h.fail(w, r, v, "read approvals", err)
			return
		}
	}
	admin := v.IsAdmin()
	view.CanAct = admin && h.opts.Actions != nil
	view.CanAck = view.CanAct && inc.Status == incident.StatusOpen
	view.CanResolve = view.CanAct && inc.Status != incident.StatusResolved
	view.CanDecide = admin && h.opts.Remediation != nil
	switch d := r.URL.Query().Get("done"); d {
	case "acknowledged", "resolved", "approved", "denied":
		view.Done = d
	}
	h.render(w, r, http.StatusOK, "incident", v, view)
}

// act handles the admin forms ack and resolve.
func (h *Handler) act(action string) func(http.ResponseWriter, *http.Request, *viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *viewer) {
		id, ok := h.pathID(w, r, v)
		if !ok {
			return
		}
		comment := r.PostForm.Get("comment")
		var err error
		done := "acknowledged"
		if action == "ack" {
			_, _, err = h.opts.Actions.Acknowledge(r.Context(), id, v.Actor, comment)
		} else {
			done = "resolved"
			_, _, err = h.opts.Actions.Resolve(r.Context(), id, v.Actor, comment)
		}
		if h.actionError(w, r, v, action, err) {
			return
		}
		http.Redirect(w, r, "/ui/incidents/"+strconv.FormatInt(id, 10)+"?done="+done, http.StatusSeeOther)
	}
}

// decide handles the approve and deny forms.
func (h *Handler) decide(approve bool) func(http.ResponseWriter, *http.Request, *viewer) {
	return func(w http.ResponseWriter, r *http.Request, v *viewer) {
		id, ok := h.pathID(w, r, v)
		if !ok {
			return
		}
		a, err := h.opts.Remediation.Decide(r.Context(), id, approve, v.Actor, r.PostForm.Get("comment"))
		if h.actionError(w, r, v, "decide", err) {
			return
		}
		done := "denied"
		if approve {
			done = "approved"
		}
		http.Redirect(w, r, "/ui/incidents/"+strconv.FormatInt(a.IncidentID, 10)+"?done="+done, http.StatusSeeOther)
	}
}

// actionError answers a failed admin action and reports whether it did.
func (h *Handler) actionError(w http.ResponseWriter, r *http.Request, v *viewer, what string, err error) bool {
	var te *incident.TransitionError
	var ie *incident.InputError
	switch {
	case err == nil:
		return false
	case errors.As(err, &te):
		h.errorPage(w, r, v, http.StatusConflict, te.Error())
	case errors.As(err, &ie):
		h.errorPage(w, r, v, http.StatusBadRequest, ie.Error())
	case errors.Is(err, incident.ErrNotFound):
		h.errorPage(w, r, v, http.StatusNotFound, "No such incident or approval request.")
	case errors.Is(err, incident.ErrAlreadyDecided):
		h.errorPage(w, r, v, http.StatusConflict, "This approval request was decided already.")
	case errors.Is(err, incident.ErrNotApprover):
		h.errorPage(w, r, v, http.StatusForbidden, "You are not among the approvers of this request.")
	default:
		h.fail(w, r, v, what, err)
	}
	return true
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, ok := h.pathID(w, r, v)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	ctype := map[string]string{"json": "application/json; charset=utf-8", "csv": "text/csv; charset=utf-8"}[format]
	if ctype == "" {
		h.errorPage(w, r, v, http.StatusBadRequest, "format: want json or csv")
		return
	}
	var buf bytes.Buffer
	err := h.opts.Exporter.ExportIncident(r.Context(), id, format, &buf)
	if errors.Is(err, incident.ErrNotFound) {
		h.errorPage(w, r, v, http.StatusNotFound, "Incident "+strconv.FormatInt(id, 10)+" does not exist.")
		return
	}
	if err != nil {
		h.fail(w, r, v, "export incident", err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="incident-`+strconv.FormatInt(id, 10)+`.`+format+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = buf.WriteTo(w)
}

// eventsView is the events search's data.
type eventsView struct {
	Query  EventSearch
	Form   url.Values
	Error  string
	Events []event.Event
	Next   string
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request, v *viewer) {
	view := eventsView{Form: r.URL.Query()}
	q, err := ParseEventSearch(r.URL.Query())
	if err != nil {
		view.Error = err.Error()
		h.render(w, r, http.StatusBadRequest, "events", v, view)
		return
	}
	view.Query = q
	size := h.pageSize()
	evs, err := h.opts.Events.SearchEvents(r.Context(), EventQuery{
		Since: q.Since, Until: q.Until, MinSeverity: q.MinSeverity, Source: q.Source, Kind: q.Kind,
		Limit: size + 1, BeforeTime: q.BeforeTime, BeforeID: q.BeforeID,
	})
	if err != nil {
		h.fail(w, r, v, "search events", err)
		return
	}
	if len(evs) > size {
		evs = evs[:size]
		vals := q.Values()
		vals.Set("before", eventCursor(evs[size-1]))
		view.Next = "/ui/events?" + vals.Encode()
	}
	view.Events = evs
	h.render(w, r, http.StatusOK, "events", v, view)
}

// pathID parses the {id} path value, answering 400 when it is not a
// positive integer.
func (h *Handler) pathID(w http.ResponseWriter, r *http.Request, v *viewer) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		h.errorPage(w, r, v, http.StatusBadRequest, "The id in the address must be a positive whole number.")
		return 0, false
	}
	return id, true
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, nil, http.StatusNotFound, "There is no such page.")
}

// errorView is the error page's data.
type errorView struct {
	Status  int
	Message string
}

// errorPage answers status with a page showing msg, meant for the reader.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	h.render(w, r, status, "error", v, errorView{Status: status, Message: msg})
}

// fail logs an internal error and answers 500 without its details.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, v *viewer, what string, err error) {
	h.opts.Logger.Error("ui: "+what, "err", err)
	h.errorPage(w, r, v, http.StatusInternalServerError, "Something went wrong ("+what+"); the error is logged.")
}
