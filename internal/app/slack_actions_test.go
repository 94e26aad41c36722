package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/notify/slack"
	"github.com/secopsd/secopsd/internal/testpolicy"
)

const (
	saSigningSecret = "e2e-signing-secret-0123456789abcdef"
	saApprover      = "U0ONCALL1"
	saStranger      = "U0VISITOR"
)

// saStandIn answers every Slack Web API method with ok (the notifier posts
// to it too) and records the posts to response URLs.
type saStandIn struct {
	srv       *httptest.Server
	mu        sync.Mutex
	responses []string
}

func newSAStandIn(t *testing.T) *saStandIn {
	s := &saStandIn{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(r.URL.Path, "/response/") {
			s.mu.Lock()
			s.responses = append(s.responses, string(body))
			s.mu.Unlock()
			fmt.Fprint(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"channel":"C0SECALERT","ts":"1741082400.000100","message_ts":"1741082400.000200"}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *saStandIn) replies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.responses...)
}

// slackDaemon is a daemon with remediation (every step needs approval),
// Slack enabled in mode http against the stand-in, and one approver.
func slackDaemon(t *testing.T, svcURL string, slackAPI string) *app.App {
	t.Helper()
	cfg := remediationConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"), svcURL, fmt.Sprintf(restartPlaybook, false))
	cfg.Policies = testpolicy.Dir(t, map[string]string{"actions.rego": testpolicy.AlwaysApprove})
	cfg.Slack.Enabled = true
	cfg.Slack.Mode = config.SlackModeHTTP
	cfg.Slack.BotToken = config.Secret("xoxb-e2e-bot-token")
	cfg.Slack.SigningSecret = config.Secret(saSigningSecret)
	cfg.Slack.APIURL = slackAPI + "/api"
	cfg.Slack.Approvers.Users = []string{saApprover}
	return startApp(t, cfg)
}

// pendingApproval waits for the one approval request of the daemon.
func pendingApproval(t *testing.T, a *app.App) incident.Approval {
	t.Helper()
	var pending []incident.Approval
	eventually(t, 15*time.Second, "an approval request", func() bool {
		var err error
		pending, err = a.Remediator().PendingApprovals(context.Background())
		return err == nil && len(pending) == 1
	})
	return pending[0]
}

// clickBody is the form Slack posts when user clicks actionID on the
// approval message of approval id.
func clickBody(user, actionID string, id int64, responseURL string) string {
	v := strconv.FormatInt(id, 10)
	p, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "username": "oncall", "team_id": "T0TEAM"},
		"api_app_id": "A0SECOPSD", "token": "legacy", "trigger_id": "1.2.3",
		"container": map[string]any{"type": "message", "message_ts": "1741082400.000200", "channel_id": "C0SECALERT", "is_ephemeral": false},
		"team":      map[string]any{"id": "T0TEAM", "domain": "acme"}, "channel": map[string]any{"id": "C0SECALERT", "name": "sec-alerts"},
		"message": map[string]any{"type": "message", "ts": "1741082400.000200", "text": "approval"},
		"state":   map[string]any{"values": map[string]any{}}, "response_url": responseURL,
		"actions": []any{map[string]any{"action_id": actionID, "block_id": slack.ApprovalBlockIDPfx + v, "value": v,
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Approve"}, "action_ts": "1741082460.000001"}},
	})
	return url.Values{"payload": {string(p)}}.Encode()
}

// postSlack posts body to the daemon's path signed at ts with secret.
func postSlack(t *testing.T, a *app.App, path, body, secret string, ts time.Time) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+a.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(slack.HeaderTimestamp, stamp)
	req.Header.Set(slack.HeaderSignature, slack.Sign([]byte(secret), stamp, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestSlackApprovalClickRunsStep: forged, stale and non-approver clicks
// change nothing (the last one is in the timeline); an approver's click,
// exactly as Slack sends it, approves and the step runs against the
// service, resolving the incident; the replay of that click is refused.
func TestSlackApprovalClickRunsStep(t *testing.T) {
	svc := newRestartable(t)
	sk := newSAStandIn(t)
	a := slackDaemon(t, svc.srv.URL, sk.srv.URL)
	ap := pendingApproval(t, a)
	respURL := sk.srv.URL + "/response/1"
	now := time.Now()

	// Forged and stale requests: 401, nothing happens.
	body := clickBody(saApprover, slack.ActionApprove, ap.ID, respURL)
	if code, _ := postSlack(t, a, slack.InteractionsPath, body, "wrong-secret", now); code != http.StatusUnauthorized {
		t.Fatalf("forged: %d, want 401", code)
	}
	if code, _ := postSlack(t, a, slack.InteractionsPath, body, saSigningSecret, now.Add(-6*time.Minute)); code != http.StatusUnauthorized {
		t.Fatalf("stale: %d, want 401", code)
	}
	// A non-approver: refused, recorded.
	code, hdr := postSlack(t, a, slack.InteractionsPath, clickBody(saStranger, slack.ActionApprove, ap.ID, respURL), saSigningSecret, now)
	if code != http.StatusOK {
		t.Fatalf("stranger's click: %d", code)
	}
	if hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the /slack/ routes lack the security headers: %v", hdr)
	}
	if got, _ := a.Remediator().GetApproval(context.Background(), ap.ID); got.Status != incident.ApprovalPending || svc.restarts.Load() != 0 {
		t.Fatalf("after a stranger's click: %+v, %d restarts", got, svc.restarts.Load())
	}
	tl, _ := a.Store().Timeline(context.Background(), ap.IncidentID)
	refused := false
	for _, e := range tl {
		refused = refused || (e.Kind == incident.KindApprovalRefused && e.Actor == "slack:"+saStranger)
	}
	if !refused {
		t.Fatalf("no approval.refused entry by slack:%s: %v", saStranger, kinds(tl))
	}
	if r := sk.replies(); len(r) != 1 || !strings.Contains(r[0], `"response_type":"ephemeral"`) || !strings.Contains(r[0], "You may not approve") {
		t.Fatalf("stranger's reply: %v", r)
	}

	// The approver's click.
	if code, _ := postSlack(t, a, slack.InteractionsPath, body, saSigningSecret, now); code != http.StatusOK {
		t.Fatalf("approver's click: %d", code)
	}
	got, _ := a.Remediator().GetApproval(context.Background(), ap.ID)
	if got.Status != incident.ApprovalApproved || got.Actor != "slack:"+saApprover {
		t.Fatalf("approval after the click: %+v", got)
	}
	eventually(t, 15*time.Second, "the approved step to run and resolve the incident", func() bool {
		inc, err := a.Store().GetIncident(context.Background(), ap.IncidentID)
		return err == nil && inc.Status == incident.StatusResolved
	})
	if n := svc.restarts.Load(); n != 1 {
		t.Fatalf("restarts = %d, want 1", n)
	}
	// The replay of the approver's click.
	if code, _ := postSlack(t, a, slack.InteractionsPath, body, saSigningSecret, now); code != http.StatusConflict {
		t.Fatalf("replayed click: %d, want 409", code)
	}
	if svc.restarts.Load() != 1 {
		t.Fatal("the replay ran the step again")
	}
}

// TestSlackDenyClickSkipsStep: Deny skips the step; the service is never
// restarted.
func TestSlackDenyClickSkipsStep(t *testing.T) {
	svc := newRestartable(t)
	sk := newSAStandIn(t)
	a := slackDaemon(t, svc.srv.URL, sk.srv.URL)
	ap := pendingApproval(t, a)
	if code, _ := postSlack(t, a, slack.InteractionsPath, clickBody(saApprover, slack.ActionDeny, ap.ID, sk.srv.URL+"/response/1"), saSigningSecret, time.Now()); code != http.StatusOK {
		t.Fatalf("deny click: %d", code)
	}
	eventually(t, 15*time.Second, "the denied step to be skipped", func() bool {
		tl, err := a.Store().Timeline(context.Background(), ap.IncidentID)
		return err == nil && count(kinds(tl), incident.KindStepSkipped) > 0
	})
	if got, _ := a.Remediator().GetApproval(context.Background(), ap.ID); got.Status != incident.ApprovalDenied || got.Actor != "slack:"+saApprover {
		t.Fatalf("approval after Deny: %+v", got)
	}
	if svc.restarts.Load() != 0 {
		t.Fatalf("a denied step ran: %d restarts", svc.restarts.Load())
	}
}

// TestSlackCommandOverHTTP: /secops through the daemon, signed as Slack
// signs it: status for anyone, ack for the approver.
func TestSlackCommandOverHTTP(t *testing.T) {
	svc := newRestartable(t)
	sk := newSAStandIn(t)
	a := slackDaemon(t, svc.srv.URL, sk.srv.URL)
	ap := pendingApproval(t, a)
	form := func(user, text string) string {
		return url.Values{"command": {"/secops"}, "text": {text}, "user_id": {user}, "channel_id": {"C0SECALERT"},
			"team_id": {"T0TEAM"}, "response_url": {sk.srv.URL + "/response/2"}, "trigger_id": {"1.2.3"}}.Encode()
	}
	req := func(user, text string) (int, string) {
		body := form(user, text)
		stamp := strconv.FormatInt(time.Now().Unix(), 10)
		r, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+slack.CommandsPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(slack.HeaderTimestamp, stamp)
		r.Header.Set(slack.HeaderSignature, slack.Sign([]byte(saSigningSecret), stamp, []byte(body)))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, out := req(saStranger, "status")
	if code != http.StatusOK || !strings.Contains(out, `"response_type":"ephemeral"`) || !strings.Contains(out, "1 approval request(s) pending") {
		t.Fatalf("status: %d %s", code, out)
	}
	if code, out = req(saStranger, "ack "+strconv.FormatInt(ap.IncidentID, 10)); !strings.Contains(out, "You may not `ack`") {
		t.Fatalf("stranger's ack: %d %s", code, out)
	}
	if code, out = req(saApprover, "ack "+strconv.FormatInt(ap.IncidentID, 10)+" on it"); !strings.Contains(out, "acknowledged") {
		t.Fatalf("ack: %d %s", code, out)
	}
	inc, _ := a.Store().GetIncident(context.Background(), ap.IncidentID)
	if inc.Status != incident.StatusAcknowledged {
		t.Fatalf("status after ack: %s", inc.Status)
	}
	// Without a signature: 401, outside the API-key guard (no key asked).
	r, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+slack.CommandsPath, strings.NewReader(form(saApprover, "status")))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("unsigned command: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestSlackSocketModeClickRunsStep: in mode socket the daemon opens the
// websocket with the app token, and an approver's click arriving as an
// interactive envelope is acknowledged and runs the step.
func TestSlackSocketModeClickRunsStep(t *testing.T) {
	svc := newRestartable(t)
	conns := make(chan *websocket.Conn, 4)
	var appTokenSeen atomic.Bool
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	var wsURL string
	sk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ws":
			if c, err := up.Upgrade(w, r, nil); err == nil {
				conns <- c
			}
		case r.URL.Path == "/api/apps.connections.open":
			_ = r.ParseForm()
			appTokenSeen.Store(r.Header.Get("Authorization") == "Bearer xapp-1-e2e" || r.PostForm.Get("token") == "xapp-1-e2e")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":true,"url":%q}`, wsURL)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true,"channel":"C0SECALERT","ts":"1741082400.000100"}`)
		}
	}))
	t.Cleanup(sk.Close)
	wsURL = "ws" + strings.TrimPrefix(sk.URL, "http") + "/ws"

	cfg := remediationConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"), svc.srv.URL, fmt.Sprintf(restartPlaybook, false))
	cfg.Policies = testpolicy.Dir(t, map[string]string{"actions.rego": testpolicy.AlwaysApprove})
	cfg.Slack.Enabled = true
	cfg.Slack.Mode = config.SlackModeSocket
	cfg.Slack.BotToken = config.Secret("xoxb-e2e-bot-token")
	cfg.Slack.AppToken = config.Secret("xapp-1-e2e")
	cfg.Slack.APIURL = sk.URL + "/api"
	cfg.Slack.Approvers.Users = []string{saApprover}
	a := startApp(t, cfg)
	ap := pendingApproval(t, a)

	var conn *websocket.Conn
	select {
	case conn = <-conns:
	case <-time.After(15 * time.Second):
		t.Fatal("the daemon did not open the Socket Mode websocket")
	}
	defer conn.Close()
	if !appTokenSeen.Load() {
		t.Fatal("apps.connections.open was not called with the app token")
	}
	// In socket mode there is no /slack/ route.
	resp, err := http.Post("http://"+a.Addr()+slack.InteractionsPath, "application/x-www-form-urlencoded", strings.NewReader("payload={}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST %s in socket mode: %d, want 404", slack.InteractionsPath, resp.StatusCode)
	}

	form, _ := url.ParseQuery(clickBody(saApprover, slack.ActionApprove, ap.ID, sk.URL+"/response/1"))
	if err := conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1}); err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteJSON(map[string]any{"envelope_id": "env-e2e-1", "type": "interactive",
		"payload": json.RawMessage(form.Get("payload")), "accepts_response_payload": false}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var ack struct {
		EnvelopeID string `json:"envelope_id"`
	}
	if err := conn.ReadJSON(&ack); err != nil || ack.EnvelopeID != "env-e2e-1" {
		t.Fatalf("ack: %+v %v", ack, err)
	}
	if got, _ := a.Remediator().GetApproval(context.Background(), ap.ID); got.Status != incident.ApprovalApproved || got.Actor != "slack:"+saApprover {
		t.Fatalf("approval after the acknowledged envelope: %+v", got)
	}
	eventually(t, 15*time.Second, "the approved step to run", func() bool { return svc.restarts.Load() == 1 })
}
