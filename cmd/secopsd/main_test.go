package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// binary is the secopsd binary built once for the process-level tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "secopsd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "secopsd")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build secopsd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs a command in-process and returns exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func daemonConfig(t *testing.T, dir, listen, storeURL, target string) string {
	return writeFile(t, dir, "secopsd.yaml", fmt.Sprintf(`
listen: %s
store:
  url: %q
policies: %s
log: {level: debug}
shutdown_timeout: 5s
monitors:
  - name: api-health
    type: http
    schedule: "@every 1s"
    timeout: 3s
    url: %s/healthz
    expect: {status: 200}
`, listen, storeURL, mustAbs(t, "../../policies"), target))
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := cli(t, "version")
	if code != 0 || !strings.HasPrefix(out, "secopsd ") {
		t.Errorf("version: code %d out %q", code, out)
	}
	code, _, errOut := cli(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d stderr %q", code, errOut)
	}
}

func TestShippedConfigValidates(t *testing.T) {
	t.Setenv("EXAMPLE_STATUS_TOKEN", "t0ken")
	for _, f := range []string{"../../configs/secopsd.yaml", "../../configs/example.yaml"} {
		code, out, errOut := cli(t, "config", "validate", "--config", f)
		if code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("%s: code %d out %q err %q", f, code, out, errOut)
		}
	}
}

// oneLine asserts that a failure is a single, clear stderr line.
func oneLine(t *testing.T, stderr string, wants ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 {
		t.Errorf("want a one-line error, got %d lines:\n%s", len(lines), stderr)
	}
	for _, w := range wants {
		if !strings.Contains(stderr, w) {
			t.Errorf("error %q lacks %q", stderr, w)
		}
	}
}

func TestBadConfigIsOneLineError(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "bad.yaml", "listen: 127.0.0.1:0\nmonitors:\n  - name: a\n    type: http\n    url: http://127.0.0.1:1/\n    expect: {status: abc}\n")
	for _, cmd := range [][]string{{"config", "validate"}, {"run"}, {"check"}} {
		code, _, errOut := cli(t, append(cmd, "--config", p)...)
		if code == 0 {
			t.Errorf("%v: exit 0 on a bad config", cmd)
		}
		oneLine(t, errOut, "bad.yaml:6", "status")
	}
}

func TestBadPolicyIsOneLineError(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies")
	writeFile(t, pol, "classify.rego", "package secopsd.classify\n\ndecision := {\"severity\": x} if {\n  x := input.nope +\n}\n")
	cfg := writeFile(t, dir, "c.yaml", fmt.Sprintf("listen: 127.0.0.1:0\nstore: {url: %q}\npolicies: %s\n",
		"sqlite://"+filepath.Join(dir, "d.db"), pol))
	code, _, errOut := cli(t, "run", "--config", cfg)
	if code == 0 {
		t.Fatal("run with a broken policy exited 0")
	}
	oneLine(t, errOut, "classify.rego:")
}

func TestUnreachableStoreIsOneLineError(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "c.yaml", "listen: 127.0.0.1:0\nstore: {url: \"postgres://secopsd:hunter2@127.0.0.1:1/x?connect_timeout=2\"}\n")
	code, _, errOut := cli(t, "run", "--config", cfg)
	if code == 0 {
		t.Fatal("run with an unreachable store exited 0")
	}
	oneLine(t, errOut, "store")
	if strings.Contains(errOut, "hunter2") {
		t.Errorf("error leaks the database password: %q", errOut)
	}
}

func TestCheckCommand(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := daemonConfig(t, dir, "127.0.0.1:0", "sqlite://"+filepath.Join(dir, "d.db"), srv.URL)

	code, out, errOut := cli(t, "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "api-health") || !strings.Contains(out, "PASS") {
		t.Fatalf("healthy check: code %d out %q err %q", code, out, errOut)
	}
	status.Store(500)
	code, out, _ = cli(t, "check", "api-health", "--config", cfg, "--json")
	if code != 1 {
		t.Fatalf("failing check exited %d, want 1", code)
	}
	var res []struct {
		Monitor  string `json:"monitor"`
		Success  bool   `json:"success"`
		Findings []struct {
			ID string `json:"id"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("check --json output is not JSON: %v\n%s", err, out)
	}
	if len(res) != 1 || res[0].Success || len(res[0].Findings) != 1 || res[0].Findings[0].ID != "http.unhealthy" {
		t.Errorf("check --json = %+v", res)
	}
	// The high-severity finding is below a critical threshold: reported, exit 0.
	code, out, errOut = cli(t, "check", "--fail-on", "critical", "--config", cfg)
	if code != 0 || !strings.Contains(out, "WARN") || !strings.Contains(out, "high: ") {
		t.Errorf("--fail-on critical with a high finding: code %d out %q err %q", code, out, errOut)
	}
	code, _, errOut = cli(t, "check", "--fail-on", "severe", "--config", cfg)
	if code != 2 || !strings.Contains(errOut, "--fail-on") {
		t.Errorf("bad --fail-on: code %d err %q", code, errOut)
	}
	code, _, errOut = cli(t, "check", "nope", "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown monitor: code %d err %q", code, errOut)
	}
}

// daemon is a secopsd process started from the built binary.
type daemon struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

func startDaemon(t *testing.T, cfg string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(binary, "run", "--config", cfg), stderr: &bytes.Buffer{}}
	d.cmd.Stderr = d.stderr
	d.failWithLog(t)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			_ = d.cmd.Wait()
		}
	})
	return d
}

func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", within, what)
}

// failWithLog reports the daemon's log when a test fails.
func (d *daemon) failWithLog(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.stderr)
		}
	})
}

type snapshot struct {
	incidents int
	entries   map[int64]int
}

func takeSnapshot(t *testing.T, cfg string) snapshot {
	t.Helper()
	code, out, errOut := cli(t, "incidents", "list", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("incidents list: %d %s", code, errOut)
	}
	var list []incident.Incident
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	s := snapshot{incidents: len(list), entries: map[int64]int{}}
	for _, inc := range list {
		code, out, errOut := cli(t, "incidents", "show", fmt.Sprint(inc.ID), "--json", "--config", cfg)
		if code != 0 {
			t.Fatalf("incidents show: %d %s", code, errOut)
		}
		var d struct {
			Timeline []incident.TimelineEntry `json:"timeline"`
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		s.entries[inc.ID] = len(d.Timeline)
	}
	return s
}

// TestSIGKILLLosesNothing kills the daemon without warning and starts it
// again: every incident and timeline entry written before the kill is still
// there, the chains verify, and the daemon carries on with the same incident.
func TestSIGKILLLosesNothing(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
			}))
			defer srv.Close()
			dir := t.TempDir()
			url := "sqlite://" + filepath.Join(dir, "data", "secopsd.db")
			if backend == "postgres" {
				url = storetest.PostgresURL(t)
			}
			cfg := daemonConfig(t, dir, freePort(t), url, srv.URL)

			d := startDaemon(t, cfg)
			var before snapshot
			poll(t, 20*time.Second, "an incident with a few failures", func() bool {
				before = takeSnapshot(t, cfg)
				for _, n := range before.entries {
					if n >= 3 {
						return true
					}
				}
				return false
			})
			if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = d.cmd.Wait()
			// Everything seen committed before the kill is still there.
			after := takeSnapshot(t, cfg)
			if after.incidents < before.incidents {
				t.Fatalf("incidents: %d before SIGKILL, %d after", before.incidents, after.incidents)
			}
			for id, n := range before.entries {
				if after.entries[id] < n {
					t.Fatalf("incident %d: %d timeline entries before SIGKILL, %d after", id, n, after.entries[id])
				}
			}
			before = after
			d2 := startDaemon(t, cfg)
			poll(t, 20*time.Second, "the restarted daemon to extend the same incident", func() bool {
				s := takeSnapshot(t, cfg)
				for id, n := range before.entries {
					if s.entries[id] <= n {
						return false
					}
				}
				return s.incidents == before.incidents
			})
			if code, out, errOut := cli(t, "timeline", "verify", "--config", cfg); code != 0 {
				t.Fatalf("timeline verify after SIGKILL: %d %s %s", code, out, errOut)
			}
			// Graceful stop on SIGTERM exits 0.
			if err := d2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- d2.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("daemon exited with %v after SIGTERM; stderr:\n%s", err, d2.stderr)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("daemon did not stop within 15s of SIGTERM")
			}
		})
	}
}

// TestTimelineVerifyNamesTamperedEntry changes a stored timeline row by hand
// and expects `timeline verify` to fail naming the incident and entry.
func TestTimelineVerifyNamesTamperedEntry(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
			}))
			defer srv.Close()
			dir := t.TempDir()
			url := "sqlite://" + filepath.Join(dir, "secopsd.db")
			if backend == "postgres" {
				url = storetest.PostgresURL(t)
			}
			cfg := daemonConfig(t, dir, freePort(t), url, srv.URL)
			d := startDaemon(t, cfg)
			var snap snapshot
			poll(t, 20*time.Second, "an incident with 3 entries", func() bool {
				snap = takeSnapshot(t, cfg)
				for _, n := range snap.entries {
					if n >= 3 {
						return true
					}
				}
				return false
			})
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			_ = d.cmd.Wait()
			if code, out, errOut := cli(t, "timeline", "verify", "--config", cfg); code != 0 {
				t.Fatalf("verify before tampering: %d %s %s", code, out, errOut)
			}
			var id int64
			for k := range snap.entries {
				id = k
			}
			st := storetest.OpenURL(t, url)
			storetest.TamperTimelinePayload(t, st, id, 2, `{"kind":"nothing to see"}`)
			st.Close()

			code, out, errOut := cli(t, "timeline", "verify", "--config", cfg)
			if code == 0 {
				t.Fatal("timeline verify exited 0 after tampering")
			}
			want := fmt.Sprintf("incident %d, entry 2", id)
			if !strings.Contains(errOut, want) || !strings.Contains(out, fmt.Sprintf("incident %d: timeline entry 2", id)) {
				t.Errorf("verify output does not name the tampered entry (%q):\nstdout %s\nstderr %s", want, out, errOut)
			}
		})
	}
}
