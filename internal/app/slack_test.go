package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// slackStandIn answers chat.postMessage and chat.update as Slack does and
// records the calls.
type slackStandIn struct {
	mu    sync.Mutex
	calls []map[string]string
}

func (s *slackStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	form := map[string]string{"method": strings.TrimPrefix(r.URL.Path, "/api/")}
	for k, v := range r.Form {
		form[k] = v[0]
	}
	s.mu.Lock()
	s.calls = append(s.calls, form)
	n := len(s.calls)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0ALERTS", "ts": fmt.Sprintf("1700000000.%06d", n)})
}

func (s *slackStandIn) methods() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		out = append(out, c["method"]+" "+c["channel"]+" "+c["thread_ts"])
	}
	return out
}

// A CLI action enqueues into the Slack outbox (no daemon running); the
// daemon, once started, delivers it: the root message and the reply.
func TestSlackCLIEnqueuesDaemonDelivers(t *testing.T) {
	sl := &slackStandIn{}
	srv := httptest.NewServer(sl)
	t.Cleanup(srv.Close)
	url := storetest.SQLiteURL(t)
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
store:
  url: %q
policies: ../../policies
remediation:
  enabled: false
slack:
  enabled: true
  bot_token: xoxb-test-token
  signing_secret: test-signing-secret
  api_url: %s/api/
  outbox: {min_backoff: 10ms, max_backoff: 50ms}
`, url, srv.URL)
	cfg, err := config.Parse([]byte(yaml), "slack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	wf, err := app.OpenWorkflow(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := wf.Store.CreateIncident(ctx, incident.Incident{Fingerprint: "fp-slack", Title: "API down", Monitor: "api",
		Severity: event.SeverityHigh, Tier: incident.TierMajor, OpenedAt: time.Now()},
		incident.Entry{Time: time.Now(), Actor: incident.ActorEngine, Kind: incident.KindOpened})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wf.Engine.Acknowledge(ctx, inc.ID, "cli:alice", "on it"); err != nil {
		t.Fatal(err)
	}
	rows, err := wf.Store.SlackOutboxRows(ctx, inc.ID)
	if err != nil || len(rows) != 1 || rows[0].Kind != incident.KindAcknowledged || rows[0].Channel != "#sec-alerts" || rows[0].Status != store.SlackPending {
		t.Fatalf("outbox after the CLI action = %+v, %v", rows, err)
	}
	if err := wf.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(sl.methods()); n != 0 {
		t.Fatalf("the CLI called Slack %d times; it only enqueues", n)
	}

	a, err := app.New(context.Background(), app.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := a.Store().SlackOutboxRows(ctx, inc.ID)
		if err == nil && len(rows) == 1 && rows[0].Status == store.SlackSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v, %v", rows, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := sl.methods()
	want := []string{"chat.postMessage #sec-alerts ", "chat.update C0ALERTS ", "chat.postMessage C0ALERTS 1700000000.000001"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("slack calls = %q, want %q", got, want)
	}
}
