package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// eventsConfig writes a configuration without monitors on storeURL.
func eventsConfig(t *testing.T, dir, listen, storeURL string) string {
	return writeFile(t, dir, "secopsd.yaml", fmt.Sprintf(`
listen: %s
store:
  url: %q
policies: %s
log: {level: debug}
shutdown_timeout: 5s
`, listen, storeURL, mustAbs(t, "../../policies")))
}

func appendEvents(t *testing.T, st store.Store, evs ...event.Event) {
	t.Helper()
	if _, err := st.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func TestEventsList(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "secopsd.db")
	cfg := eventsConfig(t, dir, "127.0.0.1:0", url)
	st := storetest.OpenURL(t, url)
	now := time.Now().UTC()
	appendEvents(t, st,
		event.Event{ID: "e1", Time: now.Add(-3 * time.Hour), Source: "shop", Kind: "auth.failure", Severity: event.SeverityHigh, Attributes: map[string]string{"user": "u\x1b[31m"}},
		event.Event{ID: "e2", Time: now.Add(-2 * time.Hour), Source: "shop", Kind: "deploy", Severity: event.SeverityInfo},
		event.Event{ID: "e3", Time: now.Add(-time.Hour), Source: "auth", Kind: "auth.failure", Severity: event.SeverityCritical},
	)
	ids := func(out string) []string {
		var evs []event.Event
		if err := json.Unmarshal([]byte(out), &evs); err != nil {
			t.Fatalf("not a JSON array: %v\n%s", err, out)
		}
		var ids []string
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "[e3 e2 e1]"},
		{[]string{"--severity", "high"}, "[e3 e1]"},
		{[]string{"--source", "shop", "--kind", "auth.failure"}, "[e1]"},
		{[]string{"--since", "150m"}, "[e3 e2]"},
		{[]string{"--until", now.Add(-90 * time.Minute).Format(time.RFC3339)}, "[e2 e1]"},
		{[]string{"--limit", "1"}, "[e3]"},
		{[]string{"--source", "nobody"}, "[]"},
	} {
		code, out, errOut := cli(t, append([]string{"events", "list", "--json", "--config", cfg}, tc.args...)...)
		if code != 0 {
			t.Fatalf("events list %v: %d %s", tc.args, code, errOut)
		}
		if got := fmt.Sprint(ids(out)); got != tc.want {
			t.Errorf("events list %v = %s, want %s", tc.args, got, tc.want)
		}
	}
	code, out, _ := cli(t, "events", "list", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "TIME") || strings.Count(out, "\n") != 4 || !strings.Contains(out, "auth.failure") {
		t.Errorf("table: %d\n%s", code, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Error("a control character in an attribute reached the terminal")
	}
	for _, args := range [][]string{
		{"--severity", "urgent"}, {"--since", "yesterday"}, {"--limit", "0"}, {"--limit", "5000"}, {"extra"},
	} {
		code, _, errOut := cli(t, append([]string{"events", "list", "--config", cfg}, args...)...)
		if code != 2 || errOut == "" {
			t.Errorf("events list %v: code %d, stderr %q; want 2 with a message", args, code, errOut)
		}
	}
	if code, _, errOut := cli(t, "events", "frob"); code != 2 || !strings.Contains(errOut, "list or tail") {
		t.Errorf("unknown subcommand: %d %q", code, errOut)
	}
}

// syncBuf is an output buffer safe to read while a command writes to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEventsTail(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "secopsd.db")
	cfg := eventsConfig(t, dir, "127.0.0.1:0", url)
	st := storetest.OpenURL(t, url)
	now := time.Now().UTC()
	appendEvents(t, st, event.Event{ID: "old", Time: now, Source: "shop", Kind: "deploy"})
	// The tail starts from here, as it would from the moment it is run
	// without --since; "old" was received before.
	mark := time.Now().UTC().Format(time.RFC3339Nano)

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"events", "tail", "--json", "--since", mark, "--follow-interval", "20ms", "--kind", "auth.failure", "--config", cfg}, &out, &errOut)
	}()
	// New events arrive, in several batches, with times out of order.
	appendEvents(t, st,
		event.Event{ID: "n1", Time: now.Add(-time.Hour), Source: "shop", Kind: "auth.failure"},
		event.Event{ID: "n2", Time: now, Source: "shop", Kind: "deploy"},
	)
	appendEvents(t, st, event.Event{ID: "n3", Time: now.Add(-2 * time.Hour), Source: "auth", Kind: "auth.failure"})
	poll(t, 10*time.Second, "the new events", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("tail exited %d after cancellation: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop after cancellation")
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var ev store.ReceivedEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, ev.ID)
	}
	if fmt.Sprint(got) != "[n1 n3]" {
		t.Errorf("tail printed %v, want the new auth.failure events n1, n3 once each, in arrival order", got)
	}

	// --since prints what arrived before, too.
	ctx, cancel = context.WithCancel(context.Background())
	out = syncBuf{}
	go func() {
		done <- run(ctx, []string{"events", "tail", "--since", "1h", "--follow-interval", "20ms", "--config", cfg}, &out, &errOut)
	}()
	poll(t, 10*time.Second, "the earlier events", func() bool { return strings.Contains(out.String(), "n3") })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("tail --since exited %d", code)
	}
	if s := out.String(); !strings.HasPrefix(s, "TIME") || !strings.Contains(s, "old") || !strings.Contains(s, "n2") {
		t.Errorf("tail --since output:\n%s", s)
	}
	if code, _, _ := cli(t, "events", "tail", "--follow-interval", "1ms", "--config", cfg); code != 2 {
		t.Errorf("--follow-interval 1ms: code %d, want 2", code)
	}
}

// TestIngestIsDurableBeforeAccepted kills the daemon with SIGKILL while
// clients post events: every event of every request answered 202 is in the
// store afterwards (SQLite and PostgreSQL).
func TestIngestIsDurableBeforeAccepted(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			url := "sqlite://" + filepath.Join(dir, "data", "secopsd.db")
			if backend == "postgres" {
				url = storetest.PostgresURL(t)
			}
			listen := freePort(t)
			cfg := eventsConfig(t, dir, listen, url)
			code, out, errOut := cli(t, "apikey", "create", "--role", "ingest", "--name", "durability", "--json", "--config", cfg)
			if code != 0 {
				t.Fatalf("apikey create: %d %s", code, errOut)
			}
			var key struct {
				Key string `json:"key"`
			}
			if err := json.Unmarshal([]byte(out), &key); err != nil || key.Key == "" {
				t.Fatalf("apikey create output: %v\n%s", err, out)
			}
			d := startDaemon(t, cfg)
			base := "http://" + listen + "/api/v1/events"
			poll(t, 20*time.Second, "the daemon to listen", func() bool {
				resp, err := http.Get("http://" + listen + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			})

			var (
				mu    sync.Mutex
				acked []string
				wg    sync.WaitGroup
			)
			stop := make(chan struct{})
			for c := range 6 {
				wg.Go(func() {
					client := &http.Client{Timeout: 20 * time.Second}
					for r := 0; ; r++ {
						select {
						case <-stop:
							return
						default:
						}
						var evs, ids []string
						for i := range 50 {
							id := fmt.Sprintf("k-%d-%d-%d", c, r, i)
							ids = append(ids, id)
							evs = append(evs, fmt.Sprintf(`{"id": %q, "time": %q, "source": "shop", "kind": "order.created", "attributes": {"n": %d}}`,
								id, time.Now().UTC().Format(time.RFC3339Nano), i))
						}
						req, _ := http.NewRequest("POST", base, strings.NewReader(strings.Join(evs, "\n")))
						req.Header.Set("Content-Type", "application/x-ndjson")
						req.Header.Set("Authorization", "Bearer "+key.Key)
						resp, err := client.Do(req)
						if err != nil {
							return // the daemon is gone
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusAccepted {
							mu.Lock()
							acked = append(acked, ids...)
							mu.Unlock()
						} else if resp.StatusCode != http.StatusServiceUnavailable {
							t.Errorf("POST answered %d", resp.StatusCode)
							return
						}
					}
				})
			}
			poll(t, 30*time.Second, "a few thousand acknowledged events", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(acked) >= 3000
			})
			if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = d.cmd.Wait()
			close(stop)
			wg.Wait()

			st := storetest.OpenURL(t, url)
			have := map[string]bool{}
			after := store.EventCursor{}
			for {
				page, err := st.TailEvents(context.Background(), after, store.MaxLimit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, ev := range page {
					have[ev.ID] = true
				}
				after = page[len(page)-1].Cursor()
			}
			missing := 0
			for _, id := range acked {
				if !have[event.Fingerprint("ingest.id", "shop", id)] {
					missing++
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged events are not stored after SIGKILL", missing, len(acked))
			}
			t.Logf("all %d acknowledged events stored (%d in the store)", len(acked), len(have))
		})
	}
}

// TestEventsTailStopsOnSIGINT runs `secopsd events tail` as a process and
// interrupts it: it exits 0.
func TestEventsTailStopsOnSIGINT(t *testing.T) {
	dir := t.TempDir()
	cfg := eventsConfig(t, dir, "127.0.0.1:0", "sqlite://"+filepath.Join(dir, "secopsd.db"))
	cmd := exec.Command(binary, "events", "tail", "--follow-interval", "50ms", "--config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	header, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(header, "TIME") {
		t.Fatalf("tail header %q, %v; stderr %s", header, err, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail exited with %v after SIGINT; stderr %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop within 10s of SIGINT")
	}
}
