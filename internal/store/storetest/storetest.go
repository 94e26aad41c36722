// Package storetest is the conformance suite every store.Store backend must
// pass, plus helpers for tests elsewhere: fresh SQLite and PostgreSQL
// databases (SQLiteURL, PostgresURL, OpenURL) and hand-made tampering with a
// stored timeline (TamperTimelinePayload and friends) to prove that
// incident.VerifyChain catches it.
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// Run runs the conformance suite. open must return a fresh, migrated,
// empty store each time and may be called from parallel subtests; it
// should close the store when the test ends (OpenURL does).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Backend", testBackend},
		{"MigrateIsIdempotent", testMigrateIdempotent},
		{"CreateAndGet", testCreateAndGet},
		{"CreateDefaults", testCreateDefaults},
		{"CreateRejectsInvalid", testCreateRejectsInvalid},
		{"CreateDuplicateReturnsExisting", testCreateDuplicate},
		{"ConcurrentCreateMakesOneIncident", testConcurrentCreate},
		{"ReopenAfterResolve", testReopenAfterResolve},
		{"OpenIncidentByFingerprint", testOpenByFingerprint},
		{"MutateWritesBackAndAppends", testMutate},
		{"MutateRollsBackOnError", testMutateRollback},
		{"MutateRejectsInvalid", testMutateRejectsInvalid},
		{"MutateUnknownIncident", testMutateNotFound},
		{"MutateReopenConflict", testMutateReopenConflict},
		{"ConcurrentMutateIsSerialized", testConcurrentMutate},
		{"ChainVerifiesAfterManyMutations", testChainManyMutations},
		{"PayloadIsCanonical", testPayloadCanonical},
		{"ListIncidentsFilters", testListIncidentsFilters},
		{"ListIncidentsLimitAndPaging", testListIncidentsPaging},
		{"UnresolvedIncidents", testUnresolvedIncidents},
		{"EventsRoundTrip", testEventsRoundTrip},
		{"InsertEventsAllOrNothing", testEventsAllOrNothing},
		{"ListEventsFilters", testListEventsFilters},
		{"TimelineRejectsUpdateAndDelete", testTimelineAppendOnly},
		{"TamperingIsDetected", testTampering},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// t0 is the suite's reference time: it has nanoseconds and is away from UTC,
// to check that stores normalize times.
func t0() time.Time { return time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.FixedZone("CET", 3600)) }

func at(d time.Duration) time.Time { return t0().Add(d) }

func newIncident(fp string) incident.Incident {
	return incident.Incident{
		Fingerprint: fp,
		Title:       "TLS certificate expires soon on " + fp,
		Monitor:     "tls-" + fp,
		Category:    "tls",
		Severity:    event.SeverityHigh,
		Tier:        incident.TierMajor,
		OpenedAt:    t0(),
		Failures:    1,
	}
}

func openedEntry() incident.Entry {
	return incident.Entry{
		Time:    t0(),
		Actor:   incident.ActorEngine,
		Kind:    incident.KindOpened,
		Payload: map[string]any{"reason": "check failed", "days_left": 6},
	}
}

func mustCreate(t *testing.T, s store.Store, inc incident.Incident) incident.Incident {
	t.Helper()
	got, err := s.CreateIncident(t.Context(), inc, openedEntry())
	if err != nil {
		t.Fatalf("CreateIncident(%s): %v", inc.Fingerprint, err)
	}
	return got
}

func mustGet(t *testing.T, s store.Store, id int64) incident.Incident {
	t.Helper()
	got, err := s.GetIncident(t.Context(), id)
	if err != nil {
		t.Fatalf("GetIncident(%d): %v", id, err)
	}
	return got
}

func mustTimeline(t *testing.T, s store.Store, id int64) []incident.TimelineEntry {
	t.Helper()
	tl, err := s.Timeline(t.Context(), id)
	if err != nil {
		t.Fatalf("Timeline(%d): %v", id, err)
	}
	return tl
}

// verify reads an incident and its timeline back and checks the chain.
func verify(t *testing.T, s store.Store, id int64) error {
	t.Helper()
	return incident.VerifyChain(mustGet(t, s, id), mustTimeline(t, s, id))
}

func mustVerify(t *testing.T, s store.Store, id int64) {
	t.Helper()
	if err := verify(t, s, id); err != nil {
		t.Fatalf("VerifyChain(incident %d): %v", id, err)
	}
}

// appendNote appends one entry and changes nothing else.
func appendNote(t *testing.T, s store.Store, id int64, when time.Time, note string) []incident.TimelineEntry {
	t.Helper()
	_, entries, err := s.MutateIncident(t.Context(), id, func(inc *incident.Incident) ([]incident.Entry, error) {
		return []incident.Entry{{Time: when, Actor: "tester", Kind: "note", Payload: map[string]string{"note": note}}}, nil
	})
	if err != nil {
		t.Fatalf("MutateIncident(%d): %v", id, err)
	}
	return entries
}

func resolve(t *testing.T, s store.Store, id int64, when time.Time) incident.Incident {
	t.Helper()
	inc, _, err := s.MutateIncident(t.Context(), id, func(inc *incident.Incident) ([]incident.Entry, error) {
		inc.Status = incident.StatusResolved
		inc.ResolvedAt = &when
		return []incident.Entry{{Time: when, Actor: incident.ActorEngine, Kind: incident.KindResolved}}, nil
	})
	if err != nil {
		t.Fatalf("resolve incident %d: %v", id, err)
	}
	return inc
}

func ids(incs []incident.Incident) []int64 {
	out := make([]int64, len(incs))
	for i, inc := range incs {
		out[i] = inc.ID
	}
	return out
}

func testBackend(t *testing.T, s store.Store) {
	if b := s.Backend(); b != store.BackendSQLite && b != store.BackendPostgres {
		t.Errorf("Backend() = %q, want %q or %q", b, store.BackendSQLite, store.BackendPostgres)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testMigrateIdempotent(t *testing.T, s store.Store) {
	for range 2 {
		n, err := s.Migrate(t.Context())
		if err != nil || n != 0 {
			t.Fatalf("Migrate on a migrated store = %d, %v; want 0, nil", n, err)
		}
	}
}

func testCreateAndGet(t *testing.T, s store.Store) {
	ack := at(time.Minute)
	in := newIncident("create")
	in.Status = incident.StatusAcknowledged
	in.AcknowledgedAt = &ack
	in.RecoveryPasses = 2
	in.ID, in.LastSeq, in.HeadHash = 99, 7, "ignored" // assigned by the store

	got := mustCreate(t, s, in)
	if got.ID <= 0 {
		t.Fatalf("created incident has id %d", got.ID)
	}
	if got.LastSeq != 1 || got.HeadHash == "" {
		t.Errorf("created incident head = %d %q, want 1 and a hash", got.LastSeq, got.HeadHash)
	}
	want := in
	want.ID, want.LastSeq, want.HeadHash = got.ID, 1, got.HeadHash
	want.OpenedAt = incident.NormalizeTime(t0())
	ackN := incident.NormalizeTime(ack)
	want.AcknowledgedAt = &ackN
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CreateIncident returned\n%+v\nwant\n%+v", got, want)
	}
	if back := mustGet(t, s, got.ID); !reflect.DeepEqual(back, want) {
		t.Errorf("GetIncident returned\n%+v\nwant\n%+v", back, want)
	}
	if back := mustGet(t, s, got.ID); back.OpenedAt.Location() != time.UTC || back.OpenedAt.Nanosecond()%1000 != 0 {
		t.Errorf("opened_at %v is not UTC at microsecond precision", back.OpenedAt)
	}

	tl := mustTimeline(t, s, got.ID)
	if len(tl) != 1 {
		t.Fatalf("timeline has %d entries, want 1", len(tl))
	}
	e := tl[0]
	wantEntry := incident.TimelineEntry{
		IncidentID: got.ID, Seq: 1, Time: incident.NormalizeTime(t0()), Actor: incident.ActorEngine,
		Kind: incident.KindOpened, Payload: json.RawMessage(`{"days_left":6,"reason":"check failed"}`),
	}
	incident.Seal(nil, &wantEntry)
	if !reflect.DeepEqual(e, wantEntry) {
		t.Errorf("timeline entry\n%+v\nwant\n%+v", e, wantEntry)
	}
	if e.Hash != got.HeadHash {
		t.Errorf("head hash %q, first entry hash %q", got.HeadHash, e.Hash)
	}
	mustVerify(t, s, got.ID)

	if _, err := s.GetIncident(t.Context(), got.ID+1000); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("GetIncident(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Timeline(t.Context(), got.ID+1000); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("Timeline(unknown) error = %v, want ErrNotFound", err)
	}
}

func testCreateDefaults(t *testing.T, s store.Store) {
	// No status means open; no OpenedAt means the first entry's time, and
	// the reverse; a nil payload is the empty object.
	in := newIncident("defaults")
	in.OpenedAt = time.Time{}
	first := openedEntry()
	first.Payload = nil
	got, err := s.CreateIncident(t.Context(), in, first)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != incident.StatusOpen {
		t.Errorf("status = %q, want open", got.Status)
	}
	if !got.OpenedAt.Equal(incident.NormalizeTime(t0())) {
		t.Errorf("opened_at = %v, want the first entry's time %v", got.OpenedAt, t0())
	}
	if tl := mustTimeline(t, s, got.ID); string(tl[0].Payload) != "{}" {
		t.Errorf("nil payload stored as %s, want {}", tl[0].Payload)
	}

	in = newIncident("defaults-2")
	first = openedEntry()
	first.Time = time.Time{}
	got = mustCreateWith(t, s, in, first)
	if tl := mustTimeline(t, s, got.ID); !tl[0].Time.Equal(incident.NormalizeTime(t0())) {
		t.Errorf("first entry time = %v, want OpenedAt %v", tl[0].Time, t0())
	}
	mustVerify(t, s, got.ID)
}

func mustCreateWith(t *testing.T, s store.Store, inc incident.Incident, first incident.Entry) incident.Incident {
	t.Helper()
	got, err := s.CreateIncident(t.Context(), inc, first)
	if err != nil {
		t.Fatalf("CreateIncident(%s): %v", inc.Fingerprint, err)
	}
	return got
}

func testCreateRejectsInvalid(t *testing.T, s store.Store) {
	tests := []struct {
		name    string
		change  func(inc *incident.Incident, e *incident.Entry)
		invalid bool // wraps store.ErrInvalid
	}{
		{"no fingerprint", func(inc *incident.Incident, _ *incident.Entry) { inc.Fingerprint = "" }, true},
		{"resolved", func(inc *incident.Incident, _ *incident.Entry) { inc.Status = incident.StatusResolved }, true},
		{"unknown status", func(inc *incident.Incident, _ *incident.Entry) { inc.Status = "closed" }, true},
		{"unknown tier", func(inc *incident.Incident, _ *incident.Entry) { inc.Tier = "HUGE" }, true},
		{"unknown severity", func(inc *incident.Incident, _ *incident.Entry) { inc.Severity = 42 }, true},
		{"no time", func(inc *incident.Incident, e *incident.Entry) { inc.OpenedAt, e.Time = time.Time{}, time.Time{} }, true},
		{"entry without kind", func(_ *incident.Incident, e *incident.Entry) { e.Kind = "" }, true},
		{"payload not JSON", func(_ *incident.Incident, e *incident.Entry) { e.Payload = json.RawMessage(`{"a":`) }, false},
		{"payload not encodable", func(_ *incident.Incident, e *incident.Entry) { e.Payload = map[string]any{"f": func() {}} }, false},
	}
	for _, tc := range tests {
		inc, e := newIncident("invalid"), openedEntry()
		tc.change(&inc, &e)
		_, err := s.CreateIncident(t.Context(), inc, e)
		if err == nil {
			t.Errorf("%s: CreateIncident succeeded", tc.name)
			continue
		}
		if tc.invalid && !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: error %v does not wrap store.ErrInvalid", tc.name, err)
		}
	}
	incs, err := s.ListIncidents(t.Context(), incident.Filter{})
	if err != nil || len(incs) != 0 {
		t.Errorf("after failed creates ListIncidents = %v, %v; want none", ids(incs), err)
	}
	// Nothing was left behind: the fingerprint is still free.
	mustCreate(t, s, newIncident("invalid"))
}

func testCreateDuplicate(t *testing.T, s store.Store) {
	first := mustCreate(t, s, newIncident("dup"))
	again := newIncident("dup")
	again.Title = "another title"
	got, err := s.CreateIncident(t.Context(), again, openedEntry())
	if !errors.Is(err, incident.ErrDuplicateOpen) {
		t.Fatalf("second CreateIncident error = %v, want ErrDuplicateOpen", err)
	}
	if !reflect.DeepEqual(got, first) {
		t.Errorf("second CreateIncident returned\n%+v\nwant the existing\n%+v", got, first)
	}
	if tl := mustTimeline(t, s, first.ID); len(tl) != 1 {
		t.Errorf("existing incident's timeline has %d entries, want 1", len(tl))
	}
	incs, err := s.ListIncidents(t.Context(), incident.Filter{Fingerprint: "dup"})
	if err != nil || len(incs) != 1 {
		t.Errorf("ListIncidents(dup) = %v, %v; want one incident", ids(incs), err)
	}
}

func testConcurrentCreate(t *testing.T, s store.Store) {
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		seen    = map[int64]bool{}
	)
	for i := range n {
		wg.Go(func() {
			in := newIncident("race")
			in.Title = fmt.Sprintf("racer %d", i)
			got, err := s.CreateIncident(t.Context(), in, openedEntry())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.Is(err, incident.ErrDuplicateOpen):
			default:
				t.Errorf("racer %d: %v", i, err)
				return
			}
			seen[got.ID] = true
		})
	}
	wg.Wait()
	if created != 1 || len(seen) != 1 {
		t.Errorf("%d racers created an incident and %d ids were returned, want 1 and 1", created, len(seen))
	}
	incs, err := s.ListIncidents(t.Context(), incident.Filter{Fingerprint: "race"})
	if err != nil || len(incs) != 1 {
		t.Fatalf("ListIncidents(race) = %v, %v; want exactly one incident", ids(incs), err)
	}
	mustVerify(t, s, incs[0].ID)
}

func testReopenAfterResolve(t *testing.T, s store.Store) {
	first := mustCreate(t, s, newIncident("flap"))
	resolve(t, s, first.ID, at(time.Hour))
	if _, err := s.OpenIncidentByFingerprint(t.Context(), "flap"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("OpenIncidentByFingerprint after resolve: %v, want ErrNotFound", err)
	}
	second := mustCreate(t, s, newIncident("flap"))
	if second.ID == first.ID {
		t.Fatalf("reopening reused incident id %d", first.ID)
	}
	open, err := s.OpenIncidentByFingerprint(t.Context(), "flap")
	if err != nil || open.ID != second.ID {
		t.Errorf("OpenIncidentByFingerprint = %d, %v; want %d", open.ID, err, second.ID)
	}
	if got := mustGet(t, s, first.ID); got.Status != incident.StatusResolved {
		t.Errorf("first incident status = %q, want resolved", got.Status)
	}
	mustVerify(t, s, first.ID)
	mustVerify(t, s, second.ID)
}

func testOpenByFingerprint(t *testing.T, s store.Store) {
	if _, err := s.OpenIncidentByFingerprint(t.Context(), "nope"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("OpenIncidentByFingerprint(unknown) error = %v, want ErrNotFound", err)
	}
	a := mustCreate(t, s, newIncident("fp-a"))
	mustCreate(t, s, newIncident("fp-b"))
	got, err := s.OpenIncidentByFingerprint(t.Context(), "fp-a")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("OpenIncidentByFingerprint(fp-a) = %+v, %v; want %+v", got, err, a)
	}
}

func testMutate(t *testing.T, s store.Store) {
	orig := mustCreate(t, s, newIncident("mutate"))
	ack, res := at(2*time.Minute), at(3*time.Minute)
	got, entries, err := s.MutateIncident(t.Context(), orig.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
		if !reflect.DeepEqual(*inc, orig) {
			t.Errorf("fn saw\n%+v\nwant\n%+v", *inc, orig)
		}
		inc.Title = "renamed"
		inc.Category = "crypto"
		inc.Severity = event.SeverityCritical
		inc.Tier = incident.TierCritical
		inc.Status = incident.StatusResolved
		inc.AcknowledgedAt = &ack
		inc.ResolvedAt = &res
		inc.Failures = 5
		inc.RecoveryPasses = 3
		// Not mutable: ignored.
		inc.ID, inc.Fingerprint, inc.Monitor = 12345, "other", "other"
		inc.OpenedAt, inc.LastSeq, inc.HeadHash = at(time.Hour), 99, "forged"
		return []incident.Entry{
			{Time: ack, Actor: "alice", Kind: incident.KindAcknowledged, Payload: map[string]string{"by": "alice"}},
			{Time: res, Actor: incident.ActorEngine, Kind: incident.KindResolved},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ackN, resN := incident.NormalizeTime(ack), incident.NormalizeTime(res)
	want := orig
	want.Title, want.Category = "renamed", "crypto"
	want.Severity, want.Tier, want.Status = event.SeverityCritical, incident.TierCritical, incident.StatusResolved
	want.AcknowledgedAt, want.ResolvedAt = &ackN, &resN
	want.Failures, want.RecoveryPasses = 5, 3
	want.LastSeq, want.HeadHash = 3, entries[len(entries)-1].Hash
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MutateIncident returned\n%+v\nwant\n%+v", got, want)
	}
	if back := mustGet(t, s, orig.ID); !reflect.DeepEqual(back, want) {
		t.Errorf("GetIncident after mutate\n%+v\nwant\n%+v", back, want)
	}
	if len(entries) != 2 || entries[0].Seq != 2 || entries[1].Seq != 3 ||
		entries[0].PrevHash != orig.HeadHash || entries[1].PrevHash != entries[0].Hash {
		t.Fatalf("appended entries not chained after head %q: %+v", orig.HeadHash, entries)
	}
	tl := mustTimeline(t, s, orig.ID)
	if !reflect.DeepEqual(tl[1:], entries) {
		t.Errorf("stored entries\n%+v\nwant the returned\n%+v", tl[1:], entries)
	}
	mustVerify(t, s, orig.ID)

	// No entries: fields still written back, head unchanged.
	got, entries, err = s.MutateIncident(t.Context(), orig.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
		inc.Failures++
		return nil, nil
	})
	if err != nil || len(entries) != 0 || got.Failures != 6 || got.LastSeq != 3 {
		t.Errorf("entry-less mutate = failures %d, last seq %d, %d entries, %v", got.Failures, got.LastSeq, len(entries), err)
	}
	mustVerify(t, s, orig.ID)
}

func testMutateRollback(t *testing.T, s store.Store) {
	orig := mustCreate(t, s, newIncident("rollback"))
	boom := errors.New("boom")
	_, entries, err := s.MutateIncident(t.Context(), orig.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
		inc.Status = incident.StatusResolved
		inc.Failures = 100
		return []incident.Entry{{Time: t0(), Kind: "note"}}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("MutateIncident error = %v, want fn's error", err)
	}
	if entries != nil {
		t.Errorf("entries returned on error: %+v", entries)
	}
	if got := mustGet(t, s, orig.ID); !reflect.DeepEqual(got, orig) {
		t.Errorf("incident changed by failed mutate:\n%+v\nwant\n%+v", got, orig)
	}
	if tl := mustTimeline(t, s, orig.ID); len(tl) != 1 {
		t.Errorf("timeline has %d entries after failed mutate, want 1", len(tl))
	}
	mustVerify(t, s, orig.ID)
}

func testMutateRejectsInvalid(t *testing.T, s store.Store) {
	orig := mustCreate(t, s, newIncident("mutate-invalid"))
	tests := map[string]incident.MutateFunc{
		"unknown status": func(inc *incident.Incident) ([]incident.Entry, error) {
			inc.Status = "closed"
			return nil, nil
		},
		"entry without time": func(inc *incident.Incident) ([]incident.Entry, error) {
			inc.Failures++
			return []incident.Entry{{Kind: "note"}}, nil
		},
		"second entry bad": func(inc *incident.Incident) ([]incident.Entry, error) {
			return []incident.Entry{{Time: t0(), Kind: "note"}, {Time: t0(), Kind: "note", Payload: json.RawMessage(`nope`)}}, nil
		},
	}
	for name, fn := range tests {
		if _, _, err := s.MutateIncident(t.Context(), orig.ID, fn); err == nil {
			t.Errorf("%s: MutateIncident succeeded", name)
		}
	}
	if got := mustGet(t, s, orig.ID); !reflect.DeepEqual(got, orig) {
		t.Errorf("incident changed by rejected mutates:\n%+v\nwant\n%+v", got, orig)
	}
	if tl := mustTimeline(t, s, orig.ID); len(tl) != 1 {
		t.Errorf("timeline has %d entries after rejected mutates, want 1", len(tl))
	}
}

func testMutateNotFound(t *testing.T, s store.Store) {
	called := false
	_, _, err := s.MutateIncident(t.Context(), 4242, func(*incident.Incident) ([]incident.Entry, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("MutateIncident(unknown) error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("fn called for an unknown incident")
	}
}

func testMutateReopenConflict(t *testing.T, s store.Store) {
	old := mustCreate(t, s, newIncident("reopen"))
	old = resolve(t, s, old.ID, at(time.Hour))
	mustCreate(t, s, newIncident("reopen"))
	_, _, err := s.MutateIncident(t.Context(), old.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
		inc.Status, inc.ResolvedAt = incident.StatusOpen, nil
		return []incident.Entry{{Time: at(2 * time.Hour), Kind: "incident.reopened"}}, nil
	})
	if !errors.Is(err, incident.ErrDuplicateOpen) {
		t.Errorf("reopening beside an unresolved twin: error = %v, want ErrDuplicateOpen", err)
	}
	if got := mustGet(t, s, old.ID); !reflect.DeepEqual(got, old) {
		t.Errorf("incident changed by rejected reopen:\n%+v\nwant\n%+v", got, old)
	}
	mustVerify(t, s, old.ID)
}

func testConcurrentMutate(t *testing.T, s store.Store) {
	const n = 20
	inc := mustCreate(t, s, newIncident("serial"))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, err := s.MutateIncident(t.Context(), inc.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
				inc.Failures++
				return []incident.Entry{{Time: at(time.Duration(i) * time.Second), Actor: incident.ActorEngine,
					Kind: incident.KindFailure, Payload: map[string]int{"worker": i}}}, nil
			})
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := mustGet(t, s, inc.ID)
	if got.Failures != inc.Failures+n || got.LastSeq != int64(n+1) {
		t.Errorf("after %d concurrent mutations: failures %d, last seq %d; want %d, %d",
			n, got.Failures, got.LastSeq, inc.Failures+n, n+1)
	}
	mustVerify(t, s, inc.ID)
}

func testChainManyMutations(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("chain"))
	for i := range 60 {
		when := at(time.Duration(i)*time.Minute + time.Duration(i)*time.Nanosecond)
		_, _, err := s.MutateIncident(t.Context(), inc.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
			var entries []incident.Entry
			switch i % 3 {
			case 0:
				inc.Failures++
				inc.RecoveryPasses = 0
				entries = append(entries, incident.Entry{Time: when, Actor: incident.ActorEngine, Kind: incident.KindFailure,
					Payload: map[string]any{"i": i, "evidence": "expired <b>&</b> \u2603", "nested": map[string]any{"z": 1, "a": []int{3, 2, 1}}}})
			case 1:
				inc.RecoveryPasses++
				entries = append(entries,
					incident.Entry{Time: when, Actor: incident.ActorEngine, Kind: incident.KindPass, Payload: json.RawMessage(` { "n" : 1.50 , "b": true } `)},
					incident.Entry{Time: when, Actor: "bob", Kind: "note", Payload: []byte(`"just a string"`)})
			default:
				// No change and no entry.
			}
			return entries, nil
		})
		if err != nil {
			t.Fatalf("mutation %d: %v", i, err)
		}
	}
	got := mustGet(t, s, inc.ID)
	if got.LastSeq != 1+20+40 {
		t.Errorf("last seq = %d, want %d", got.LastSeq, 1+20+40)
	}
	mustVerify(t, s, inc.ID)
}

func testPayloadCanonical(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("canonical"))
	entries := appendNote(t, s, inc.ID, t0(), "x")
	payloads := []any{
		json.RawMessage(" {\"b\": 1.50, \"a\": [1, 2.0e3, {\"d\":null,\"c\":\"\u00e9\"}]} "),
		[]byte(`{"z":"<&>","a":12345678901234567890}`),
		map[string]any{"z": "x", "a": []string{"b", "a"}},
	}
	for _, p := range payloads {
		_, got, err := s.MutateIncident(t.Context(), inc.ID, func(*incident.Incident) ([]incident.Entry, error) {
			return []incident.Entry{{Time: t0(), Kind: "note", Payload: p}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, err := incident.CanonicalPayload(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got[0].Payload) != string(want) {
			t.Errorf("returned payload %s, want canonical %s", got[0].Payload, want)
		}
		entries = append(entries, got...)
	}
	tl := mustTimeline(t, s, inc.ID)
	for i, e := range entries {
		if stored := tl[i+1].Payload; string(stored) != string(e.Payload) {
			t.Errorf("seq %d: stored payload bytes %s, want exactly %s", e.Seq, stored, e.Payload)
		}
	}
	mustVerify(t, s, inc.ID)
}

func testListIncidentsFilters(t *testing.T, s store.Store) {
	var all []incident.Incident
	for i, spec := range []struct {
		fp, monitor string
		sev         event.Severity
		tier        incident.Tier
	}{
		{"l1", "web", event.SeverityHigh, incident.TierMajor},
		{"l2", "web", event.SeverityCritical, incident.TierCritical},
		{"l3", "dns", event.SeverityUnknown, ""},
		{"l4", "dns", event.SeverityMedium, incident.TierMinor},
		{"l5", "web", event.SeverityHigh, incident.TierMinor},
	} {
		in := newIncident(spec.fp)
		in.Monitor = spec.monitor
		in.Severity, in.Tier = spec.sev, spec.tier
		in.OpenedAt = at(time.Duration(i) * time.Hour)
		all = append(all, mustCreateWith(t, s, in, incident.Entry{Time: in.OpenedAt, Kind: incident.KindOpened}))
	}
	all[1] = resolve(t, s, all[1].ID, at(10*time.Hour))
	var err error
	all[3], _, err = s.MutateIncident(t.Context(), all[3].ID, func(inc *incident.Incident) ([]incident.Entry, error) {
		inc.Status = incident.StatusAcknowledged
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		f    incident.Filter
		want []int // indexes into all, newest first
	}{
		{"all", incident.Filter{}, []int{4, 3, 2, 1, 0}},
		{"status open", incident.Filter{Status: incident.StatusOpen}, []int{4, 2, 0}},
		{"status resolved", incident.Filter{Status: incident.StatusResolved}, []int{1}},
		{"status acknowledged", incident.Filter{Status: incident.StatusAcknowledged}, []int{3}},
		{"fingerprint", incident.Filter{Fingerprint: "l3"}, []int{2}},
		{"monitor", incident.Filter{Monitor: "web"}, []int{4, 1, 0}},
		{"since", incident.Filter{Since: at(2 * time.Hour)}, []int{4, 3, 2}},
		{"until", incident.Filter{Until: at(2 * time.Hour)}, []int{1, 0}},
		{"since until", incident.Filter{Since: at(time.Hour), Until: at(3 * time.Hour)}, []int{2, 1}},
		{"monitor and status", incident.Filter{Monitor: "dns", Status: incident.StatusOpen}, []int{2}},
		{"before id", incident.Filter{BeforeID: all[2].ID}, []int{1, 0}},
		{"limit", incident.Filter{Limit: 2}, []int{4, 3}},
		{"no match", incident.Filter{Monitor: "smtp"}, nil},
		{"severity exact", incident.Filter{Severities: []event.Severity{event.SeverityHigh}}, []int{4, 0}},
		{"severity set", incident.Filter{Severities: []event.Severity{event.SeverityMedium, event.SeverityCritical}}, []int{3, 1}},
		{"severity unknown", incident.Filter{Severities: []event.Severity{event.SeverityUnknown}}, []int{2}},
		{"severity no match", incident.Filter{Severities: []event.Severity{event.SeverityInfo}}, nil},
		{"tier", incident.Filter{Tier: incident.TierMinor}, []int{4, 3}},
		{"tier critical", incident.Filter{Tier: incident.TierCritical}, []int{1}},
		{"severity and tier", incident.Filter{Severities: []event.Severity{event.SeverityHigh}, Tier: incident.TierMajor}, []int{0}},
		{"severity tier monitor status", incident.Filter{Severities: []event.Severity{event.SeverityHigh, event.SeverityMedium},
			Tier: incident.TierMinor, Monitor: "web", Status: incident.StatusOpen}, []int{4}},
		{"severity and paging", incident.Filter{Severities: []event.Severity{event.SeverityHigh}, BeforeID: all[4].ID, Limit: 1}, []int{0}},
	}
	for _, tc := range tests {
		got, err := s.ListIncidents(t.Context(), tc.f)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var want []incident.Incident
		for _, i := range tc.want {
			want = append(want, all[i])
		}
		if !reflect.DeepEqual(ids(got), ids(want)) {
			t.Errorf("%s: ListIncidents = %v, want %v", tc.name, ids(got), ids(want))
			continue
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%s: incident %d listed as\n%+v\nwant\n%+v", tc.name, got[i].ID, got[i], want[i])
			}
		}
	}
	for _, f := range []incident.Filter{
		{Tier: "minor"},
		{Tier: "MINOR' OR '1'='1"},
		{Severities: []event.Severity{event.SeverityCritical + 1}},
		{Severities: []event.Severity{event.SeverityHigh, -1}},
	} {
		if got, err := s.ListIncidents(t.Context(), f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListIncidents(%+v) = %v, %v; want ErrInvalid", f, ids(got), err)
		}
	}
}

func testListIncidentsPaging(t *testing.T, s store.Store) {
	const n = store.DefaultLimit + 5
	for i := range n {
		mustCreate(t, s, newIncident(fmt.Sprintf("page-%03d", i)))
	}
	first, err := s.ListIncidents(t.Context(), incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != store.DefaultLimit {
		t.Fatalf("default page has %d incidents, want %d", len(first), store.DefaultLimit)
	}
	for i := 1; i < len(first); i++ {
		if first[i].ID >= first[i-1].ID {
			t.Fatalf("not newest first: %d after %d", first[i].ID, first[i-1].ID)
		}
	}
	rest, err := s.ListIncidents(t.Context(), incident.Filter{BeforeID: first[len(first)-1].ID, Limit: store.MaxLimit + 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != n-store.DefaultLimit {
		t.Fatalf("second page has %d incidents, want %d", len(rest), n-store.DefaultLimit)
	}
	seen := map[int64]bool{}
	for _, inc := range append(first, rest...) {
		if seen[inc.ID] {
			t.Errorf("incident %d listed twice", inc.ID)
		}
		seen[inc.ID] = true
	}
}

func testUnresolvedIncidents(t *testing.T, s store.Store) {
	mk := func(fp, monitor string) incident.Incident {
		in := newIncident(fp)
		in.Monitor = monitor
		return mustCreate(t, s, in)
	}
	a := mk("u1", "web")
	b := mk("u2", "web")
	mk("u3", "dns")
	c := mk("u4", "web")
	resolve(t, s, b.ID, at(time.Hour))
	c, _, err := s.MutateIncident(t.Context(), c.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
		inc.Status = incident.StatusAcknowledged
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UnresolvedIncidents(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := []incident.Incident{a, c}; !reflect.DeepEqual(got, want) {
		t.Errorf("UnresolvedIncidents(web) = %v, want %v", ids(got), ids(want))
	}
	if got, err := s.UnresolvedIncidents(t.Context(), "smtp"); err != nil || len(got) != 0 {
		t.Errorf("UnresolvedIncidents(smtp) = %v, %v; want none", ids(got), err)
	}
}

func sampleEvent(id string, d time.Duration) event.Event {
	return event.Event{
		ID:            id,
		Time:          at(d),
		Source:        "monitor",
		Monitor:       "web",
		Kind:          "tls.expiry",
		Outcome:       event.OutcomeFail,
		Fingerprint:   "fp-" + id,
		Title:         "certificate expires in 6 days",
		Severity:      event.SeverityHigh,
		Category:      "tls",
		OpenIncident:  true,
		Attributes:    map[string]string{"host": "example.org", "days_left": "6"},
		CorrelationID: "corr-" + id,
	}
}

// normalizedEvent is what a store gives back for ev.
func normalizedEvent(ev event.Event) event.Event {
	ev.Time = incident.NormalizeTime(ev.Time)
	if len(ev.Attributes) == 0 {
		ev.Attributes = nil
	}
	return ev
}

func testEventsRoundTrip(t *testing.T, s store.Store) {
	full := sampleEvent("e-full", 0)
	bare := event.Event{ID: "e-bare", Time: at(time.Second), Kind: "app.login", Attributes: map[string]string{}}
	if err := s.InsertEvents(t.Context(), []event.Event{full, bare}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(t.Context(), nil); err != nil {
		t.Errorf("InsertEvents(nil): %v", err)
	}
	got, err := s.ListEvents(t.Context(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []event.Event{normalizedEvent(bare), normalizedEvent(full)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListEvents =\n%+v\nwant\n%+v", got, want)
	}
	if len(got) > 0 && got[0].Time.Location() != time.UTC {
		t.Errorf("event time %v not in UTC", got[0].Time)
	}
	if err := s.InsertEvents(t.Context(), []event.Event{{Time: t0()}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("InsertEvents(no id) error = %v, want ErrInvalid", err)
	}
}

func testEventsAllOrNothing(t *testing.T, s store.Store) {
	e1, e2, e3 := sampleEvent("a1", 0), sampleEvent("a2", time.Second), sampleEvent("a3", 2*time.Second)
	if err := s.InsertEvents(t.Context(), []event.Event{e1, e2, e1}); !errors.Is(err, store.ErrDuplicateEvent) {
		t.Errorf("batch repeating an id: error = %v, want ErrDuplicateEvent", err)
	}
	if got, _ := s.ListEvents(t.Context(), store.EventFilter{}); len(got) != 0 {
		t.Fatalf("failed batch left %d events behind", len(got))
	}
	if err := s.InsertEvents(t.Context(), []event.Event{e1}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvents(t.Context(), []event.Event{e2, e3, e1}); !errors.Is(err, store.ErrDuplicateEvent) {
		t.Errorf("batch with a stored id: error = %v, want ErrDuplicateEvent", err)
	}
	bad := e3
	bad.Severity = 99
	if err := s.InsertEvents(t.Context(), []event.Event{e2, bad}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("batch with a bad severity: error = %v, want ErrInvalid", err)
	}
	got, err := s.ListEvents(t.Context(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "a1" {
		t.Errorf("after failed batches the store holds %+v, want only a1", got)
	}
}

func testListEventsFilters(t *testing.T, s store.Store) {
	var evs []event.Event
	for i, spec := range []struct{ monitor, fp, kind string }{
		{"web", "f1", "tls.expiry"},
		{"web", "f2", "http.status"},
		{"dns", "f1", "tls.expiry"},
		{"", "f3", "app.login"},
		{"web", "f1", "tls.expiry"},
	} {
		ev := sampleEvent(fmt.Sprintf("ev-%d", i), time.Duration(i)*time.Minute)
		ev.Monitor, ev.Fingerprint, ev.Kind = spec.monitor, spec.fp, spec.kind
		evs = append(evs, ev)
	}
	// Two events at the same time: order by id, descending.
	same := sampleEvent("ev-9", 4*time.Minute)
	same.Monitor, same.Fingerprint, same.Kind = "web", "f1", "tls.expiry"
	evs = append(evs, same)
	if err := s.InsertEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    store.EventFilter
		want []string
	}{
		{"all", store.EventFilter{}, []string{"ev-9", "ev-4", "ev-3", "ev-2", "ev-1", "ev-0"}},
		{"monitor", store.EventFilter{Monitor: "web"}, []string{"ev-9", "ev-4", "ev-1", "ev-0"}},
		{"fingerprint", store.EventFilter{Fingerprint: "f1"}, []string{"ev-9", "ev-4", "ev-2", "ev-0"}},
		{"kind", store.EventFilter{Kind: "app.login"}, []string{"ev-3"}},
		{"since", store.EventFilter{Since: at(3 * time.Minute)}, []string{"ev-9", "ev-4", "ev-3"}},
		{"until", store.EventFilter{Until: at(time.Minute)}, []string{"ev-0"}},
		{"since until", store.EventFilter{Since: at(time.Minute), Until: at(3 * time.Minute)}, []string{"ev-2", "ev-1"}},
		{"combined", store.EventFilter{Monitor: "web", Fingerprint: "f1", Kind: "tls.expiry", Since: at(time.Minute)}, []string{"ev-9", "ev-4"}},
		{"limit", store.EventFilter{Limit: 2}, []string{"ev-9", "ev-4"}},
		{"no match", store.EventFilter{Monitor: "smtp"}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListEvents(t.Context(), tc.f)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var gotIDs []string
		for _, ev := range got {
			gotIDs = append(gotIDs, ev.ID)
		}
		if !reflect.DeepEqual(gotIDs, tc.want) {
			t.Errorf("%s: ListEvents = %v, want %v", tc.name, gotIDs, tc.want)
		}
	}
}

func testTimelineAppendOnly(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("guard"))
	appendNote(t, s, inc.ID, at(time.Minute), "second")
	before := mustTimeline(t, s, inc.ID)
	for _, q := range []string{
		`UPDATE timeline SET actor = 'mallory' WHERE incident_id = $1`,
		`UPDATE timeline SET payload = '{}' WHERE incident_id = $1 AND seq = 2`,
		`DELETE FROM timeline WHERE incident_id = $1 AND seq = 2`,
		`DELETE FROM timeline WHERE incident_id = $1`,
	} {
		if n, err := Exec(t.Context(), s, q, inc.ID); err == nil {
			t.Errorf("%s: database accepted it (%d rows)", q, n)
		}
	}
	if after := mustTimeline(t, s, inc.ID); !reflect.DeepEqual(after, before) {
		t.Errorf("timeline changed:\n%+v\nwas\n%+v", after, before)
	}
	mustVerify(t, s, inc.ID)
}

func testTampering(t *testing.T, s store.Store) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, id int64)
		wantSeq int64
	}{
		{"payload edit", func(t *testing.T, id int64) {
			TamperTimelinePayload(t, s, id, 2, `{"note":"forged"}`)
		}, 2},
		{"payload edit of the first entry", func(t *testing.T, id int64) {
			TamperTimelinePayload(t, s, id, 1, `{"days_left":60,"reason":"check failed"}`)
		}, 1},
		{"hash edit", func(t *testing.T, id int64) {
			TamperTimelineHash(t, s, id, 2, flipFirst(mustTimeline(t, s, id)[1].Hash))
		}, 2},
		{"last entry deleted", func(t *testing.T, id int64) {
			DeleteTimelineEntry(t, s, id, 3)
		}, 3},
		{"middle entry deleted", func(t *testing.T, id int64) {
			DeleteTimelineEntry(t, s, id, 2)
		}, 3},
	}
	var bystander incident.Incident
	for i, tc := range tests {
		inc := mustCreate(t, s, newIncident(fmt.Sprintf("tamper-%d", i)))
		appendNote(t, s, inc.ID, at(time.Minute), "second")
		appendNote(t, s, inc.ID, at(2*time.Minute), "third")
		if i == 0 {
			bystander = mustCreate(t, s, newIncident("bystander"))
			appendNote(t, s, bystander.ID, at(time.Minute), "untouched")
		}
		mustVerify(t, s, inc.ID)

		tc.tamper(t, inc.ID)

		err := verify(t, s, inc.ID)
		var ce *incident.ChainError
		if !errors.As(err, &ce) {
			t.Errorf("%s: VerifyChain error = %v, want a *incident.ChainError", tc.name, err)
			continue
		}
		if ce.IncidentID != inc.ID || ce.Seq != tc.wantSeq {
			t.Errorf("%s: ChainError names incident %d entry %d, want incident %d entry %d (%v)",
				tc.name, ce.IncidentID, ce.Seq, inc.ID, tc.wantSeq, err)
		}
		if !errors.Is(err, incident.ErrChainBroken) {
			t.Errorf("%s: error %v does not wrap ErrChainBroken", tc.name, err)
		}
	}
	mustVerify(t, s, bystander.ID)

	// The guard is back after tampering.
	if _, err := Exec(t.Context(), s, `DELETE FROM timeline WHERE incident_id = $1`, bystander.ID); err == nil {
		t.Error("timeline triggers were not restored after tampering")
	}
}

// flipFirst changes the first hex digit of a hash.
func flipFirst(h string) string {
	if h[0] == '0' {
		return "1" + h[1:]
	}
	return "0" + h[1:]
}
