package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// clock is a settable clock for the store's received_at stamps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// openAt opens the store at url, migrated, stamping received_at with c.
func openAt(t testing.TB, url string, c *clock) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, store.Options{Migrate: true, Now: c.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// retentionT0 is the suite's reference time (microsecond precision, as
// stored).
var retentionT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// runRetention runs the retention conformance suite; url returns the URL
// of a fresh, empty database.
func runRetention(t *testing.T, url func(t testing.TB) string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, url string)
	}{
		{"PurgeEventsCutoffIsExact", testPurgeCutoffExact},
		{"PurgeEventsInChunks", testPurgeInChunks},
		{"PurgeEventsStopsWhenCancelled", testPurgeCancelled},
		{"PurgeRecordsRoundTrip", testPurgeRecords},
		{"PurgeRecordsAreAppendOnly", testPurgeRecordsAppendOnly},
		{"PurgeRecordRejectsInvalid", testPurgeRecordInvalid},
		{"NoncesCountAndPurge", testNoncesCountAndPurge},
		{"PurgeKeepsTimelinesVerifiable", testPurgeKeepsTimelines},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, url(t))
		})
	}
}

// retentionEvent is an event with the given id and time.
func retentionEvent(id string, at time.Time) event.Event {
	return event.Event{ID: id, Time: at, Source: "shop", Kind: "auth.failure", Fingerprint: "fp-" + id,
		Severity: event.SeverityLow, Attributes: map[string]string{"ip": "192.0.2.1"}}
}

func appendAt(t *testing.T, s store.Store, c *clock, at time.Time, evs ...event.Event) {
	t.Helper()
	c.Set(at)
	if _, err := s.AppendEvents(context.Background(), evs); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
}

// storedIDs returns the ids of every stored event, newest first.
func storedIDs(t *testing.T, s store.Store) []string {
	t.Helper()
	evs, err := s.ListEvents(context.Background(), store.EventFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

// testPurgeCutoffExact: an event received before the cutoff is deleted, one
// received at the cutoff is kept; the event's own time does not matter.
func testPurgeCutoffExact(t *testing.T, url string) {
	ctx := context.Background()
	c := newClock(retentionT0)
	s := openAt(t, url, c)
	cutoff := retentionT0.Add(time.Hour)
	// "old" claims a recent time but was received just before the cutoff;
	// "late" claims a time long ago but was received at the cutoff.
	appendAt(t, s, c, cutoff.Add(-time.Microsecond), retentionEvent("old", cutoff.Add(24*time.Hour)))
	appendAt(t, s, c, cutoff, retentionEvent("late", retentionT0.Add(-30*24*time.Hour)))
	appendAt(t, s, c, cutoff.Add(time.Microsecond), retentionEvent("new", retentionT0))

	if n, err := s.CountEventsBefore(ctx, cutoff); err != nil || n != 1 {
		t.Fatalf("CountEventsBefore = %d, %v; want 1", n, err)
	}
	n, err := s.PurgeEvents(ctx, cutoff)
	if err != nil || n != 1 {
		t.Fatalf("PurgeEvents = %d, %v; want 1", n, err)
	}
	// ListEvents orders by the events' own times: new, then late.
	if got := fmt.Sprint(storedIDs(t, s)); got != "[new late]" {
		t.Fatalf("after the purge: %s; want [new late]", got)
	}
	if n, err := s.PurgeEvents(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second PurgeEvents = %d, %v; want 0", n, err)
	}
	if n, err := s.CountEventsBefore(ctx, cutoff.Add(2*time.Microsecond)); err != nil || n != 2 {
		t.Errorf("CountEventsBefore(later) = %d, %v; want 2", n, err)
	}
}

// testPurgeInChunks purges more rows than a chunk holds: each statement
// deletes at most a chunk, oldest first, and exactly the rows received
// before the cutoff go. It runs once with small chunks (to see every
// statement) and once with the real chunk size.
func testPurgeInChunks(t *testing.T, url string) {
	ctx := context.Background()
	c := newClock(retentionT0)
	s := openAt(t, url, c)
	seed := func(prefix string, n int) {
		const batch = 5000
		for start := 0; start < n; start += batch {
			evs := make([]event.Event, 0, batch)
			for i := start; i < min(start+batch, n); i++ {
				evs = append(evs, retentionEvent(fmt.Sprintf("%s-%06d", prefix, i), retentionT0))
			}
			// Spread the rows over a few received times.
			appendAt(t, s, c, retentionT0.Add(time.Duration(start)*time.Millisecond), evs...)
		}
	}
	keep := []event.Event{retentionEvent("keep-1", retentionT0), retentionEvent("keep-2", retentionT0)}
	appendAt(t, s, c, retentionT0.Add(time.Hour), keep...)
	cutoff := retentionT0.Add(time.Minute)

	// Small chunks: 250 rows in statements of 100, 100 and 50.
	seed("small", 250)
	n, chunks, err := store.PurgeEventsInChunksOf(ctx, s, cutoff, 100)
	if err != nil || n != 250 || fmt.Sprint(chunks) != "[100 100 50]" {
		t.Fatalf("purge in chunks of 100 = %d, %v, %v; want 250 in [100 100 50]", n, chunks, err)
	}
	if got := fmt.Sprint(storedIDs(t, s)); got != "[keep-2 keep-1]" {
		t.Fatalf("after the purge: %s; want [keep-2 keep-1]", got)
	}

	// The real chunk size, crossed once.
	const old = store.PurgeChunkRows + 17
	seed("old", old)
	if n, err := s.CountEventsBefore(ctx, cutoff); err != nil || n != old {
		t.Fatalf("CountEventsBefore = %d, %v; want %d", n, err, old)
	}
	if n, err := s.PurgeEvents(ctx, cutoff); err != nil || n != old {
		t.Fatalf("PurgeEvents = %d, %v; want %d", n, err, old)
	}
	if got := fmt.Sprint(storedIDs(t, s)); got != "[keep-2 keep-1]" {
		t.Errorf("after the purge: %s; want [keep-2 keep-1]", got)
	}
}

// testPurgeCancelled: a cancelled purge deletes nothing more and says so.
func testPurgeCancelled(t *testing.T, url string) {
	c := newClock(retentionT0)
	s := openAt(t, url, c)
	appendAt(t, s, c, retentionT0, retentionEvent("a", retentionT0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := s.PurgeEvents(ctx, retentionT0.Add(time.Hour))
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("PurgeEvents(cancelled) = %d, %v; want 0 and context.Canceled", n, err)
	}
	if got := fmt.Sprint(storedIDs(t, s)); got != "[a]" {
		t.Errorf("after a cancelled purge: %s; want [a]", got)
	}
}

func testPurgeRecords(t *testing.T, url string) {
	ctx := context.Background()
	s := openAt(t, url, newClock(retentionT0))
	if got, err := s.ListPurges(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("ListPurges on an empty store = %v, %v", got, err)
	}
	recs := []retention.Record{
		{DataType: retention.DataEvents, Cutoff: retentionT0.Add(-7 * 24 * time.Hour), Deleted: 0,
			StartedAt: retentionT0, FinishedAt: retentionT0, Actor: "secopsd"},
		{DataType: retention.DataNonces, Cutoff: retentionT0.Add(time.Minute), Deleted: 42,
			StartedAt: retentionT0.Add(time.Minute), FinishedAt: retentionT0.Add(time.Minute + 1500*time.Microsecond),
			Actor: "cli:alice", Error: "context deadline exceeded"},
	}
	for i := range recs {
		id, err := s.RecordPurge(ctx, recs[i])
		if err != nil {
			t.Fatalf("RecordPurge(%d): %v", i, err)
		}
		if i > 0 && id <= recs[i-1].ID {
			t.Errorf("ids do not increase: %d after %d", id, recs[i-1].ID)
		}
		recs[i].ID = id
	}
	got, err := s.ListPurges(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []retention.Record{recs[1], recs[0]}
	if len(got) != len(want) {
		t.Fatalf("ListPurges = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.DataType != w.DataType || !g.Cutoff.Equal(w.Cutoff) || g.Deleted != w.Deleted ||
			!g.StartedAt.Equal(w.StartedAt) || !g.FinishedAt.Equal(w.FinishedAt) || g.Actor != w.Actor || g.Error != w.Error {
			t.Errorf("record %d = %+v, want %+v", i, g, w)
		}
	}
	if got, err := s.ListPurges(ctx, 1); err != nil || len(got) != 1 || got[0].ID != recs[1].ID {
		t.Errorf("ListPurges(1) = %+v, %v; want the newest", got, err)
	}
}

// testPurgeRecordsAreAppendOnly: the database refuses to change or delete
// a purge record, whoever asks.
func testPurgeRecordsAppendOnly(t *testing.T, url string) {
	ctx := context.Background()
	s := openAt(t, url, newClock(retentionT0))
	id, err := s.RecordPurge(ctx, retention.Record{DataType: retention.DataEvents, Cutoff: retentionT0, Deleted: 5,
		StartedAt: retentionT0, FinishedAt: retentionT0, Actor: "secopsd"})
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		`UPDATE purges SET deleted = 0 WHERE id = $1`,
		`DELETE FROM purges WHERE id = $1`,
	}
	for _, q := range stmts {
		if _, err := storetest.Exec(ctx, s, q, id); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only guard", q, err)
		}
	}
	if s.Backend() == store.BackendPostgres {
		if _, err := storetest.Exec(ctx, s, `TRUNCATE purges`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("TRUNCATE purges: err = %v, want the append-only guard", err)
		}
	}
	got, err := s.ListPurges(ctx, 0)
	if err != nil || len(got) != 1 || got[0].Deleted != 5 {
		t.Errorf("after the attempts: %+v, %v; want the record unchanged", got, err)
	}
}

func testPurgeRecordInvalid(t *testing.T, url string) {
	ctx := context.Background()
	s := openAt(t, url, newClock(retentionT0))
	good := retention.Record{DataType: retention.DataEvents, Cutoff: retentionT0, StartedAt: retentionT0, FinishedAt: retentionT0, Actor: "secopsd"}
	for name, mutate := range map[string]func(r *retention.Record){
		"no data type":          func(r *retention.Record) { r.DataType = "" },
		"no actor":              func(r *retention.Record) { r.Actor = " " },
		"negative count":        func(r *retention.Record) { r.Deleted = -1 },
		"finished before start": func(r *retention.Record) { r.FinishedAt = r.StartedAt.Add(-time.Second) },
		"no start":              func(r *retention.Record) { r.StartedAt = time.Time{} },
	} {
		r := good
		mutate(&r)
		if _, err := s.RecordPurge(ctx, r); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if got, _ := s.ListPurges(ctx, 0); len(got) != 0 {
		t.Errorf("invalid records were stored: %+v", got)
	}
}

// testNoncesCountAndPurge: nonces that expired at or before now are
// counted and purged; the others stay spent.
func testNoncesCountAndPurge(t *testing.T, url string) {
	ctx := context.Background()
	s := openAt(t, url, newClock(retentionT0))
	for i := range 5 {
		expires := retentionT0.Add(time.Minute)
		if i >= 3 {
			expires = retentionT0.Add(20 * time.Minute)
		}
		if fresh, err := s.ClaimNonce(ctx, "keyaaaaaaaaa", fmt.Sprintf("nonce-%016d", i), retentionT0, expires); err != nil || !fresh {
			t.Fatalf("ClaimNonce(%d) = %v, %v", i, fresh, err)
		}
	}
	now := retentionT0.Add(time.Minute)
	if n, err := s.CountExpiredNonces(ctx, now.Add(-time.Microsecond)); err != nil || n != 0 {
		t.Errorf("CountExpiredNonces(just before expiry) = %d, %v; want 0", n, err)
	}
	if n, err := s.CountExpiredNonces(ctx, now); err != nil || n != 3 {
		t.Fatalf("CountExpiredNonces = %d, %v; want 3", n, err)
	}
	if n, err := s.PurgeNonces(ctx, now); err != nil || n != 3 {
		t.Fatalf("PurgeNonces = %d, %v; want 3", n, err)
	}
	if n, err := s.CountExpiredNonces(ctx, now); err != nil || n != 0 {
		t.Errorf("CountExpiredNonces after the purge = %d, %v; want 0", n, err)
	}
	// An unexpired nonce is still a replay.
	if fresh, err := s.ClaimNonce(ctx, "keyaaaaaaaaa", fmt.Sprintf("nonce-%016d", 4), now, now.Add(10*time.Minute)); err != nil || fresh {
		t.Errorf("replay after the purge = fresh %v, %v; want refused", fresh, err)
	}
}

// fixedTier is a Tierer that always answers MINOR.
type fixedTier struct{}

func (fixedTier) Tier(context.Context, incident.TierInput) (incident.Tier, error) {
	return incident.TierMinor, nil
}

// testPurgeKeepsTimelinesVerifiable: the incident engine opens an incident
// whose timeline refers to stored events; purging every event leaves the
// incident readable and every hash chain intact.
func testPurgeKeepsTimelines(t *testing.T, url string) {
	ctx := context.Background()
	c := newClock(retentionT0)
	s := openAt(t, url, c)
	eng, err := incident.New(incident.Options{Store: s, Tierer: fixedTier{}, Clock: incident.ClockFunc(c.Now)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		ev := retentionEvent(fmt.Sprintf("ev-%d", i), retentionT0.Add(time.Duration(i)*time.Second))
		ev.Fingerprint = "fp-stuffing"
		ev.Severity, ev.OpenIncident = event.SeverityHigh, true
		appendAt(t, s, c, retentionT0.Add(time.Duration(i)*time.Second), ev)
		if err := eng.HandleEvent(ctx, ev); err != nil {
			t.Fatalf("HandleEvent: %v", err)
		}
		ids = append(ids, ev.ID)
	}
	inc, err := s.OpenIncidentByFingerprint(ctx, "fp-stuffing")
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Timeline(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		found := false
		for _, e := range before {
			found = found || strings.Contains(string(e.Payload), `"event_id":"`+id+`"`)
		}
		if !found {
			t.Fatalf("the timeline does not refer to event %s: %+v", id, before)
		}
	}

	n, err := s.PurgeEvents(ctx, retentionT0.Add(8*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("PurgeEvents = %d, %v; want 3", n, err)
	}
	if got := storedIDs(t, s); len(got) != 0 {
		t.Fatalf("events left: %v", got)
	}
	rep, err := incident.VerifyAll(ctx, s)
	if err != nil || len(rep.Broken) != 0 || rep.Incidents != 1 || rep.Entries != len(before) {
		t.Fatalf("VerifyAll after the purge = %+v, %v; want 1 intact incident with %d entries", rep, err, len(before))
	}
	got, err := s.GetIncident(ctx, inc.ID)
	if err != nil || got.HeadHash != inc.HeadHash || got.LastSeq != inc.LastSeq {
		t.Fatalf("GetIncident after the purge = %+v, %v", got, err)
	}
	after, err := s.Timeline(ctx, inc.ID)
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the timeline changed:\n%v\nwant\n%v (%v)", after, before, err)
	}
}

// benchPurgeEvents measures PurgeEvents deleting 100,000 rows, in rows per
// second; the rows are inserted outside the timer.
func benchPurgeEvents(b *testing.B, url string) {
	const rows = 100_000
	ctx := context.Background()
	c := newClock(retentionT0)
	s := openAt(b, url, c)
	batch := make([]event.Event, 5000)
	var total int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for start := 0; start < rows; start += len(batch) {
			for j := range batch {
				batch[j] = retentionEvent(fmt.Sprintf("b%d-%07d", i, start+j), retentionT0)
			}
			if _, err := s.AppendEvents(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, err := s.PurgeEvents(ctx, retentionT0.Add(time.Second))
		if err != nil || n != rows {
			b.Fatalf("PurgeEvents = %d, %v; want %d", n, err, rows)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}
