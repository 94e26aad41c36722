package playbooks

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// TestInvalidPlaybooks maps every testdata/invalid-*.yml to the problem it
// holds: the sentinel, the line and the key path of one of the errors.
func TestInvalidPlaybooks(t *testing.T) {
	tests := map[string]struct {
		want error
		line int
		path string
	}{
		"invalid-syntax.yml":                 {ErrSyntax, 2, ""}, // the line yaml.v3 reports: where the unclosed flow list's context starts
		"invalid-multiple-documents.yml":     {ErrSyntax, 4, ""},
		"invalid-empty.yml":                  {ErrMissing, 1, ""},
		"invalid-unknown-top-key.yml":        {ErrUnknownKey, 3, "stpes"},
		"invalid-unknown-step-key.yml":       {ErrUnknownKey, 7, "steps[0].duration"},
		"invalid-duplicate-key.yml":          {ErrDuplicateKey, 4, "auto"},
		"invalid-missing-name.yml":           {ErrMissing, 1, "name"},
		"invalid-name.yml":                   {ErrInvalid, 1, "name"},
		"invalid-missing-steps.yml":          {ErrMissing, 1, "steps"},
		"invalid-empty-steps.yml":            {ErrMissing, 3, "steps"},
		"invalid-steps-not-list.yml":         {ErrType, 4, "steps"},
		"invalid-step-type.yml":              {ErrStepType, 5, "steps[0].type"},
		"invalid-step-type-missing.yml":      {ErrMissing, 4, "steps[0].type"},
		"invalid-duplicate-step-name.yml":    {ErrDuplicateName, 7, "steps[1].name"},
		"invalid-timeout.yml":                {ErrDuration, 13, "steps[2].timeout"},
		"invalid-timeout-too-long.yml":       {ErrDuration, 7, "steps[0].timeout"},
		"invalid-wait-too-long.yml":          {ErrDuration, 6, "steps[0].duration"},
		"invalid-wait-timeout.yml":           {ErrUnknownKey, 7, "steps[0].timeout"},
		"invalid-url.yml":                    {ErrURL, 6, "steps[0].url"},
		"invalid-url-missing.yml":            {ErrMissing, 4, "steps[0].url"},
		"invalid-url-credentials.yml":        {ErrURL, 6, "steps[0].url"},
		"invalid-env-ref.yml":                {ErrEnv, 8, "steps[0].headers.Authorization"},
		"invalid-env-name.yml":               {ErrEnv, 7, "steps[0].env[1]"},
		"invalid-literal-credential.yml":     {ErrUnsafe, 9, "steps[0].headers.Authorization"},
		"invalid-header-reserved.yml":        {ErrInvalid, 8, "steps[0].headers.Host"},
		"invalid-sign-header-twice.yml":      {ErrInvalid, 8, "steps[0].headers.x-secopsd-signature"},
		"invalid-sign-missing-env.yml":       {ErrMissing, 8, "steps[0].sign.secret_env"},
		"invalid-retries-not-idempotent.yml": {ErrUnsafe, 7, "steps[0].retries"},
		"invalid-retries-range.yml":          {ErrInvalid, 8, "steps[0].retries"},
		"invalid-method.yml":                 {ErrInvalid, 7, "steps[0].method"},
		"invalid-expect-status.yml":          {ErrInvalid, 9, "steps[0].expect_status[1]"},
		"invalid-template.yml":               {ErrTemplate, 6, "steps[0].message"},
		"invalid-template-syntax.yml":        {ErrTemplate, 7, "steps[0].body"},
		"invalid-command-relative.yml":       {ErrCommand, 6, "steps[0].command"},
		"invalid-command-missing.yml":        {ErrCommand, 6, "steps[0].command"},
		"invalid-command-shell.yml":          {ErrCommand, 6, "steps[0].command"},
		"invalid-tier.yml":                   {ErrInvalid, 3, "match.tiers[1]"},
		"invalid-severity.yml":               {ErrInvalid, 3, "match.severities[1]"},
		"invalid-monitor-glob.yml":           {ErrInvalid, 3, "match.monitors[0]"},
		"invalid-match-all.yml":              {ErrUnsafe, 3, "auto"},
		"invalid-verify-without-monitor.yml": {ErrUnsafe, 8, "steps[1].type"},
		"invalid-after-escalate.yml":         {ErrUnsafe, 6, "steps[1]"},
		"invalid-auto-type.yml":              {ErrType, 3, "auto"},
		"invalid-notify-no-message.yml":      {ErrMissing, 4, "steps[0].message"},
	}
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no entry in the table", f)
		}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("testdata", name)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			def, err := Parse(data, file)
			if err == nil {
				t.Fatalf("accepted: %+v", def)
			}
			if def != nil {
				t.Error("a definition came back with the error")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error is not %v:\n%v", tc.want, err)
			}
			if !hasProblem(err, tc.want, tc.line, tc.path) {
				t.Fatalf("no %v problem at line %d, key %q:\n%v", tc.want, tc.line, tc.path, err)
			}
			prefix := file + ":" + strconv.Itoa(tc.line) + ": "
			if tc.path != "" {
				prefix += tc.path + ": "
			}
			if !strings.Contains("\n"+err.Error(), "\n"+prefix) {
				t.Errorf("no line starts with %q:\n%v", prefix, err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("error line does not name the file: %q", line)
				}
			}
		})
	}
}

// hasProblem reports whether err holds an *Error with sentinel want at
// line and path.
func hasProblem(err error, want error, line int, path string) bool {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var pe *Error
		if errors.As(e, &pe) && errors.Is(pe, want) && pe.Line == line && pe.Path == path {
			return true
		}
	}
	return false
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	text := `name: Bad Name
match: {tiers: [minor]}
auto: maybe
steps:
  - name: a
    type: http
    url: ftp://x
    timeout: soon
  - name: a
    type: teleport
`
	_, err := Parse([]byte(text), "many.yml")
	if err == nil {
		t.Fatal("accepted")
	}
	want := []struct {
		sentinel error
		line     int
		path     string
	}{
		{ErrInvalid, 1, "name"},
		{ErrInvalid, 2, "match.tiers[0]"},
		{ErrType, 3, "auto"},
		{ErrURL, 7, "steps[0].url"},
		{ErrDuration, 8, "steps[0].timeout"},
		{ErrStepType, 10, "steps[1].type"},
	}
	for _, w := range want {
		if !hasProblem(err, w.sentinel, w.line, w.path) {
			t.Errorf("missing %v at line %d, %s in:\n%v", w.sentinel, w.line, w.path, err)
		}
	}
	// Ordered by line.
	lines := strings.Split(err.Error(), "\n")
	last := 0
	for _, l := range lines {
		n, _ := strconv.Atoi(strings.Split(l, ":")[1])
		if n < last {
			t.Errorf("errors not ordered by line:\n%v", err)
		}
		last = n
	}
}

func TestParseFullPlaybook(t *testing.T) {
	text := `# every key
name: full.example_1
description: Every key of every step type.
match:
  categories: [authentication, availability]
  monitors: [auth-login, "provider-*"]
  tiers: [MINOR, MAJOR]
  severities: [medium, high]
  require_monitor: true
auto: false
steps:
  - name: hook
    type: http
    idempotent: true
    timeout: 45s
    url: https://hooks.example.com:8443/restart?x=1
    method: PUT
    headers:
      X-Source: secopsd
      Authorization: Bearer ${HOOK_TOKEN}
    body: '{"id": {{.Incident.ID}}}'
    sign: {secret_env: HOOK_SECRET, header: X-Sig}
    expect_status: [200, 202]
    retries: 2
  - name: run
    type: exec
    command: ` + helperPath(t) + `
    args: ["--incident", "{{.Incident.ID}}"]
    env: [PATH, HOOK_TOKEN]
  - name: tell
    type: notify
    message: "incident {{.Incident.ID}}"
  - name: pause
    type: wait
    duration: 90s
  - name: check
    type: verify
  - name: deploy
    type: build
    url: ${DEPLOY_URL}
  - name: human
    type: escalate
    message: over to you
`
	def := mustParse(t, text)
	if def.Name != "full.example_1" || def.Description == "" || def.Auto || def.File != "test.yml" || def.Line != 2 {
		t.Errorf("playbook fields: %+v", def)
	}
	m := def.Match
	if strings.Join(m.Categories, ",") != "authentication,availability" || strings.Join(m.Monitors, ",") != "auth-login,provider-*" ||
		len(m.Tiers) != 2 || m.Tiers[1] != incident.TierMajor || len(m.Severities) != 2 || m.Severities[0] != event.SeverityMedium || !m.RequireMonitor {
		t.Errorf("match: %+v", m)
	}
	if len(def.Steps) != 7 {
		t.Fatalf("steps: %d", len(def.Steps))
	}
	h := def.Steps[0]
	if h.Type != incident.StepHTTP || !h.Idempotent || h.Timeout != 45*time.Second || h.Method != "PUT" ||
		h.Headers["Authorization"] != "Bearer ${HOOK_TOKEN}" || h.Sign == nil || h.Sign.SecretEnv != "HOOK_SECRET" ||
		h.Sign.Header != "X-Sig" || len(h.ExpectStatus) != 2 || h.Retries != 2 || h.Line != 12 {
		t.Errorf("http step: %+v", h)
	}
	if got := h.Target(); got != "hooks.example.com:8443" {
		t.Errorf("http target = %q", got)
	}
	x := def.Steps[1]
	if x.Command != helperPath(t) || len(x.Args) != 2 || strings.Join(x.Env, ",") != "PATH,HOOK_TOKEN" ||
		x.Timeout != DefaultTimeout || x.Idempotent || x.Target() != helperPath(t) {
		t.Errorf("exec step: %+v", x)
	}
	if w := def.Steps[3]; w.Duration != 90*time.Second || w.Timeout != 90*time.Second || !w.Idempotent {
		t.Errorf("wait step: %+v", w)
	}
	if v := def.Steps[4]; v.Timeout != DefaultVerifyTimeout || !v.Idempotent || v.Target() != "" {
		t.Errorf("verify step: %+v", v)
	}
	if b := def.Steps[5]; b.Method != "POST" || b.Target() != "${DEPLOY_URL}" || b.Idempotent || b.Sign != nil {
		t.Errorf("build step: %+v", b)
	}
	pb := def.Playbook()
	if pb.Name != def.Name || len(pb.Steps) != 7 || pb.Steps[5].Type != incident.StepBuild || pb.Steps[5].Target != "${DEPLOY_URL}" {
		t.Errorf("engine playbook: %+v", pb)
	}
}

// helperPath is the test binary, which exec tests run as their program.
func helperPath(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecCommandFromPath(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "secopsd-fix")
	if err := os.WriteFile(prog, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	def := mustParse(t, "name: p\nmatch: {tiers: [MINOR]}\nsteps: [{name: fix, type: exec, command: secopsd-fix}]\n")
	if def.Steps[0].Command != prog {
		t.Errorf("command resolved to %q, want %q", def.Steps[0].Command, prog)
	}
	if err := os.Chmod(prog, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]byte("name: p\nmatch: {tiers: [MINOR]}\nsteps: [{name: fix, type: exec, command: "+prog+"}]\n"), "x.yml")
	if !errors.Is(err, ErrCommand) {
		t.Errorf("non-executable file accepted: %v", err)
	}
}

func TestDefaultPlaybooks(t *testing.T) {
	set, err := Defaults()
	if err != nil {
		t.Fatalf("the shipped playbooks do not load: %v", err)
	}
	if got := strings.Join(set.Names(), ","); got != "auth-session-reset,provider-fallback,ratelimit-reset,ui-purge-redeploy" {
		t.Errorf("default playbooks: %s", got)
	}
	same, err := Load("")
	if err != nil || strings.Join(same.Names(), ",") != strings.Join(set.Names(), ",") {
		t.Errorf(`Load("") is not the defaults: %v`, err)
	}
	for _, name := range set.Names() {
		def, _ := set.Definition(name)
		if !def.Auto || def.Description == "" {
			t.Errorf("%s: auto %v, description %q", name, def.Auto, def.Description)
		}
		verifies := false
		for _, s := range def.Steps {
			verifies = verifies || s.Type == incident.StepVerify
			if s.Type == incident.StepHTTP || s.Type == incident.StepBuild {
				if s.Sign == nil || s.Sign.SecretEnv != "SECOPSD_HOOK_SECRET" {
					t.Errorf("%s/%s: hook is not signed with SECOPSD_HOOK_SECRET", name, s.Name)
				}
				if !strings.HasPrefix(s.URL, "${SECOPSD_HOOK_") || s.Target() != s.URL {
					t.Errorf("%s/%s: url %q does not come from a SECOPSD_HOOK_ variable", name, s.Name, s.URL)
				}
			}
		}
		if !verifies {
			t.Errorf("%s never verifies its fix", name)
		}
	}
	fb, _ := set.Definition("provider-fallback")
	if fb.Steps[0].Idempotent || fb.Steps[0].Retries != 0 {
		t.Error("switching provider must be neither idempotent nor retried")
	}
	ui, _ := set.Definition("ui-purge-redeploy")
	if !slicesContainsType(ui.Steps, incident.StepBuild) {
		t.Error("the ui playbook does not redeploy")
	}

	// Unset variables do not stop loading; MissingEnv names them for a
	// start-up warning, and never a value.
	missing := set.MissingEnv(env{}.lookup)
	names := map[string]bool{}
	for _, u := range missing {
		names[u.Var] = true
		if !strings.Contains(u.String(), u.Var) || !strings.Contains(u.String(), u.Playbook) {
			t.Errorf("unhelpful message %q", u)
		}
	}
	for _, v := range []string{"SECOPSD_HOOK_AUTH_RESTART", "SECOPSD_HOOK_CDN_PURGE", "SECOPSD_HOOK_UI_REDEPLOY",
		"SECOPSD_HOOK_RATELIMIT_RESET", "SECOPSD_HOOK_FALLBACK_SWITCH", "SECOPSD_HOOK_SECRET"} {
		if !names[v] {
			t.Errorf("MissingEnv does not name %s: %v", v, missing)
		}
	}
	all := env{}
	for v := range names {
		all[v] = "set"
	}
	if got := set.MissingEnv(all.lookup); len(got) != 0 {
		t.Errorf("with every variable set, MissingEnv = %v", got)
	}
}

func slicesContainsType(steps []StepSpec, t incident.StepType) bool {
	for _, s := range steps {
		if s.Type == t {
			return true
		}
	}
	return false
}

// TestDefaultPlaybooksMatchTheirIncidents checks that each shipped
// playbook is the one chosen for the incidents it is written for.
func TestDefaultPlaybooksMatchTheirIncidents(t *testing.T) {
	set, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		category, monitor string
		want              string
	}{
		{"access-control", "admin-endpoints", "auth-session-reset"},
		{"authentication", "auth-login", "auth-session-reset"},
		{"ui-rendering", "web-ui", "ui-purge-redeploy"},
		{"rate-limiting", "api-burst", "ratelimit-reset"},
		{"availability", "provider-email", "provider-fallback"},
		{"availability", "api-health", ""},      // not a provider monitor
		{"authentication", "", ""},              // credential stuffing: no monitor to verify against
		{"secret-exposure", "secrets-scan", ""}, // nothing to run automatically
	}
	for _, c := range cases {
		inc := incident.Incident{ID: 1, Category: c.category, Monitor: c.monitor, Tier: incident.TierMinor, Severity: event.SeverityMedium}
		got := set.Match(inc)
		name := ""
		if len(got) > 0 {
			name = got[0].Name
		}
		if name != c.want {
			t.Errorf("%s/%q: matched %q, want %q", c.category, c.monitor, name, c.want)
		}
	}
}

func TestLoadDirectoryReplacesDefaults(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "mine.yaml", "name: mine\nmatch: {tiers: [MINOR]}\nsteps: [{name: tell, type: escalate}]\n")
	write(t, dir, "notes.txt", "not a playbook")
	write(t, dir, ".hidden.yml", "not: [valid")
	set, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != "mine" {
		t.Errorf("playbooks = %s, want only mine", got)
	}
	if _, ok := set.Playbook("auth-session-reset"); ok {
		t.Error("a configured directory must replace the defaults")
	}
	def, _ := set.Definition("mine")
	if def.File != filepath.Join(dir, "mine.yaml") {
		t.Errorf("file = %q", def.File)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	empty := t.TempDir()
	if _, err := Load(empty); !errors.Is(err, ErrNoPlaybooks) || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty dir: %v", err)
	}

	// Every file's problems, at once.
	dir := t.TempDir()
	write(t, dir, "a.yml", "name: a\nmatch: {tiers: [MINOR]}\nsteps: [{name: x, type: nope}]\n")
	write(t, dir, "b.yml", "name: b\nmatch: {tiers: [MINOR]}\nsteps: [{name: x, type: wait, duration: forever}]\n")
	write(t, dir, "c.yml", "name: c\nmatch: {tiers: [MINOR]}\nsteps: [{name: x, type: escalate}]\n")
	_, err := Load(dir)
	if !errors.Is(err, ErrStepType) || !errors.Is(err, ErrDuration) {
		t.Fatalf("want both files' errors: %v", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "a.yml")+":3: steps[0].type") ||
		!strings.Contains(err.Error(), filepath.Join(dir, "b.yml")+":3: steps[0].duration") {
		t.Errorf("errors do not name file, line and key: %v", err)
	}

	// The same name in two files.
	dup := t.TempDir()
	write(t, dup, "one.yml", "name: same\nmatch: {tiers: [MINOR]}\nsteps: [{name: x, type: escalate}]\n")
	write(t, dup, "two.yml", "# second\nname: same\nmatch: {tiers: [MAJOR]}\nsteps: [{name: x, type: escalate}]\n")
	_, err = Load(dup)
	if !errors.Is(err, ErrDuplicateName) || !strings.Contains(err.Error(), filepath.Join(dup, "one.yml")+":1") ||
		!strings.HasPrefix(err.Error(), filepath.Join(dup, "two.yml")+":2: name: ") {
		t.Errorf("duplicate name across files: %v", err)
	}

	// A file too large is refused before parsing.
	big := t.TempDir()
	write(t, big, "big.yml", "name: big\n#"+strings.Repeat("x", maxFileSize)+"\n")
	if _, err := Load(big); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

func TestLoadFS(t *testing.T) {
	fsys := fstest.MapFS{
		"x.yml":     {Data: []byte("name: x\nmatch: {tiers: [MINOR]}\nsteps: [{name: s, type: escalate}]\n")},
		"sub/y.yml": {Data: []byte("ignored: [")},
	}
	set, err := LoadFS(fsys, "")
	if err != nil || strings.Join(set.Names(), ",") != "x" {
		t.Fatalf("LoadFS: %v, %v", set, err)
	}
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestErrorFormat(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yml", Line: 3, Path: "steps[0].url", Err: ErrURL, Msg: "bad\nurl"}, "a.yml:3: steps[0].url: bad url"},
		{Error{File: "a.yml", Err: ErrNoPlaybooks}, "a.yml: no playbooks"},
		{Error{Line: 2, Err: ErrMissing}, "line 2: missing value"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}
