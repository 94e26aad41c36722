package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/notify/slack"
	"github.com/secopsd/secopsd/internal/secretscan"
	"github.com/secopsd/secopsd/internal/store"
)

// slackActions is the interactive side of Slack (issue 6): approval
// buttons and /secops, served at /slack/ in mode http or received over
// Socket Mode in mode socket. The notifier side is wired separately
// (slack.go).
type slackActions struct {
	actions *slack.Actions
	handler *slack.Handler    // mode http
	socket  *slack.SocketMode // mode socket
}

// newSlackActions builds the interactive side when slack.enabled (nil
// otherwise).
func (a *App) newSlackActions(logger *slog.Logger) (*slackActions, error) {
	sc := a.cfg.Slack
	if !sc.Enabled {
		return nil, nil
	}
	now := time.Now
	if a.clock != nil {
		now = a.clock.Now
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	apiOpts := []slackapi.Option{slackapi.OptionHTTPClient(hc)}
	if sc.APIURL != "" {
		apiOpts = append(apiOpts, slackapi.OptionAPIURL(strings.TrimRight(sc.APIURL, "/")+"/"))
	}
	client := slackapi.New(sc.BotToken.Reveal(), apiOpts...)
	var approvals slack.ApprovalService
	if a.remediator != nil {
		approvals = a.remediator
	}
	scanner := secretscan.NewScanner(secretscan.DefaultRules())
	actions, err := slack.NewActions(slack.ActionsOptions{
		Incidents:          a.store,
		Workflow:           a.engine,
		Approvals:          approvals,
		Refusals:           slackRefusals{st: a.store, now: now},
		ApproverUsers:      sc.Approvers.Users,
		ApproverGroups:     sc.Approvers.Usergroups,
		Client:             client,
		HTTPClient:         hc,
		ResponseURLAllowed: responseURLAllowed(sc.APIURL),
		UIURL:              sc.UIURL,
		Redact:             func(s string) string { out, _ := scanner.Redact(s); return out },
		Now:                now,
		Logger:             logger,
	})
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	s := &slackActions{actions: actions}
	switch sc.Mode {
	case config.SlackModeSocket:
		s.socket, err = slack.NewSocketMode(slack.SocketModeOptions{
			Actions: actions, AppToken: sc.AppToken.Reveal(), BotToken: sc.BotToken.Reveal(),
			APIURL: sc.APIURL, HTTPClient: hc, Logger: logger.With("mode", "socket"),
		})
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		logger.Info("slack interactions over socket mode")
	default:
		v, err := slack.NewRequestVerifier(slack.VerifierOptions{
			SigningSecret: []byte(sc.SigningSecret.Reveal()), Nonces: a.store, Now: now,
		})
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		s.handler, err = slack.NewHandler(slack.HandlerOptions{Actions: actions, Verifier: v, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		logger.Info("slack interactions over http", "paths", slack.InteractionsPath+" "+slack.CommandsPath)
	}
	return s, nil
}

// responseURLAllowed allows Slack's response URLs (https://hooks.slack.com)
// and, when api_url points elsewhere (a proxy or a test stand-in), URLs on
// the same scheme and host as api_url.
func responseURLAllowed(apiURL string) func(*url.URL) bool {
	var scheme, host string
	if u, err := url.Parse(apiURL); err == nil && apiURL != "" {
		scheme, host = u.Scheme, u.Host
	}
	return func(u *url.URL) bool {
		if u.User != nil {
			return false
		}
		if u.Scheme == "https" && u.Host == "hooks.slack.com" {
			return true
		}
		return host != "" && u.Scheme == scheme && u.Host == host
	}
}

// httpHandler is the /slack/ handler, or nil (an untyped nil, so that
// api.Options sees no handler) when there is none.
func (s *slackActions) httpHandler() http.Handler {
	if s == nil || s.handler == nil {
		return nil
	}
	return s.handler
}

// start connects Socket Mode (mode socket).
func (s *slackActions) start() {
	if s != nil && s.socket != nil {
		s.socket.Start()
	}
}

// stop disconnects Socket Mode and waits for the clicks and commands in
// progress, within ctx.
func (s *slackActions) stop(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var errs []error
	if s.socket != nil {
		errs = append(errs, s.socket.Stop(ctx))
	}
	errs = append(errs, s.actions.Shutdown(ctx))
	return errors.Join(errs...)
}

// slackRefusals records, in the incident's timeline, that someone who is
// not a configured Slack approver tried to decide an approval request.
type slackRefusals struct {
	st  store.Store
	now func() time.Time
}

var _ slack.RefusalRecorder = slackRefusals{}

// RecordRefusal implements slack.RefusalRecorder; an unknown approval
// fails with an error wrapping incident.ErrNotFound.
func (r slackRefusals) RecordRefusal(ctx context.Context, approvalID int64, actor, reason string) error {
	ap, err := r.st.GetApproval(ctx, approvalID)
	if err != nil {
		return fmt.Errorf("approval %d: %w", approvalID, err)
	}
	_, _, err = r.st.MutateIncident(ctx, ap.IncidentID, func(*incident.Incident) ([]incident.Entry, error) {
		return []incident.Entry{{Time: r.now(), Actor: actor, Kind: incident.KindApprovalRefused, Payload: map[string]any{
			"approval_id": ap.ID, "step": ap.StepName, "actor": actor, "reason": reason, "via": "slack",
		}}}, nil
	})
	if err != nil {
		return fmt.Errorf("record refusal of approval %d: %w", approvalID, err)
	}
	return nil
}
