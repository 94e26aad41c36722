package slack

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// outboxAdapter adapts store.Store to Store, as the app does.
type outboxAdapter struct{ s store.Store }

func (a outboxAdapter) EnqueueSlack(ctx context.Context, r OutboxRow) (bool, error) {
	return a.s.EnqueueSlack(ctx, store.SlackOutboxRow(r))
}

func (a outboxAdapter) DueSlack(ctx context.Context, now time.Time, limit int) ([]OutboxRow, error) {
	rows, err := a.s.DueSlack(ctx, now, limit)
	out := make([]OutboxRow, len(rows))
	for i, r := range rows {
		out[i] = OutboxRow(r)
	}
	return out, err
}

func (a outboxAdapter) ClaimSlack(ctx context.Context, c Claim) (bool, error) {
	sc := store.SlackClaim{Batch: c.Batch, Token: c.Token, Now: c.Now, Until: c.Until}
	for _, r := range c.Rows {
		sc.Rows = append(sc.Rows, store.SlackClaimRow(r))
	}
	return a.s.ClaimSlack(ctx, sc)
}

func (a outboxAdapter) RetrySlack(ctx context.Context, ids []int64, token, status string, next time.Time, lastError string) error {
	return a.s.RetrySlack(ctx, ids, token, status, next, lastError)
}

func (a outboxAdapter) MarkSlackSent(ctx context.Context, d Delivery) error {
	sd := store.SlackDelivery{IDs: d.IDs, Channel: d.Channel, TS: d.TS, At: d.At}
	if d.Thread != nil {
		t := store.SlackThread(*d.Thread)
		sd.Thread = &t
	}
	if d.Approval != nil {
		m := store.SlackApprovalMessage(*d.Approval)
		sd.Approval = &m
	}
	return a.s.MarkSlackSent(ctx, sd)
}

func (a outboxAdapter) SaveSlackThread(ctx context.Context, t Thread) error {
	return a.s.SaveSlackThread(ctx, store.SlackThread(t))
}

func (a outboxAdapter) GetSlackThread(ctx context.Context, id int64) (Thread, bool, error) {
	t, ok, err := a.s.GetSlackThread(ctx, id)
	return Thread(t), ok, err
}

func (a outboxAdapter) SlackChannelID(ctx context.Context, route string) (string, bool, error) {
	return a.s.SlackChannelID(ctx, route)
}

func (a outboxAdapter) GetSlackApprovalMessage(ctx context.Context, id int64) (ApprovalMessage, bool, error) {
	m, ok, err := a.s.GetSlackApprovalMessage(ctx, id)
	return ApprovalMessage(m), ok, err
}

// env is one test's store, stand-in and notifier.
type env struct {
	t  *testing.T
	st store.Store
	sl *standIn
	n  *Notifier
}

func sqliteStore(t *testing.T) store.Store { return storetest.OpenURL(t, storetest.SQLiteURL(t)) }

func newEnv(t *testing.T, st store.Store, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, st: st, sl: newStandIn(t)}
	e.n = e.notifier(mod)
	return e
}

func (e *env) notifier(mod func(*Options)) *Notifier {
	e.t.Helper()
	opts := Options{
		Store: outboxAdapter{e.st}, Incidents: e.st, Token: "xoxb-test-token", APIURL: e.sl.url(),
		UIURL: "https://secopsd.example.com", MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, BreakerFailures: 1000,
	}
	if mod != nil {
		mod(&opts)
	}
	n, err := New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) start() {
	e.n.Start()
	e.t.Cleanup(func() { _ = e.n.Stop(context.Background()) })
}

// open creates an incident and notifies its opening.
func (e *env) open(title string, sev event.Severity, evidence string) incident.Incident {
	e.t.Helper()
	ctx := e.t.Context()
	inc, err := e.st.CreateIncident(ctx, incident.Incident{
		Fingerprint: title + sev.String(), Title: title, Monitor: "api-health", Category: "availability",
		Severity: sev, Tier: incident.TierMajor, OpenedAt: time.Now(),
	}, incident.Entry{Time: time.Now(), Actor: incident.ActorEngine, Kind: incident.KindOpened, Payload: map[string]any{
		"title": title, "attributes": map[string]string{"evidence": evidence, "target": "https://api.example.com/healthz"},
	}})
	if err != nil {
		e.t.Fatal(err)
	}
	tl, err := e.st.Timeline(ctx, inc.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	e.notify(inc, tl[0])
	return inc
}

// append adds an entry (changing the incident with mut) and notifies it.
func (e *env) append(id int64, kind, actor string, payload map[string]any, mut func(*incident.Incident)) incident.TimelineEntry {
	e.t.Helper()
	inc, entries, err := e.st.MutateIncident(e.t.Context(), id, func(cur *incident.Incident) ([]incident.Entry, error) {
		if mut != nil {
			mut(cur)
		}
		return []incident.Entry{{Time: time.Now(), Actor: actor, Kind: kind, Payload: payload}}, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.notify(inc, entries[0])
	return entries[0]
}

func (e *env) notify(inc incident.Incident, en incident.TimelineEntry) {
	e.t.Helper()
	if retry, err := e.n.Notify(e.t.Context(), incident.Notification{Incident: inc, Entry: en}); err != nil || retry {
		e.t.Fatalf("Notify = %v, %v", retry, err)
	}
}

// posted returns the stand-in's messages to channel.
func (e *env) posted(channel string) []postedMsg {
	var out []postedMsg
	for _, m := range e.sl.messages() {
		if m.Channel == channel {
			out = append(out, m)
		}
	}
	return out
}

// outbox returns an incident's rows.
func (e *env) outbox(id int64) []store.SlackOutboxRow {
	e.t.Helper()
	rows, err := e.st.SlackOutboxRows(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) allSent(ids ...int64) bool {
	for _, id := range ids {
		for _, r := range e.outbox(id) {
			if r.Status != store.SlackSent {
				return false
			}
		}
	}
	return true
}

// blocksJSON decodes a message's blocks.
func blocksJSON(t *testing.T, raw string) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("blocks %q: %v", raw, err)
	}
	return out
}
