package slack

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

func TestRoutingPerSeverity(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	e.start()
	crit := e.open("database down", event.SeverityCritical, "connection refused")
	high := e.open("TLS expires soon", event.SeverityHigh, "7 days left")
	low := e.open("missing security.txt", event.SeverityLow, "404")
	eventually(t, "critical and high posted", func() bool { return e.allSent(crit.ID, high.ID) })

	c := e.posted("CSECCRITICAL")
	if len(c) != 1 || c[0].Key != rootKey(crit.ID) {
		t.Fatalf("#sec-critical got %+v", c)
	}
	if !strings.Contains(c[0].Blocks, "<!here>") {
		t.Errorf("critical root does not mention @here: %s", c[0].Blocks)
	}
	for _, want := range []string{"database down", "Severity: CRITICAL", "Tier: MAJOR", "Status: OPEN", "Monitor: api-health",
		"evidence: connection refused", fmt.Sprintf("https://secopsd.example.com/ui/incidents/%d|", crit.ID),
		fmt.Sprintf("https://secopsd.example.com/api/v1/incidents/%d|", crit.ID)} {
		if !strings.Contains(c[0].Blocks, want) {
			t.Errorf("critical root lacks %q: %s", want, c[0].Blocks)
		}
	}
	h := e.posted("CSECALERTS")
	if len(h) != 1 || h[0].Key != rootKey(high.ID) || strings.Contains(h[0].Blocks, "<!") {
		t.Fatalf("#sec-alerts got %+v", h)
	}
	if rows := e.outbox(low.ID); len(rows) != 0 {
		t.Errorf("low incident enqueued %+v", rows)
	}
	if n := len(e.sl.messages()); n != 2 {
		t.Errorf("%d messages posted, want 2", n)
	}
}

func TestThreadingAndRootUpdates(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	e.start()
	inc := e.open("API unhealthy", event.SeverityHigh, "status 500")
	e.append(inc.ID, incident.KindNote, "cli:alice", map[string]any{"comment": "looking"}, nil)
	// Each step is delivered before the next happens, so each root update
	// shows the status of its moment (a late delivery shows the latest).
	eventually(t, "note delivered", func() bool { return e.allSent(inc.ID) })
	e.append(inc.ID, incident.KindAcknowledged, "slack:U0123ABC", map[string]any{}, func(c *incident.Incident) {
		c.Status = incident.StatusAcknowledged
		now := time.Now()
		c.AcknowledgedAt = &now
	})
	eventually(t, "ack delivered", func() bool { return e.allSent(inc.ID) })
	e.append(inc.ID, incident.KindResolved, "secopsd/engine", map[string]any{"reason": "passed"}, func(c *incident.Incident) {
		c.Status = incident.StatusResolved
		now := time.Now()
		c.ResolvedAt = &now
	})
	eventually(t, "all delivered", func() bool { return e.allSent(inc.ID) })
	msgs := e.posted("CSECALERTS")
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want root + 3 replies: %+v", len(msgs), msgs)
	}
	root := msgs[0]
	if root.ThreadTS != "" || root.Key != rootKey(inc.ID) {
		t.Fatalf("root = %+v", root)
	}
	for i, m := range msgs[1:] {
		if m.ThreadTS != root.TS || m.Key != rowKey(inc.ID, int64(i+2)) {
			t.Errorf("reply %d = %+v, want thread_ts %s and seq %d", i, m, root.TS, i+2)
		}
	}
	if !strings.Contains(msgs[2].Blocks, "incident.acknowledged by slack:U0123ABC") {
		t.Errorf("ack reply = %s", msgs[2].Blocks)
	}
	if len(root.Updates) != 2 || !strings.Contains(root.Updates[0], "Status: ACKNOWLEDGED") || !strings.Contains(root.Updates[1], "Status: RESOLVED") {
		t.Errorf("root updates = %v", root.Updates)
	}
	rows := e.outbox(inc.ID)
	for _, r := range rows {
		if r.Attempts != 1 || r.TS == "" {
			t.Errorf("row %+v", r)
		}
	}
}

func TestApprovalButtonsAndDecisions(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	e.start()
	inc := e.open("disk full", event.SeverityCritical, "98%")
	for _, id := range []int{42, 43} {
		e.append(inc.ID, incident.KindApprovalRequested, incident.ActorRemediation, map[string]any{
			"approval_id": id, "step": "restart-api", "playbook": "api-restart", "run_id": 7,
			"reasons":   []string{"CRITICAL incident: every side-effecting step needs a human approval"},
			"approvers": []string{"slack:U0123ABC"}, "deadline": time.Now().Add(30 * time.Minute), "on_timeout": "deny",
			"target": "https://api.example.com",
		}, nil)
	}
	e.append(inc.ID, incident.KindApprovalDecided, "slack:U0123ABC", map[string]any{
		"approval_id": 42, "step": "restart-api", "decision": "approved", "decided_by": "human",
	}, nil)
	e.append(inc.ID, incident.KindApprovalDecided, "secopsd/remediation", map[string]any{
		"approval_id": 43, "step": "restart-api", "decision": "denied", "decided_by": "deadline",
	}, nil)
	eventually(t, "all delivered", func() bool { return e.allSent(inc.ID) })

	var req map[int64]postedMsg = map[int64]postedMsg{}
	for _, m := range e.posted("CSECCRITICAL") {
		for _, id := range []int64{42, 43} {
			if strings.Contains(m.Blocks, fmt.Sprintf(`"secopsd_approval_%d"`, id)) {
				req[id] = m
			}
		}
	}
	for _, id := range []int64{42, 43} {
		m, ok := req[id]
		if !ok {
			t.Fatalf("no approval message for %d", id)
		}
		var actions map[string]any
		for _, b := range blocksJSON(t, m.Blocks) {
			if b["type"] == "actions" {
				actions = b
			}
		}
		els, _ := actions["elements"].([]any)
		if actions["block_id"] != fmt.Sprintf("secopsd_approval_%d", id) || len(els) != 2 {
			t.Fatalf("actions block = %v", actions)
		}
		for i, want := range []string{ActionApprove, ActionDeny} {
			b := els[i].(map[string]any)
			if b["action_id"] != want || b["value"] != fmt.Sprint(id) || b["type"] != "button" {
				t.Errorf("button %d = %v", i, b)
			}
		}
		for _, want := range []string{"restart-api", "api-restart", "CRITICAL incident", "on_timeout: deny"} {
			if !strings.Contains(m.Blocks, want) {
				t.Errorf("approval message lacks %q", want)
			}
		}
		am, ok, err := e.st.GetSlackApprovalMessage(t.Context(), id)
		if err != nil || !ok || am.TS != m.TS || am.Channel != "CSECCRITICAL" {
			t.Errorf("stored approval message = %+v, %v, %v", am, ok, err)
		}
		if len(m.Updates) != 1 || strings.Contains(m.Updates[0], "actions") {
			t.Fatalf("approval %d updates = %v", id, m.Updates)
		}
	}
	if u := req[42].Updates[0]; !strings.Contains(u, "approved by slack:U0123ABC") {
		t.Errorf("approval 42 update = %s", u)
	}
	if u := req[43].Updates[0]; !strings.Contains(u, "denied when the deadline passed") || !strings.Contains(u, "decided_by: deadline") {
		t.Errorf("approval 43 update = %s", u)
	}
}

// Slack is down for the whole first phase: nothing is lost; once it is up
// every message is delivered exactly once, in timeline order per incident.
func TestSlackDownThenUp(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	e.sl.set(func(s *standIn) { s.down = true })
	e.start()
	var incs []incident.Incident
	for i := range 3 {
		inc := e.open(fmt.Sprintf("outage %d", i), event.SeverityHigh, "503")
		for j := range 3 {
			e.append(inc.ID, incident.KindNote, "cli:bob", map[string]any{"comment": fmt.Sprint("note ", j)}, nil)
		}
		incs = append(incs, inc)
	}
	eventually(t, "several failed attempts", func() bool {
		for _, inc := range incs {
			if e.outbox(inc.ID)[0].Attempts < 3 {
				return false
			}
		}
		return true
	})
	if n := len(e.sl.messages()); n != 0 {
		t.Fatalf("%d messages accepted while down", n)
	}
	for _, inc := range incs {
		for _, r := range e.outbox(inc.ID)[1:] {
			if r.Attempts != 0 {
				t.Errorf("row %d/%d attempted before its predecessor: %+v", inc.ID, r.Seq, r)
			}
		}
	}
	e.sl.set(func(s *standIn) { s.down = false })
	ids := []int64{incs[0].ID, incs[1].ID, incs[2].ID}
	eventually(t, "all delivered", func() bool { return e.allSent(ids...) })
	seen := map[string]int{}
	perIncident := map[string][]string{}
	for _, m := range e.sl.messages() {
		seen[m.Key]++
		inc := strings.Split(m.Key, "/")[1]
		perIncident[inc] = append(perIncident[inc], m.Key)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s posted %d times", k, n)
		}
	}
	for _, inc := range incs {
		want := []string{rootKey(inc.ID), rowKey(inc.ID, 2), rowKey(inc.ID, 3), rowKey(inc.ID, 4)}
		if got := perIncident[fmt.Sprint(inc.ID)]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("incident %d delivered %v, want %v", inc.ID, got, want)
		}
	}
}

// A 429 with Retry-After: 1 holds every call for at least a second.
func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	e.sl.set(func(s *standIn) { s.rateLimit, s.retryAfter = 1, 1 })
	e.start()
	inc := e.open("rate limited", event.SeverityHigh, "x")
	eventually(t, "delivered", func() bool { return e.allSent(inc.ID) })
	calls := e.sl.recorded()
	if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
		t.Fatalf("calls = %+v", calls)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("retried after %s, before Retry-After 1s", gap)
	}
	if r := e.outbox(inc.ID)[0]; r.Attempts != 2 {
		t.Errorf("attempts = %d", r.Attempts)
	}
}

// Slack stores a message but its answer is lost while the daemon stops;
// after the restart the message is found in Slack, not posted again, and
// the rest of the queue is delivered once.
func TestRestartMidQueueNoLossNoDuplicate(t *testing.T) {
	st := sqliteStore(t)
	// A route by channel id: the look-up of an in-doubt root needs the id
	// (a #name route learns it from its first root; see deliver.go).
	routes := func(o *Options) { o.Routes = []Route{{Severities: []string{"high"}, Channel: "C0ALERTS"}} }
	e := newEnv(t, st, routes)
	e.sl.set(func(s *standIn) { s.hangPost = true })
	e.n.Start()
	inc := e.open("restart me", event.SeverityHigh, "x")
	eventually(t, "the root reached Slack", func() bool { return len(e.sl.messages()) == 1 })
	if err := e.n.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := e.outbox(inc.ID)[0]; r.Status != store.SlackSending {
		t.Fatalf("row after the lost answer = %+v, want sending", r)
	}
	// Entries notified while the daemon was down, by another process.
	e.append(inc.ID, incident.KindNote, "cli:carol", map[string]any{"comment": "one"}, nil)
	e.append(inc.ID, incident.KindNote, "cli:carol", map[string]any{"comment": "two"}, nil)
	// The restarted daemon notifies the opening entry again: nothing new.
	tl, _ := st.Timeline(t.Context(), inc.ID)
	e.n = e.notifier(routes)
	e.notify(inc, tl[0])
	e.start()
	eventually(t, "all delivered", func() bool { return e.allSent(inc.ID) })
	msgs := e.sl.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3 (no duplicate root): %+v", len(msgs), msgs)
	}
	if msgs[0].Key != rootKey(inc.ID) || msgs[1].ThreadTS != msgs[0].TS || msgs[2].ThreadTS != msgs[0].TS {
		t.Errorf("messages = %+v", msgs)
	}
	looked := false
	for _, c := range e.sl.recorded() {
		if c.Method == "conversations.history" && (c.Form["include_all_metadata"] == "1" || c.Form["include_all_metadata"] == "true") {
			looked = true
		}
	}
	if !looked {
		t.Error("the in-doubt message was not looked up with its metadata")
	}
	if r := e.outbox(inc.ID)[0]; r.TS != msgs[0].TS {
		t.Errorf("root row ts = %q, want %q", r.TS, msgs[0].TS)
	}
}

// A lost answer on a reply (a dropped connection, no restart): the reply
// is looked up in its thread and not posted twice.
func TestLostAnswerOnReplyLookedUp(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	e.start()
	inc := e.open("reply", event.SeverityHigh, "x")
	eventually(t, "root", func() bool { return e.allSent(inc.ID) })
	e.sl.set(func(s *standIn) { s.failAfterStore = 502 })
	e.append(inc.ID, incident.KindNote, "cli:dave", map[string]any{"comment": "hello"}, nil)
	eventually(t, "reply recorded", func() bool { return e.allSent(inc.ID) })
	msgs := e.sl.messages()
	if len(msgs) != 2 || msgs[1].Key != rowKey(inc.ID, 2) {
		t.Errorf("messages = %+v, want the reply once", msgs)
	}
	// Two claims: the post whose answer was lost, and the look-up that
	// found it (and posted nothing).
	if r := e.outbox(inc.ID)[1]; r.Attempts != 2 || r.TS != msgs[1].TS {
		t.Errorf("reply row = %+v (found by the look-up, not posted again)", r)
	}
	replies := 0
	for _, c := range e.sl.recorded() {
		if c.Method == "conversations.replies" {
			replies++
		}
	}
	if replies == 0 {
		t.Error("no look-up in the thread")
	}
}

func TestEscapingAndRedaction(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	e.start()
	token := "ghp_" + "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"
	title := "<!here> *bold* <http://evil|click> & " + token
	inc := e.open(title, event.SeverityHigh, "<@U999> leaked "+token)
	e.append(inc.ID, incident.KindNote, "cli:<!channel>", map[string]any{"comment": "_x_ ~y~ `z` <!subteam^S1> " + token}, nil)
	eventually(t, "delivered", func() bool { return e.allSent(inc.ID) })
	for _, c := range e.sl.recorded() {
		for k, v := range c.Form {
			if strings.Contains(v, token) {
				t.Errorf("%s %s carries the token", c.Method, k)
			}
			for _, bad := range []string{"<!here>", "<http://evil", "<@U999>", "<!channel>", "<!subteam^S1>"} {
				if strings.Contains(v, bad) {
					t.Errorf("%s %s carries %q: %s", c.Method, k, bad, v)
				}
			}
		}
	}
	msgs := e.posted("CSECALERTS")
	if !strings.Contains(msgs[0].Blocks, `&lt;!here&gt; *bold* &lt;http://evil|click&gt; &amp;`) {
		t.Errorf("title not escaped: %s", msgs[0].Blocks)
	}
	if !strings.Contains(msgs[0].Blocks, "[REDACTED:") {
		t.Errorf("token not redacted: %s", msgs[0].Blocks)
	}
	// Untrusted text sits only in plain_text objects, so *bold* stays
	// literal; mrkdwn holds only secopsd's own links.
	for _, m := range msgs {
		for _, b := range blocksJSON(t, m.Blocks) {
			if b["type"] != "context" {
				checkPlain(t, b)
			}
		}
	}
	for _, c := range e.sl.recorded() {
		if c.Method == "chat.postMessage" && c.Form["mrkdwn"] != "false" {
			t.Errorf("fallback text sent with mrkdwn %q", c.Form["mrkdwn"])
		}
	}
}

// checkPlain fails if a block holds a mrkdwn text object.
func checkPlain(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if x["type"] == "mrkdwn" {
			t.Errorf("mrkdwn text object outside a context block: %v", x)
		}
		for _, c := range x {
			checkPlain(t, c)
		}
	case []any:
		for _, c := range x {
			checkPlain(t, c)
		}
	}
}

// A permanent refusal keeps the row, backs off to the maximum, is logged
// once and does not hold back other incidents.
func TestPermanentErrorKeepsRow(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	obs := &countingObserver{}
	e := newEnv(t, sqliteStore(t), func(o *Options) { o.Logger = logger; o.Observer = obs })
	e.sl.set(func(s *standIn) { s.errorFor["#sec-alerts"] = "channel_not_found" })
	e.start()
	bad := e.open("goes nowhere", event.SeverityHigh, "x")
	good := e.open("goes through", event.SeverityCritical, "x")
	eventually(t, "critical delivered", func() bool { return e.allSent(good.ID) })
	eventually(t, "refused several times", func() bool {
		r := e.outbox(bad.ID)[0]
		return r.Attempts >= 3 && r.Status == store.SlackPending && r.LastError == "channel_not_found" && obs.permanent() >= 3
	})
	mu.Lock()
	n := strings.Count(logs.String(), "slack refused a message")
	mu.Unlock()
	if n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
	e.sl.set(func(s *standIn) { delete(s.errorFor, "#sec-alerts") })
	eventually(t, "delivered once the channel exists", func() bool { return e.allSent(bad.ID) })
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

type countingObserver struct {
	mu        sync.Mutex
	delivered int
	perm      int
}

func (c *countingObserver) Delivered(string) { c.mu.Lock(); c.delivered++; c.mu.Unlock() }
func (c *countingObserver) Failed(_ string, permanent bool) {
	c.mu.Lock()
	if permanent {
		c.perm++
	}
	c.mu.Unlock()
}
func (c *countingObserver) permanent() int { c.mu.Lock(); defer c.mu.Unlock(); return c.perm }

func TestDigestBatchesOnePostPerPeriod(t *testing.T) {
	const period = time.Second
	routes := []Route{{Severities: []string{"low"}, Channel: "C0DIGEST", Digest: period}}
	// Shift the notifier's clock so that the test starts at the beginning
	// of a period: the three rows below then share one period however slow
	// the machine is (up to a second).
	start := time.Now()
	shift := start.Truncate(period).Add(period).Sub(start)
	e := newEnv(t, sqliteStore(t), func(o *Options) {
		o.Routes = routes
		o.Now = func() time.Time { return time.Now().Add(shift) }
	})
	e.start()
	var ids []int64
	for i := range 3 {
		ids = append(ids, e.open(fmt.Sprintf("low %d", i), event.SeverityLow, "x").ID)
	}
	eventually(t, "digest delivered", func() bool { return e.allSent(ids...) })
	msgs := e.posted("C0DIGEST")
	if len(msgs) != 1 {
		t.Fatalf("%d digest messages, want 1: %+v", len(msgs), msgs)
	}
	for i := range 3 {
		if !strings.Contains(msgs[0].Blocks, fmt.Sprintf("low %d", i)) {
			t.Errorf("digest lacks incident %d: %s", i, msgs[0].Blocks)
		}
	}
	if high := e.open("high", event.SeverityHigh, "x"); len(e.outbox(high.ID)) != 0 {
		t.Error("an unrouted severity was enqueued")
	}
}

func TestNotifyIsIdempotent(t *testing.T) {
	e := newEnv(t, sqliteStore(t), nil)
	inc := e.open("twice", event.SeverityHigh, "x")
	tl, _ := e.st.Timeline(t.Context(), inc.ID)
	e.notify(inc, tl[0])
	if rows := e.outbox(inc.ID); len(rows) != 1 || rows[0].Channel != "#sec-alerts" {
		t.Errorf("rows = %+v", rows)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Store is required") || !strings.Contains(err.Error(), "Token is required") {
		t.Errorf("New(empty) = %v", err)
	}
	_, err := New(Options{Store: outboxAdapter{}, Incidents: sqliteStore(t), Token: "x", Routes: []Route{{Channel: "#a", Mention: "everyone"}}})
	if err == nil {
		t.Error("invalid mention accepted")
	}
}

func BenchmarkNotifyEnqueue(b *testing.B) {
	st := benchStore(b)
	n, err := New(Options{Store: outboxAdapter{st}, Incidents: st, Token: "xoxb-test-token"})
	if err != nil {
		b.Fatal(err)
	}
	inc := incident.Incident{ID: 1, Severity: event.SeverityHigh, Title: "bench"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	seq := int64(0)
	for b.Loop() {
		seq++
		if _, err := n.Notify(ctx, incident.Notification{Incident: inc, Entry: incident.TimelineEntry{IncidentID: 1, Seq: seq, Kind: "note.added"}}); err != nil {
			b.Fatal(err)
		}
	}
}
