package incident_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

func TestSilenceMatchesAndValidates(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	inc := incident.Incident{Monitor: "api", Category: "availability"}
	s := incident.Silence{Name: "w", Monitors: []string{"api"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		mod  func(*incident.Silence)
		at   time.Time
		want bool
	}{
		{"monitor matches in window", nil, t0, true},
		{"end is exclusive", nil, t0.Add(time.Hour), false},
		{"before start", nil, t0.Add(-time.Nanosecond), false},
		{"other monitor", func(s *incident.Silence) { s.Monitors = []string{"web"} }, t0, false},
		{"wildcard monitor", func(s *incident.Silence) { s.Monitors = []string{"*"} }, t0, true},
		{"category only", func(s *incident.Silence) { s.Monitors, s.Categories = nil, []string{"availability"} }, t0, true},
		{"both must match", func(s *incident.Silence) { s.Categories = []string{"tls"} }, t0, false},
		{"one of several", func(s *incident.Silence) { s.Categories = []string{"tls", "availability"} }, t0, true},
	} {
		sil := s
		if tc.mod != nil {
			tc.mod(&sil)
		}
		if got := sil.Matches(inc, tc.at); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
	if s.Ref() != "w" || (incident.Silence{ID: 12}).Ref() != "silence:12" {
		t.Errorf("Ref = %q, %q", s.Ref(), incident.Silence{ID: 12}.Ref())
	}
	if s.State(t0.Add(-time.Second)) != "pending" || s.State(t0) != "active" || s.State(t0.Add(time.Hour)) != "ended" {
		t.Error("State is wrong at the edges")
	}
	for name, mod := range map[string]func(*incident.Silence){
		"no matcher":   func(s *incident.Silence) { s.Monitors = nil },
		"empty":        func(s *incident.Silence) { s.Categories = []string{""} },
		"space":        func(s *incident.Silence) { s.Monitors = []string{"a b"} },
		"reversed":     func(s *incident.Silence) { s.EndsAt = s.StartsAt.Add(-time.Second) },
		"no end":       func(s *incident.Silence) { s.EndsAt = time.Time{} },
		"ctrl comment": func(s *incident.Silence) { s.Comment = "a\x00b" },
	} {
		sil := s
		mod(&sil)
		if err := sil.Validate(); !errors.Is(err, incident.ErrInvalidSilence) {
			t.Errorf("%s: Validate = %v, want ErrInvalidSilence", name, err)
		}
	}
}

// newSilences returns Silences on the fixture's store and clock with the
// static windows given.
func (f *fixture) newSilences(t *testing.T, static ...incident.Silence) *incident.Silences {
	t.Helper()
	s, err := incident.NewSilences(incident.SilencesOptions{Static: static, Store: f.store, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) window(name string, from, to time.Duration) incident.Silence {
	now := f.clock.Now()
	return incident.Silence{Name: name, Monitors: []string{"api"}, StartsAt: now.Add(from), EndsAt: now.Add(to)}
}

// A silenced incident is opened, extended and resolved as usual, but
// nobody is notified; the timeline says so once per silence.
func TestSilencedIncidentNotifiesNobodyAndSaysSoOnce(t *testing.T) {
	f := newFixture(t, 1)
	sil := f.newSilences(t, f.window("db-upgrade", 0, 2*time.Hour), f.window("freeze", 0, 3*time.Hour))
	f.engine = f.wfEngine(t, func(o *incident.Options) { o.Silences = sil })
	for range 3 {
		f.run(t, failing("quiet", event.SeverityHigh))
	}
	inc := f.all(t)[0]
	if got := f.engine.Silenced(inc, f.clock.Now()); !reflect.DeepEqual(got, []string{"db-upgrade", "freeze"}) {
		t.Errorf("Silenced = %v", got)
	}
	if _, _, err := f.engine.Acknowledge(context.Background(), inc.ID, "cli:alice", ""); err != nil {
		t.Fatal(err)
	}
	f.run(t, passing()) // resolves
	if got := f.notifiedKinds(); len(got) != 0 {
		t.Errorf("notifications during a silence: %v", got)
	}
	want := []string{incident.KindOpened, incident.KindNotifySuppressed, incident.KindFailure, incident.KindFailure,
		incident.KindAcknowledged, incident.KindPass, incident.KindResolved}
	if got := f.kinds(t, inc.ID); !equal(got, want) {
		t.Fatalf("timeline = %v, want %v", got, want)
	}
	tl, _ := f.store.Timeline(context.Background(), inc.ID)
	p := payloadOf(t, tl[1])
	if !reflect.DeepEqual(p["silences"], []any{"db-upgrade", "freeze"}) || p["suppressed"] != incident.KindOpened || tl[1].Actor != incident.ActorSilence {
		t.Errorf("suppression entry = %v by %s", p, tl[1].Actor)
	}
	// Another incident under the same silences gets its own entry.
	f.run(t, failing("quiet2", event.SeverityHigh))
	other, _ := f.store.OpenIncidentByFingerprint(context.Background(), "quiet2")
	if got := f.kinds(t, other.ID); countKind(got, incident.KindNotifySuppressed) != 1 {
		t.Errorf("second incident's timeline = %v", got)
	}
	// Outside the window, notifications flow again.
	f.clock.Advance(4 * time.Hour)
	f.run(t, failing("loud", event.SeverityHigh), failing("quiet2", event.SeverityHigh))
	if got := f.notifiedKinds(); !equal(got, []string{incident.KindOpened}) {
		t.Errorf("notifications after the silences = %v", got)
	}
}

// A suppression recorded by one replica is not recorded again by another
// (each reads the timeline), and a new silence adds its own entry.
func TestSuppressionIsRecordedOnceAcrossEngines(t *testing.T) {
	f := newFixture(t, 1)
	sil := f.newSilences(t, f.window("w1", 0, time.Hour))
	a := f.wfEngine(t, func(o *incident.Options) { o.Silences = sil })
	f.engine = a
	inc := f.openOne(t, "rep")
	b := f.wfEngine(t, func(o *incident.Options) { o.Silences = sil })
	if _, _, err := b.Acknowledge(context.Background(), inc.ID, "cli:bob", ""); err != nil {
		t.Fatal(err)
	}
	if got := f.kinds(t, inc.ID); countKind(got, incident.KindNotifySuppressed) != 1 {
		t.Errorf("timeline = %v; want one suppression", got)
	}
	sil2 := f.newSilences(t, f.window("w1", 0, time.Hour), f.window("w2", 0, time.Hour))
	c := f.wfEngine(t, func(o *incident.Options) { o.Silences = sil2 })
	if _, _, err := c.Resolve(context.Background(), inc.ID, "cli:carol", ""); err != nil {
		t.Fatal(err)
	}
	tl, _ := f.store.Timeline(context.Background(), inc.ID)
	last := tl[len(tl)-1]
	if last.Kind != incident.KindNotifySuppressed || !reflect.DeepEqual(payloadOf(t, last)["silences"], []any{"w2"}) {
		t.Errorf("last entry = %s %s; want a suppression naming only w2", last.Kind, last.Payload)
	}
	if got := f.notifiedKinds(); len(got) != 0 {
		t.Errorf("notifications = %v", got)
	}
}

// When the silences end while the incident is unresolved, the people
// notified learn of it: once.
func TestNotificationsResumeWhenSilenceEnds(t *testing.T) {
	f := newFixture(t, 1)
	sil := f.newSilences(t, f.window("w", 0, time.Hour))
	f.engine = f.wfEngine(t, func(o *incident.Options) { o.Silences = sil })
	ctx := context.Background()
	inc := f.openOne(t, "outlives")
	resolvedInc := f.openOne(t, "quick")
	if _, _, err := f.engine.Resolve(ctx, resolvedInc.ID, "cli:alice", ""); err != nil {
		t.Fatal(err)
	}

	if n, err := f.engine.ResumeNotifications(ctx, f.clock.Now()); err != nil || n != 0 {
		t.Fatalf("during the silence: ResumeNotifications = %d, %v", n, err)
	}
	f.clock.Advance(2 * time.Hour)
	if n, err := f.engine.ResumeNotifications(ctx, f.clock.Now()); err != nil || n != 1 {
		t.Fatalf("after the silence: ResumeNotifications = %d, %v; want 1", n, err)
	}
	if got := f.notifiedKinds(); !equal(got, []string{incident.KindNotifyResumed}) {
		t.Errorf("notifications = %v", got)
	}
	tl, _ := f.store.Timeline(ctx, inc.ID)
	last := tl[len(tl)-1]
	if last.Kind != incident.KindNotifyResumed || !reflect.DeepEqual(payloadOf(t, last)["silences"], []any{"w"}) {
		t.Errorf("last entry = %s %s", last.Kind, last.Payload)
	}
	// Once, also for a restarted engine.
	f.engine = f.wfEngine(t, func(o *incident.Options) { o.Silences = sil })
	if n, err := f.engine.ResumeNotifications(ctx, f.clock.Now()); err != nil || n != 0 {
		t.Errorf("again: ResumeNotifications = %d, %v; want 0", n, err)
	}
	if got := f.kinds(t, resolvedInc.ID); countKind(got, incident.KindNotifyResumed) != 0 {
		t.Errorf("a resolved incident resumed notifications: %v", got)
	}
}

// Runtime silences: created and expired through Silences, they act at
// once in the process that made them and within the cache TTL elsewhere.
func TestRuntimeSilences(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	here := f.newSilences(t)
	elsewhere := f.newSilences(t)
	inc := incident.Incident{Monitor: "api", Category: "availability"}
	if got := elsewhere.Active(inc, f.clock.Now()); len(got) != 0 { // fills its cache
		t.Fatalf("Active before any silence = %v", got)
	}
	created, err := here.Create(ctx, incident.Silence{Categories: []string{"availability"}, EndsAt: f.clock.Now().Add(2 * time.Hour),
		Comment: "load test", CreatedBy: "cli:alice"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.ID == 0 || !created.StartsAt.Equal(f.clock.Now()) || created.CreatedBy != "cli:alice" {
		t.Errorf("created = %+v", created)
	}
	ref := []string{created.Ref()}
	if got := here.Active(inc, f.clock.Now()); !reflect.DeepEqual(got, ref) {
		t.Errorf("creator's Active = %v, want %v at once", got, ref)
	}
	if got := elsewhere.Active(inc, f.clock.Now()); len(got) != 0 {
		t.Errorf("other process saw the silence before its cache expired: %v", got)
	}
	f.clock.Advance(incident.DefaultSilenceCacheTTL)
	if got := elsewhere.Active(inc, f.clock.Now()); !reflect.DeepEqual(got, ref) {
		t.Errorf("other process's Active after the TTL = %v, want %v", got, ref)
	}
	list, err := here.List(ctx, false)
	if err != nil || len(list) != 1 || list[0].ID != created.ID {
		t.Errorf("List = %+v, %v", list, err)
	}

	if _, err := here.Expire(ctx, created.ID, "cli:bob"); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	if got := here.Active(inc, f.clock.Now()); len(got) != 0 {
		t.Errorf("Active after expiry = %v", got)
	}
	if _, err := here.Expire(ctx, created.ID, "cli:bob"); !errors.Is(err, incident.ErrSilenceEnded) {
		t.Errorf("second Expire = %v, want ErrSilenceEnded", err)
	}
	if _, err := here.Expire(ctx, created.ID+1, "cli:bob"); !errors.Is(err, incident.ErrSilenceNotFound) {
		t.Errorf("Expire(unknown) = %v, want ErrSilenceNotFound", err)
	}
	if all, err := here.List(ctx, true); err != nil || len(all) != 1 || all[0].ExpiredBy != "cli:bob" {
		t.Errorf("List(all) = %+v, %v", all, err)
	}
	if cur, err := here.List(ctx, false); err != nil || len(cur) != 0 {
		t.Errorf("List(current) after expiry = %+v, %v", cur, err)
	}

	now := f.clock.Now()
	for name, s := range map[string]incident.Silence{
		"no comment":   {Monitors: []string{"api"}, EndsAt: now.Add(time.Hour), CreatedBy: "cli:a"},
		"no creator":   {Monitors: []string{"api"}, EndsAt: now.Add(time.Hour), Comment: "x"},
		"no matcher":   {EndsAt: now.Add(time.Hour), Comment: "x", CreatedBy: "cli:a"},
		"in the past":  {Monitors: []string{"api"}, StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(-time.Hour), Comment: "x", CreatedBy: "cli:a"},
		"too long":     {Monitors: []string{"api"}, EndsAt: now.Add(incident.MaxSilenceDuration + time.Minute), Comment: "x", CreatedBy: "cli:a"},
		"no end given": {Monitors: []string{"api"}, Comment: "x", CreatedBy: "cli:a"},
	} {
		if _, err := here.Create(ctx, s); err == nil {
			t.Errorf("%s: Create succeeded", name)
		} else if name != "no creator" && !errors.Is(err, incident.ErrInvalidSilence) {
			t.Errorf("%s: Create = %v, want ErrInvalidSilence", name, err)
		}
	}
}

// flakyStore fails ListSilences when told to.
type flakyStore struct {
	incident.SilenceStore
	fail  atomic.Bool
	reads atomic.Int32
}

func (s *flakyStore) ListSilences(ctx context.Context, f incident.SilenceFilter) ([]incident.Silence, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return nil, errors.New("store down")
	}
	return s.SilenceStore.ListSilences(ctx, f)
}

// A store outage keeps the silences read last; nothing new is silenced.
func TestSilencesSurviveStoreOutage(t *testing.T) {
	f := newFixture(t, 1)
	fs := &flakyStore{SilenceStore: f.store}
	sil, err := incident.NewSilences(incident.SilencesOptions{Store: fs, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sil.Create(context.Background(), incident.Silence{Monitors: []string{"api"}, EndsAt: f.clock.Now().Add(time.Hour), Comment: "c", CreatedBy: "cli:a"}); err != nil {
		t.Fatal(err)
	}
	inc := incident.Incident{Monitor: "api"}
	if len(sil.Active(inc, f.clock.Now())) != 1 {
		t.Fatal("silence not active")
	}
	reads := fs.reads.Load()
	sil.Active(inc, f.clock.Now())
	if fs.reads.Load() != reads {
		t.Error("Active read the store again within the cache TTL")
	}
	fs.fail.Store(true)
	f.clock.Advance(time.Minute)
	if got := sil.Active(inc, f.clock.Now()); len(got) != 1 {
		t.Errorf("during an outage Active = %v, want the silence read last", got)
	}
}

func TestNewSilencesChecksStaticOnes(t *testing.T) {
	now := time.Now()
	ok := incident.Silence{Name: "a", Monitors: []string{"x"}, StartsAt: now, EndsAt: now.Add(time.Hour)}
	for name, static := range map[string][]incident.Silence{
		"duplicate": {ok, ok},
		"no name":   {{Monitors: []string{"x"}, StartsAt: now, EndsAt: now.Add(time.Hour)}},
		"invalid":   {{Name: "b", StartsAt: now, EndsAt: now.Add(time.Hour)}},
	} {
		if _, err := incident.NewSilences(incident.SilencesOptions{Static: static}); !errors.Is(err, incident.ErrInvalidSilence) {
			t.Errorf("%s: NewSilences = %v, want ErrInvalidSilence", name, err)
		}
	}
}
