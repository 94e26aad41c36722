package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
	"github.com/secopsd/secopsd/internal/testpolicy"
)

// TestApproveFromTheCLI runs the no-Slack approval path: a manual run
// pauses for an approval, `approvals` lists it, `approve` (as a CLI user,
// with a comment holding a secret) decides it once, and the daemon started
// afterwards runs the approved step.
func TestApproveFromTheCLI(t *testing.T) {
	var restarts atomic.Int32
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/restart" {
			restarts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer svc.Close()
	dir := t.TempDir()
	pbDir := filepath.Join(dir, "playbooks")
	writeFile(t, pbDir, "restart.yml", fmt.Sprintf(`
name: restart-api
match: {}
auto: false
steps:
  - name: restart
    type: http
    url: %s/restart
`, svc.URL))
	storeURL := "sqlite://" + filepath.Join(dir, "secopsd.db")
	cfg := writeFile(t, dir, "secopsd.yaml", fmt.Sprintf(`
listen: %s
store:
  url: %q
policies: %s
remediation:
  playbooks: %s
  approval_poll: 100ms
shutdown_timeout: 5s
`, freePort(t), storeURL, testpolicy.Dir(t, map[string]string{"actions.rego": testpolicy.AlwaysApprove}), pbDir))

	st := storetest.OpenURL(t, storeURL)
	inc := storetest.OpenIncident(t, st, "fp-cli")
	st.Close()

	code, out, errOut := cli(t, "run-playbook", fmt.Sprint(inc.ID), "--playbook", "restart-api", "--actor", "cli:alice", "--config", cfg)
	if code != 0 || !strings.Contains(out, "waiting_approval") {
		t.Fatalf("run-playbook: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "approvals", "--json", "--config", cfg)
	var pending []incident.Approval
	if code != 0 || json.Unmarshal([]byte(out), &pending) != nil || len(pending) != 1 {
		t.Fatalf("approvals: %d %q %q", code, out, errOut)
	}
	id := fmt.Sprint(pending[0].ID)
	const secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	if code, out, errOut := cli(t, "approve", id, "--actor", "cli:bob", "--comment", "token "+secret+" rotated", "--config", cfg); code != 0 {
		t.Fatalf("approve: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli(t, "deny", id, "--config", cfg); code != 1 || !strings.Contains(errOut, "already decided") {
		t.Fatalf("second decision: %d %q", code, errOut)
	}
	if code, _, errOut := cli(t, "approve", "999", "--config", cfg); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("unknown approval: %d %q", code, errOut)
	}
	if restarts.Load() != 0 {
		t.Fatal("the step ran before a daemon resumed it")
	}

	d := startDaemon(t, cfg)
	poll(t, 20*time.Second, "the daemon to run the approved step", func() bool { return restarts.Load() == 1 })
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	_ = d.cmd.Wait()

	code, out, _ = cli(t, "incidents", "show", fmt.Sprint(inc.ID), "--json", "--config", cfg)
	if code != 0 {
		t.Fatal("incidents show failed")
	}
	if strings.Contains(out, secret) {
		t.Fatal("the secret in the approval comment reached the timeline")
	}
	var detail struct {
		Timeline []incident.TimelineEntry `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(out), &detail); err != nil {
		t.Fatal(err)
	}
	var decided, started bool
	for _, e := range detail.Timeline {
		switch e.Kind {
		case incident.KindApprovalDecided:
			var p struct {
				DecidedBy string `json:"decided_by"`
			}
			decided = json.Unmarshal(e.Payload, &p) == nil && e.Actor == "cli:bob" && p.DecidedBy == "human"
		case incident.KindPlaybookStarted:
			started = e.Actor == "cli:alice"
		}
	}
	if !decided || !started {
		t.Fatalf("timeline lacks the CLI actors: %s", out)
	}
	if restarts.Load() != 1 {
		t.Fatalf("restarts = %d, want 1", restarts.Load())
	}
}
