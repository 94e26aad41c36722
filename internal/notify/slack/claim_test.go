package slack

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// claimRoutes sends high incidents to a channel by id (so that an in-doubt
// root can be looked up) and low ones to a digest channel.
func claimRoutes(o *Options) {
	o.Routes = []Route{
		{Severities: []string{"high"}, Channel: "C0ALERTS"},
		{Severities: []string{"low"}, Channel: "C0DIGEST", Digest: 50 * time.Millisecond},
	}
}

// Two delivery workers (two daemons) drain one outbox into one Slack:
// every message is posted exactly once, in timeline order per incident.
func TestTwoWorkersPostEveryMessageOnce(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		st := sqliteStore(t)
		testTwoWorkers(t, st, st)
	})
	t.Run("PostgresTwoPools", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		testTwoWorkers(t, storetest.OpenURL(t, url), storetest.OpenURL(t, url))
	})
}

func testTwoWorkers(t *testing.T, a, b store.Store) {
	e := newEnv(t, a, claimRoutes)
	peer := &env{t: t, st: b, sl: e.sl}
	peer.n = peer.notifier(claimRoutes)
	e.start()
	peer.start()

	var high, low []incident.Incident
	for i := range 8 {
		inc := e.open(fmt.Sprintf("outage %d", i), event.SeverityHigh, "503")
		for j := range 3 {
			w := e
			if j%2 == 1 {
				w = peer // entries are notified by either daemon
			}
			w.append(inc.ID, incident.KindNote, "cli:bob", map[string]any{"comment": fmt.Sprint("note ", j)}, nil)
		}
		high = append(high, inc)
		low = append(low, peer.open(fmt.Sprintf("minor %d", i), event.SeverityLow, "x"))
	}
	var ids []int64
	for _, inc := range append(append([]incident.Incident{}, high...), low...) {
		ids = append(ids, inc.ID)
	}
	eventually(t, "all delivered", func() bool { return e.allSent(ids...) })

	msgs := e.sl.messages()
	byKey := map[string][]postedMsg{}
	for _, m := range msgs {
		byKey[m.Key] = append(byKey[m.Key], m)
	}
	for k, ms := range byKey {
		if len(ms) != 1 {
			t.Errorf("%s posted %d times", k, len(ms))
		}
	}
	for _, inc := range high {
		var got []string
		for _, m := range msgs {
			if strings.HasPrefix(m.Key, fmt.Sprintf("incident/%d/", inc.ID)) {
				got = append(got, m.Key)
			}
		}
		want := []string{rootKey(inc.ID), rowKey(inc.ID, 2), rowKey(inc.ID, 3), rowKey(inc.ID, 4)}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("incident %d posted %v, want %v", inc.ID, got, want)
			continue
		}
		root := byKey[rootKey(inc.ID)][0]
		for _, r := range e.outbox(inc.ID)[1:] {
			m := byKey[rowKey(inc.ID, r.Seq)][0]
			if m.ThreadTS != root.TS || r.TS != m.TS {
				t.Errorf("incident %d seq %d: message %+v, row ts %q; want a reply in %s", inc.ID, r.Seq, m, r.TS, root.TS)
			}
		}
	}
	// Each digest row went out in exactly one digest message.
	for _, inc := range low {
		r := e.outbox(inc.ID)[0]
		ms := byKey[digestKey(r.Batch)]
		if r.Batch == "" || len(ms) != 1 || ms[0].TS != r.TS || ms[0].Channel != "C0DIGEST" {
			t.Errorf("digest row %+v: messages %+v", r, ms)
		}
	}
}

// A claimed row is left alone by other workers during its lease; once the
// lease has run out (its holder hung or died) another worker takes it
// over, looks the message up in Slack and, finding it, posts nothing; the
// first holder's late release then changes nothing.
func TestExpiredLeaseTakenOverWithLookUp(t *testing.T) {
	st := sqliteStore(t)
	e := newEnv(t, st, claimRoutes)
	e.sl.set(func(s *standIn) { s.hangPost = true })
	e.start()
	inc := e.open("hung holder", event.SeverityHigh, "x")
	eventually(t, "the root reached Slack", func() bool { return len(e.sl.messages()) == 1 })
	held := e.outbox(inc.ID)[0]
	if held.Status != store.SlackSending || held.ClaimToken == "" || held.Attempts != 1 ||
		held.NextAttemptAt.Before(time.Now().Add(claimLease-time.Minute)) {
		t.Fatalf("held row = %+v, want sending with a token and a lease", held)
	}

	peer := &env{t: t, st: st, sl: e.sl}
	peer.n = peer.notifier(claimRoutes)
	if peer.n.d.pass(t.Context()) {
		t.Fatal("a second worker delivered a row during its lease")
	}
	if r := e.outbox(inc.ID)[0]; r.ClaimToken != held.ClaimToken || r.Attempts != 1 || r.Status != store.SlackSending {
		t.Fatalf("row changed by a worker that does not hold it: %+v", r)
	}
	for _, c := range e.sl.recorded() {
		if c.Method != "chat.postMessage" {
			t.Fatalf("unexpected Slack call during the lease: %+v", c)
		}
	}

	late := &env{t: t, st: st, sl: e.sl}
	late.n = late.notifier(func(o *Options) {
		claimRoutes(o)
		o.Now = func() time.Time { return time.Now().Add(claimLease + time.Second) }
	})
	if !late.n.d.pass(t.Context()) {
		t.Fatal("the row was not taken over after its lease")
	}
	msgs := e.sl.messages()
	r := e.outbox(inc.ID)[0]
	if len(msgs) != 1 || r.Status != store.SlackSent || r.TS != msgs[0].TS || r.Attempts != 2 || r.ClaimToken == held.ClaimToken {
		t.Fatalf("after the take-over: row %+v, messages %+v; want the first message found, not posted again", r, msgs)
	}
	looked := false
	for _, c := range e.sl.recorded() {
		looked = looked || c.Method == "conversations.history"
	}
	if !looked {
		t.Error("the taken-over row was not looked up")
	}

	if err := e.n.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := e.outbox(inc.ID)[0]; after.Status != store.SlackSent || after.TS != r.TS || after.ClaimToken != r.ClaimToken {
		t.Errorf("the first holder's release changed the row: %+v", after)
	}
}
