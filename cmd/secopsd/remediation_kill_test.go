package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// TestSIGKILLMidStepIsNotRerun kills the daemon with SIGKILL while a
// non-idempotent playbook step (switching to a fallback provider) is in
// flight. The restarted daemon finds the step started but unfinished, marks
// it interrupted, escalates to a human and never calls the endpoint again,
// although the monitor keeps failing.
func TestSIGKILLMidStepIsNotRerun(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var switches atomic.Int32
			release := make(chan struct{})
			svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost && r.URL.Path == "/switch" {
					switches.Add(1)
					select { // hang: the daemon dies while waiting for us
					case <-release:
					case <-r.Context().Done():
					}
					return
				}
				w.WriteHeader(http.StatusInternalServerError)
			}))
			defer svc.Close()
			defer close(release)

			dir := t.TempDir()
			storeURL := "sqlite://" + filepath.Join(dir, "secopsd.db")
			if backend == "postgres" {
				storeURL = storetest.PostgresURL(t)
			}
			pbDir := filepath.Join(dir, "playbooks")
			writeFile(t, pbDir, "fallback.yml", fmt.Sprintf(`
name: switch-provider
match:
  monitors: [api-health]
steps:
  - name: switch
    type: http
    idempotent: false
    timeout: 2m
    url: %s/switch
  - name: verify
    type: verify
`, svc.URL))
			cfg := writeFile(t, dir, "secopsd.yaml", fmt.Sprintf(`
listen: %s
store:
  url: %q
policies: %s
remediation:
  playbooks: %s
shutdown_timeout: 5s
monitors:
  - name: api-health
    type: http
    schedule: "@every 1s"
    timeout: 3s
    url: %s/healthz
    expect: {status: 200}
`, freePort(t), storeURL, mustAbs(t, "../../policies"), pbDir, svc.URL))

			d := startDaemon(t, cfg)
			poll(t, 20*time.Second, "the step to be in flight", func() bool { return switches.Load() == 1 })
			if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = d.cmd.Wait()

			d2 := startDaemon(t, cfg)
			var tl []incident.TimelineEntry
			poll(t, 20*time.Second, "the interrupted step to be escalated", func() bool {
				tl = incidentTimeline(t, cfg)
				return countKind(tl, incident.KindStepInterrupted) == 1 && countKind(tl, incident.KindEscalated) == 1
			})
			// The monitor keeps failing every second; give the daemon a few
			// failures to (wrongly) start another attempt.
			poll(t, 20*time.Second, "three more failures", func() bool {
				return countKind(incidentTimeline(t, cfg), incident.KindFailure) >= countKind(tl, incident.KindFailure)+3
			})
			if n := switches.Load(); n != 1 {
				t.Fatalf("the interrupted non-idempotent step ran %d times, want once", n)
			}
			tl = incidentTimeline(t, cfg)
			if countKind(tl, incident.KindPlaybookStarted) != 1 {
				t.Fatalf("playbook started %d times after the crash", countKind(tl, incident.KindPlaybookStarted))
			}
			_ = d2.cmd.Process.Signal(syscall.SIGTERM)
			_ = d2.cmd.Wait()
			if code, out, errOut := cli(t, "timeline", "verify", "--config", cfg); code != 0 {
				t.Fatalf("timeline verify: %d %s %s", code, out, errOut)
			}
		})
	}
}

// incidentTimeline returns the timeline of the only incident, via the CLI.
func incidentTimeline(t *testing.T, cfg string) []incident.TimelineEntry {
	t.Helper()
	code, out, errOut := cli(t, "incidents", "list", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("incidents list: %s", errOut)
	}
	var list []incident.Incident
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) == 0 {
		return nil
	}
	code, out, errOut = cli(t, "incidents", "show", fmt.Sprint(list[len(list)-1].ID), "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("incidents show: %s", errOut)
	}
	var d struct {
		Timeline []incident.TimelineEntry `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	return d.Timeline
}

func countKind(tl []incident.TimelineEntry, kind string) int {
	n := 0
	for _, e := range tl {
		if e.Kind == kind {
			n++
		}
	}
	return n
}
