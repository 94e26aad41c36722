package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	sl "github.com/secopsd/secopsd/internal/notify/slack"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// Test identities.
const (
	ixSecret   = "8f742231b10e8888abcd99yyyzzz85a5"
	ixApprover = "U0APPROVE"
	ixGroupie  = "U0GROUPIE"
	ixStranger = "U0STRANGER"
	ixGroup    = "S0ONCALL"
	ixChannel  = "C0SECALERT"
)

// ixStandIn is a loopback stand-in for Slack: the Web API methods the
// interaction code calls, response URLs and a Socket Mode websocket. It
// records what it receives.
type ixStandIn struct {
	srv *httptest.Server

	mu         sync.Mutex
	calls      []ixCall            // Web API calls, in order
	responses  []ixResponse        // posts to response URLs, in order
	members    map[string][]string // user group → members
	groupCalls map[string]int

	// Socket Mode: the test drives the websocket through these.
	wsConns chan *websocket.Conn
}

type ixCall struct {
	Method string
	Auth   string
	Form   url.Values
}

type ixResponse struct {
	Path string
	Body map[string]any
}

func newIXStandIn(t *testing.T) *ixStandIn {
	t.Helper()
	s := &ixStandIn{members: map[string][]string{}, groupCalls: map[string]int{}, wsConns: make(chan *websocket.Conn, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.api)
	mux.HandleFunc("POST /response/{id}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.responses = append(s.responses, ixResponse{Path: r.URL.Path, Body: body})
		s.mu.Unlock()
		fmt.Fprint(w, "ok")
	})
	// Slack's client sends Origin: https://api.slack.com.
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.wsConns <- c
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *ixStandIn) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	_ = r.ParseForm()
	s.mu.Lock()
	s.calls = append(s.calls, ixCall{Method: method, Auth: r.Header.Get("Authorization"), Form: r.PostForm})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "usergroups.users.list":
		g := r.PostForm.Get("usergroup")
		s.mu.Lock()
		s.groupCalls[g]++
		members, ok := s.members[g]
		s.mu.Unlock()
		if !ok {
			fmt.Fprint(w, `{"ok":false,"error":"no_such_subteam"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "users": members})
	case "chat.postEphemeral":
		fmt.Fprint(w, `{"ok":true,"message_ts":"1700000000.000900"}`)
	case "apps.connections.open":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/ws"})
	default:
		fmt.Fprint(w, `{"ok":true,"channel":"C0SECALERT","ts":"1700000000.000100"}`)
	}
}

// apiURL is the Web API base URL of the stand-in.
func (s *ixStandIn) apiURL() string { return s.srv.URL + "/api/" }

// responseURL is a response URL served by the stand-in.
func (s *ixStandIn) responseURL(n int) string { return s.srv.URL + "/response/" + strconv.Itoa(n) }

func (s *ixStandIn) setMembers(group string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[group] = users
}

func (s *ixStandIn) groupLookups(group string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groupCalls[group]
}

func (s *ixStandIn) callsOf(method string) []ixCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ixCall
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (s *ixStandIn) posted() []ixResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ixResponse(nil), s.responses...)
}

// responseText joins the text of a response's blocks.
func responseText(b map[string]any) string {
	var parts []string
	blocks, _ := b["blocks"].([]any)
	for _, bl := range blocks {
		m, _ := bl.(map[string]any)
		txt, _ := m["text"].(map[string]any)
		if s, ok := txt["text"].(string); ok {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		s, _ := b["text"].(string)
		return s
	}
	return strings.Join(parts, "\n")
}

// ixClock is a settable clock.
type ixClock struct{ ns atomic.Int64 }

func newIXClock(t time.Time) *ixClock {
	c := &ixClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *ixClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *ixClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *ixClock) unix() string        { return strconv.FormatInt(c.Now().Unix(), 10) }

// storeApprovals decides approvals against the real store the way the
// remediator does (incident.DecideApproval), without resuming runs.
type storeApprovals struct {
	st    store.Store
	clock *ixClock
	calls atomic.Int32
}

func (s *storeApprovals) Decide(ctx context.Context, id int64, approve bool, actor, comment string) (incident.Approval, error) {
	s.calls.Add(1)
	return incident.DecideApproval(ctx, s.st, id, approve, actor, comment, s.clock.Now())
}

func (s *storeApprovals) GetApproval(ctx context.Context, id int64) (incident.Approval, error) {
	return s.st.GetApproval(ctx, id)
}

func (s *storeApprovals) PendingApprovals(ctx context.Context) ([]incident.Approval, error) {
	return s.st.PendingApprovals(ctx, time.Time{})
}

// storeRefusals records refusals as the daemon's adapter does.
type storeRefusals struct{ st store.Store }

func (s storeRefusals) RecordRefusal(ctx context.Context, id int64, actor, reason string) error {
	a, err := s.st.GetApproval(ctx, id)
	if err != nil {
		return err
	}
	_, _, err = s.st.MutateIncident(ctx, a.IncidentID, func(*incident.Incident) ([]incident.Entry, error) {
		return []incident.Entry{{Time: time.Now(), Actor: actor, Kind: incident.KindApprovalRefused,
			Payload: map[string]any{"approval_id": id, "actor": actor, "reason": reason}}}, nil
	})
	return err
}

// ixFixture is the interaction code wired to a real SQLite store, a real
// incident engine and the stand-in.
type ixFixture struct {
	st        store.Store
	clock     *ixClock
	standIn   *ixStandIn
	approvals *storeApprovals
	engine    *incident.Engine
	actions   *sl.Actions
	handler   *sl.Handler
	srv       *httptest.Server
}

type ixOption func(*sl.ActionsOptions)

func newIXFixture(t *testing.T, opts ...ixOption) *ixFixture {
	t.Helper()
	return newIXFixtureOn(t, storetest.OpenURL(t, storetest.SQLiteURL(t)), opts...)
}

func newIXFixtureOn(t *testing.T, st store.Store, opts ...ixOption) *ixFixture {
	t.Helper()
	f := &ixFixture{st: st, clock: newIXClock(time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)), standIn: newIXStandIn(t)}
	f.approvals = &storeApprovals{st: st, clock: f.clock}
	eng, err := incident.New(incident.Options{
		Store: st, Clock: incident.ClockFunc(f.clock.Now),
		Tierer: majorTier{},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.engine = eng
	client := slack.New("xoxb-test-bot-token", slack.OptionAPIURL(f.standIn.apiURL()))
	standInHost := strings.TrimPrefix(f.standIn.srv.URL, "http://")
	ao := sl.ActionsOptions{
		Incidents: st, Workflow: eng, Approvals: f.approvals, Refusals: storeRefusals{st},
		ApproverUsers: []string{ixApprover}, Client: client, UIURL: "https://secopsd.example.org",
		ResponseURLAllowed: func(u *url.URL) bool { return u.Scheme == "http" && u.Host == standInHost },
		AckWithin:          10 * time.Second, Now: f.clock.Now,
	}
	for _, o := range opts {
		o(&ao)
	}
	f.actions, err = sl.NewActions(ao)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.actions.Shutdown(ctx)
	})
	v, err := sl.NewRequestVerifier(sl.VerifierOptions{SigningSecret: []byte(ixSecret), Nonces: st, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.handler, err = sl.NewHandler(sl.HandlerOptions{Actions: f.actions, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.handler)
	t.Cleanup(f.srv.Close)
	return f
}

// majorTier puts every incident in tier MAJOR.
type majorTier struct{}

func (majorTier) Tier(context.Context, incident.TierInput) (incident.Tier, error) {
	return incident.TierMajor, nil
}

var ixFingerprints atomic.Int64

// newIncident stores an open incident titled title.
func (f *ixFixture) newIncident(t *testing.T, title string) incident.Incident {
	t.Helper()
	now := f.clock.Now()
	inc, err := f.st.CreateIncident(t.Context(), incident.Incident{
		Fingerprint: fmt.Sprintf("fp-%d", ixFingerprints.Add(1)), Title: title, Monitor: "api-health",
		Category: "availability", Severity: event.SeverityHigh, Tier: incident.TierMajor, OpenedAt: now, Failures: 1,
	}, incident.Entry{Time: now, Actor: incident.ActorEngine, Kind: incident.KindOpened, Payload: map[string]any{"reason": "check failed"}})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// newApproval stores an incident waiting for the approval of its step
// "restart"; approvers are the request's own approvers (none: anyone
// allowed by Slack's configuration).
func (f *ixFixture) newApproval(t *testing.T, approvers ...string) incident.Approval {
	t.Helper()
	inc := f.newIncident(t, "API unhealthy")
	now := f.clock.Now()
	run, err := f.st.CreateRun(t.Context(), incident.PlaybookRun{IncidentID: inc.ID, Playbook: "restart-api", Attempt: 1,
		Status: incident.RunWaitingApproval, Actor: incident.ActorRemediation, StartedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.st.CreateApproval(t.Context(), incident.Approval{IncidentID: inc.ID, RunID: run.ID, StepIndex: 0, StepName: "restart",
		Status: incident.ApprovalPending, Approvers: approvers, Reasons: []string{"always approve (test policy)"},
		Deadline: now.Add(30 * time.Minute), OnTimeout: incident.TimeoutDeny, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *ixFixture) approval(t *testing.T, id int64) incident.Approval {
	t.Helper()
	a, err := f.st.GetApproval(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (f *ixFixture) timeline(t *testing.T, id int64) []incident.TimelineEntry {
	t.Helper()
	tl, err := f.st.Timeline(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// blockActionsPayload is the form body Slack posts for a click on an
// approval button.
func blockActionsPayload(user, actionID string, approvalID int64, responseURL string) string {
	return url.Values{"payload": {blockActionsJSON(user, actionID, approvalID, responseURL)}}.Encode()
}

// blockActionsJSON is a block_actions payload as Slack sends it for a
// click on an approval button.
func blockActionsJSON(user, actionID string, approvalID int64, responseURL string) string {
	id := strconv.FormatInt(approvalID, 10)
	label, style := "Approve", "primary"
	if actionID == sl.ActionDeny {
		label, style = "Deny", "danger"
	}
	p := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": "jdoe", "name": "jdoe", "team_id": "T0TEAM"},
		"api_app_id": "A0SECOPSD", "token": "legacy-verification-token",
		"container":  map[string]any{"type": "message", "message_ts": "1741082400.000200", "channel_id": ixChannel, "is_ephemeral": false, "thread_ts": "1741082400.000100"},
		"trigger_id": "7212345678.1234567890.abcdef0123456789abcdef0123456789",
		"team":       map[string]any{"id": "T0TEAM", "domain": "acme"},
		"enterprise": nil, "is_enterprise_install": false,
		"channel": map[string]any{"id": ixChannel, "name": "sec-alerts"},
		"message": map[string]any{"type": "message", "subtype": "bot_message", "text": "Approval needed", "ts": "1741082400.000200",
			"bot_id": "B0BOT", "thread_ts": "1741082400.000100"},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": responseURL,
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": sl.ApprovalBlockIDPfx + id,
			"text":  map[string]any{"type": "plain_text", "text": label, "emoji": true},
			"value": id, "style": style, "type": "button", "action_ts": "1741082460.123456",
		}},
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// commandForm is a /secops request body as Slack sends it.
func commandForm(user, text, responseURL string) string {
	return url.Values{
		"token": {"legacy-verification-token"}, "team_id": {"T0TEAM"}, "team_domain": {"acme"},
		"channel_id": {ixChannel}, "channel_name": {"sec-alerts"}, "user_id": {user}, "user_name": {"jdoe"},
		"command": {"/secops"}, "text": {text}, "api_app_id": {"A0SECOPSD"}, "is_enterprise_install": {"false"},
		"response_url": {responseURL}, "trigger_id": {"7212345678.1234567890.abcdef"},
	}.Encode()
}

// signedRequest is a request signed with secret at ts.
type signedRequest struct {
	path, body, ts, sig string
}

func (f *ixFixture) sign(path, body string) signedRequest {
	ts := f.clock.unix()
	return signedRequest{path: path, body: body, ts: ts, sig: sl.Sign([]byte(ixSecret), ts, []byte(body))}
}

// send posts the request and returns the status and body.
func (f *ixFixture) send(t *testing.T, r signedRequest) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r.ts != "" {
		req.Header.Set(sl.HeaderTimestamp, r.ts)
	}
	if r.sig != "" {
		req.Header.Set(sl.HeaderSignature, r.sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// click sends a signed click and expects 200.
func (f *ixFixture) click(t *testing.T, user, actionID string, approvalID int64, responseN int) {
	t.Helper()
	code, body := f.send(t, f.sign(sl.InteractionsPath, blockActionsPayload(user, actionID, approvalID, f.standIn.responseURL(responseN))))
	if code != http.StatusOK {
		t.Fatalf("click: %d %s", code, body)
	}
}

// command runs /secops text as user and returns the answer's text. The
// clock moves a second first, so that repeating a command is a new
// request rather than a replay.
func (f *ixFixture) command(t *testing.T, user, text string) (sl.CommandResponse, string) {
	t.Helper()
	f.clock.Add(time.Second)
	code, body := f.send(t, f.sign(sl.CommandsPath, commandForm(user, text, f.standIn.responseURL(99))))
	if code != http.StatusOK {
		t.Fatalf("/secops %s: %d %s", text, code, body)
	}
	var resp sl.CommandResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("/secops %s: %v in %s", text, err, body)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(body), &raw)
	return resp, responseText(raw)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
