//go:build unix

package playbooks

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// execPlaybook is a playbook whose exec step runs the test binary in
// helper mode, passing the variables in envList.
func execPlaybook(t *testing.T, timeout string, args string, envList string) *Set {
	t.Helper()
	return mustSet(t, mustParse(t, `name: fix
match: {tiers: [MINOR]}
steps:
  - name: run
    type: exec
    command: `+helperPath(t)+`
    timeout: `+timeout+`
    args: `+args+`
    env: `+envList+`
`))
}

func TestExecStepArgumentsWithoutShell(t *testing.T) {
	set := execPlaybook(t, "10s", `["{{.Incident.ID}}", "{{.Incident.Title}}", "$(touch /tmp/pwned)", "; rm -rf /", "*"]`, `[`+helperEnv+`]`)
	x := newExecutor(t, set, env{helperEnv: "args"}, nil, nil)
	res := run(t, x, "fix", 0, testIncident())
	if !res.OK || res.Detail["exit_code"] != 0 {
		t.Fatalf("result: %+v", res)
	}
	want := "42\nlogin \"fails\"\n$(touch /tmp/pwned)\n; rm -rf /\n*"
	if strings.TrimSpace(res.Output) != want {
		t.Errorf("arguments did not arrive verbatim (a shell would have expanded them):\n%q\nwant\n%q", res.Output, want)
	}
	if res.Detail["command"] != helperPath(t) {
		t.Errorf("detail: %+v", res.Detail)
	}
}

func TestExecStepRealPrograms(t *testing.T) {
	if _, err := os.Stat("/bin/echo"); err != nil {
		t.Skip("no /bin/echo")
	}
	set := mustSet(t, mustParse(t, `name: echo
match: {tiers: [MINOR]}
steps:
  - name: echo
    type: exec
    command: /bin/echo
    args: ["incident", "{{.Incident.ID}}", "{{.Playbook}}/{{.Step}}"]
  - name: env
    type: exec
    command: env
`))
	x := newExecutor(t, set, env{}, nil, nil)
	res := run(t, x, "echo", 0, testIncident())
	if !res.OK || strings.TrimSpace(res.Output) != "incident 42 echo/echo" {
		t.Errorf("echo: %+v", res)
	}
	res = run(t, x, "echo", 1, testIncident())
	if !res.OK || !strings.Contains(res.Output, "SECOPSD_INCIDENT_ID=42") {
		t.Errorf("env: %+v", res)
	}
}

func TestExecStepEnvironmentAllowlist(t *testing.T) {
	t.Setenv("PLAYBOOKS_TEST_LEAK", "from-the-daemon") // in the process, not allowed
	set := execPlaybook(t, "10s", `[]`, `[`+helperEnv+`, LANG, NOT_SET]`)
	x := newExecutor(t, set, env{helperEnv: "env", "LANG": "C.UTF-8", "OTHER": "nope"}, nil, nil)
	res := run(t, x, "fix", 0, testIncident())
	if !res.OK {
		t.Fatalf("result: %+v", res)
	}
	got := strings.Fields(res.Output)
	want := []string{"LANG=C.UTF-8", helperEnv + "=env", "SECOPSD_ATTEMPT=1", "SECOPSD_INCIDENT_ID=42",
		"SECOPSD_PLAYBOOK=fix", "SECOPSD_RUN_ID=7", "SECOPSD_STEP=run"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("environment of the program:\n%v\nwant only\n%v", got, want)
	}
}

func TestExecStepExitCode(t *testing.T) {
	set := execPlaybook(t, "10s", `[]`, `[`+helperEnv+`]`)
	x := newExecutor(t, set, env{helperEnv: "exit3"}, nil, nil)
	res := run(t, x, "fix", 0, testIncident())
	if res.OK || res.Detail["exit_code"] != 3 || res.Error != "exited with status 3" ||
		!strings.Contains(res.Output, "something went wrong") || !strings.Contains(res.Output, "on stderr too") {
		t.Errorf("result: %+v", res)
	}
}

func TestExecStepTimeoutKillsProcessGroup(t *testing.T) {
	// Long enough for a race-instrumented helper to start its child.
	set := execPlaybook(t, "4s", `[]`, `[`+helperEnv+`]`)
	x := newExecutor(t, set, env{helperEnv: "spawn"}, nil, nil)
	start := time.Now()
	res := run(t, x, "fix", 0, testIncident())
	if res.OK || res.Detail["timed_out"] != true || !strings.Contains(res.Error, "timed out after") ||
		!strings.Contains(res.Error, "process group were killed") {
		t.Fatalf("result: %+v", res)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s", d)
	}
	_, after, ok := strings.Cut(res.Output, "grandchild=")
	if !ok {
		t.Fatalf("the helper did not report its child: %q", res.Output)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(after, "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return !alive(pid) }, "the grandchild still runs after the timeout")
}

// alive reports whether pid runs (a zombie waiting to be reaped does not).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func TestExecStepOutputTruncated(t *testing.T) {
	set := execPlaybook(t, "10s", `[]`, `[`+helperEnv+`]`)
	x := newExecutor(t, set, env{helperEnv: "flood"}, nil, nil)
	res := run(t, x, "fix", 0, testIncident())
	if !res.OK || res.Detail["output_bytes"] != int64(100_000) {
		t.Fatalf("result: %+v", res.Detail)
	}
	if len(res.Output) != DefaultMaxOutput+len(truncatedMark) || !strings.HasSuffix(res.Output, truncatedMark) ||
		!strings.HasPrefix(res.Output, strings.Repeat("x", 99)+"\n") {
		t.Errorf("output of %d bytes, ends %q", len(res.Output), res.Output[max(0, len(res.Output)-20):])
	}

	small := newExecutor(t, set, env{helperEnv: "flood"}, nil, func(o *Options) { o.MaxOutput = 10 })
	if res := run(t, small, "fix", 0, testIncident()); res.Output != "xxxxxxxxxx"+truncatedMark {
		t.Errorf("MaxOutput 10: %q", res.Output)
	}
}

func TestExecStepRedactsSecrets(t *testing.T) {
	const passed = "hook-token-0123456789"
	set := execPlaybook(t, "10s", `[]`, `[`+helperEnv+`, HOOK_TOKEN]`)
	logs := &logBuffer{}
	x := newExecutor(t, set, env{helperEnv: "secret", "HOOK_TOKEN": passed}, logs, nil)
	res := run(t, x, "fix", 0, testIncident())
	if !res.OK {
		t.Fatalf("result: %+v", res)
	}
	if !strings.Contains(res.Output, "token=[REDACTED:github-token]") || !strings.Contains(res.Output, "passed=[REDACTED]") {
		t.Errorf("output not redacted as expected: %q", res.Output)
	}
	assertNoLeak(t, fakeGitHubToken(), res, logs)
	assertNoLeak(t, passed, res, logs)
}

func TestCaptureKeepsCounting(t *testing.T) {
	c := &capture{limit: 4}
	for _, s := range []string{"ab", "cdef", "gh"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if c.String() != "abcd" || c.total != 8 {
		t.Errorf("kept %q, counted %d", c.String(), c.total)
	}
}
