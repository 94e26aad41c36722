package incident_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestAddBusinessDays(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		from string
		n    int
		loc  *time.Location
		want string
	}{
		{"2026-11-25T10:00:00Z", 2, nil, "2026-11-27T10:00:00Z"},       // Wednesday → Friday
		{"2026-11-27T15:00:00Z", 1, time.UTC, "2026-11-30T15:00:00Z"},  // Friday → Monday
		{"2026-11-27T15:00:00Z", 2, time.UTC, "2026-12-01T15:00:00Z"},  // Friday → Tuesday
		{"2026-11-28T10:00:00Z", 2, time.UTC, "2026-12-02T00:00:00Z"},  // Saturday counts from Monday 00:00
		{"2026-11-29T23:59:00Z", 1, time.UTC, "2026-12-01T00:00:00Z"},  // Sunday too
		{"2026-11-27T23:30:00Z", 1, berlin, "2026-11-30T23:00:00Z"},    // Saturday 00:30 in Berlin → Monday 00:00 → Tuesday 00:00
		{"2026-10-23T10:00:00Z", 5, berlin, "2026-10-30T11:00:00Z"},    // same wall clock (12:00) across the end of DST
		{"2026-12-31T12:00:00Z", 10, time.UTC, "2027-01-14T12:00:00Z"}, // across the year
		{"2026-11-27T15:00:00Z", 0, time.UTC, "2026-11-27T15:00:00Z"},  // zero days on a weekday
	} {
		loc := tc.loc
		got := incident.AddBusinessDays(utc(tc.from), tc.n, loc)
		if !got.Equal(utc(tc.want)) {
			t.Errorf("AddBusinessDays(%s, %d, %v) = %s, want %s", tc.from, tc.n, loc, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
}

func TestSLAPeriodString(t *testing.T) {
	for p, want := range map[incident.SLAPeriod]string{
		{BusinessDays: 2}:            "2bd",
		{Duration: 72 * time.Hour}:   "3d",
		{Duration: 30 * time.Hour}:   "30h",
		{Duration: 90 * time.Minute}: "1h30m0s",
		{}:                           "none",
	} {
		if got := p.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", p, got, want)
		}
	}
}

// slaFixture is a fixture whose engine runs the default SLA clocks.
func slaFixture(t *testing.T, with func(o *incident.Options)) *fixture {
	t.Helper()
	f := newFixture(t, 1)
	if f.clock.Now().Weekday() != time.Friday {
		t.Fatalf("the fixture's clock must start on a Friday, it is %s", f.clock.Now().Weekday())
	}
	f.engine = f.wfEngine(t, func(o *incident.Options) {
		o.SLA = incident.DefaultSLAPolicy()
		if with != nil {
			with(o)
		}
	})
	return f
}

type slaClockPayload struct {
	Clocks   []incident.SLADeadline `json:"clocks"`
	Severity string                 `json:"severity"`
	Reason   string                 `json:"reason"`
}

func (f *fixture) entriesOf(t *testing.T, id int64, kind string) []incident.TimelineEntry {
	t.Helper()
	tl, err := f.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []incident.TimelineEntry
	for _, e := range tl {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (f *fixture) checkSLAs(t *testing.T, want int) {
	t.Helper()
	n, err := f.engine.CheckSLAs(context.Background(), f.clock.Now())
	if err != nil {
		t.Fatalf("CheckSLAs: %v", err)
	}
	if n != want {
		t.Fatalf("CheckSLAs at %s recorded %d breach(es), want %d", f.clock.Now().Format(time.RFC3339), n, want)
	}
}

func TestSLADeadlinesAreRecordedAtOpening(t *testing.T) {
	f := slaFixture(t, nil)
	inc := f.openOne(t, "sla") // high, Friday 12:01 UTC
	if got := f.kinds(t, inc.ID); !equal(got, []string{incident.KindOpened}) {
		t.Fatalf("timeline = %v", got)
	}
	var p struct {
		SLA struct {
			Clocks   []incident.SLADeadline `json:"clocks"`
			Timezone string                 `json:"timezone"`
		} `json:"sla"`
	}
	if err := json.Unmarshal(f.entriesOf(t, inc.ID, incident.KindOpened)[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	opened := inc.OpenedAt
	want := []incident.SLADeadline{
		{Clock: incident.SLAAcknowledge, Within: "2bd", Deadline: opened.AddDate(0, 0, 4)}, // Friday → Tuesday
		{Clock: incident.SLAResolve, Within: "30d", Deadline: opened.Add(30 * 24 * time.Hour)},
	}
	if !reflect.DeepEqual(p.SLA.Clocks, want) || p.SLA.Timezone != "UTC" {
		t.Errorf("opening's sla = %+v\nwant clocks %+v", p.SLA, want)
	}
	// Nothing is due, nothing changed: a check writes nothing.
	f.checkSLAs(t, 0)
	if got := f.kinds(t, inc.ID); len(got) != 1 {
		t.Errorf("a check with nothing due wrote: %v", got)
	}
	// Medium incidents run only the acknowledge clock; info ones none.
	med := incident.DefaultSLAPolicy().Deadlines(incident.Incident{Severity: event.SeverityMedium, OpenedAt: opened})
	info := incident.DefaultSLAPolicy().Deadlines(incident.Incident{Severity: event.SeverityInfo, OpenedAt: opened})
	if len(med) != 1 || med[0].Clock != incident.SLAAcknowledge || len(info) != 0 {
		t.Errorf("medium clocks %+v, info clocks %+v", med, info)
	}
}

// A clock past its deadline is recorded and escalated exactly once, also
// by a restarted engine.
func TestSLABreachIsRecordedAndEscalatedOnce(t *testing.T) {
	f := slaFixture(t, nil)
	inc := f.openOne(t, "late") // high: acknowledge 2bd, resolve 30d
	f.notified.kinds = nil

	f.clock.Advance(4*24*time.Hour - time.Minute) // Tuesday 12:00, one minute early
	f.checkSLAs(t, 0)
	f.clock.Advance(2 * time.Minute)
	f.checkSLAs(t, 1)
	f.checkSLAs(t, 0)
	breaches := f.entriesOf(t, inc.ID, incident.KindSLABreached)
	if len(breaches) != 1 {
		t.Fatalf("%d sla.breached entries, want 1", len(breaches))
	}
	p := payloadOf(t, breaches[0])
	if p["clock"] != incident.SLAAcknowledge || p["overdue_by"] != "1m0s" || p["escalated"] != true || breaches[0].Actor != incident.ActorSLA {
		t.Errorf("breach = %v by %s", p, breaches[0].Actor)
	}
	if got := f.notifiedKinds(); !equal(got, []string{incident.KindSLABreached}) {
		t.Errorf("notifications = %v, want the escalation", got)
	}

	// A restarted engine finds the breach in the timeline.
	f.engine = f.wfEngine(t, func(o *incident.Options) { o.SLA = incident.DefaultSLAPolicy() })
	f.checkSLAs(t, 0)
	// Acknowledging late does not undo the breach; resolve runs on.
	if _, _, err := f.engine.Acknowledge(context.Background(), inc.ID, "cli:alice", ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(27 * 24 * time.Hour)
	f.checkSLAs(t, 1)
	last := f.entriesOf(t, inc.ID, incident.KindSLABreached)
	if len(last) != 2 || payloadOf(t, last[1])["clock"] != incident.SLAResolve {
		t.Errorf("breaches = %d, last %s", len(last), last[len(last)-1].Payload)
	}
	rep, err := incident.VerifyAll(context.Background(), f.store)
	if err != nil || len(rep.Broken) > 0 {
		t.Errorf("VerifyAll = %+v, %v", rep, err)
	}
}

// An acknowledgement in time stops the acknowledge clock, a resolution
// every clock.
func TestSLAClocksStop(t *testing.T) {
	f := slaFixture(t, nil)
	ctx := context.Background()
	acked := f.openOne(t, "acked")
	resolved := f.openOne(t, "resolved")
	if _, _, err := f.engine.Acknowledge(ctx, acked.ID, "cli:alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.engine.Resolve(ctx, resolved.ID, "cli:alice", ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * 24 * time.Hour)
	f.checkSLAs(t, 0)
	f.clock.Advance(21 * 24 * time.Hour)
	f.checkSLAs(t, 1) // the acknowledged one's resolve clock
	if b := f.entriesOf(t, acked.ID, incident.KindSLABreached); len(b) != 1 || payloadOf(t, b[0])["clock"] != incident.SLAResolve {
		t.Errorf("acknowledged incident's breaches = %v", b)
	}
	if b := f.entriesOf(t, resolved.ID, incident.KindSLABreached); len(b) != 0 {
		t.Errorf("resolved incident breached: %v", b)
	}
}

// A raised severity changes the deadlines: they are recorded again.
func TestSLADeadlinesFollowTheSeverity(t *testing.T) {
	f := slaFixture(t, nil)
	f.clock.Advance(time.Minute)
	if err := f.engine.HandleEvent(context.Background(), failing("rise", event.SeverityMedium)); err != nil {
		t.Fatal(err)
	}
	inc, _ := f.store.OpenIncidentByFingerprint(context.Background(), "rise")
	f.clock.Advance(time.Minute)
	if err := f.engine.HandleEvent(context.Background(), failing("rise", event.SeverityCritical)); err != nil {
		t.Fatal(err)
	}
	f.checkSLAs(t, 0)
	clocks := f.entriesOf(t, inc.ID, incident.KindSLAClock)
	if len(clocks) != 1 {
		t.Fatalf("%d sla.clock entries, want 1 (the severity was raised)", len(clocks))
	}
	var p slaClockPayload
	if err := json.Unmarshal(clocks[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Severity != "critical" || p.Reason == "" || len(p.Clocks) != 2 || p.Clocks[1].Clock != incident.SLAResolve || p.Clocks[1].Within != "7d" ||
		!p.Clocks[1].Deadline.Equal(inc.OpenedAt.Add(7*24*time.Hour)) {
		t.Errorf("new deadlines = %+v", p)
	}
	f.checkSLAs(t, 0)
	if n := len(f.entriesOf(t, inc.ID, incident.KindSLAClock)); n != 1 {
		t.Errorf("unchanged deadlines were recorded again (%d entries)", n)
	}
}

// Personal-data breaches run the 72-hour clock, which only the resolution
// stops, and which escalates even while a silence is in force.
func TestBreachNotificationClock(t *testing.T) {
	f := newFixture(t, 1)
	sil := f.newSilences(t, incident.Silence{Name: "all", Monitors: []string{"*"}, StartsAt: f.clock.Now(), EndsAt: f.clock.Now().Add(30 * 24 * time.Hour)})
	f.engine = f.wfEngine(t, func(o *incident.Options) { o.SLA = incident.DefaultSLAPolicy(); o.Silences = sil })
	ctx := context.Background()
	ev := failing("pdb", event.SeverityHigh)
	ev.Category = incident.CategoryPersonalDataBreach
	f.clock.Advance(time.Minute)
	if err := f.engine.HandleEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	inc, _ := f.store.OpenIncidentByFingerprint(ctx, "pdb")
	if _, _, err := f.engine.Acknowledge(ctx, inc.ID, "cli:dpo", "notifying the authority"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(72*time.Hour - time.Second)
	f.checkSLAs(t, 0)
	f.clock.Advance(time.Second)
	f.checkSLAs(t, 1)
	b := f.entriesOf(t, inc.ID, incident.KindSLABreached)
	if len(b) != 1 || payloadOf(t, b[0])["clock"] != incident.SLABreachNotification {
		t.Fatalf("breaches = %v", b)
	}
	if got := f.notifiedKinds(); !equal(got, []string{incident.KindSLABreached}) {
		t.Errorf("notifications = %v; want only the escalation, which silences do not stop", got)
	}
}

// Replicas checking at the same moment record each breach once, on both
// backends, also for an incident opened before SLA clocks were enabled.
func TestSLACheckAcrossReplicas(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var url string
			if backend == "sqlite" {
				url = storetest.SQLiteURL(t)
			} else {
				url = storetest.PostgresURL(t)
			}
			f := newFixture(t, 1)
			f.store = storetest.OpenURL(t, url)
			f.engine = f.newEngine(t, 1) // no SLA clocks
			inc := f.openOne(t, "replicas")
			f.notified.kinds = nil
			f.clock.Advance(31 * 24 * time.Hour)

			const replicas = 4
			engines := make([]*incident.Engine, replicas)
			for i := range engines {
				st := f.store
				if i > 0 {
					st = storetest.OpenURL(t, url)
				}
				e, err := incident.New(incident.Options{Store: st, Tierer: f.tierer, Notifier: f.notified, Clock: f.clock, SLA: incident.DefaultSLAPolicy()})
				if err != nil {
					t.Fatal(err)
				}
				engines[i] = e
			}
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				total int
			)
			for _, e := range engines {
				wg.Go(func() {
					n, err := e.CheckSLAs(context.Background(), f.clock.Now())
					if err != nil {
						t.Errorf("CheckSLAs: %v", err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				})
			}
			wg.Wait()
			if total != 2 {
				t.Errorf("replicas recorded %d breaches in all, want 2 (acknowledge, resolve)", total)
			}
			got := f.kinds(t, inc.ID)
			if countKind(got, incident.KindSLABreached) != 2 || countKind(got, incident.KindSLAClock) != 1 {
				t.Errorf("timeline = %v; want one sla.clock and two sla.breached", got)
			}
			if n := countKind(f.notifiedKinds(), incident.KindSLABreached); n != 2 {
				t.Errorf("%d escalations, want 2", n)
			}
			rep, err := incident.VerifyAll(context.Background(), f.store)
			if err != nil || len(rep.Broken) > 0 {
				t.Errorf("VerifyAll = %+v, %v", rep, err)
			}
		})
	}
}
