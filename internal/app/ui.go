package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/secopsd/secopsd/internal/api/ui"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// newUI builds the auditor web UI over the daemon's store, authenticator,
// engine and remediator, or returns nil when the ui section disables it.
func (a *App) newUI(logger *slog.Logger) (http.Handler, error) {
	cfg := a.cfg
	if !cfg.UI.On() {
		return nil, nil
	}
	opts := ui.Options{
		Incidents:     a.store,
		Sessions:      uiSessions{a.store},
		Auth:          a.auth,
		Keys:          a.store,
		Recorder:      eventRecorder{a},
		Events:        uiEvents{a.store},
		Actions:       a.engine,
		Exporter:      TimelineExporter{Source: a.store, Now: a.now},
		SessionIdle:   cfg.UI.SessionIdle.Std(),
		SessionMax:    cfg.UI.SessionMax.Std(),
		KeyCheckTTL:   cfg.Auth.KeyCacheTTL.Std(),
		SecureCookies: cfg.UI.SecureCookies,
		Logger:        logger,
		Now:           a.now,
	}
	if a.remediator != nil {
		opts.Remediation = uiRemediation{r: a.remediator, st: a.store}
	}
	h, err := ui.New(opts)
	if err != nil {
		return nil, fmt.Errorf("web ui: %w", err)
	}
	return h, nil
}

// uiSessions adapts the store to ui.SessionStore.
type uiSessions struct{ st store.UISessionStore }

var _ ui.SessionStore = uiSessions{}

// CreateSession implements ui.SessionStore.
func (s uiSessions) CreateSession(ctx context.Context, u ui.Session) error {
	return s.st.CreateUISession(ctx, store.UISession{IDHash: u.IDHash, KeyID: u.KeyID, KeyName: u.KeyName,
		Role: string(u.Role), CreatedAt: u.CreatedAt, LastSeenAt: u.LastSeenAt, ExpiresAt: u.ExpiresAt})
}

// GetSession implements ui.SessionStore.
func (s uiSessions) GetSession(ctx context.Context, idHash string) (ui.Session, error) {
	u, err := s.st.GetUISession(ctx, idHash)
	if errors.Is(err, store.ErrUISessionNotFound) {
		return ui.Session{}, fmt.Errorf("%w: %w", ui.ErrSessionNotFound, err)
	}
	if err != nil {
		return ui.Session{}, err
	}
	return ui.Session{IDHash: u.IDHash, KeyID: u.KeyID, KeyName: u.KeyName, Role: auth.Role(u.Role),
		CreatedAt: u.CreatedAt, LastSeenAt: u.LastSeenAt, ExpiresAt: u.ExpiresAt, RevokedAt: u.RevokedAt}, nil
}

// TouchSession implements ui.SessionStore.
func (s uiSessions) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	return s.st.TouchUISession(ctx, idHash, at)
}

// RevokeSession implements ui.SessionStore.
func (s uiSessions) RevokeSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := s.st.RevokeUISession(ctx, idHash, at)
	return err
}

// PurgeSessions implements ui.SessionStore.
func (s uiSessions) PurgeSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	return s.st.PurgeUISessions(ctx, now, idleBefore)
}

// uiEvents adapts the store to ui.EventSearcher.
type uiEvents struct{ st store.Store }

// SearchEvents implements ui.EventSearcher.
func (q uiEvents) SearchEvents(ctx context.Context, eq ui.EventQuery) ([]event.Event, error) {
	f := store.EventFilter{Since: eq.Since, Until: eq.Until, MinSeverity: eq.MinSeverity,
		Source: eq.Source, Kind: eq.Kind, Limit: eq.Limit}
	if eq.BeforeID != "" {
		f.Before = &store.EventCursor{Time: eq.BeforeTime, ID: eq.BeforeID}
	}
	return q.st.ListEvents(ctx, f)
}

// uiRemediation adds an incident's approval requests to the remediator.
type uiRemediation struct {
	r  *incident.Remediator
	st store.Store
}

var _ ui.Remediation = uiRemediation{}

// Runs implements ui.Remediation.
func (u uiRemediation) Runs(ctx context.Context, id int64) ([]incident.PlaybookRun, error) {
	return u.r.Runs(ctx, id)
}

// IncidentApprovals implements ui.Remediation: the approval requests of
// every run of the incident, oldest first.
func (u uiRemediation) IncidentApprovals(ctx context.Context, id int64) ([]incident.Approval, error) {
	runs, err := u.st.Runs(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("runs of incident %d: %w", id, err)
	}
	var out []incident.Approval
	for _, run := range runs {
		as, err := u.st.RunApprovals(ctx, run.ID)
		if err != nil {
			return nil, fmt.Errorf("approvals of run %d: %w", run.ID, err)
		}
		out = append(out, as...)
	}
	return out, nil
}

// GetApproval implements ui.Remediation.
func (u uiRemediation) GetApproval(ctx context.Context, id int64) (incident.Approval, error) {
	return u.r.GetApproval(ctx, id)
}

// Decide implements ui.Remediation.
func (u uiRemediation) Decide(ctx context.Context, id int64, approve bool, actor, comment string) (incident.Approval, error) {
	return u.r.Decide(ctx, id, approve, actor, comment)
}

// listen opens the daemon's listener: TCP on cfg.Listen, wrapped in TLS
// when the tls section names a certificate and key.
func (a *App) listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	if !a.cfg.TLS.Enabled() {
		if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
			a.logger.Warn("listening on a non-loopback address without TLS: API keys would cross the network in clear; set tls.cert_file and tls.key_file, or put a TLS-terminating proxy in front (and list it in auth.trusted_proxies)", "addr", ln.Addr().String())
		}
		return ln, nil
	}
	cert, err := a.cfg.TLS.Load()
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("load tls certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}), nil
}
