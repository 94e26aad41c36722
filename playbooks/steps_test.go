package playbooks

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

// recordingNotifier remembers what it was asked to deliver.
type recordingNotifier struct {
	mu   sync.Mutex
	msgs []string
	err  error
}

func (n *recordingNotifier) Notify(_ context.Context, inc incident.Incident, msg string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, msg)
	return n.err
}

// scriptedVerifier answers with a fixed result and records the monitors.
type scriptedVerifier struct {
	mu       sync.Mutex
	monitors []string
	passed   bool
	summary  string
	err      error
	block    bool
}

func (v *scriptedVerifier) Verify(ctx context.Context, monitor string) (bool, string, error) {
	v.mu.Lock()
	v.monitors = append(v.monitors, monitor)
	v.mu.Unlock()
	if v.block {
		<-ctx.Done()
		return false, "", ctx.Err()
	}
	return v.passed, v.summary, v.err
}

const stepsPlaybook = `name: all
match: {tiers: [MINOR], require_monitor: true}
steps:
  - name: tell
    type: notify
    message: "incident {{.Incident.ID}} on {{.Incident.Monitor}}: trying {{.Playbook}}"
  - name: pause
    type: wait
    duration: 10m
  - name: check
    type: verify
    timeout: 1s
  - name: human
    type: escalate
    message: "{{.Incident.Title}} needs a human"
`

func TestNotifyStep(t *testing.T) {
	set := mustSet(t, mustParse(t, stepsPlaybook))
	n := &recordingNotifier{}
	x := newExecutor(t, set, env{}, nil, func(o *Options) { o.Notifier = n })
	res := run(t, x, "all", 0, testIncident())
	want := "incident 42 on auth-login: trying all"
	if !res.OK || res.Output != want || len(n.msgs) != 1 || n.msgs[0] != want {
		t.Errorf("result %+v, delivered %q", res, n.msgs)
	}
	n.err = errors.New("slack is down")
	if res := run(t, x, "all", 0, testIncident()); res.OK || res.Error != "notify: slack is down" {
		t.Errorf("failed delivery: %+v", res)
	}
	bare := newExecutor(t, set, env{}, nil, nil)
	if res := run(t, bare, "all", 0, testIncident()); res.OK || !strings.Contains(res.Error, "no notifier") {
		t.Errorf("without a notifier: %+v", res)
	}
}

func TestWaitStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := mustSet(t, mustParse(t, stepsPlaybook))
		x := newExecutor(t, set, env{}, nil, nil)
		start := time.Now()
		res := run(t, x, "all", 1, testIncident())
		if !res.OK || time.Since(start) != 10*time.Minute || res.Output != "waited 10m0s" {
			t.Errorf("wait: %+v after %s", res, time.Since(start))
		}

		// Cancelled half-way: the wait ends at once.
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(3 * time.Minute)
			cancel()
		}()
		start = time.Now()
		pb, _ := set.Playbook("all")
		res = x.RunStep(ctx, incident.StepRequest{Incident: testIncident(), Playbook: "all", Index: 1, Step: pb.Steps[1]})
		if res.OK || time.Since(start) != 3*time.Minute || !strings.Contains(res.Error, "interrupted") {
			t.Errorf("cancelled wait: %+v after %s", res, time.Since(start))
		}
	})
}

func TestVerifyStep(t *testing.T) {
	set := mustSet(t, mustParse(t, stepsPlaybook))
	v := &scriptedVerifier{passed: true, summary: "200 OK in 12ms"}
	x := newExecutor(t, set, env{}, nil, func(o *Options) { o.Verifier = v })
	res := run(t, x, "all", 2, testIncident())
	if !res.OK || res.Output != "200 OK in 12ms" || res.Detail["passed"] != true || res.Detail["monitor"] != "auth-login" ||
		len(v.monitors) != 1 || v.monitors[0] != "auth-login" {
		t.Errorf("passing verify: %+v (monitors %v)", res, v.monitors)
	}

	v.passed, v.summary = false, "503 Service Unavailable"
	res = run(t, x, "all", 2, testIncident())
	if res.OK || res.Output != "503 Service Unavailable" || res.Error != `monitor "auth-login" still fails` || res.Detail["passed"] != false {
		t.Errorf("failing verify: %+v", res)
	}

	v.err = errors.New("monitor not configured")
	if res := run(t, x, "all", 2, testIncident()); res.OK || !strings.Contains(res.Error, "monitor not configured") {
		t.Errorf("verifier error: %+v", res)
	}

	inc := testIncident()
	inc.Monitor = ""
	if res := run(t, x, "all", 2, inc); res.OK || res.Error != "incident has no monitor to verify" {
		t.Errorf("no monitor: %+v", res)
	}

	slow := &scriptedVerifier{block: true}
	x = newExecutor(t, set, env{}, nil, func(o *Options) { o.Verifier = slow })
	if res := run(t, x, "all", 2, testIncident()); res.OK || !strings.Contains(res.Error, "timed out after") {
		t.Errorf("the step's timeout was not applied: %+v", res)
	}

	bare := newExecutor(t, set, env{}, nil, nil)
	if res := run(t, bare, "all", 2, testIncident()); res.OK || !strings.Contains(res.Error, "no verifier") {
		t.Errorf("without a verifier: %+v", res)
	}
}

func TestEscalateStep(t *testing.T) {
	set := mustSet(t, mustParse(t, stepsPlaybook))
	x := newExecutor(t, set, env{}, nil, nil)
	res := run(t, x, "all", 3, testIncident())
	if !res.OK || res.Output != `login "fails" needs a human` {
		t.Errorf("escalate: %+v", res)
	}
	plain := mustSet(t, mustParse(t, "name: p\nmatch: {tiers: [MINOR]}\nsteps: [{name: human, type: escalate}]\n"))
	x = newExecutor(t, plain, env{}, nil, nil)
	if res := run(t, x, "p", 0, testIncident()); !res.OK || res.Output != "playbook p escalates incident 42 to a human" {
		t.Errorf("default message: %+v", res)
	}
}

func TestRunStepRefusesWhatWasNotDecided(t *testing.T) {
	set := mustSet(t, mustParse(t, stepsPlaybook))
	n := &recordingNotifier{}
	logs := &logBuffer{}
	x := newExecutor(t, set, env{}, logs, func(o *Options) { o.Notifier = n })
	cases := []struct {
		req  incident.StepRequest
		want string
	}{
		{incident.StepRequest{Playbook: "nope", Index: 0}, `unknown playbook "nope"`},
		{incident.StepRequest{Playbook: "all", Index: 9}, `playbook "all" has no step 9`},
		{incident.StepRequest{Playbook: "all", Index: -1}, `playbook "all" has no step -1`},
		{incident.StepRequest{Playbook: "all", Index: 0, Step: incident.Step{Name: "restart", Type: incident.StepHTTP}},
			`playbook "all" changed: step 0 is now "tell", not "restart"`},
		{incident.StepRequest{Playbook: "all", Index: 0, Step: incident.Step{Name: "tell", Type: incident.StepHTTP}},
			`playbook "all" changed: step "tell" is now of type notify, not http`},
	}
	for _, c := range cases {
		c.req.Incident = testIncident()
		res := x.RunStep(context.Background(), c.req)
		if res.OK || res.Error != c.want {
			t.Errorf("%+v: got %+v, want error %q", c.req, res, c.want)
		}
	}
	if len(n.msgs) != 0 {
		t.Errorf("a refused step ran: %v", n.msgs)
	}
	if !strings.Contains(logs.String(), `"playbook step failed"`) {
		t.Errorf("refusals are not logged: %s", logs)
	}
}

func TestSetPlaybooksSwapsTheSet(t *testing.T) {
	old := mustSet(t, mustParse(t, "name: p\nmatch: {tiers: [MINOR]}\nsteps: [{name: a, type: escalate, message: old}]\n"))
	x := newExecutor(t, old, env{}, nil, nil)
	x.SetPlaybooks(mustSet(t, mustParse(t, "name: p\nmatch: {tiers: [MINOR]}\nsteps: [{name: a, type: escalate, message: new}]\n")))
	x.SetPlaybooks(nil) // ignored
	if res := run(t, x, "p", 0, testIncident()); res.Output != "new" {
		t.Errorf("after reload: %+v", res)
	}
}

func TestNewExecutorOptions(t *testing.T) {
	if _, err := NewExecutor(Options{}); err == nil {
		t.Error("an executor without playbooks was built")
	}
	set := mustSet(t, mustParse(t, "name: p\nmatch: {tiers: [MINOR]}\nsteps: [{name: a, type: escalate}]\n"))
	if _, err := NewExecutor(Options{Set: set, MaxOutput: -1}); err == nil {
		t.Error("negative MaxOutput accepted")
	}
	x, err := NewExecutor(Options{Set: set})
	if err != nil || x.opts.MaxOutput != DefaultMaxOutput || x.opts.Now == nil || x.opts.LookupEnv == nil || x.rt == nil {
		t.Errorf("defaults: %+v, %v", x.opts, err)
	}
}

func TestTemplatesAreBounded(t *testing.T) {
	refused := map[string]string{
		"range over a number":   `{{range 1000000000}}{{end}}`,
		"recursion":             `{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`,
		"block":                 `{{block "b" .}}x{{end}}`,
		"huge printf":           `{{printf "%0999999999d" 1}}`,
		"print":                 `{{print .Incident.ID}}`,
		"call":                  `{{call .Playbook}}`,
		"index":                 `{{index .Playbook 0}}`,
		"range inside if":       `{{if .Incident.ID}}{{range 10}}x{{end}}{{end}}`,
		"printf in else branch": `{{if .Incident.ID}}ok{{else}}{{printf "%v" 1}}{{end}}`,
		"printf in with":        `{{with .Incident}}{{printf "%v" .ID}}{{end}}`,
		"printf in pipeline":    `{{.Incident.ID | printf "%v"}}`,
	}
	for name, text := range refused {
		if _, err := compileTemplate("t", text); err == nil {
			t.Errorf("%s: %s accepted", name, text)
		}
	}
	allowed := map[string]string{
		"fields":     `{{.Incident.ID}} {{.Incident.Title}} {{.Playbook}} {{.Step}} {{.RunID}} {{.Attempt}}`,
		"json":       `{"t": {{json .Incident.Title}}, "all": {{json .}}}`,
		"conditions": `{{if and (eq .Incident.Tier "MINOR") (gt .Incident.Failures 0)}}minor{{else if not .Incident.Monitor}}none{{end}}`,
		"with":       `{{with .Incident}}{{.ID}}{{end}}`,
		"len":        `{{len .Incident.Title}}`,
		"variables":  `{{$id := .Incident.ID}}{{$id}}{{/* a comment */}}`,
	}
	for name, text := range allowed {
		if _, err := compileTemplate("t", text); err != nil {
			t.Errorf("%s: %s refused: %v", name, text, err)
		}
	}
	long := `{{if .Incident.ID}}` + strings.Repeat("x", maxRendered+1) + `{{end}}`
	if _, err := compileTemplate("t", long); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("output beyond %d bytes: %v", maxRendered, err)
	}
}

func TestNewSetTakesOnlyParsedDefinitions(t *testing.T) {
	if _, err := NewSet(&Definition{Name: "hand-made", Steps: []StepSpec{{Name: "n", Type: incident.StepNotify, Message: "x"}}}); err == nil {
		t.Error("a definition that did not go through Parse was accepted")
	}
	if _, err := NewSet(nil); err == nil {
		t.Error("nil definition accepted")
	}
}
