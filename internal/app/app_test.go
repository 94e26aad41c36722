package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// target is a loopback service whose health the test switches.
type target struct {
	status atomic.Int32
	hits   atomic.Int32
	srv    *httptest.Server
}

func newTarget(t *testing.T, status int) *target {
	tg := &target{}
	tg.status.Store(int32(status))
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		w.WriteHeader(int(tg.status.Load()))
		fmt.Fprintln(w, "hello")
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func testConfig(t *testing.T, storeURL, targetURL string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
listen: 127.0.0.1:0
store:
  url: %q
policies: ../../policies
monitors:
  - name: api-health
    type: http
    schedule: "@every 2s"
    timeout: 5s
    url: %s/healthz
    expect: {status: 200, max_latency: 2s}
    recover_after: 1
`, storeURL, targetURL)
	cfg, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

func startApp(t *testing.T, cfg *config.Config) *app.App {
	t.Helper()
	ctx := context.Background()
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = a.Stop(ctx)
		}
	})
	return a
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", within, what)
}

// getJSON GETs url with the API key token ("" sends none) and decodes the
// answer into v.
func getJSON(t *testing.T, url, token string, v any) int {
	t.Helper()
	resp, err := authGet(t, url, token)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func kinds(tl []incident.TimelineEntry) []string {
	out := make([]string, len(tl))
	for i, e := range tl {
		out[i] = e.Kind
	}
	return out
}

func count(ks []string, k string) int {
	n := 0
	for _, x := range ks {
		if x == k {
			n++
		}
	}
	return n
}

// runEndToEnd is the acceptance scenario: a failing loopback service opens
// exactly one incident, further failures extend its timeline, recovery
// resolves it, a new failure opens a new incident, and the chain verifies.
func runEndToEnd(t *testing.T, storeURL string) {
	tg := newTarget(t, http.StatusInternalServerError)
	a := startApp(t, testConfig(t, storeURL, tg.srv.URL))
	base := "http://" + a.Addr()
	ctx := context.Background()
	viewer := newKey(t, a, auth.RoleViewer).Token

	var open []incident.Incident
	eventually(t, 10*time.Second, "an open incident", func() bool {
		getJSON(t, base+"/api/v1/incidents?status=open", viewer, &open)
		return len(open) == 1
	})
	inc := open[0]
	if inc.Monitor != "api-health" || inc.Tier != incident.TierMinor || inc.Severity.String() != "high" {
		t.Errorf("incident = %+v, want monitor api-health, severity high, tier MINOR (availability)", inc)
	}

	// Repeated failures extend the same incident.
	eventually(t, 15*time.Second, "two repeated failures in the timeline", func() bool {
		tl, err := a.Store().Timeline(ctx, inc.ID)
		return err == nil && count(kinds(tl), incident.KindFailure) >= 2
	})
	all, err := a.Store().ListIncidents(ctx, incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("repeated failures opened %d incidents, want 1", len(all))
	}

	// Recovery resolves it.
	tg.status.Store(http.StatusOK)
	eventually(t, 10*time.Second, "the incident to resolve", func() bool {
		got, err := a.Store().GetIncident(ctx, inc.ID)
		return err == nil && got.Status == incident.StatusResolved
	})

	var detail api.IncidentDetail
	if code := getJSON(t, fmt.Sprintf("%s/api/v1/incidents/%d", base, inc.ID), viewer, &detail); code != http.StatusOK {
		t.Fatalf("GET incident: status %d", code)
	}
	ks := kinds(detail.Timeline)
	if ks[0] != incident.KindOpened || ks[len(ks)-1] != incident.KindResolved {
		t.Errorf("timeline kinds = %v, want opened first and resolved last", ks)
	}
	if count(ks, incident.KindFailure) < 2 || count(ks, incident.KindPass) != 1 {
		t.Errorf("timeline kinds = %v, want ≥2 failures and exactly one pass before resolution", ks)
	}
	if detail.ResolvedAt == nil {
		t.Error("resolved_at not set")
	}
	if !strings.Contains(string(detail.Timeline[len(ks)-1].Payload), "recover_after") {
		t.Errorf("resolution entry does not say why: %s", detail.Timeline[len(ks)-1].Payload)
	}
	if err := incident.VerifyChain(detail.Incident, detail.Timeline); err != nil {
		t.Errorf("chain of incident served by API does not verify: %v", err)
	}

	// A later failure opens a new incident.
	tg.status.Store(http.StatusServiceUnavailable)
	eventually(t, 10*time.Second, "a second incident", func() bool {
		list, err := a.Store().ListIncidents(ctx, incident.Filter{Status: incident.StatusOpen})
		return err == nil && len(list) == 1 && list[0].ID != inc.ID
	})
	rep, err := incident.VerifyAll(ctx, a.Store())
	if err != nil || len(rep.Broken) != 0 || rep.Incidents != 2 {
		t.Fatalf("VerifyAll = %+v, %v; want 2 intact incidents", rep, err)
	}

	// The daemon's own endpoints.
	if code := getJSON(t, base+"/readyz", "", nil); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}
	resp, err := authGet(t, base+"/metrics", viewer)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`secopsd_incidents_opened_total 2`,
		`secopsd_incidents_resolved_total 1`,
		`secopsd_monitor_runs_total{monitor="api-health",outcome="fail",type="http"}`,
		`secopsd_policy_eval_duration_seconds_count`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestEndToEndSQLite(t *testing.T) {
	runEndToEnd(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"))
}

func TestEndToEndPostgres(t *testing.T) {
	runEndToEnd(t, storetest.PostgresURL(t))
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	tg := newTarget(t, http.StatusOK)
	a := startApp(t, testConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), tg.srv.URL))
	for _, path := range []string{"/healthz", "/api/v1/incidents", "/api/v1/incidents/999", "/nope"} {
		resp, err := http.Get("http://" + a.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Permissions-Policy"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s: header %s missing", path, h)
			}
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP lacks frame-ancestors 'none'", path)
		}
	}
}

func TestStopIsGracefulAndBounded(t *testing.T) {
	tg := newTarget(t, http.StatusOK)
	cfg := testConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), tg.srv.URL)
	a, err := app.New(context.Background(), app.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := a.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after Stop")
	}
}
