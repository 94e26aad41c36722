package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// RunSilences runs the conformance suite of incident.SilenceStore. open
// must return a fresh, migrated, empty store each time, as for Run.
func RunSilences(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SilenceRoundTrip", testSilenceRoundTrip},
		{"SilenceRejectsInvalid", testSilenceRejectsInvalid},
		{"SilenceListFilters", testSilenceList},
		{"SilenceExpire", testSilenceExpire},
		{"SilenceExpirePending", testSilenceExpirePending},
		{"SilenceConcurrentExpireHasOneWinner", testSilenceConcurrentExpire},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func newSilence(from, to time.Duration) incident.Silence {
	return incident.Silence{
		Monitors:   []string{"api-health"},
		Categories: []string{"availability", "tls"},
		StartsAt:   at(from),
		EndsAt:     at(to),
		Comment:    "deploying the new load balancer",
		CreatedBy:  "cli:alice",
		CreatedAt:  at(from),
	}
}

func mustCreateSilence(t *testing.T, s store.Store, sil incident.Silence) incident.Silence {
	t.Helper()
	got, err := s.CreateSilence(t.Context(), sil)
	if err != nil {
		t.Fatalf("CreateSilence: %v", err)
	}
	return got
}

func silenceIDs(list []incident.Silence) []int64 {
	out := []int64{}
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}

func testSilenceRoundTrip(t *testing.T, s store.Store) {
	in := newSilence(0, 2*time.Hour)
	in.ID, in.Name = 77, "ignored"
	got := mustCreateSilence(t, s, in)
	if got.ID <= 0 || got.ID == 77 {
		t.Fatalf("created silence has id %d, want one the store assigns", got.ID)
	}
	want := in
	want.ID, want.Name = got.ID, ""
	want.StartsAt, want.EndsAt, want.CreatedAt = incident.NormalizeTime(in.StartsAt), incident.NormalizeTime(in.EndsAt), incident.NormalizeTime(in.CreatedAt)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CreateSilence = %+v\nwant %+v", got, want)
	}
	read, err := s.GetSilence(t.Context(), got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, want) {
		t.Errorf("GetSilence = %+v\nwant %+v", read, want)
	}
	if _, err := s.GetSilence(t.Context(), got.ID+100); !errors.Is(err, incident.ErrSilenceNotFound) {
		t.Errorf("GetSilence(unknown) = %v, want ErrSilenceNotFound", err)
	}

	// Only categories: monitors come back as an empty list, not null.
	only := newSilence(0, time.Hour)
	only.Monitors = nil
	got = mustCreateSilence(t, s, only)
	read, err = s.GetSilence(t.Context(), got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Monitors == nil || len(read.Monitors) != 0 || len(read.Categories) != 2 {
		t.Errorf("silence without monitors read back as %+v", read)
	}
}

func testSilenceRejectsInvalid(t *testing.T, s store.Store) {
	cases := map[string]func(*incident.Silence){
		"no matcher":        func(s *incident.Silence) { s.Monitors, s.Categories = nil, nil },
		"empty matcher":     func(s *incident.Silence) { s.Monitors = []string{""} },
		"ends before start": func(s *incident.Silence) { s.EndsAt = s.StartsAt.Add(-time.Minute) },
		"ends at start":     func(s *incident.Silence) { s.EndsAt = s.StartsAt },
		"no creator":        func(s *incident.Silence) { s.CreatedBy = "" },
		"no start":          func(s *incident.Silence) { s.StartsAt = time.Time{} },
	}
	for name, mutate := range cases {
		sil := newSilence(0, time.Hour)
		mutate(&sil)
		if _, err := s.CreateSilence(t.Context(), sil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateSilence = %v, want ErrInvalid", name, err)
		}
	}
	list, err := s.ListSilences(t.Context(), incident.SilenceFilter{})
	if err != nil || len(list) != 0 {
		t.Errorf("invalid silences were stored: %v, %v", list, err)
	}
}

func testSilenceList(t *testing.T, s store.Store) {
	ended := mustCreateSilence(t, s, newSilence(0, time.Hour))
	active := mustCreateSilence(t, s, newSilence(0, 3*time.Hour))
	pending := mustCreateSilence(t, s, newSilence(4*time.Hour, 5*time.Hour))

	all, err := s.ListSilences(t.Context(), incident.SilenceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := silenceIDs(all), []int64{pending.ID, active.ID, ended.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("all silences = %v, want newest first %v", got, want)
	}
	// At 2h: the first has ended, the others are in force or pending.
	current, err := s.ListSilences(t.Context(), incident.SilenceFilter{EndsAfter: at(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := silenceIDs(current), []int64{pending.ID, active.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("silences ending after 2h = %v, want %v", got, want)
	}
	// The end is exclusive: a silence ending exactly then is over.
	edge, err := s.ListSilences(t.Context(), incident.SilenceFilter{EndsAfter: at(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := silenceIDs(edge), []int64{pending.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("silences ending after 3h = %v, want %v", got, want)
	}
	limited, err := s.ListSilences(t.Context(), incident.SilenceFilter{Limit: 1})
	if err != nil || len(limited) != 1 || limited[0].ID != pending.ID {
		t.Errorf("limit 1 = %v, %v", silenceIDs(limited), err)
	}
}

func testSilenceExpire(t *testing.T, s store.Store) {
	sil := mustCreateSilence(t, s, newSilence(0, 2*time.Hour))
	when := at(30 * time.Minute)
	got, err := s.ExpireSilence(t.Context(), sil.ID, "api:bob/key1", when)
	if err != nil {
		t.Fatalf("ExpireSilence: %v", err)
	}
	w := incident.NormalizeTime(when)
	if !got.EndsAt.Equal(w) || got.ExpiredAt == nil || !got.ExpiredAt.Equal(w) || got.ExpiredBy != "api:bob/key1" || !got.StartsAt.Equal(sil.StartsAt) {
		t.Errorf("expired silence = %+v; want ends_at = expired_at = %v by api:bob/key1, start kept", got, w)
	}
	if read, err := s.GetSilence(t.Context(), sil.ID); err != nil || !reflect.DeepEqual(read, got) {
		t.Errorf("GetSilence after expiry = %+v, %v; want %+v", read, err, got)
	}
	if _, err := s.ExpireSilence(t.Context(), sil.ID, "api:bob/key1", when.Add(time.Minute)); !errors.Is(err, incident.ErrSilenceEnded) {
		t.Errorf("second expiry = %v, want ErrSilenceEnded", err)
	}
	// A silence past its end cannot be expired either.
	old := mustCreateSilence(t, s, newSilence(0, time.Hour))
	if _, err := s.ExpireSilence(t.Context(), old.ID, "cli:alice", at(2*time.Hour)); !errors.Is(err, incident.ErrSilenceEnded) {
		t.Errorf("expiring an ended silence = %v, want ErrSilenceEnded", err)
	}
	if _, err := s.ExpireSilence(t.Context(), sil.ID+100, "cli:alice", when); !errors.Is(err, incident.ErrSilenceNotFound) {
		t.Errorf("expiring an unknown silence = %v, want ErrSilenceNotFound", err)
	}
	if _, err := s.ExpireSilence(t.Context(), old.ID, "", when); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("expiring without an actor = %v, want ErrInvalid", err)
	}
}

func testSilenceExpirePending(t *testing.T, s store.Store) {
	sil := mustCreateSilence(t, s, newSilence(time.Hour, 2*time.Hour))
	when := at(10 * time.Minute)
	got, err := s.ExpireSilence(t.Context(), sil.ID, "cli:alice", when)
	if err != nil {
		t.Fatalf("ExpireSilence(pending): %v", err)
	}
	w := incident.NormalizeTime(when)
	if !got.StartsAt.Equal(w) || !got.EndsAt.Equal(w) {
		t.Errorf("expired pending silence runs %v–%v, want it never to start (both %v)", got.StartsAt, got.EndsAt, w)
	}
	if got.State(at(90*time.Minute)) != "ended" {
		t.Errorf("expired pending silence is %s during its former window", got.State(at(90*time.Minute)))
	}
}

func testSilenceConcurrentExpire(t *testing.T, s store.Store) {
	sil := mustCreateSilence(t, s, newSilence(0, 2*time.Hour))
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range n {
		wg.Go(func() {
			_, err := s.ExpireSilence(t.Context(), sil.ID, "racer", at(time.Minute))
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, incident.ErrSilenceEnded):
				t.Errorf("ExpireSilence: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent expiries succeeded, want exactly 1", wins)
	}
}
