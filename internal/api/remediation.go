package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/incident"
)

// Remediation is what the API needs of automated remediation: approval
// requests, their decisions, playbook runs.
type Remediation interface {
	// PendingApprovals lists the approval requests waiting for a human.
	PendingApprovals(ctx context.Context) ([]incident.Approval, error)
	// GetApproval returns one approval request.
	GetApproval(ctx context.Context, id int64) (incident.Approval, error)
	// Decide approves or denies a pending request as actor.
	Decide(ctx context.Context, id int64, approve bool, actor, comment string) (incident.Approval, error)
	// RunPlaybook starts a manual fix attempt (playbook "" chooses).
	RunPlaybook(ctx context.Context, incidentID int64, playbook, actor string, dryRun bool) (incident.PlaybookRun, error)
	// Runs lists an incident's playbook runs.
	Runs(ctx context.Context, incidentID int64) ([]incident.PlaybookRun, error)
}

// maxActionBody bounds the JSON body of an action request.
const maxActionBody = 16 << 10

// routeRemediation adds the approval and playbook routes to mux.
func (h *handler) routeRemediation(mux *http.ServeMux) {
	if h.opts.Remediation == nil {
		return
	}
	mux.Handle("GET /api/v1/approvals", h.opts.protect(auth.RoleViewer, h.listApprovals))
	mux.Handle("GET /api/v1/approvals/{id}", h.opts.protect(auth.RoleViewer, h.getApproval))
	mux.Handle("POST /api/v1/approvals/{id}/approve", h.opts.protect(auth.RoleAdmin, h.decide(true)))
	mux.Handle("POST /api/v1/approvals/{id}/deny", h.opts.protect(auth.RoleAdmin, h.decide(false)))
	mux.Handle("GET /api/v1/incidents/{id}/runs", h.opts.protect(auth.RoleViewer, h.listRuns))
	mux.Handle("POST /api/v1/incidents/{id}/runs", h.opts.protect(auth.RoleAdmin, h.runPlaybook))
}

// Actor names the principal of an API request in timeline entries:
// "api:" and the key's name, or its id when it has none.
func Actor(ctx context.Context) string {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return "api:unknown"
	}
	if p.Name != "" {
		return "api:" + p.Name
	}
	return "api:" + p.KeyID
}

func (h *handler) listApprovals(w http.ResponseWriter, r *http.Request) {
	list, err := h.opts.Remediation.PendingApprovals(r.Context())
	if err != nil {
		h.internalError(w, "list approvals", err)
		return
	}
	if list == nil {
		list = []incident.Approval{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *handler) getApproval(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	a, err := h.opts.Remediation.GetApproval(r.Context(), id)
	if err != nil {
		h.remediationError(w, "get approval", err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// decisionRequest is the body of an approve or deny request.
type decisionRequest struct {
	Comment string `json:"comment"`
}

func (h *handler) decide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		var body decisionRequest
		if !decodeAction(w, r, &body) {
			return
		}
		a, err := h.opts.Remediation.Decide(r.Context(), id, approve, Actor(r.Context()), body.Comment)
		if err != nil {
			h.remediationError(w, "decide approval", err)
			return
		}
		writeJSON(w, http.StatusOK, a)
	}
}

func (h *handler) listRuns(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	runs, err := h.opts.Remediation.Runs(r.Context(), id)
	if err != nil {
		h.remediationError(w, "list runs", err)
		return
	}
	if runs == nil {
		runs = []incident.PlaybookRun{}
	}
	writeJSON(w, http.StatusOK, runs)
}

// runRequest is the body of a manual playbook run.
type runRequest struct {
	Playbook string `json:"playbook"`
	DryRun   bool   `json:"dry_run"`
}

func (h *handler) runPlaybook(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var body runRequest
	if !decodeAction(w, r, &body) {
		return
	}
	run, err := h.opts.Remediation.RunPlaybook(r.Context(), id, body.Playbook, Actor(r.Context()), body.DryRun)
	if err != nil {
		h.remediationError(w, "run playbook", err)
		return
	}
	writeJSON(w, http.StatusCreated, run)
}

// remediationError maps the remediation sentinels to statuses.
func (h *handler) remediationError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, incident.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, incident.ErrNotApprover):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, incident.ErrAlreadyDecided), errors.Is(err, incident.ErrRunActive),
		errors.Is(err, incident.ErrAttemptsExhausted), errors.Is(err, incident.ErrResolved),
		errors.Is(err, incident.ErrRunExists):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, incident.ErrNoPlaybook):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		h.internalError(w, what, err)
	}
}

// pathID parses the {id} path value, answering 400 when it is not a
// positive integer.
func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "id: want a positive integer")
		return 0, false
	}
	return id, true
}

// decodeAction decodes an optional JSON object body strictly, answering
// 400 naming the problem.
func decodeAction(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxActionBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: at most %d bytes", maxActionBody))
		return false
	}
	writeError(w, http.StatusBadRequest, "body: "+err.Error())
	return false
}
