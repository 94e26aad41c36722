package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
	"github.com/secopsd/secopsd/internal/testpolicy"
)

// restartable is a loopback service that fails until its signed restart
// hook is called.
type restartable struct {
	healthy  atomic.Bool
	restarts atomic.Int32
	badSigs  atomic.Int32
	srv      *httptest.Server
}

const hookSecret = "test-hook-secret-0123456789"

func newRestartable(t *testing.T) *restartable {
	s := &restartable{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.healthy.Load() {
			fmt.Fprintln(w, "ok")
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !validHookSignature(r.Header.Get("X-Secopsd-Signature"), body) {
			s.badSigs.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.restarts.Add(1)
		s.healthy.Store(true)
		w.WriteHeader(http.StatusAccepted)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// validHookSignature checks "t=<unix>,v1=<hex hmac of t.body>" as a hook
// receiver would.
func validHookSignature(h string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	return ts != "" && hmac.Equal([]byte(sig), []byte(want))
}

// remediationConfig is a daemon with one monitor of svc and a playbook
// directory holding pb.
func remediationConfig(t *testing.T, storeURL, svcURL, pb string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "restart.yml"), []byte(pb), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SECOPSD_TEST_HOOK_SECRET", hookSecret)
	t.Setenv("SECOPSD_TEST_RESTART_URL", svcURL+"/restart")
	yaml := fmt.Sprintf(`
listen: 127.0.0.1:0
store:
  url: %q
policies: ../../policies
remediation:
  playbooks: %q
  approval_poll: 100ms
monitors:
  - name: api-health
    type: http
    schedule: "@every 1h"
    timeout: 5s
    url: %s/healthz
    expect: {status: 200}
    recover_after: 1
`, storeURL, dir, svcURL)
	cfg, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

const restartPlaybook = `
name: restart-api
description: Restart the API through its hook, then check it answers again.
match:
  monitors: [api-health]
auto: true
steps:
  - name: restart
    type: http
    idempotent: %v
    url: ${SECOPSD_TEST_RESTART_URL}
    method: POST
    sign:
      secret_env: SECOPSD_TEST_HOOK_SECRET
    expect_status: [202]
  - name: verify
    type: verify
`

func onlyIncident(t *testing.T, a *app.App) incident.Incident {
	t.Helper()
	var inc incident.Incident
	eventually(t, 15*time.Second, "an incident", func() bool {
		list, err := a.Store().ListIncidents(context.Background(), incident.Filter{})
		if err != nil || len(list) == 0 {
			return false
		}
		inc = list[0]
		return true
	})
	return inc
}

func timelineKinds(t *testing.T, a *app.App, id int64) []string {
	t.Helper()
	tl, err := a.Store().Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return kinds(tl)
}

func runRemediationEndToEnd(t *testing.T, storeURL string) {
	svc := newRestartable(t)
	a := startApp(t, remediationConfig(t, storeURL, svc.srv.URL, fmt.Sprintf(restartPlaybook, true)))
	inc := onlyIncident(t, a)
	eventually(t, 20*time.Second, "the playbook to resolve the incident", func() bool {
		got, err := a.Store().GetIncident(context.Background(), inc.ID)
		return err == nil && got.Status == incident.StatusResolved
	})
	got, _ := a.Store().GetIncident(context.Background(), inc.ID)
	if got.Tier != incident.TierMinor {
		t.Errorf("tier = %s, want MINOR for an unavailable service", got.Tier)
	}
	if n := svc.restarts.Load(); n != 1 || svc.badSigs.Load() != 0 {
		t.Fatalf("restarts = %d (bad signatures %d), want exactly one signed restart", n, svc.badSigs.Load())
	}
	ks := timelineKinds(t, a, inc.ID)
	for _, k := range []string{incident.KindOpened, incident.KindPlaybookStarted, incident.KindGuardDecision,
		incident.KindStepStarted, incident.KindStepFinished, incident.KindPlaybookFinished, incident.KindResolved} {
		if count(ks, k) == 0 {
			t.Errorf("timeline lacks %s: %v", k, ks)
		}
	}
	rep, err := incident.VerifyAll(context.Background(), a.Store())
	if err != nil || len(rep.Broken) != 0 {
		t.Fatalf("verify: %v %v", rep.Broken, err)
	}
}

func TestRemediationEndToEndSQLite(t *testing.T) {
	runRemediationEndToEnd(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"))
}

func TestRemediationEndToEndPostgres(t *testing.T) {
	runRemediationEndToEnd(t, storetest.PostgresURL(t))
}

// TestApprovalOverAPI: with an actions policy that requires approval for
// every step, the step waits; a viewer cannot approve; a signed admin
// request approves it over the API; the step runs once and resolves the
// incident; deciding again is a conflict.
func TestApprovalOverAPI(t *testing.T) {
	svc := newRestartable(t)
	cfg := remediationConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"), svc.srv.URL, fmt.Sprintf(restartPlaybook, false))
	cfg.Policies = testpolicy.Dir(t, map[string]string{"actions.rego": testpolicy.AlwaysApprove})
	a := startApp(t, cfg)
	inc := onlyIncident(t, a)
	var pending []incident.Approval
	eventually(t, 15*time.Second, "an approval request", func() bool {
		var err error
		pending, err = a.Remediator().PendingApprovals(context.Background())
		return err == nil && len(pending) == 1
	})
	if svc.restarts.Load() != 0 {
		t.Fatal("the step ran before its approval")
	}
	viewer := newKey(t, a, auth.RoleViewer)
	var listed []incident.Approval
	if code := getJSON(t, "http://"+a.Addr()+"/api/v1/approvals", viewer.Token, &listed); code != http.StatusOK || len(listed) != 1 {
		t.Fatalf("GET approvals: %d %v", code, listed)
	}
	path := fmt.Sprintf("/api/v1/approvals/%d/approve", pending[0].ID)
	// A viewer cannot approve.
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+path, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+viewer.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer approve: %d, want 403", resp.StatusCode)
	}
	admin := newKey(t, a, auth.RoleAdmin)
	body := []byte(`{"comment":"restart is safe now"}`)
	code, out := sign(t, admin, http.MethodPost, path, body, time.Now(), "").send(t, a.Addr())
	if code != http.StatusOK {
		t.Fatalf("admin approve: %d %s", code, out)
	}
	var decided incident.Approval
	if err := json.Unmarshal([]byte(out), &decided); err != nil || decided.Status != incident.ApprovalApproved || decided.Actor != "api:test admin" {
		t.Fatalf("decision = %+v (%v)", decided, err)
	}
	eventually(t, 15*time.Second, "the approved step to run and resolve", func() bool {
		got, err := a.Store().GetIncident(context.Background(), inc.ID)
		return err == nil && got.Status == incident.StatusResolved
	})
	if svc.restarts.Load() != 1 {
		t.Fatalf("restarts = %d", svc.restarts.Load())
	}
	// Deciding again is a conflict.
	code, _ = sign(t, admin, http.MethodPost, path, body, time.Now(), "").send(t, a.Addr())
	if code != http.StatusConflict {
		t.Fatalf("second decision: %d, want 409", code)
	}
}
