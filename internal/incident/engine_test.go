package incident_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorder is a Notifier that keeps what it was told.
type recorder struct {
	mu    sync.Mutex
	kinds []string
}

func (r *recorder) Notify(_ context.Context, n incident.Notification) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds = append(r.kinds, n.Entry.Kind)
	return false, nil
}

type fixture struct {
	store    store.Store
	clock    *fakeClock
	notified *recorder
	engine   *incident.Engine
	tierer   incident.Tierer
}

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+path, store.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newFixture(t *testing.T, recoverAfter int) *fixture {
	t.Helper()
	ctx := context.Background()
	cl, err := siem.NewClassifier(ctx, siem.ClassifierOptions{})
	if err != nil {
		t.Fatalf("classifier: %v", err)
	}
	f := &fixture{
		store:    openSQLite(t, filepath.Join(t.TempDir(), "s.db")),
		clock:    &fakeClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)},
		notified: &recorder{},
		tierer:   cl,
	}
	f.engine = f.newEngine(t, recoverAfter)
	return f
}

func (f *fixture) newEngine(t *testing.T, recoverAfter int) *incident.Engine {
	t.Helper()
	e, err := incident.New(incident.Options{
		Store: f.store, Tierer: f.tierer, Notifier: f.notified, Clock: f.clock,
		RecoverAfter: func(string) int { return recoverAfter },
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func failing(fp string, sev event.Severity) event.Event {
	return event.Event{
		ID: "ev-" + fp + time.Now().Format("150405.000000000"), Time: time.Now(), Source: "monitor", Monitor: "api",
		Kind: "monitor.check", Outcome: event.OutcomeFail, Fingerprint: fp, Title: "api: HTTP 500",
		Severity: sev, Category: "availability", OpenIncident: sev >= event.SeverityMedium,
		Attributes: map[string]string{"evidence": "status 500"},
	}
}

func passing() event.Event {
	return event.Event{ID: "pass", Time: time.Now(), Source: "monitor", Monitor: "api", Kind: "monitor.check",
		Outcome: event.OutcomePass, Fingerprint: "pass", Severity: event.SeverityInfo}
}

func (f *fixture) run(t *testing.T, evs ...event.Event) {
	t.Helper()
	f.clock.Advance(time.Minute)
	if err := f.engine.HandleRun(context.Background(), incident.Run{Monitor: "api", Events: evs}); err != nil {
		t.Fatalf("HandleRun: %v", err)
	}
}

func (f *fixture) all(t *testing.T) []incident.Incident {
	t.Helper()
	list, err := f.store.ListIncidents(context.Background(), incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (f *fixture) kinds(t *testing.T, id int64) []string {
	t.Helper()
	tl, err := f.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range tl {
		out = append(out, e.Kind)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFailuresDeduplicateIntoOneIncident(t *testing.T) {
	f := newFixture(t, 1)
	for range 3 {
		f.run(t, failing("fp1", event.SeverityHigh))
	}
	list := f.all(t)
	if len(list) != 1 {
		t.Fatalf("3 failures opened %d incidents, want 1", len(list))
	}
	inc := list[0]
	if inc.Status != incident.StatusOpen || inc.Failures != 3 || inc.Tier != incident.TierMinor {
		t.Errorf("incident = %+v; want open, 3 failures, MINOR (a high availability incident)", inc)
	}
	want := []string{incident.KindOpened, incident.KindFailure, incident.KindFailure}
	if got := f.kinds(t, inc.ID); !equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	tl, _ := f.store.Timeline(context.Background(), inc.ID)
	var opened map[string]any
	if err := json.Unmarshal(tl[0].Payload, &opened); err != nil {
		t.Fatal(err)
	}
	if opened["tier"] != "MINOR" || opened["reason"] == nil || opened["tier_input"] == nil {
		t.Errorf("opened entry does not record the decision and its input: %v", opened)
	}
	if !tl[0].Time.Equal(f.clock.Now().Add(-2 * time.Minute)) {
		t.Errorf("opened entry time %v, want the engine clock's %v", tl[0].Time, f.clock.Now().Add(-2*time.Minute))
	}
}

func TestRecoverAfterConsecutivePasses(t *testing.T) {
	f := newFixture(t, 2)
	f.run(t, failing("fp1", event.SeverityHigh))
	f.run(t, passing())
	f.run(t, failing("fp1", event.SeverityHigh)) // resets the count
	f.run(t, passing())
	inc := f.all(t)[0]
	if inc.Status != incident.StatusOpen || inc.RecoveryPasses != 1 {
		t.Fatalf("after pass, fail, pass with recover_after=2: status %s, passes %d; want open, 1", inc.Status, inc.RecoveryPasses)
	}
	// A restarted engine continues from the persisted count.
	f.engine = f.newEngine(t, 2)
	f.run(t, passing())
	inc = f.all(t)[0]
	if inc.Status != incident.StatusResolved || inc.ResolvedAt == nil {
		t.Fatalf("after two consecutive passes: %+v, want resolved", inc)
	}
	want := []string{incident.KindOpened, incident.KindPass, incident.KindFailure, incident.KindPass, incident.KindPass, incident.KindResolved}
	if got := f.kinds(t, inc.ID); !equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	if got := f.notified.kinds; !equal(got, []string{incident.KindOpened, incident.KindResolved}) {
		t.Errorf("notifications = %v, want opened then resolved", got)
	}
	// Further passes do not touch a resolved incident.
	f.run(t, passing())
	if got := f.kinds(t, inc.ID); len(got) != len(want) {
		t.Errorf("a pass after resolution appended to the timeline: %v", got)
	}
}

func TestFailureAfterResolutionOpensNewIncident(t *testing.T) {
	f := newFixture(t, 1)
	f.run(t, failing("fp1", event.SeverityHigh))
	f.run(t, passing())
	f.run(t, failing("fp1", event.SeverityHigh))
	list := f.all(t)
	if len(list) != 2 || list[0].Status != incident.StatusOpen || list[1].Status != incident.StatusResolved {
		t.Fatalf("incidents = %+v; want a new open one and the resolved one", list)
	}
}

func TestOnlyFailingFingerprintsKeepTheirIncidents(t *testing.T) {
	f := newFixture(t, 1)
	f.run(t, failing("a", event.SeverityHigh), failing("b", event.SeverityCritical))
	f.run(t, failing("a", event.SeverityHigh)) // b no longer fails: it recovers
	byFP := map[string]incident.Incident{}
	for _, inc := range f.all(t) {
		byFP[inc.Fingerprint] = inc
	}
	if byFP["a"].Status != incident.StatusOpen || byFP["b"].Status != incident.StatusResolved {
		t.Errorf("a=%s b=%s; want a open, b resolved", byFP["a"].Status, byFP["b"].Status)
	}
	if byFP["b"].Tier != incident.TierCritical {
		t.Errorf("critical finding got tier %s", byFP["b"].Tier)
	}
}

func TestNonIncidentEventsOpenNothing(t *testing.T) {
	f := newFixture(t, 1)
	f.run(t, failing("low", event.SeverityLow))
	if err := f.engine.HandleEvent(context.Background(), event.Event{ID: "x", Kind: "deploy", Fingerprint: "d", Severity: event.SeverityInfo}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.all(t)); n != 0 {
		t.Errorf("low-severity and info events opened %d incidents", n)
	}
}

func TestSeverityIsRaisedByWorseFailure(t *testing.T) {
	f := newFixture(t, 1)
	f.run(t, failing("fp", event.SeverityMedium))
	f.run(t, failing("fp", event.SeverityCritical))
	inc := f.all(t)[0]
	if inc.Severity != event.SeverityCritical {
		t.Errorf("severity %s, want critical after a critical failure", inc.Severity)
	}
}

// Two engines on one store (two replicas) racing on one fingerprint open
// exactly one incident; every failure is recorded on it.
func TestReplicasOpenOneIncident(t *testing.T) {
	f := newFixture(t, 1)
	engines := []*incident.Engine{f.engine, f.newEngine(t, 1), f.newEngine(t, 1), f.newEngine(t, 1)}
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() {
			if err := e.HandleRun(context.Background(), incident.Run{Monitor: "api", Events: []event.Event{failing("race", event.SeverityHigh)}}); err != nil {
				t.Errorf("HandleRun: %v", err)
			}
		})
	}
	wg.Wait()
	list := f.all(t)
	if len(list) != 1 {
		t.Fatalf("%d incidents after a race of 4 replicas, want 1", len(list))
	}
	if list[0].Failures != len(engines) {
		t.Errorf("failures = %d, want %d", list[0].Failures, len(engines))
	}
	rep, err := incident.VerifyAll(context.Background(), f.store)
	if err != nil || len(rep.Broken) > 0 || rep.Entries != len(engines) {
		t.Errorf("VerifyAll = %+v, %v", rep, err)
	}
}

// An inconclusive run (target unreachable, probe timed out) proves nothing
// about the incidents it did not report: it must not count as a pass.
func TestInconclusiveRunDoesNotRecover(t *testing.T) {
	f := newFixture(t, 1)
	f.run(t, failing("csp", event.SeverityMedium))
	unreachable := failing("unreachable", event.SeverityHigh)
	if err := f.engine.HandleRun(context.Background(), incident.Run{Monitor: "api", Events: []event.Event{unreachable}, Inconclusive: true}); err != nil {
		t.Fatal(err)
	}
	byFP := map[string]incident.Incident{}
	for _, inc := range f.all(t) {
		byFP[inc.Fingerprint] = inc
	}
	if byFP["csp"].Status != incident.StatusOpen || byFP["csp"].RecoveryPasses != 0 {
		t.Fatalf("inconclusive run touched the csp incident: %+v", byFP["csp"])
	}
	if byFP["unreachable"].Status != incident.StatusOpen {
		t.Fatalf("failures of an inconclusive run must still open incidents: %+v", byFP)
	}
	f.run(t, passing())
	for _, inc := range f.all(t) {
		if inc.Status != incident.StatusResolved {
			t.Errorf("conclusive pass did not resolve %s", inc.Fingerprint)
		}
	}
}
