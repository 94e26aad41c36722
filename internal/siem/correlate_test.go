package siem_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// correlationStore adapts a store to siem.CorrelationStore, as the daemon
// does (internal/app).
type correlationStore struct{ st store.CorrelationStore }

func (c correlationStore) UpdateCorrelation(ctx context.Context, ups []siem.CorrelationUpdate, fire func(siem.CorrelationState) time.Time) error {
	sups := make([]store.CorrelationUpdate, len(ups))
	for i, u := range ups {
		sups[i] = store.CorrelationUpdate{Rule: u.Rule, Group: u.Group, Values: u.Values, Horizon: u.Horizon}
		for _, b := range u.Buckets {
			sups[i].Buckets = append(sups[i].Buckets, store.CorrelationBucket(b))
		}
	}
	return c.st.UpdateCorrelation(ctx, sups, func(st store.CorrelationState) time.Time {
		s := siem.CorrelationState{Rule: st.Rule, Group: st.Group, LastSeen: st.LastSeen, LastFired: st.LastFired}
		for _, b := range st.Buckets {
			s.Buckets = append(s.Buckets, siem.CorrelationBucket(b))
		}
		return fire(s)
	})
}

// stuffing is the default credential-stuffing rule: 20 auth.failure
// (summing count) per ip within 5 minutes.
func stuffing() siem.CorrelationRule {
	return siem.CorrelationRule{
		Name:           "credential_stuffing",
		Kinds:          []string{"auth.failure"},
		GroupBy:        []string{"attributes.ip"},
		Window:         5 * time.Minute,
		Threshold:      20,
		CountAttribute: "count",
		Emit: siem.CorrelationEmit{
			Kind:       "correlation.credential_stuffing",
			Title:      "credential stuffing: {count} failures from {ip} within {window}",
			Attributes: map[string]string{"playbook": "auth"},
		},
	}
}

func newCorrelator(t testing.TB, st store.CorrelationStore, rules ...siem.CorrelationRule) *siem.RuleCorrelator {
	t.Helper()
	c, err := siem.NewRuleCorrelator(siem.RuleCorrelatorOptions{Store: correlationStore{st}, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// corrT0 is the reference time of the correlation tests.
var corrT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// failure is an auth.failure from ip at corrT0+d; count, if not empty,
// is its count attribute.
func failure(ip string, d time.Duration, count string) event.Event {
	attrs := map[string]string{"ip": ip, "route": "/login"}
	if count != "" {
		attrs["count"] = count
	}
	return event.Event{ID: fmt.Sprintf("%s-%d-%s", ip, d, count), Time: corrT0.Add(d), Source: "checkout", Kind: "auth.failure", Attributes: attrs}
}

// failures returns n auth.failure events from ip, one every step from
// corrT0+from.
func failures(ip string, n int, from, step time.Duration) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = failure(ip, from+time.Duration(i)*step, "")
	}
	return evs
}

func observe(t testing.TB, c *siem.RuleCorrelator, evs ...event.Event) []event.Event {
	t.Helper()
	out, err := c.Observe(context.Background(), evs)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	return out
}

func wantNone(t *testing.T, what string, got []event.Event) {
	t.Helper()
	if len(got) != 0 {
		t.Fatalf("%s: derived %d events, want none: %+v", what, len(got), got)
	}
}

func wantOne(t *testing.T, what string, got []event.Event) event.Event {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: derived %d events, want exactly one: %+v", what, len(got), got)
	}
	return got[0]
}

// TestCorrelatorFiresOncePerWindow: 19 failures derive nothing, the 20th
// one event, 40 more within the window nothing, and once a full window has
// passed since the firing the rule fires again, extending the same
// fingerprint.
func TestCorrelatorFiresOncePerWindow(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		c := newCorrelator(t, st, stuffing())
		wantNone(t, "19 failures", observe(t, c, failures("203.0.113.9", 19, 0, time.Second)...))
		first := wantOne(t, "the 20th failure", observe(t, c, failure("203.0.113.9", 19*time.Second, "")))

		fired := corrT0.Add(19 * time.Second)
		want := map[string]string{
			"rule": "credential_stuffing", "count": "20", "threshold": "20", "window": "5m", "ip": "203.0.113.9",
			"first_time": corrT0.Format(time.RFC3339Nano), "last_time": fired.Format(time.RFC3339Nano), "playbook": "auth",
		}
		if len(first.Attributes) != len(want) {
			t.Errorf("attributes = %v, want %v", first.Attributes, want)
		}
		for k, v := range want {
			if first.Attributes[k] != v {
				t.Errorf("attribute %s = %q, want %q", k, first.Attributes[k], v)
			}
		}
		if first.Source != siem.CorrelatorSource || first.Kind != "correlation.credential_stuffing" || !first.Time.Equal(fired) ||
			first.Title != "credential stuffing: 20 failures from 203.0.113.9 within 5m" ||
			first.ID == "" || first.Fingerprint == "" || !strings.HasPrefix(first.CorrelationID, "credential_stuffing/") {
			t.Errorf("derived event = %+v", first)
		}

		for i := range 4 { // 40 more within the window, in batches of 10
			wantNone(t, "more failures within the window", observe(t, c, failures("203.0.113.9", 10, time.Duration(20+10*i)*time.Second, time.Second)...))
		}
		// Just before a full window has passed since the firing: silent.
		wantNone(t, "a failure just within the window", observe(t, c, failure("203.0.113.9", 19*time.Second+5*time.Minute-time.Millisecond, "")))
		second := wantOne(t, "a failure a window after the firing", observe(t, c, failure("203.0.113.9", 19*time.Second+5*time.Minute, "")))
		if second.Fingerprint != first.Fingerprint || second.CorrelationID != first.CorrelationID || second.ID == first.ID {
			t.Errorf("second firing: fingerprint %s (first %s), correlation id %s (first %s), id %s (first %s); want the same fingerprint and correlation id, another id",
				second.Fingerprint, first.Fingerprint, second.CorrelationID, first.CorrelationID, second.ID, first.ID)
		}
		if n, _ := strconv.Atoi(second.Attributes["count"]); n < 20 {
			t.Errorf("second firing counts %d", n)
		}
	})
}

// TestCorrelatorOneBatchCrossingTwice: one batch that spans two windows'
// worth of failures fires twice, once per window, in order.
func TestCorrelatorOneBatchCrossingTwice(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	c := newCorrelator(t, st, stuffing())
	evs := append(failures("198.51.100.1", 20, 0, time.Second), failures("198.51.100.1", 20, 6*time.Minute, time.Second)...)
	got := observe(t, c, evs...)
	if len(got) != 2 {
		t.Fatalf("derived %d events, want 2: %+v", len(got), got)
	}
	if !got[0].Time.Equal(corrT0.Add(19*time.Second)) || !got[1].Time.Equal(corrT0.Add(6*time.Minute+19*time.Second)) {
		t.Errorf("firings at %v and %v", got[0].Time, got[1].Time)
	}
	if got[0].Attributes["count"] != "20" || got[1].Attributes["count"] != "20" {
		t.Errorf("counts %s and %s, want 20 each", got[0].Attributes["count"], got[1].Attributes["count"])
	}
}

func TestCorrelatorGroupsAreIndependent(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	c := newCorrelator(t, st, stuffing())
	var batch []event.Event
	for i := range 19 {
		batch = append(batch, failure("192.0.2.1", time.Duration(i)*time.Second, ""), failure("192.0.2.2", time.Duration(i)*time.Second, ""))
	}
	batch = append(batch, failure("192.0.2.2", 30*time.Second, ""))
	got := wantOne(t, "19 from one address, 20 from another", observe(t, c, batch...))
	if got.Attributes["ip"] != "192.0.2.2" {
		t.Errorf("fired for %s, want 192.0.2.2", got.Attributes["ip"])
	}
	other := wantOne(t, "the 20th from the first address", observe(t, c, failure("192.0.2.1", 31*time.Second, "")))
	if other.Attributes["ip"] != "192.0.2.1" || other.Fingerprint == got.Fingerprint {
		t.Errorf("second group's event %+v shares the first's fingerprint or address", other)
	}
	// A failure without an address is no group's.
	noIP := failure("", 32*time.Second, "50")
	delete(noIP.Attributes, "ip")
	wantNone(t, "a failure without ip", observe(t, c, noIP))
}

func TestCorrelatorCountAttribute(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		c := newCorrelator(t, st, stuffing())
		wantNone(t, "7+7+2 failures", observe(t, c, failure("203.0.113.5", 0, "7"), failure("203.0.113.5", time.Second, "7"), failure("203.0.113.5", 2*time.Second, "2")))
		// Values that are not positive integers count 1 each.
		wantNone(t, "+3 odd counts", observe(t, c, failure("203.0.113.5", 3*time.Second, "abc"), failure("203.0.113.5", 4*time.Second, "-40"), failure("203.0.113.5", 5*time.Second, "0")))
		got := wantOne(t, "+1 without a count", observe(t, c, failure("203.0.113.5", 6*time.Second, "")))
		if got.Attributes["count"] != "20" {
			t.Errorf("count = %s, want 20", got.Attributes["count"])
		}
		// A huge count is capped, not overflowing.
		c2 := newCorrelator(t, st, func() siem.CorrelationRule { r := stuffing(); r.Name = "huge"; return r }())
		got = wantOne(t, "a huge count", observe(t, c2, failure("203.0.113.6", 0, "99999999999999999"), failure("203.0.113.6", time.Second, "9223372036854775807")))
		if n, err := strconv.ParseInt(got.Attributes["count"], 10, 64); err != nil || n != 2*siem.MaxCorrelationCountValue {
			t.Errorf("count = %s, want %d", got.Attributes["count"], 2*siem.MaxCorrelationCountValue)
		}
	})
}

// TestCorrelatorWindowSlides: failures further apart than the window never
// count together, and events out of order count within the window.
func TestCorrelatorWindowSlides(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	c := newCorrelator(t, st, stuffing())
	wantNone(t, "10 failures", observe(t, c, failures("198.51.100.7", 10, 0, time.Second)...))
	wantNone(t, "10 more, 6 minutes later", observe(t, c, failures("198.51.100.7", 10, 6*time.Minute, time.Second)...))
	// Out of order: 9 failures between the two bursts arrive late; with
	// the second burst they make 19 within 5 minutes, and one more late
	// one makes 20.
	wantNone(t, "9 late failures", observe(t, c, failures("198.51.100.7", 9, 2*time.Minute, time.Second)...))
	got := wantOne(t, "a late 20th failure", observe(t, c, failure("198.51.100.7", 3*time.Minute, "")))
	if got.Attributes["count"] != "20" || !got.Time.Equal(corrT0.Add(6*time.Minute+9*time.Second)) {
		t.Errorf("fired at %v with count %s; want at the newest failure (6m9s) with 20", got.Time, got.Attributes["count"])
	}
	// A straggler older than the window of the group's newest failure
	// counts only with the failures of its own batch: two such batches
	// of 10 do not add up, one of 20 fires for its own window.
	c2 := newCorrelator(t, st, func() siem.CorrelationRule { r := stuffing(); r.Name = "late"; return r }())
	wantNone(t, "a new failure", observe(t, c2, failure("198.51.100.8", 10*time.Minute, "")))
	wantNone(t, "10 failures 10 minutes older", observe(t, c2, failure("198.51.100.8", 0, "10")))
	wantNone(t, "10 more failures 10 minutes older", observe(t, c2, failure("198.51.100.8", time.Second, "10")))
	got = wantOne(t, "20 failures 9 minutes older in one batch", observe(t, c2, failure("198.51.100.8", time.Minute, "20")))
	if !got.Time.Equal(corrT0.Add(time.Minute)) || got.Attributes["count"] != "20" {
		t.Errorf("straggler firing at %v with count %s", got.Time, got.Attributes["count"])
	}
	// That firing is more than a window before the newest failures, so
	// their window fires as usual.
	got = wantOne(t, "19 new failures", observe(t, c2, failures("198.51.100.8", 19, 10*time.Minute+time.Second, time.Second)...))
	if got.Attributes["count"] != "20" {
		t.Errorf("count = %s, want 20", got.Attributes["count"])
	}
}

func TestCorrelatorMatchAndGroupFields(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	rule := siem.CorrelationRule{
		Name:       "checkout-login",
		Kinds:      []string{"auth.failure", "login.failure"},
		Source:     "checkout",
		Attributes: map[string]string{"route": "/login"},
		GroupBy:    []string{"source"},
		Window:     time.Minute,
		Threshold:  3,
		Emit:       siem.CorrelationEmit{Kind: "correlation.checkout_login"},
	}
	flood := siem.CorrelationRule{Name: "flood", Kinds: []string{"auth.failure"}, GroupBy: []string{"kind"}, Window: time.Minute, Threshold: 3,
		Emit: siem.CorrelationEmit{Kind: "correlation.flood", Title: "{{flood}} {count} {kind}"}}
	c := newCorrelator(t, st, rule, flood)
	other := failure("10.0.0.1", 0, "")
	other.Source = "billing"
	wrongRoute := failure("10.0.0.2", 0, "")
	wrongRoute.Attributes["route"] = "/logout"
	login := failure("10.0.0.3", time.Second, "")
	login.Kind = "login.failure"
	derived := observe(t, c, other, wrongRoute, failure("10.0.0.4", 0, ""), login)
	got := wantOne(t, "3 auth.failure of any source and route for flood; 2 for checkout-login", derived)
	if got.Kind != "correlation.flood" || got.Title != "{flood} 3 auth.failure" || got.Attributes["kind"] != "auth.failure" {
		t.Errorf("derived %+v", got)
	}
	got = wantOne(t, "a third checkout /login failure", observe(t, c, failure("10.0.0.5", 2*time.Second, "")))
	if got.Kind != "correlation.checkout_login" || got.Attributes["source"] != "checkout" ||
		got.Title != "checkout-login: 3 events within 1m (source checkout)" {
		t.Errorf("derived %+v", got)
	}
	// Derived events never feed back into a rule.
	wantNone(t, "derived events", observe(t, c, append(derived, got)...))
	// Events without a time, or of kinds no rule counts, are ignored.
	wantNone(t, "other kinds", observe(t, c, event.Event{Kind: "auth.failure", Source: "checkout"}, event.Event{Time: corrT0, Kind: "deploy", Source: "checkout"}))
}

// TestCorrelatorSurvivesRestart: a new correlator (a restarted daemon, on
// a reopened store) continues the count of an open window, and does not
// fire again within the window of a firing before the restart.
func TestCorrelatorSurvivesRestart(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			url := storetest.SQLiteURL(t)
			if backend == "postgres" {
				url = storetest.PostgresURL(t)
			}
			restart := func() *siem.RuleCorrelator { return newCorrelator(t, storetest.OpenURL(t, url), stuffing()) }
			wantNone(t, "15 failures", observe(t, restart(), failures("203.0.113.77", 15, 0, time.Second)...))
			got := wantOne(t, "5 more after a restart", observe(t, restart(), failures("203.0.113.77", 5, 15*time.Second, time.Second)...))
			if got.Attributes["count"] != "20" || got.Attributes["first_time"] != corrT0.Format(time.RFC3339Nano) {
				t.Errorf("derived %+v, want a count of 20 from the first failure", got.Attributes)
			}
			wantNone(t, "10 more after another restart", observe(t, restart(), failures("203.0.113.77", 10, 20*time.Second, time.Second)...))
		})
	}
}

// TestCorrelatorReplicasFireOnce: two correlators on one PostgreSQL
// store, each seeing part of the failures at the same time, count into one
// window and fire once in all.
func TestCorrelatorReplicasFireOnce(t *testing.T) {
	url := storetest.PostgresURL(t)
	replicas := []*siem.RuleCorrelator{
		newCorrelator(t, storetest.OpenURL(t, url), stuffing()),
		newCorrelator(t, storetest.OpenURL(t, url), stuffing()),
	}
	var (
		mu      sync.Mutex
		derived []event.Event
		wg      sync.WaitGroup
	)
	for i, c := range replicas {
		wg.Go(func() {
			for j := range 15 { // 30 failures in all, one per call
				out, err := c.Observe(context.Background(), []event.Event{failure("203.0.113.200", time.Duration(2*j+i)*time.Second, "")})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				derived = append(derived, out...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(derived) != 1 {
		t.Fatalf("replicas derived %d events, want exactly one: %+v", len(derived), derived)
	}
	if derived[0].Attributes["count"] != "20" {
		t.Errorf("count = %s, want 20: each firing decision sees both replicas' counts", derived[0].Attributes["count"])
	}
}

// TestCorrelatorIDsAreDeterministic: the same firing derived by separate
// correlators on separate stores has the same id, so storing both keeps
// one.
func TestCorrelatorIDsAreDeterministic(t *testing.T) {
	var ids []string
	for range 2 {
		c := newCorrelator(t, storetest.OpenURL(t, storetest.SQLiteURL(t)), stuffing())
		ids = append(ids, wantOne(t, "20 failures", observe(t, c, failures("192.0.2.50", 20, 0, time.Second)...)).ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("ids %s and %s differ", ids[0], ids[1])
	}
}

func TestCorrelatorStoreErrorDerivesNothing(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	c := newCorrelator(t, st, stuffing())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := c.Observe(ctx, failures("192.0.2.60", 20, 0, time.Second))
	if err == nil || out != nil {
		t.Fatalf("Observe with a cancelled context = %v, %v; want an error and nothing", out, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// Nothing was counted: 19 now do not fire.
	wantNone(t, "19 failures after the failed call", observe(t, c, failures("192.0.2.60", 19, 0, time.Second)...))
}

func TestNewRuleCorrelatorRejects(t *testing.T) {
	st := correlationStore{storetest.OpenURL(t, storetest.SQLiteURL(t))}
	mod := func(f func(r *siem.CorrelationRule)) siem.CorrelationRule {
		r := stuffing()
		f(&r)
		return r
	}
	for name, r := range map[string]siem.CorrelationRule{
		"no name":              mod(func(r *siem.CorrelationRule) { r.Name = "" }),
		"no kinds":             mod(func(r *siem.CorrelationRule) { r.Kinds = nil }),
		"derived kind":         mod(func(r *siem.CorrelationRule) { r.Kinds = []string{"correlation.x"} }),
		"short window":         mod(func(r *siem.CorrelationRule) { r.Window = time.Millisecond }),
		"long window":          mod(func(r *siem.CorrelationRule) { r.Window = 8 * 24 * time.Hour }),
		"zero threshold":       mod(func(r *siem.CorrelationRule) { r.Threshold = 0 }),
		"emit kind":            mod(func(r *siem.CorrelationRule) { r.Emit.Kind = "credential_stuffing" }),
		"bad group field":      mod(func(r *siem.CorrelationRule) { r.GroupBy = []string{"user"} }),
		"group on builtin":     mod(func(r *siem.CorrelationRule) { r.GroupBy = []string{"attributes.count"} }),
		"extra on group value": mod(func(r *siem.CorrelationRule) { r.Emit.Attributes = map[string]string{"ip": "x"} }),
		"unknown placeholder":  mod(func(r *siem.CorrelationRule) { r.Emit.Title = "{user}" }),
		"unterminated title":   mod(func(r *siem.CorrelationRule) { r.Emit.Title = "{count" }),
		"stray brace":          mod(func(r *siem.CorrelationRule) { r.Emit.Title = "count}" }),
	} {
		if _, err := siem.NewRuleCorrelator(siem.RuleCorrelatorOptions{Store: st, Rules: []siem.CorrelationRule{r}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := siem.NewRuleCorrelator(siem.RuleCorrelatorOptions{Store: st, Rules: []siem.CorrelationRule{stuffing(), stuffing()}}); err == nil {
		t.Error("duplicate names accepted")
	}
	if _, err := siem.NewRuleCorrelator(siem.RuleCorrelatorOptions{Rules: []siem.CorrelationRule{stuffing()}}); err == nil {
		t.Error("no store accepted")
	}
	c, err := siem.NewRuleCorrelator(siem.RuleCorrelatorOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.Observe(context.Background(), failures("192.0.2.1", 50, 0, time.Second)); err != nil || len(out) != 0 {
		t.Errorf("without rules: %v, %v", out, err)
	}
}

func TestCorrelatorAttributeKeysAndHorizon(t *testing.T) {
	flood := siem.CorrelationRule{Name: "flood", Kinds: []string{"x"}, GroupBy: []string{"source", "attributes.user_id"}, Window: time.Hour,
		Threshold: 1, Emit: siem.CorrelationEmit{Kind: "correlation.flood", Attributes: map[string]string{"team": "sre"}}}
	c := newCorrelator(t, storetest.OpenURL(t, storetest.SQLiteURL(t)), stuffing(), flood)
	want := "count first_time ip last_time playbook rule source team threshold user_id window"
	if got := strings.Join(c.AttributeKeys(), " "); got != want {
		t.Errorf("AttributeKeys = %s, want %s", got, want)
	}
	if got := c.Horizon(); got != time.Hour+time.Minute {
		t.Errorf("Horizon = %s, want 1h1m", got)
	}
}

func TestFormatWindow(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", time.Second: "1s", 36 * time.Hour: "36h",
	} {
		if got := siem.FormatWindow(d); got != want {
			t.Errorf("FormatWindow(%s) = %s, want %s", d, got, want)
		}
	}
}

// TestCorrelatorInPipeline: failures ingested through the pipeline derive
// one stored, classified credential-stuffing event, also when the client
// retries the request.
func TestCorrelatorInPipeline(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		c := newCorrelator(t, st, stuffing())
		p := newPipeline(t, st, func(o *siem.PipelineOptions) { o.Correlator = c })
		var body []string
		for i := range 25 {
			body = append(body, evJSON("auth.failure", fmt.Sprintf(`, "id": "f-%d", "attributes": {"ip": "203.0.113.99"}`, i)))
		}
		for range 2 {
			if _, err := ingest(t, p, "["+strings.Join(body, ",")+"]"); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			evs, err := st.ListEvents(t.Context(), store.EventFilter{Kind: "correlation.credential_stuffing"})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 1 {
				d := evs[0]
				if d.Source != siem.CorrelatorSource || d.Severity != event.SeverityHigh || !d.OpenIncident || d.Attributes["ip"] != "203.0.113.99" {
					t.Errorf("derived event not as expected (source, high severity, opens an incident, ip): %+v", d)
				}
				break
			}
			if len(evs) > 1 || time.Now().After(deadline) {
				t.Fatalf("derived events: %d, want 1", len(evs))
			}
			time.Sleep(10 * time.Millisecond) // polling with a deadline
		}
	})
}

// benchFailures returns n failures spread over groups addresses within a
// minute.
func benchFailures(n, groups int, from time.Duration) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{
			Time: corrT0.Add(from + time.Duration(i)*time.Minute/time.Duration(n)), Source: "checkout", Kind: "auth.failure",
			Attributes: map[string]string{"ip": fmt.Sprintf("10.%d.%d.%d", i%groups/65536, i%groups/256%256, i%groups%256), "count": "1"},
		}
	}
	return evs
}

// BenchmarkCorrelatorObserve measures Observe on batches of 1,000
// matching events (the default credential-stuffing rule), spread over 10
// or 1,000 groups, on each backend; events/s is the throughput.
func BenchmarkCorrelatorObserve(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, groups := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/groups=%d", backend, groups), func(b *testing.B) {
				url := storetest.SQLiteURL(b)
				if backend == "postgres" {
					url = storetest.PostgresURL(b)
				}
				rule := stuffing()
				rule.Threshold = siem.MaxCorrelationThreshold // count, never fire
				c := newCorrelator(b, storetest.OpenURL(b, url), rule)
				const batch = 1000
				evs := benchFailures(batch, groups, 0)
				for b.Loop() {
					// Each batch a minute later: windows slide and
					// buckets are pruned, as in a steady stream.
					for j := range evs {
						evs[j].Time = evs[j].Time.Add(time.Minute)
					}
					if _, err := c.Observe(context.Background(), evs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
