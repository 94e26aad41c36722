package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/store"
)

// RunCorrelation runs the conformance suite of store.CorrelationStore.
// newURL must return the URL of a fresh, empty database each time (such as
// SQLiteURL or PostgresURL); the suite opens several stores on one URL to
// act as replicas or as a restarted daemon.
func RunCorrelation(t *testing.T, newURL func(t *testing.T) string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, url string)
	}{
		{"AddsAndReadsWindows", testCorrelationAdds},
		{"RecordsFirings", testCorrelationFirings},
		{"PrunesBehindHorizon", testCorrelationPrunes},
		{"RejectsInvalidAndStoresNothing", testCorrelationInvalid},
		{"ManyGroupsInChunks", testCorrelationManyGroups},
		{"SurvivesReopen", testCorrelationReopen},
		{"Purge", testCorrelationPurge},
		{"ConcurrentStoresFireOnce", testCorrelationConcurrent},
		{"OpposedLockOrdersDoNotDeadlock", testCorrelationLockOrder},
		{"PurgeDuringUpdates", testCorrelationPurgeDuringUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newURL(t))
		})
	}
}

// openClocked opens the store at url with migrations applied and the given
// clock, and closes it when the test ends.
func openClocked(t *testing.T, url string, now func() time.Time) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, store.Options{Migrate: true, Now: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// bucket is a bucket of count events, first at start+first, last at
// start+last.
func bucket(start time.Time, count int64, first, last time.Duration) store.CorrelationBucket {
	return store.CorrelationBucket{Start: start, Count: count, First: start.Add(first), Last: start.Add(last)}
}

// update is one group's update with a 5-minute window's horizon.
func update(rule, group string, bs ...store.CorrelationBucket) store.CorrelationUpdate {
	return store.CorrelationUpdate{Rule: rule, Group: group, Values: `{"ip":"` + group + `"}`, Horizon: 5*time.Minute + 5*time.Second, Buckets: bs}
}

// states updates s and returns the states fire saw, by group; fire fires
// nothing.
func states(t *testing.T, s store.Store, ups ...store.CorrelationUpdate) map[string]store.CorrelationState {
	t.Helper()
	out := map[string]store.CorrelationState{}
	err := s.UpdateCorrelation(t.Context(), ups, func(st store.CorrelationState) time.Time {
		if _, dup := out[st.Rule+"/"+st.Group]; dup {
			t.Errorf("fire called twice for %s/%s", st.Rule, st.Group)
		}
		out[st.Rule+"/"+st.Group] = st
		return time.Time{}
	})
	if err != nil {
		t.Fatalf("UpdateCorrelation: %v", err)
	}
	return out
}

// total sums a state's counts.
func total(st store.CorrelationState) int64 {
	var n int64
	for _, b := range st.Buckets {
		n += b.Count
	}
	return n
}

func sameBuckets(t *testing.T, what string, got, want []store.CorrelationBucket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d buckets %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) || g.Count != w.Count || !g.First.Equal(w.First) || !g.Last.Equal(w.Last) {
			t.Errorf("%s: bucket %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func testCorrelationAdds(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	b1 := b0.Add(5 * time.Second)
	st := states(t, s,
		update("stuffing", "g1", bucket(b1, 3, time.Second, 2*time.Second), bucket(b0, 2, 0, time.Second)),
		update("stuffing", "g2", bucket(b0, 7, 0, 0)),
		update("abuse", "g1", bucket(b0, 1, 0, 0)),
	)
	if len(st) != 3 {
		t.Fatalf("fire saw %d groups, want 3", len(st))
	}
	g1 := st["stuffing/g1"]
	sameBuckets(t, "stuffing/g1", g1.Buckets, []store.CorrelationBucket{bucket(b0, 2, 0, time.Second), bucket(b1, 3, time.Second, 2*time.Second)})
	if !g1.LastSeen.Equal(b1.Add(2*time.Second)) || !g1.LastFired.IsZero() {
		t.Errorf("stuffing/g1: last seen %v, last fired %v; want %v and never", g1.LastSeen, g1.LastFired, b1.Add(2*time.Second))
	}
	if total(st["stuffing/g2"]) != 7 || total(st["abuse/g1"]) != 1 {
		t.Errorf("groups or rules are not independent: %+v", st)
	}

	// Counts add up; the bucket keeps its oldest and newest event; the
	// group keeps its newest event when older ones arrive.
	st = states(t, s, update("stuffing", "g1", bucket(b0, 4, 500*time.Millisecond, 4*time.Second)))
	g1 = st["stuffing/g1"]
	sameBuckets(t, "stuffing/g1 after adding", g1.Buckets, []store.CorrelationBucket{bucket(b0, 6, 0, 4*time.Second), bucket(b1, 3, time.Second, 2*time.Second)})
	if !g1.LastSeen.Equal(b1.Add(2 * time.Second)) {
		t.Errorf("last seen moved back to %v", g1.LastSeen)
	}
	if total(st["stuffing/g1"]) != 9 || len(st) != 1 {
		t.Errorf("second update: %+v", st)
	}
}

func testCorrelationFirings(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	firedAt := b0.Add(1500 * time.Millisecond) // normalized to microseconds by the store
	err := s.UpdateCorrelation(t.Context(), []store.CorrelationUpdate{update("r", "g", bucket(b0, 20, 0, time.Second))},
		func(store.CorrelationState) time.Time { return firedAt })
	if err != nil {
		t.Fatal(err)
	}
	st := states(t, s, update("r", "g", bucket(b0, 1, 0, 0)))["r/g"]
	if !st.LastFired.Equal(firedAt) {
		t.Fatalf("last fired = %v, want %v", st.LastFired, firedAt)
	}
	// A firing older than the recorded one does not move it back.
	err = s.UpdateCorrelation(t.Context(), []store.CorrelationUpdate{update("r", "g", bucket(b0, 1, 0, 0))},
		func(store.CorrelationState) time.Time { return firedAt.Add(-time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	if st := states(t, s, update("r", "g", bucket(b0, 1, 0, 0)))["r/g"]; !st.LastFired.Equal(firedAt) {
		t.Errorf("last fired moved back to %v", st.LastFired)
	}
}

func testCorrelationPrunes(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	states(t, s, update("r", "g", bucket(b0, 5, 0, 0)))
	later := b0.Add(10 * time.Minute)
	st := states(t, s, update("r", "g", bucket(later, 1, 0, 0)))["r/g"]
	sameBuckets(t, "after 10 minutes", st.Buckets, []store.CorrelationBucket{bucket(later, 1, 0, 0)})
	// The bucket that fell behind the horizon was deleted: a late event
	// in it finds a count of 1, not 6. fire sees the late event, which is
	// then deleted too.
	st = states(t, s, update("r", "g", bucket(b0, 1, 0, 0)))["r/g"]
	sameBuckets(t, "after a late event", st.Buckets, []store.CorrelationBucket{bucket(b0, 1, 0, 0), bucket(later, 1, 0, 0)})
	if !st.LastSeen.Equal(later) {
		t.Errorf("last seen = %v, want %v", st.LastSeen, later)
	}
	st = states(t, s, update("r", "g", bucket(b0, 1, 0, 0)))["r/g"]
	sameBuckets(t, "after another late event", st.Buckets, []store.CorrelationBucket{bucket(b0, 1, 0, 0), bucket(later, 1, 0, 0)})
	// A late event within the horizon is kept and read back.
	inside := later.Add(-4 * time.Minute)
	st = states(t, s, update("r", "g", bucket(inside, 2, 0, 0)))["r/g"]
	sameBuckets(t, "after an event within the window", st.Buckets, []store.CorrelationBucket{bucket(inside, 2, 0, 0), bucket(later, 1, 0, 0)})
}

func testCorrelationInvalid(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	for name, bad := range map[string]store.CorrelationUpdate{
		"zero count":       update("r", "bad", bucket(b0, 0, 0, 0)),
		"no buckets":       update("r", "bad"),
		"no rule":          update("", "bad", bucket(b0, 1, 0, 0)),
		"no group":         update("r", "", bucket(b0, 1, 0, 0)),
		"negative horizon": {Rule: "r", Group: "bad", Horizon: -time.Second, Buckets: []store.CorrelationBucket{bucket(b0, 1, 0, 0)}},
	} {
		called := false
		err := s.UpdateCorrelation(t.Context(), []store.CorrelationUpdate{update("r", "good", bucket(b0, 3, 0, 0)), bad},
			func(store.CorrelationState) time.Time { called = true; return time.Time{} })
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
		if called {
			t.Errorf("%s: fire was called", name)
		}
	}
	err := s.UpdateCorrelation(t.Context(), []store.CorrelationUpdate{update("r", "twice", bucket(b0, 1, 0, 0)), update("r", "twice", bucket(b0, 1, 0, 0))},
		func(store.CorrelationState) time.Time { return time.Time{} })
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("group updated twice: err = %v, want ErrInvalid", err)
	}
	if st := states(t, s, update("r", "good", bucket(b0, 1, 0, 0)))["r/good"]; total(st) != 1 {
		t.Errorf("a refused update stored counts: total %d, want 1", total(st))
	}
	if err := s.UpdateCorrelation(t.Context(), nil, func(store.CorrelationState) time.Time { return time.Time{} }); err != nil {
		t.Errorf("empty update: %v", err)
	}
}

func testCorrelationManyGroups(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	const groups = 1234 // several chunks of groups and of buckets
	var ups []store.CorrelationUpdate
	for i := range groups {
		ups = append(ups, update("r", fmt.Sprintf("g%05d", i), bucket(b0, int64(i%7+1), 0, 0), bucket(b0.Add(5*time.Second), 1, 0, 0)))
	}
	st := states(t, s, ups...)
	if len(st) != groups {
		t.Fatalf("fire saw %d groups, want %d", len(st), groups)
	}
	for i := range groups {
		if got := total(st[fmt.Sprintf("r/g%05d", i)]); got != int64(i%7+2) {
			t.Fatalf("group %d: total %d, want %d", i, got, i%7+2)
		}
	}
	var fired atomic.Int64
	err := s.UpdateCorrelation(t.Context(), ups, func(st store.CorrelationState) time.Time {
		fired.Add(1)
		return st.LastSeen
	})
	if err != nil {
		t.Fatal(err)
	}
	if fired.Load() != groups {
		t.Errorf("fire called %d times, want %d", fired.Load(), groups)
	}
	for name, st := range states(t, s, ups[:3]...) {
		if !st.LastFired.Equal(st.LastSeen) {
			t.Errorf("%s: firing not recorded: %+v", name, st)
		}
	}
}

func testCorrelationReopen(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	err := s.UpdateCorrelation(t.Context(), []store.CorrelationUpdate{update("r", "g", bucket(b0, 10, 0, time.Second))},
		func(store.CorrelationState) time.Time { return b0.Add(time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := OpenURL(t, url)
	st := states(t, again, update("r", "g", bucket(b0, 5, 2*time.Second, 2*time.Second)))["r/g"]
	sameBuckets(t, "after reopening", st.Buckets, []store.CorrelationBucket{bucket(b0, 15, 0, 2*time.Second)})
	if !st.LastFired.Equal(b0.Add(time.Second)) {
		t.Errorf("last fired after reopening = %v, want %v", st.LastFired, b0.Add(time.Second))
	}
}

func testCorrelationPurge(t *testing.T, url string) {
	var clock atomic.Int64
	clock.Store(at(0).UnixMicro())
	s := openClocked(t, url, func() time.Time { return time.UnixMicro(clock.Load()) })
	b0 := at(0).Truncate(5 * time.Second)
	states(t, s, update("r", "idle", bucket(b0, 5, 0, 0), bucket(b0.Add(5*time.Second), 1, 0, 0)))
	clock.Store(at(time.Hour).UnixMicro())
	err := s.UpdateCorrelation(t.Context(), []store.CorrelationUpdate{update("r", "busy", bucket(b0, 2, 0, 0))},
		func(store.CorrelationState) time.Time { return b0 })
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeCorrelationState(t.Context(), at(0)); err != nil || n != 0 {
		t.Errorf("purge before everything = %d, %v; want 0", n, err)
	}
	// idle was updated at 0, busy at 1h: a cutoff between takes idle and
	// its two buckets.
	if n, err := s.PurgeCorrelationState(t.Context(), at(30*time.Minute)); err != nil || n != 3 {
		t.Errorf("purge = %d, %v; want 3 rows (a group and its 2 buckets)", n, err)
	}
	st := states(t, s, update("r", "idle", bucket(b0, 1, 0, 0)), update("r", "busy", bucket(b0, 1, 0, 0)))
	if total(st["r/idle"]) != 1 || total(st["r/busy"]) != 3 {
		t.Errorf("after purge: idle total %d (want 1), busy total %d (want 3)", total(st["r/idle"]), total(st["r/busy"]))
	}
	if !st["r/busy"].LastFired.Equal(b0) {
		t.Errorf("purge lost the firing of a live group: %v", st["r/busy"].LastFired)
	}
	if n, err := s.PurgeCorrelationState(t.Context(), at(2*time.Hour)); err != nil || n != 4 {
		t.Errorf("purge everything = %d, %v; want 4 rows", n, err)
	}
}

// testCorrelationConcurrent has two stores on one database (replicas, or
// two processes on one SQLite file) add to one window at once; each
// firing decision sees the other's counts, and exactly one fires.
func testCorrelationConcurrent(t *testing.T, url string) {
	stores := []store.Store{OpenURL(t, url), OpenURL(t, url)}
	b0 := at(0).Truncate(5 * time.Second)
	const perStore, threshold = 40, 50
	var (
		wg     sync.WaitGroup
		fired  atomic.Int64
		maxSum atomic.Int64
	)
	for i, s := range stores {
		wg.Go(func() {
			for j := range perStore {
				last := time.Duration(i*perStore+j) * time.Millisecond
				err := s.UpdateCorrelation(t.Context(), []store.CorrelationUpdate{update("r", "g", bucket(b0, 1, last, last))},
					func(st store.CorrelationState) time.Time {
						sum := total(st)
						if sum > maxSum.Load() {
							maxSum.Store(sum)
						}
						if st.LastFired.IsZero() && sum >= threshold {
							fired.Add(1)
							return st.LastSeen
						}
						return time.Time{}
					})
				if err != nil {
					t.Errorf("store %d, update %d: %v", i, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if fired.Load() != 1 {
		t.Errorf("fired %d times, want exactly once", fired.Load())
	}
	if maxSum.Load() != 2*perStore {
		t.Errorf("the last update saw a total of %d, want %d", maxSum.Load(), 2*perStore)
	}
}

// testCorrelationLockOrder updates the same groups from two goroutines,
// listed in opposite orders: the store locks them in one order.
func testCorrelationLockOrder(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	var groups []store.CorrelationUpdate
	for i := range 150 { // more than a chunk
		groups = append(groups, update("r", fmt.Sprintf("g%03d", i), bucket(b0, 1, 0, 0)))
	}
	reversed := make([]store.CorrelationUpdate, len(groups))
	for i, u := range groups {
		reversed[len(groups)-1-i] = u
	}
	var wg sync.WaitGroup
	for _, ups := range [][]store.CorrelationUpdate{groups, reversed} {
		wg.Go(func() {
			for range 10 {
				if err := s.UpdateCorrelation(t.Context(), ups, func(store.CorrelationState) time.Time { return time.Time{} }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for name, st := range states(t, s, groups...) {
		if total(st) != 21 {
			t.Errorf("%s: total %d, want 21", name, total(st))
		}
	}
}

// testCorrelationPurgeDuringUpdates purges every group again and again
// while updates of many groups run: neither fails (a deadlock the
// database breaks is retried).
func testCorrelationPurgeDuringUpdates(t *testing.T, url string) {
	s := OpenURL(t, url)
	b0 := at(0).Truncate(5 * time.Second)
	var ups []store.CorrelationUpdate
	for i := range 200 {
		ups = append(ups, update("r", fmt.Sprintf("g%03d", i), bucket(b0, 1, 0, 0)))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 10 {
			if err := s.UpdateCorrelation(t.Context(), ups, func(store.CorrelationState) time.Time { return time.Time{} }); err != nil {
				t.Errorf("update: %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		for range 10 {
			if _, err := s.PurgeCorrelationState(t.Context(), time.Now().Add(time.Hour)); err != nil {
				t.Errorf("purge: %v", err)
				return
			}
		}
	})
	wg.Wait()
	for name, st := range states(t, s, ups[:5]...) {
		if n := total(st); n < 1 || n > 11 {
			t.Errorf("%s: total %d, want between 1 and 11", name, n)
		}
	}
}
