package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

func setup(t *testing.T, ready func(context.Context) error) (*httptest.Server, store.Store, []int64) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var ids []int64
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, spec := range []struct {
		mon  string
		sev  event.Severity
		tier incident.Tier
	}{
		{"a", event.SeverityHigh, incident.TierMajor},
		{"b", event.SeverityCritical, incident.TierCritical},
		{"a", event.SeverityHigh, incident.TierMinor},
	} {
		inc, err := st.CreateIncident(ctx, incident.Incident{
			Fingerprint: "fp" + string(rune('0'+i)), Title: "t", Monitor: spec.mon, Severity: spec.sev,
			Tier: spec.tier, Status: incident.StatusOpen, OpenedAt: now,
		}, incident.Entry{Time: now, Actor: "test", Kind: incident.KindOpened, Payload: map[string]int{"i": i}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inc.ID)
	}
	// Resolve the first.
	if _, _, err := st.MutateIncident(ctx, ids[0], func(inc *incident.Incident) ([]incident.Entry, error) {
		inc.Status = incident.StatusResolved
		inc.ResolvedAt = &now
		return []incident.Entry{{Time: now, Actor: "test", Kind: incident.KindResolved}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if ready == nil {
		ready = st.Ping
	}
	h, err := api.NewHandler(api.Options{Incidents: st, Ready: ready, Auth: allowAll{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st, ids
}

func get(t *testing.T, url string, v any) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", url, ct)
	}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("%s: body is not JSON: %v", url, err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return resp.StatusCode, string(raw)
}

func TestListIncidents(t *testing.T) {
	srv, _, ids := setup(t, nil)
	cases := []struct {
		query string
		want  []int64
	}{
		{"", []int64{ids[2], ids[1], ids[0]}},
		{"?status=open", []int64{ids[2], ids[1]}},
		{"?status=resolved", []int64{ids[0]}},
		{"?monitor=a", []int64{ids[2], ids[0]}},
		{"?limit=1", []int64{ids[2]}},
		{"?before=" + itoa(ids[2]) + "&limit=1", []int64{ids[1]}},
		{"?fingerprint=fp1", []int64{ids[1]}},
		{"?monitor=zzz", []int64{}},
		{"?severity=high", []int64{ids[2], ids[0]}},
		{"?severity=CRITICAL", []int64{ids[1]}},
		{"?severity=low", []int64{}},
		{"?tier=MINOR", []int64{ids[2]}},
		{"?tier=major", []int64{ids[0]}},
		{"?severity=high&tier=MAJOR", []int64{ids[0]}},
		{"?severity=high&status=open", []int64{ids[2]}},
		{"?severity=high&before=" + itoa(ids[2]), []int64{ids[0]}},
	}
	for _, c := range cases {
		var got []incident.Incident
		code, raw := get(t, srv.URL+"/api/v1/incidents"+c.query, &got)
		if code != http.StatusOK {
			t.Fatalf("%s: status %d %s", c.query, code, raw)
		}
		if c.query == "?monitor=zzz" && strings.TrimSpace(raw) != "[]" {
			t.Errorf("empty list must be [], got %s", raw)
		}
		var gotIDs []int64
		for _, inc := range got {
			gotIDs = append(gotIDs, inc.ID)
		}
		if len(gotIDs) != len(c.want) {
			t.Errorf("%s: ids %v, want %v", c.query, gotIDs, c.want)
			continue
		}
		for i := range gotIDs {
			if gotIDs[i] != c.want[i] {
				t.Errorf("%s: ids %v, want %v", c.query, gotIDs, c.want)
			}
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestBadQueriesAre400WithField(t *testing.T) {
	srv, _, _ := setup(t, nil)
	for query, field := range map[string]string{
		"?status=closed":    "status",
		"?limit=0":          "limit",
		"?limit=5000":       "limit",
		"?limit=x":          "limit",
		"?before=-3":        "before",
		"?severity=severe":  "severity",
		"?severity=unknown": "severity",
		"?tier=urgent":      "tier",
		"?tier=MINOR%27--":  "tier",
	} {
		code, raw := get(t, srv.URL+"/api/v1/incidents"+query, nil)
		if code != http.StatusBadRequest || !strings.Contains(raw, field) {
			t.Errorf("%s: %d %s; want 400 naming %s", query, code, raw, field)
		}
	}
	code, raw := get(t, srv.URL+"/api/v1/incidents/abc", nil)
	if code != http.StatusBadRequest || !strings.Contains(raw, "id") {
		t.Errorf("bad id: %d %s", code, raw)
	}
	code, _ = get(t, srv.URL+"/api/v1/incidents/424242", nil)
	if code != http.StatusNotFound {
		t.Errorf("unknown incident: %d, want 404", code)
	}
	code, _ = get(t, srv.URL+"/nope", nil)
	if code != http.StatusNotFound {
		t.Errorf("unknown route: %d, want 404", code)
	}
}

func TestIncidentDetailHasVerifiableTimeline(t *testing.T) {
	srv, _, ids := setup(t, nil)
	var d api.IncidentDetail
	code, raw := get(t, srv.URL+"/api/v1/incidents/"+itoa(ids[0]), &d)
	if code != http.StatusOK {
		t.Fatalf("status %d %s", code, raw)
	}
	for _, key := range []string{`"id"`, `"title"`, `"status"`, `"severity"`, `"tier"`, `"fingerprint"`, `"opened_at"`, `"resolved_at"`, `"timeline"`, `"seq"`, `"prev_hash"`, `"hash"`, `"payload"`, `"actor"`, `"kind"`} {
		if !strings.Contains(raw, key) {
			t.Errorf("detail lacks %s: %s", key, raw)
		}
	}
	if len(d.Timeline) != 2 || d.Status != incident.StatusResolved {
		t.Fatalf("detail = %+v", d)
	}
	if err := incident.VerifyChain(d.Incident, d.Timeline); err != nil {
		t.Errorf("served timeline does not verify: %v", err)
	}
}

func TestReadiness(t *testing.T) {
	srv, _, _ := setup(t, func(context.Context) error { return errors.New("db down: password=hunter2") })
	code, raw := get(t, srv.URL+"/readyz", nil)
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a failing store = %d, want 503", code)
	}
	if strings.Contains(raw, "hunter2") {
		t.Errorf("/readyz leaks the internal error: %s", raw)
	}
	srv2, _, _ := setup(t, nil)
	if code, _ := get(t, srv2.URL+"/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", code)
	}
}
