package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestSQLiteForwardCursors(t *testing.T) {
	runForwardCursors(t, func(t *testing.T) store.Store { return storetest.OpenURL(t, storetest.SQLiteURL(t)) })
}

func TestPostgresForwardCursors(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	runForwardCursors(t, func(t *testing.T) store.Store { return storetest.OpenURL(t, storetest.PostgresURL(t)) })
}

// TestSQLiteForwardCursorSurvivesReopen saves a position, closes the
// database and opens it again, as a restarted daemon would.
func TestSQLiteForwardCursorSurvivesReopen(t *testing.T) {
	url := storetest.SQLiteURL(t)
	s := storetest.OpenURL(t, url)
	want := store.EventCursor{Time: time.Date(2025, 5, 1, 10, 0, 0, 123456000, time.UTC), ID: "ev-9"}
	if _, err := s.ForwardCursor(t.Context(), "siem", store.EventCursor{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveForwardCursor(t.Context(), "siem", want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := storetest.OpenURL(t, url).ForwardCursor(t.Context(), "siem", store.EventCursor{Time: time.Now(), ID: "x"})
	if err != nil || !got.Time.Equal(want.Time) || got.ID != want.ID {
		t.Fatalf("after reopen: %+v, %v; want %+v", got, err, want)
	}
}

func runForwardCursors(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"InitialIsStoredOnce", testForwardInitial},
		{"ZeroCursorRoundTrips", testForwardZero},
		{"SaveMovesForwardOnly", testForwardMonotonic},
		{"OutputsAreIndependent", testForwardIndependent},
		{"ConcurrentFirstCallsAgree", testForwardConcurrentInit},
		{"EmptyNameIsInvalid", testForwardEmptyName},
		{"ResumesTailAfterCursor", testForwardResumesTail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// fwdTime has sub-microsecond digits and a zone, which the store must
// normalize away.
func fwdTime(d time.Duration) time.Time {
	return time.Date(2025, 4, 2, 9, 30, 0, 123456789, time.FixedZone("CEST", 2*3600)).Add(d)
}

func sameCursor(t *testing.T, got, want store.EventCursor) {
	t.Helper()
	if !got.Time.Equal(want.Time.Truncate(time.Microsecond)) || got.ID != want.ID {
		t.Fatalf("cursor = {%s %q}, want {%s %q}", got.Time.Format(time.RFC3339Nano), got.ID,
			want.Time.Truncate(time.Microsecond).Format(time.RFC3339Nano), want.ID)
	}
}

func testForwardInitial(t *testing.T, s store.Store) {
	first := store.EventCursor{Time: fwdTime(0), ID: ""}
	got, err := s.ForwardCursor(t.Context(), "siem", first)
	if err != nil {
		t.Fatal(err)
	}
	sameCursor(t, got, first)
	// A later start with another initial position keeps the first.
	got, err = s.ForwardCursor(t.Context(), "siem", store.EventCursor{Time: fwdTime(time.Hour), ID: "z"})
	if err != nil {
		t.Fatal(err)
	}
	sameCursor(t, got, first)
}

func testForwardZero(t *testing.T, s store.Store) {
	got, err := s.ForwardCursor(t.Context(), "from-oldest", store.EventCursor{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsZero() {
		t.Fatalf("zero cursor came back as {%s %q}", got.Time, got.ID)
	}
}

func testForwardMonotonic(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.ForwardCursor(ctx, "siem", store.EventCursor{Time: fwdTime(0)}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		save, want store.EventCursor
	}{
		{store.EventCursor{Time: fwdTime(time.Second), ID: "b"}, store.EventCursor{Time: fwdTime(time.Second), ID: "b"}},
		// Same time, greater id: forward.
		{store.EventCursor{Time: fwdTime(time.Second), ID: "c"}, store.EventCursor{Time: fwdTime(time.Second), ID: "c"}},
		// Same time, smaller id: backwards, ignored.
		{store.EventCursor{Time: fwdTime(time.Second), ID: "a"}, store.EventCursor{Time: fwdTime(time.Second), ID: "c"}},
		// Earlier time: ignored.
		{store.EventCursor{Time: fwdTime(0), ID: "zzz"}, store.EventCursor{Time: fwdTime(time.Second), ID: "c"}},
		{store.EventCursor{Time: fwdTime(time.Minute), ID: "a"}, store.EventCursor{Time: fwdTime(time.Minute), ID: "a"}},
	}
	for i, st := range steps {
		if err := s.SaveForwardCursor(ctx, "siem", st.save); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := s.ForwardCursor(ctx, "siem", store.EventCursor{})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		sameCursor(t, got, st.want)
	}
}

func testForwardIndependent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := store.EventCursor{Time: fwdTime(time.Second), ID: "a"}
	b := store.EventCursor{Time: fwdTime(2 * time.Second), ID: "b"}
	// Saving without a prior ForwardCursor call creates the row.
	if err := s.SaveForwardCursor(ctx, "webhook", a); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveForwardCursor(ctx, "syslog", b); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]store.EventCursor{"webhook": a, "syslog": b} {
		got, err := s.ForwardCursor(ctx, name, store.EventCursor{})
		if err != nil {
			t.Fatal(err)
		}
		sameCursor(t, got, want)
	}
}

func testForwardConcurrentInit(t *testing.T, s store.Store) {
	const n = 8
	var (
		wg   sync.WaitGroup
		got  [n]store.EventCursor
		errs [n]error
	)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = s.ForwardCursor(t.Context(), "race", store.EventCursor{Time: fwdTime(time.Duration(i) * time.Second), ID: fmt.Sprint(i)})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		sameCursor(t, got[i], got[0])
	}
}

func testForwardEmptyName(t *testing.T, s store.Store) {
	if _, err := s.ForwardCursor(t.Context(), "", store.EventCursor{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ForwardCursor(\"\") = %v, want ErrInvalid", err)
	}
	if err := s.SaveForwardCursor(t.Context(), "", store.EventCursor{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SaveForwardCursor(\"\") = %v, want ErrInvalid", err)
	}
}

// testForwardResumesTail checks the cursor against TailEvents: tailing
// after a saved event's position returns exactly the events after it.
func testForwardResumesTail(t *testing.T, s store.Store) {
	ctx := t.Context()
	var evs []event.Event
	for i := range 5 {
		evs = append(evs, event.Event{ID: fmt.Sprintf("ev-%d", i), Time: fwdTime(0), Source: "app", Kind: "auth.failure",
			Fingerprint: "fp", Severity: event.SeverityLow})
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	first, err := s.TailEvents(ctx, store.EventCursor{}, 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("tail: %v, %v", first, err)
	}
	if err := s.SaveForwardCursor(ctx, "siem", first[1].Cursor()); err != nil {
		t.Fatal(err)
	}
	c, err := s.ForwardCursor(ctx, "siem", store.EventCursor{})
	if err != nil {
		t.Fatal(err)
	}
	rest, err := s.TailEvents(ctx, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range rest {
		ids = append(ids, e.ID)
	}
	if fmt.Sprint(ids) != "[ev-2 ev-3 ev-4]" {
		t.Fatalf("after the saved cursor: %v, want [ev-2 ev-3 ev-4]", ids)
	}
}
