package retention_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// withUISessions purges the fixture store's UI sessions with a 30-minute
// idle expiry.
func withUISessions(o *retention.Options) {
	o.UISessions = o.Store.(store.Store)
	o.Policy.UISessionIdle = 30 * time.Minute
}

// session stores a UI session called name and returns its id hash.
func (f *fixture) session(t *testing.T, name string, created, seen, expires time.Time) string {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:])
	if err := f.st.CreateUISession(context.Background(), store.UISession{IDHash: h, KeyID: "keyaaaaaaaaa", KeyName: "alice",
		Role: "viewer", CreatedAt: created, LastSeenAt: seen, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return h
}

// seedSessions stores, relative to now, one live session and three that
// ended: past the absolute expiry, idle 30 minutes, and signed out. It
// returns the live one's id hash.
func (f *fixture) seedSessions(t *testing.T, now time.Time) (live string) {
	t.Helper()
	live = f.session(t, "live", now.Add(-time.Hour), now.Add(-29*time.Minute), now.Add(7*time.Hour))
	f.session(t, "expired", now.Add(-8*time.Hour), now.Add(-time.Minute), now)
	f.session(t, "idle", now.Add(-time.Hour), now.Add(-30*time.Minute), now.Add(7*time.Hour))
	out := f.session(t, "signed-out", now.Add(-time.Hour), now.Add(-time.Minute), now.Add(7*time.Hour))
	if _, err := f.st.RevokeUISession(context.Background(), out, now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	return live
}

// TestUISessionsArePurged: RunOnce deletes the UI sessions that ended
// (absolute expiry, idle expiry, signed out), keeps the live one, and
// records the purge like the other data types: purge log, event, metric.
func TestUISessionsArePurged(t *testing.T) {
	testBothStores(t, func(t *testing.T, url string) {
		f := newFixture(t, url, withUISessions)
		now := t0.Add(time.Hour)
		live := f.seedSessions(t, now)
		f.clock.Set(now)

		rep, err := f.p.RunOnce(context.Background())
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		r := result(rep, retention.DataUISessions)
		if r.Deleted != 3 || !r.Cutoff.Equal(now) || r.Retention != "30m" || r.RecordID == 0 || r.Error != "" || r.Skipped != "" {
			t.Errorf("ui sessions result %+v, want 3 deleted at %s, recorded", r, now)
		}
		if _, err := f.st.GetUISession(context.Background(), live); err != nil {
			t.Errorf("the live session was purged: %v", err)
		}
		if n, err := f.st.CountExpiredUISessions(context.Background(), now, now.Add(-30*time.Minute)); err != nil || n != 0 {
			t.Errorf("%d ended sessions left (%v), want 0", n, err)
		}

		var rec retention.Record
		for _, p := range f.purges(t) {
			if p.DataType == retention.DataUISessions {
				rec = p
			}
		}
		if rec.ID != r.RecordID || rec.Deleted != 3 || !rec.Cutoff.Equal(now) || rec.Actor != retention.DefaultActor {
			t.Errorf("purge record %+v, want 3 ui sessions at %s with id %d", rec, now, r.RecordID)
		}
		found := false
		for _, ev := range f.rec.events() {
			if ev.Attributes["data_type"] != retention.DataUISessions {
				continue
			}
			found = true
			if ev.Kind != retention.EventKind || ev.Attributes["deleted"] != "3" || ev.Attributes["purge_id"] != fmt.Sprint(rec.ID) ||
				!strings.Contains(ev.Title, "3 ended ui sessions") {
				t.Errorf("purge event %+v", ev)
			}
			for k, v := range ev.Attributes {
				if strings.Contains(v, live) || strings.Contains(v, "alice") {
					t.Errorf("purge event attribute %s names a session: %q", k, v)
				}
			}
		}
		if !found {
			t.Errorf("no purge event of ui sessions in %+v", f.rec.events())
		}
		if got := metric(t, f.reg, "secopsd_retention_purged_rows_total", "data_type", retention.DataUISessions); got != 3 {
			t.Errorf("purged rows metric = %v, want 3", got)
		}

		// Nothing left to purge: not recorded again.
		rep, err = f.p.RunOnce(context.Background())
		if err != nil || result(rep, retention.DataUISessions).Deleted != 0 || result(rep, retention.DataUISessions).RecordID != 0 {
			t.Errorf("second RunOnce = %+v, %v; want nothing deleted or recorded", result(rep, retention.DataUISessions), err)
		}
	})
}

// TestUISessionsDryRunCounts: a dry run counts the ended sessions and
// deletes none.
func TestUISessionsDryRunCounts(t *testing.T) {
	testBothStores(t, func(t *testing.T, url string) {
		f := newFixture(t, url, withUISessions)
		now := t0.Add(time.Hour)
		f.seedSessions(t, now)
		f.clock.Set(now)
		rep, err := f.p.DryRun(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r := result(rep, retention.DataUISessions); r.Deleted != 3 || r.Skipped != "" || r.RecordID != 0 {
			t.Errorf("dry run result %+v, want 3 counted", r)
		}
		if n, _ := f.st.CountExpiredUISessions(context.Background(), now, now.Add(-30*time.Minute)); n != 3 {
			t.Errorf("a dry run deleted sessions: %d ended ones left, want 3", n)
		}
		for _, p := range f.purges(t) {
			if p.DataType == retention.DataUISessions {
				t.Errorf("a dry run was recorded: %+v", p)
			}
		}
	})
}

// TestUISessionsScheduled: the schedule purges ended UI sessions with
// events and correlation state.
func TestUISessionsScheduled(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), func(o *retention.Options) {
		withUISessions(o)
		o.Policy.Interval = 10 * time.Millisecond
		o.StartDelay = time.Millisecond
		o.NonceInterval = time.Hour
	})
	now := t0.Add(time.Hour)
	f.seedSessions(t, now)
	f.clock.Set(now)
	f.p.Start()
	t.Cleanup(func() { _ = f.p.Stop(context.Background()) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int64
		for _, r := range f.purges(t) {
			if r.DataType == retention.DataUISessions {
				n += r.Deleted
			}
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled purge of ui sessions did not happen: %+v", f.purges(t))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUISessionsOptional: without a UI session store the data type is
// skipped; with one, an idle expiry is required.
func TestUISessionsOptional(t *testing.T) {
	f := newFixture(t, storetest.SQLiteURL(t), nil)
	rep, err := f.p.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := result(rep, retention.DataUISessions); r.Skipped == "" || r.RecordID != 0 {
		t.Errorf("ui sessions without a store = %+v, want skipped", r)
	}
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	for name, o := range map[string]retention.Options{
		"no idle":       {Store: st, Policy: policy, UISessions: st},
		"negative idle": {Store: st, Policy: retention.Policy{Events: time.Hour, Nonces: time.Hour, CorrelationState: time.Hour, Interval: time.Hour, UISessionIdle: -1}},
	} {
		if _, err := retention.New(o); err == nil || !strings.Contains(err.Error(), "UISessionIdle") {
			t.Errorf("%s: New = %v, want an error naming UISessionIdle", name, err)
		}
	}
}
