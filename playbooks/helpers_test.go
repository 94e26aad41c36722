package playbooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// helperEnv selects what the test binary does when an exec step runs it
// (see TestMain): exec tests run this very binary as their program, so
// that they need no shell and no particular tool on the machine.
const helperEnv = "PLAYBOOKS_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv(helperEnv); ok {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper is the program of the exec tests.
func helper(mode string) int {
	switch mode {
	case "args":
		// Print each argument on its own line, as received.
		for _, a := range os.Args[1:] {
			fmt.Println(a)
		}
		return 0
	case "exit3":
		fmt.Println("something went wrong")
		fmt.Fprintln(os.Stderr, "on stderr too")
		return 3
	case "env":
		env := os.Environ()
		slices.Sort(env)
		for _, kv := range env {
			fmt.Println(kv)
		}
		return 0
	case "flood":
		line := strings.Repeat("x", 99) + "\n"
		for range 1000 {
			fmt.Print(line)
		}
		return 0
	case "secret":
		// A token the scanner knows, and the value of a variable the step
		// passes.
		fmt.Println("token=" + fakeGitHubToken())
		fmt.Println("passed=" + os.Getenv("HOOK_TOKEN"))
		return 0
	case "spawn":
		// Start a grandchild in our process group, say its pid, and hang.
		self, err := os.Executable()
		if err != nil {
			return 10
		}
		c := exec.Command(self)
		c.Env = []string{helperEnv + "=sleep"}
		c.Stdout = os.Stdout
		if err := c.Start(); err != nil {
			return 11
		}
		fmt.Printf("grandchild=%d\n", c.Process.Pid)
		time.Sleep(time.Hour)
		return 0
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// fakeGitHubToken is a well-formed, random-looking GitHub token that the
// secret scanner recognises.
func fakeGitHubToken() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rng := rand.New(rand.NewPCG(42, 7))
	b := make([]byte, 36)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return "ghp_" + string(b)
}

// mustParse parses a playbook written in a test.
func mustParse(t *testing.T, text string) *Definition {
	t.Helper()
	def, err := Parse([]byte(text), "test.yml")
	if err != nil {
		t.Fatalf("parse:\n%s\nerror: %v", text, err)
	}
	return def
}

// mustSet collects definitions into a Set.
func mustSet(t *testing.T, defs ...*Definition) *Set {
	t.Helper()
	s, err := NewSet(defs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// env is an injected environment.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// logBuffer collects log lines, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newExecutor returns an executor over set with test defaults: injected
// environment, fast retries, a debug logger writing to logs.
func newExecutor(t *testing.T, set *Set, e env, logs *logBuffer, mod func(*Options)) *Executor {
	t.Helper()
	opts := Options{
		Set:          set,
		LookupEnv:    e.lookup,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 5 * time.Millisecond,
	}
	if logs != nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&opts)
	}
	x, err := NewExecutor(opts)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// testIncident is an incident raised by a monitor.
func testIncident() incident.Incident {
	return incident.Incident{
		ID: 42, Fingerprint: "fp-1", Title: `login "fails"`, Monitor: "auth-login", Category: "authentication",
		Severity: event.SeverityHigh, Tier: incident.TierMinor, Status: incident.StatusOpen,
		OpenedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Failures: 2,
	}
}

// run runs step index of the only playbook in x's set.
func run(t *testing.T, x *Executor, playbook string, index int, inc incident.Incident) incident.StepResult {
	t.Helper()
	pb, ok := x.set.Load().Playbook(playbook)
	if !ok {
		t.Fatalf("no playbook %s", playbook)
	}
	return x.RunStep(context.Background(), incident.StepRequest{
		Incident: inc, Playbook: playbook, RunID: 7, Attempt: 1, Index: index, Step: pb.Steps[index],
	})
}

// assertNoLeak fails if secret appears in the result (as JSON) or logs.
func assertNoLeak(t *testing.T, secret string, res incident.StepResult, logs *logBuffer) {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Errorf("secret leaked into the step result: %s", b)
	}
	if logs != nil && strings.Contains(logs.String(), secret) {
		t.Errorf("secret leaked into the log: %s", logs.String())
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// contextWithCancel returns a cancellable background context.
func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
