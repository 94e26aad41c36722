package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// wfNotes records the daemon's notifications.
type wfNotes struct {
	mu  sync.Mutex
	got []incident.Notification
}

func (n *wfNotes) Notify(_ context.Context, note incident.Notification) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, note)
	return false, nil
}

func (n *wfNotes) kinds() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []string{}
	for _, note := range n.got {
		out = append(out, note.Entry.Kind)
	}
	return out
}

// workflowDaemon builds (and, with start, starts) a daemon on storeURL
// with remediation off, the extra YAML appended, clock (nil: the wall
// clock) and notifier. It is stopped when the test ends, or before by
// the function returned.
func workflowDaemon(t *testing.T, storeURL, extra string, clock incident.Clock, n incident.Notifier, log io.Writer, start bool) (*app.App, func()) {
	t.Helper()
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nstore:\n  url: %q\npolicies: ../../policies\nremediation:\n  enabled: false\n%s", storeURL, extra)
	cfg, err := config.Parse([]byte(yaml), "workflow.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	if log == nil {
		log = io.Discard
	}
	a, err := app.New(context.Background(), app.Options{Config: cfg, Clock: clock, Notifier: n,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if start {
		if err := a.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := a.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

func wfFailingMonitor(url string) string {
	return fmt.Sprintf(`monitors:
  - name: api-health
    type: http
    schedule: "@every 1h"
    timeout: 5s
    url: %s/healthz
    expect: {status: 200}
`, url)
}

// wfWaitIncident polls until the store has an unresolved incident of the
// monitor and returns it.
func wfWaitIncident(t *testing.T, st store.Store, monitor string) incident.Incident {
	t.Helper()
	var inc incident.Incident
	eventually(t, 15*time.Second, "an incident of "+monitor, func() bool {
		list, err := st.UnresolvedIncidents(context.Background(), monitor)
		if err != nil || len(list) == 0 {
			return false
		}
		inc = list[0]
		return true
	})
	return inc
}

func wfKinds(t *testing.T, st store.Store, id int64) []string {
	t.Helper()
	tl, err := st.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return kinds(tl)
}

// wfGitHubToken is a made-up GitHub token the secret rules recognise.
const wfGitHubToken = "ghp_R8x2Kq7Lm3Nv9Pw4Tz6Yb1Hc5Jd0Fg8Sa2Ue"

// The human workflow over the real API with real keys: admin only, each
// action a timeline entry naming the key, notes redacted before they are
// stored, status changes notified.
func TestIncidentWorkflowOverTheAPI(t *testing.T) {
	var log syncBuffer
	n := &wfNotes{}
	tg := newTarget(t, http.StatusInternalServerError)
	a, _ := workflowDaemon(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), wfFailingMonitor(tg.srv.URL), nil, n, &log, true)
	inc := wfWaitIncident(t, a.Store(), "api-health")
	if tl, err := a.Store().Timeline(context.Background(), inc.ID); err != nil || tl[0].Kind != incident.KindOpened ||
		!strings.Contains(string(tl[0].Payload), `"sla":{"clocks":[{"clock":"acknowledge"`) {
		t.Errorf("the opening does not record the SLA deadlines: %v %v", tl, err)
	}

	admin := newKey(t, a, auth.RoleAdmin)
	viewer := newKey(t, a, auth.RoleViewer)
	base := fmt.Sprintf("/api/v1/incidents/%d", inc.ID)

	// A viewer may not act.
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+base+"/ack", nil)
	req.Header.Set("Authorization", "Bearer "+viewer.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer ack: %d, want 403", resp.StatusCode)
	}

	note := `{"text": "rotated the leaked token ` + wfGitHubToken + ` and redeployed"}`
	code, body := sign(t, admin, http.MethodPost, base+"/notes", []byte(note), time.Now(), "").send(t, a.Addr())
	if code != http.StatusCreated {
		t.Fatalf("note: %d %s", code, body)
	}
	var res api.ActionResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	_ = json.Unmarshal(res.Entry.Payload, &p)
	if text, _ := p["text"].(string); !strings.Contains(text, "[REDACTED:github-token]") || p["redacted"] != true {
		t.Errorf("note payload = %v; want the token redacted", p)
	}
	if res.Entry.Actor != "api:test admin" {
		t.Errorf("note actor = %q, want the key's name", res.Entry.Actor)
	}

	code, body = sign(t, admin, http.MethodPost, base+"/ack", []byte(`{"comment": "on it"}`), time.Now(), "").send(t, a.Addr())
	if code != http.StatusOK || !strings.Contains(body, `"acknowledged"`) {
		t.Fatalf("ack: %d %s", code, body)
	}
	code, body = sign(t, admin, http.MethodPost, base+"/ack", nil, time.Now(), "").send(t, a.Addr())
	if code != http.StatusConflict {
		t.Errorf("second ack: %d %s, want 409", code, body)
	}
	code, body = sign(t, admin, http.MethodPost, base+"/resolve", []byte(`{"comment": "fixed upstream"}`), time.Now(), "").send(t, a.Addr())
	if code != http.StatusOK {
		t.Fatalf("resolve: %d %s", code, body)
	}

	got := wfKinds(t, a.Store(), inc.ID)
	for _, k := range []string{incident.KindNote, incident.KindAcknowledged, incident.KindResolved} {
		if wfCount(got, k) != 1 {
			t.Errorf("timeline %v lacks exactly one %s", got, k)
		}
	}
	if nk := n.kinds(); wfCount(nk, incident.KindAcknowledged) != 1 || wfCount(nk, incident.KindResolved) != 1 || wfCount(nk, incident.KindNote) != 0 {
		t.Errorf("notifications = %v; want the acknowledgement and the resolution, not the note", nk)
	}
	rep, err := incident.VerifyAll(context.Background(), a.Store())
	if err != nil || len(rep.Broken) > 0 {
		t.Errorf("VerifyAll = %+v, %v", rep, err)
	}
	assertNoSecrets(t, a.Store(), &log, wfGitHubToken, admin.Token, admin.SigningSecret)
	tl, _ := a.Store().Timeline(context.Background(), inc.ID)
	for _, e := range tl {
		if strings.Contains(string(e.Payload), wfGitHubToken) {
			t.Errorf("timeline entry %d holds the token", e.Seq)
		}
	}
}

func wfCount(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// A configured maintenance window: the incident opens and its events are
// stored, nobody is notified, the timeline says why; a runtime silence
// made over the API is listed with it.
func TestMaintenanceWindowSilencesTheDaemon(t *testing.T) {
	n := &wfNotes{}
	tg := newTarget(t, http.StatusInternalServerError)
	now := time.Now().UTC()
	extra := fmt.Sprintf(`silences:
  - name: lb-migration
    monitors: [api-health]
    start: %s
    end: %s
    comment: moving the load balancer
`, now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)) + wfFailingMonitor(tg.srv.URL)
	a, _ := workflowDaemon(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), extra, nil, n, nil, true)
	inc := wfWaitIncident(t, a.Store(), "api-health")
	eventually(t, 10*time.Second, "the suppression entry", func() bool {
		return wfCount(wfKinds(t, a.Store(), inc.ID), incident.KindNotifySuppressed) == 1
	})
	if got := n.kinds(); len(got) != 0 {
		t.Errorf("notifications during the window: %v", got)
	}
	evs, err := a.Store().ListEvents(context.Background(), store.EventFilter{Monitor: "api-health"})
	if err != nil || len(evs) == 0 {
		t.Errorf("the silenced monitor's events were not stored: %d, %v", len(evs), err)
	}
	if got := a.Engine().Silenced(inc, time.Now()); len(got) != 1 || got[0] != "lb-migration" {
		t.Errorf("Silenced = %v", got)
	}

	admin, viewer := newKey(t, a, auth.RoleAdmin), newKey(t, a, auth.RoleViewer)
	code, body := sign(t, admin, http.MethodPost, "/api/v1/silences", []byte(`{"categories": ["tls"], "duration": "1h", "comment": "cert rotation"}`), time.Now(), "").send(t, a.Addr())
	if code != http.StatusCreated {
		t.Fatalf("create silence: %d %s", code, body)
	}
	var list []incident.Silence
	if code := getJSON(t, "http://"+a.Addr()+"/api/v1/silences", viewer.Token, &list); code != http.StatusOK || len(list) != 2 ||
		list[0].Name != "lb-migration" || list[1].CreatedBy != "api:test admin" {
		t.Errorf("silences = %d %+v", code, list)
	}
}

// SLA clocks on both backends with an injected clock: a breach is
// recorded and escalated once, also after a restart.
func TestSLABreachSQLite(t *testing.T) {
	runSLABreach(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
}

func TestSLABreachPostgres(t *testing.T) {
	runSLABreach(t, storetest.PostgresURL(t))
}

// wfClock is a settable clock.
type wfClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *wfClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *wfClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func runSLABreach(t *testing.T, storeURL string) {
	ctx := context.Background()
	clock := &wfClock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)} // a Friday
	n := &wfNotes{}
	tz := "sla:\n  timezone: Europe/Berlin\n"
	a, stopA := workflowDaemon(t, storeURL, tz, clock, n, nil, false)
	ev := event.Event{ID: "ev-sla-1", Time: clock.Now(), Source: "app", Kind: "auth.failure", Fingerprint: "sla-fp",
		Title: "login broken", Severity: event.SeverityHigh, Category: "authentication", OpenIncident: true}
	if err := a.Engine().HandleEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	inc, err := a.Store().OpenIncidentByFingerprint(ctx, "sla-fp")
	if err != nil {
		t.Fatal(err)
	}
	sweep := func(a *app.App, want int) {
		t.Helper()
		b, _, err := a.Sweep(ctx)
		if err != nil || b != want {
			t.Fatalf("Sweep at %s = %d breaches, %v; want %d", clock.Now().Format(time.RFC3339), b, err, want)
		}
	}
	// Two business days from Friday 10:00 Berlin: Tuesday 10:00 Berlin.
	clock.advance(4*24*time.Hour - time.Minute)
	sweep(a, 0)
	clock.advance(2 * time.Minute)
	sweep(a, 1)
	sweep(a, 0)
	if got := n.kinds(); wfCount(got, incident.KindSLABreached) != 1 {
		t.Errorf("notifications = %v; want one escalation", got)
	}
	stopA()

	// A restarted daemon does not breach the same clock again.
	b, _ := workflowDaemon(t, storeURL, tz, clock, n, nil, false)
	sweep(b, 0)
	clock.advance(27 * 24 * time.Hour)
	sweep(b, 1) // resolve: 30 days
	tl, err := b.Store().Timeline(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var clocks []string
	for _, e := range tl {
		if e.Kind == incident.KindSLABreached {
			var p map[string]any
			_ = json.Unmarshal(e.Payload, &p)
			clocks = append(clocks, fmt.Sprint(p["clock"]))
		}
	}
	if strings.Join(clocks, ",") != "acknowledge,resolve" {
		t.Errorf("breached clocks = %v", clocks)
	}
	if got := n.kinds(); wfCount(got, incident.KindSLABreached) != 2 {
		t.Errorf("notifications = %v; want two escalations", got)
	}
}

// A started daemon checks the SLA clocks at once: a deadline that passed
// while it was down is recorded without waiting for the first tick.
func TestDaemonChecksSLAsAtStart(t *testing.T) {
	ctx := context.Background()
	clock := &wfClock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	n := &wfNotes{}
	a, _ := workflowDaemon(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), "", clock, n, nil, false)
	ev := event.Event{ID: "ev-start-1", Time: clock.Now(), Source: "app", Kind: "auth.failure", Fingerprint: "start-fp",
		Title: "login broken", Severity: event.SeverityCritical, Category: "authentication", OpenIncident: true}
	if err := a.Engine().HandleEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	clock.advance(10 * 24 * time.Hour) // the daemon "was down" past both deadlines
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the breaches recorded at start", func() bool {
		return wfCount(n.kinds(), incident.KindSLABreached) == 2
	})
}
