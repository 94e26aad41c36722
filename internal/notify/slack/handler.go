package slack

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"

	"github.com/slack-go/slack"
)

// Routes of the HTTP handler, to be configured in the Slack app as the
// interactivity request URL and the /secops command's request URL.
const (
	InteractionsPath = "/slack/interactions"
	CommandsPath     = "/slack/commands"
)

// HandlerOptions configures the HTTP handler.
type HandlerOptions struct {
	// Actions carries out clicks and commands; required.
	Actions *Actions
	// Verifier authenticates every request before anything else; required.
	Verifier *RequestVerifier
	// Logger receives refused requests; nil discards.
	Logger *slog.Logger
}

// Handler serves Slack's requests: POST /slack/interactions (block
// actions, form field "payload") and POST /slack/commands (the /secops
// slash command). Every request must carry a valid Slack signature, be
// fresh and be seen for the first time (see RequestVerifier); otherwise
// nothing is executed and the answer is 401 (forged, unsigned, stale), 409
// (a replay of an accepted request) or 413 (too large). It is mounted
// outside the API-key guard: Slack's signature is its authentication.
type Handler struct {
	actions  *Actions
	verifier *RequestVerifier
	logger   *slog.Logger
	mux      *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the handler of both routes.
func NewHandler(opts HandlerOptions) (*Handler, error) {
	var errs []error
	if opts.Actions == nil {
		errs = append(errs, errors.New("slack handler: Actions is required"))
	}
	if opts.Verifier == nil {
		errs = append(errs, errors.New("slack handler: Verifier is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{actions: opts.Actions, verifier: opts.Verifier, logger: logger, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST "+InteractionsPath, h.interactions)
	h.mux.HandleFunc("POST "+CommandsPath, h.commands)
	for _, p := range []string{InteractionsPath, CommandsPath} {
		h.mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// verified checks the request and returns its form, or answers it.
func (h *Handler) verified(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		http.Error(w, "want application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
		return nil, false
	}
	body, err := h.verifier.Verify(r)
	if err != nil {
		status := verifyStatus(err)
		if status == http.StatusServiceUnavailable {
			h.logger.Error("slack request not checked", "path", r.URL.Path, "err", err)
		} else {
			h.logger.Warn("slack request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "err", err)
		}
		http.Error(w, http.StatusText(status), status)
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	return form, true
}

func (h *Handler) interactions(w http.ResponseWriter, r *http.Request) {
	form, ok := h.verified(w, r)
	if !ok {
		return
	}
	payload := form.Get("payload")
	if payload == "" {
		http.Error(w, "payload: required", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		http.Error(w, "payload: not an interaction payload", http.StatusBadRequest)
		return
	}
	// Slack ignores the body of this answer; replies go through the
	// payload's response URL.
	h.actions.HandleInteraction(cb)
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) commands(w http.ResponseWriter, r *http.Request) {
	form, ok := h.verified(w, r)
	if !ok {
		return
	}
	cmd := slashCommandOf(form)
	if cmd.UserID == "" {
		http.Error(w, "user_id: required", http.StatusBadRequest)
		return
	}
	writeCommandResponse(w, h.actions.HandleCommand(cmd).response())
}

// slashCommandOf reads the form fields Slack sends with a command.
func slashCommandOf(f url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID: f.Get("team_id"), TeamDomain: f.Get("team_domain"), EnterpriseID: f.Get("enterprise_id"),
		ChannelID: f.Get("channel_id"), ChannelName: f.Get("channel_name"),
		UserID: f.Get("user_id"), UserName: f.Get("user_name"),
		Command: f.Get("command"), Text: f.Get("text"), ResponseURL: f.Get("response_url"),
		TriggerID: f.Get("trigger_id"), APIAppID: f.Get("api_app_id"),
	}
}

func writeCommandResponse(w http.ResponseWriter, resp CommandResponse) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}
