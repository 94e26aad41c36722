package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// testEnv is the environment the tests parse with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"SECOPSD_TEST_TOKEN": "tok-from-env",
		"SECOPSD_TEST_EMPTY": "",
		"SECOPSD_TEST_PORT":  "9191",
	}[name]
	return v, ok
}

// located flattens a joined error into its *Error values.
func located(t *testing.T, err error) []*Error {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*Error, 0, len(errs))
	for _, e := range errs {
		var le *Error
		if !errors.As(e, &le) {
			t.Fatalf("error %q is not a *config.Error", e)
		}
		out = append(out, le)
	}
	return out
}

func TestInvalidConfigs(t *testing.T) {
	runSectionInvalid(t, "testdata", map[string]typeInvalidCase{
		"invalid-unknown-top-level-key.yml":  {ErrUnknownKey, 4, "listne"},
		"invalid-unknown-monitor-key.yml":    {ErrUnknownKey, 10, "monitors[1].retires"},
		"invalid-wrong-type.yml":             {ErrType, 6, "monitors[0].expect.status"},
		"invalid-bad-duration.yml":           {ErrDuration, 2, "shutdown_timeout"},
		"invalid-negative-duration.yml":      {ErrDuration, 5, "monitors[0].timeout"},
		"invalid-bad-schedule.yml":           {ErrSchedule, 5, "monitors[0].schedule"},
		"invalid-every-subsecond.yml":        {ErrSchedule, 4, "monitors[0].schedule"},
		"invalid-duplicate-monitor-name.yml": {ErrDuplicate, 5, "monitors[1].name"},
		"invalid-unknown-monitor-type.yml":   {ErrUnknownType, 3, "monitors[0].type"},
		"invalid-missing-monitor-type.yml":   {ErrMissing, 2, "monitors[0].type"},
		"invalid-unset-env.yml":              {ErrEnv, 6, "monitors[0].headers.Authorization"},
		"invalid-env-unterminated.yml":       {ErrEnv, 2, "store.url"},
		"invalid-secret-value-and-file.yml":  {ErrSecret, 4, "store.url"},
		"invalid-secret-file-missing.yml":    {ErrSecret, 6, "monitors[0].headers.Authorization.file"},
		"invalid-secret-unknown-key.yml":     {ErrUnknownKey, 2, "store.url.path"},
		"invalid-store-scheme.yml":           {ErrInvalid, 2, "store.url"},
		"invalid-url.yml":                    {ErrInvalid, 4, "monitors[0].url"},
		"invalid-url-missing.yml":            {ErrMissing, 2, "monitors[0].url"},
		"invalid-duplicate-key.yml":          {ErrDuplicateKey, 5, "log.level"},
		"invalid-recover-after-zero.yml":     {ErrInvalid, 5, "monitors[0].recover_after"},
		"invalid-syntax.yml":                 {ErrSyntax, 3, ""}, // the line yaml.v3 reports: where the broken mapping's context is
		"invalid-multiple-documents.yml":     {ErrSyntax, 2, ""}, // the second ---
		"invalid-monitors-not-list.yml":      {ErrType, 2, "monitors"},
		"invalid-bool.yml":                   {ErrType, 3, "scheduler.run_on_start"},
		"invalid-monitor-name.yml":           {ErrInvalid, 2, "monitors[0].name"},
		"invalid-monitor-name-missing.yml":   {ErrMissing, 2, "monitors[0].name"},
		"invalid-timeout-too-long.yml":       {ErrInvalid, 5, "monitors[0].timeout"},
		"invalid-method.yml":                 {ErrInvalid, 5, "monitors[0].method"},
		"invalid-status-range.yml":           {ErrInvalid, 5, "monitors[0].expect.status"},
		"invalid-retries.yml":                {ErrInvalid, 5, "monitors[0].retries"},
		"invalid-listen.yml":                 {ErrInvalid, 1, "listen"},
		"invalid-log-level.yml":              {ErrInvalid, 2, "log.level"},
		"invalid-concurrency.yml":            {ErrInvalid, 2, "scheduler.concurrency"},
		"invalid-check-fail-on.yml":          {ErrInvalid, 2, "check.fail_on"},
		"invalid-jitter.yml":                 {ErrInvalid, 3, "scheduler.jitter"},
		"invalid-per-host.yml":               {ErrInvalid, 2, "scheduler.per_host"},
		"invalid-int-overflow.yml":           {ErrType, 2, "store.max_conns"},
		"invalid-header-name.yml":            {ErrInvalid, 6, `monitors[0].headers["X Bad Header"]`},
	})
}

// TestErrorMessages pins the wording of the messages a person sees for the
// examples the configuration format promises.
func TestErrorMessages(t *testing.T) {
	tests := []struct{ file, want string }{
		{"invalid-wrong-type.yml", `testdata/invalid-wrong-type.yml:6: monitors[0].expect.status: expected an integer, got "abc"`},
		{"invalid-unknown-monitor-key.yml", `testdata/invalid-unknown-monitor-key.yml:10: monitors[1].retires: unknown key; did you mean "retries"? (valid keys for an http monitor: name, type, schedule, timeout, recover_after, labels, url, method, headers, expect, retries)`},
		{"invalid-bad-duration.yml", `testdata/invalid-bad-duration.yml:2: shutdown_timeout: invalid duration "5 minutes" (use e.g. 90s, 15m, 2h, 7d)`},
		{"invalid-unknown-monitor-type.yml", `testdata/invalid-unknown-monitor-type.yml:3: monitors[0].type: unknown monitor type "htpp" (known types: access, headers, http, postgres_cascade, postgres_rls, ratelimit, secrets, securitytxt, tls, ui)`},
		{"invalid-unset-env.yml", `testdata/invalid-unset-env.yml:6: monitors[0].headers.Authorization: environment variable SECOPSD_TEST_UNSET is not set (referenced as ${SECOPSD_TEST_UNSET})`},
		{"invalid-duplicate-key.yml", `testdata/invalid-duplicate-key.yml:5: log.level: duplicate key (first defined on line 3)`},
		{"invalid-duplicate-monitor-name.yml", `testdata/invalid-duplicate-monitor-name.yml:5: monitors[1].name: duplicate monitor name "api" (first used at line 2)`},
		{"invalid-concurrency.yml", `testdata/invalid-concurrency.yml:2: scheduler.concurrency: concurrency must be between 1 and 10000, got 0`},
	}
	for _, tc := range tests {
		path := filepath.ToSlash(filepath.Join("testdata", tc.file))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parse(data, path, testEnv)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.file, err, tc.want)
		}
	}
}

func TestSecretFileNotFoundWrapsCause(t *testing.T) {
	path := "testdata/invalid-secret-file-missing.yml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parse(data, path, testEnv)
	if !errors.Is(err, ErrSecret) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("want ErrSecret wrapping fs.ErrNotExist, got %v", err)
	}
}

func TestSeveralErrorsJoinedInLineOrder(t *testing.T) {
	src := `listen: nowhere
log:
  level: loud
monitors:
  - name: a
    type: http
    url: https://a.example.com/
    retries: 99
  - name: a
    type: http
    url: gopher://a.example.com/
`
	_, err := parse([]byte(src), "x.yaml", testEnv)
	errs := located(t, err)
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if want := []int{1, 3, 8, 9, 11}; !slices.Equal(lines, want) {
		t.Errorf("lines = %v, want %v\n%v", lines, want, err)
	}
	if n := strings.Count(err.Error(), "\n"); n != len(errs)-1 {
		t.Errorf("want one line per problem, got:\n%v", err)
	}
}

func TestSeveralDecodeErrors(t *testing.T) {
	src := `listne: x
scheduler:
  concurrency: many
monitors:
  - name: a
    type: http
    url: https://a.example.com/
    timeout: soon
`
	_, err := parse([]byte(src), "x.yaml", testEnv)
	errs := located(t, err)
	if len(errs) != 3 || !errors.Is(errs[0], ErrUnknownKey) || !errors.Is(errs[1], ErrType) || !errors.Is(errs[2], ErrDuration) {
		t.Errorf("got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := parse([]byte("monitors:\n  - name: api\n    type: http\n    url: https://api.example.com/\n"), "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Store.URL.Reveal() != "sqlite://./data/secopsd.db" ||
		cfg.Policies != "" || cfg.Log.Level != "info" || cfg.Log.Format != "text" ||
		cfg.Scheduler.Concurrency != 16 || cfg.Scheduler.RunOnStart == nil || !*cfg.Scheduler.RunOnStart ||
		cfg.ShutdownTimeout.Std() != 15*time.Second || cfg.Store.MaxConns != 0 {
		t.Errorf("daemon defaults wrong: %+v", cfg)
	}
	m := cfg.Monitors[0]
	want := Monitor{
		Name: "api", Type: "http", Schedule: "@every 15m", Timeout: Duration(10 * time.Second), RecoverAfter: 1,
		HTTP: &HTTPMonitor{URL: "https://api.example.com/", Method: "GET", Expect: HTTPExpect{Status: 200}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("monitor = %+v (http %+v)\nwant %+v (http %+v)", m, m.HTTP, want, want.HTTP)
	}
	if DefaultSchedule("http") != "@every 15m" || DefaultTimeout("http") != 10*time.Second || DefaultSchedule("nope") != "" {
		t.Error("DefaultSchedule/DefaultTimeout wrong")
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default() is invalid: %v", err)
	}
}

func TestEmptyDocumentIsDefaults(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		cfg, err := parse([]byte(src), "", testEnv)
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("%q: got %+v", src, cfg)
		}
	}
}

func TestNullKeepsDefault(t *testing.T) {
	cfg, err := parse([]byte("listen:\nscheduler:\n  run_on_start: ~\nlog: {level: null}\n"), "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || !*cfg.Scheduler.RunOnStart || cfg.Log.Level != DefaultLogLevel {
		t.Errorf("got %+v", cfg)
	}
}

func TestFullConfig(t *testing.T) {
	path := "testdata/valid-full.yml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(data, path, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9090" || cfg.Store.MaxConns != 8 || cfg.Policies != "/etc/secopsd/policies" ||
		cfg.Log != (LogConfig{Level: "debug", Format: "json"}) || cfg.Scheduler.Concurrency != 4 ||
		*cfg.Scheduler.RunOnStart || cfg.ShutdownTimeout.Std() != 36*time.Hour {
		t.Errorf("got %+v", cfg)
	}
	if got := cfg.Store.URL.Reveal(); got != "postgres://secopsd:db-pass-from-file@db:5432/secopsd" {
		t.Errorf("store url from file = %q (trailing CR LF must be trimmed)", got)
	}
	if cfg.Store.Backend() != "postgres" {
		t.Errorf("backend = %q", cfg.Store.Backend())
	}
	m, ok := cfg.MonitorByName("api")
	if !ok {
		t.Fatal("MonitorByName(api) not found")
	}
	if _, ok := cfg.MonitorByName("nope"); ok {
		t.Error("MonitorByName(nope) found")
	}
	if m.Schedule != "*/5 * * * *" || m.Timeout.Std() != 30*time.Second || m.RecoverAfter != 3 ||
		!reflect.DeepEqual(m.Labels, map[string]string{"team": "platform", "app.kubernetes.io/name": "api"}) {
		t.Errorf("common keys: %+v", m)
	}
	h := m.HTTP
	if h.URL != "https://api.example.com/health" || h.Method != "POST" || h.Retries != 10 ||
		!reflect.DeepEqual(h.Expect, HTTPExpect{Status: 204, MaxLatency: Duration(1500 * time.Millisecond), BodyContains: "ok"}) {
		t.Errorf("http block: %+v", h)
	}
	wantHeaders := map[string]string{
		"Authorization": "Bearer tok-from-env",
		"X-Api-Key":     "s3cr3t-from-file",
		"X-Price":       "$5",
	}
	for k, v := range wantHeaders {
		if got := h.Headers[k].Reveal(); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${SECOPSD_TEST_TOKEN}", "tok-from-env", ""},
		{"a-${SECOPSD_TEST_TOKEN}-${SECOPSD_TEST_PORT}", "a-tok-from-env-9191", ""},
		{"x${SECOPSD_TEST_EMPTY}y", "xy", ""},
		{"$$", "$", ""},
		{"$${SECOPSD_TEST_TOKEN}", "${SECOPSD_TEST_TOKEN}", ""},
		{"$$$${X}", "$${X}", ""},
		{"cost $5 $", "cost $5 $", ""},
		{"$NAME", "$NAME", ""},
		{"${NOPE}", "", "NOPE is not set"},
		{"${", "", "unterminated"},
		{"${1BAD}", "", "invalid"},
		{"${}", "", "invalid"},
	}
	for _, tc := range tests {
		got, _, err := expandEnv(tc.in, testEnv)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("expandEnv(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestEnvInNumbersAndLiteralBlocks(t *testing.T) {
	src := "listen: 127.0.0.1:${SECOPSD_TEST_PORT}\nscheduler:\n  concurrency: ${SECOPSD_TEST_PORT}\n"
	cfg, err := parse([]byte(src), "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9191" || cfg.Scheduler.Concurrency != 9191 {
		t.Errorf("got %+v", cfg)
	}
	// The line of an unset variable inside a literal block is its own.
	src = "monitors:\n  - name: a\n    type: http\n    url: https://a.example.com/\n    expect:\n      body_contains: |\n        line one\n        ${SECOPSD_TEST_UNSET}\n"
	_, err = parse([]byte(src), "x.yaml", testEnv)
	if errs := located(t, err); len(errs) != 1 || errs[0].Line != 8 || !errors.Is(err, ErrEnv) {
		t.Errorf("got %v", err)
	}
}

func TestEnvNotExpandedInKeysOrComments(t *testing.T) {
	src := "# ${SECOPSD_TEST_UNSET}\nmonitors:\n  - name: a\n    type: http\n    url: https://a.example.com/\n    labels: {\"${SECOPSD_TEST_UNSET}\": x}\n"
	cfg, err := parse([]byte(src), "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Monitors[0].Labels["${SECOPSD_TEST_UNSET}"] != "x" {
		t.Errorf("labels = %v", cfg.Monitors[0].Labels)
	}
}

func TestSecretForms(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "db-url"), []byte("sqlite://./x.db\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "db-url")
	tests := []struct{ src, want string }{
		{"store: {url: sqlite://./plain.db}", "sqlite://./plain.db"},
		{"store: {url: {value: sqlite://./value.db}}", "sqlite://./value.db"},
		{"store: {url: {file: db-url}}", "sqlite://./x.db"},
		{"store: {url: {file: " + abs + "}}", "sqlite://./x.db"},
		{"store: {url: {file: \"${SECOPSD_TEST_DIR}/db-url\"}}", "sqlite://./x.db"},
	}
	env := func(k string) (string, bool) {
		if k == "SECOPSD_TEST_DIR" {
			return dir, true
		}
		return testEnv(k)
	}
	for _, tc := range tests {
		// The file name places relative secret files in dir.
		cfg, err := parse([]byte(tc.src), filepath.Join(dir, "secopsd.yaml"), env)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got := cfg.Store.URL.Reveal(); got != tc.want {
			t.Errorf("%s: url = %q, want %q", tc.src, got, tc.want)
		}
	}
	for _, src := range []string{"store: {url: {}}", "store: {url: [a]}", "store: {url: {file: \"\"}}"} {
		_, err := parse([]byte(src), "", env)
		if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrType) {
			t.Errorf("%s: err = %v", src, err)
		}
	}
}

// TestNoSecretLeaks proves that printing or encoding a configuration, and
// the error messages about secrets, never reveal a secret.
func TestNoSecretLeaks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("file-secret-9f2c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `store:
  url: postgres://secopsd:db-secret-4e1d@db:5432/secopsd
monitors:
  - name: api
    type: http
    url: https://api.example.com/
    headers:
      Authorization: "Bearer ${SECOPSD_TEST_TOKEN}"
      X-Api-Key: {file: key}
`
	cfg, err := parse([]byte(src), filepath.Join(dir, "c.yaml"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"db-secret-4e1d", "tok-from-env", "file-secret-9f2c"}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ys, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":          fmt.Sprintf("%v", cfg),
		"%+v":         fmt.Sprintf("%+v", cfg),
		"%#v":         fmt.Sprintf("%#v", cfg),
		"%v value":    fmt.Sprintf("%v", *cfg),
		"%+v monitor": fmt.Sprintf("%+v", cfg.Monitors[0]),
		"%+v http":    fmt.Sprintf("%+v", cfg.Monitors[0].HTTP),
		"%#v http":    fmt.Sprintf("%#v", cfg.Monitors[0].HTTP),
		"%v headers":  fmt.Sprintf("%v", cfg.Monitors[0].HTTP.Headers),
		"%q secret":   fmt.Sprintf("%q", cfg.Store.URL),
		"%x secret":   fmt.Sprintf("%x", cfg.Store.URL),
		"json":        string(js),
		"yaml":        string(ys),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
				t.Errorf("%s output reveals %q: %s", name, s, out)
			}
		}
	}
	if !strings.Contains(outputs["json"], `\u003credacted\u003e`) {
		t.Errorf("json does not redact: %s", js)
	}
	// Error messages about secret-bearing values do not print them either.
	for _, bad := range []string{
		"store: {url: mysql://u:db-secret-4e1d@db/x}",
		"store: {url: db-secret-4e1d}",
		"store: {url: \"postgres://u:db-secret-4e1d@db/%zz\"}",
		"monitors: [{name: a, type: http, url: \"https://u:db-secret-4e1d@a.example.com/\", method: PUT, headers: {X: \"db-secret-4e1d\\r\\n\"}}]",
		"monitors: [{name: a, type: http, url: \"ftp://u:db-secret-4e1d@a.example.com/\"}]",
	} {
		_, err := parse([]byte(bad), "", testEnv)
		if err == nil {
			t.Errorf("%s: no error", bad)
			continue
		}
		if strings.Contains(err.Error(), "db-secret-4e1d") {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
}

func TestDuration(t *testing.T) {
	valid := map[string]time.Duration{
		"0":       0,
		"0s":      0,
		"500ms":   500 * time.Millisecond,
		"90s":     90 * time.Second,
		"15m":     15 * time.Minute,
		"2h":      2 * time.Hour,
		"1h30m":   90 * time.Minute,
		"7d":      7 * 24 * time.Hour,
		"1d12h":   36 * time.Hour,
		"0d":      0,
		"2d30m5s": 48*time.Hour + 30*time.Minute + 5*time.Second,
	}
	for in, want := range valid {
		got, err := ParseDuration(in)
		if err != nil || got.Std() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got.Std(), err, want)
		}
		// String round-trips.
		back, err := ParseDuration(got.String())
		if err != nil || back != got {
			t.Errorf("ParseDuration(%q.String() = %q) = %v, %v", in, got.String(), back, err)
		}
	}
	for _, in := range []string{"", "5 minutes", "-5s", "-1d", "1d-2h", "+5s", "d", "1.5d", "1h2d", "5", "7days", "999999999d", "106751d23h59m59s"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
	strs := map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 15 * time.Minute: "15m", 2 * time.Hour: "2h",
		7 * 24 * time.Hour: "7d", 36 * time.Hour: "1d12h", 500 * time.Millisecond: "500ms",
	}
	for d, want := range strs {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("1d")); err != nil || d.Std() != 24*time.Hour {
		t.Errorf("UnmarshalText(1d) = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("5 minutes")); !errors.Is(err, ErrDuration) {
		t.Errorf("UnmarshalText(5 minutes) = %v", err)
	}
	js, _ := json.Marshal(struct{ D Duration }{Duration(90 * time.Minute)})
	if string(js) != `{"D":"1h30m"}` {
		t.Errorf("json = %s", js)
	}
}

func TestSchedules(t *testing.T) {
	for _, s := range []string{"@every 2s", "@every 15m", "@daily", "@hourly", "*/5 * * * *", "0 9 * * MON-FRI", "CRON_TZ=UTC 0 3 * * *"} {
		if _, err := ParseSchedule(s); err != nil {
			t.Errorf("ParseSchedule(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "@every 0s", "@every 500ms", "@every -5s", "@every 1d", "* * *", "61 * * * *", "@sometimes"} {
		if _, err := ParseSchedule(s); err == nil {
			t.Errorf("ParseSchedule(%q) succeeded", s)
		}
	}
}

func TestAliasesAndMergeKeys(t *testing.T) {
	src := `defaults: &defaults
  type: http
  timeout: 5s
  labels: {team: web}
monitors:
  - <<: *defaults
    name: a
    url: https://a.example.com/
  - <<: *defaults
    name: b
    timeout: 7s
    url: https://b.example.com/
`
	// "defaults" is not a key of Config, so it is reported...
	_, err := parse([]byte(src), "", testEnv)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("want unknown key for the anchor holder, got %v", err)
	}
	// ...but anchors inside the document work.
	src = `monitors:
  - &a
    name: a
    type: http
    timeout: 5s
    labels: &labels {team: web}
    url: https://a.example.com/
  - <<: *a
    name: b
    timeout: 7s
  - name: c
    type: http
    url: https://c.example.com/
    labels: *labels
`
	cfg, err := parse([]byte(src), "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cfg.MonitorByName("b")
	if b.Timeout.Std() != 7*time.Second || b.HTTP.URL != "https://a.example.com/" || b.Labels["team"] != "web" {
		t.Errorf("merged monitor = %+v", b)
	}
	if c, _ := cfg.MonitorByName("c"); c.Labels["team"] != "web" {
		t.Errorf("aliased labels = %v", c.Labels)
	}
}

func TestUnmarshalYAML(t *testing.T) {
	var cfg Config
	if err := yaml.Unmarshal([]byte("listen: :9000\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9000" || cfg.Scheduler.Concurrency != DefaultConcurrency {
		t.Errorf("got %+v", cfg)
	}
	err := yaml.Unmarshal([]byte("listen: :9000\nlistne: x\n"), &cfg)
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("want ErrUnknownKey, got %v", err)
	}
	if errs := located(t, err); errs[0].Line != 2 || errs[0].Path != "listne" {
		t.Errorf("got %+v", errs[0])
	}
}

func TestValidateProgrammaticConfig(t *testing.T) {
	cfg := Default()
	m, ok := DefaultMonitor("http")
	if !ok {
		t.Fatal("DefaultMonitor(http) unknown")
	}
	m.Name = "self"
	m.HTTP.URL = "http://127.0.0.1:8080/healthz"
	cfg.Monitors = append(cfg.Monitors, m)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Monitors = append(cfg.Monitors, Monitor{Name: "raw", Type: "http"})
	err := cfg.Validate()
	if !errors.Is(err, ErrMissing) || !errors.Is(err, ErrSchedule) || !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v", err)
	}
	if _, ok := DefaultMonitor("nope"); ok {
		t.Error("DefaultMonitor(nope) known")
	}
}

func TestStoreURLs(t *testing.T) {
	good := map[string]string{
		"sqlite://./data/secopsd.db":            "sqlite",
		"sqlite:///var/lib/secopsd/db.sqlite":   "sqlite",
		"sqlite://x.db?_pragma=busy_timeout(5)": "sqlite",
		"postgres://u:p@db:5432/secopsd":        "postgres",
		"postgresql://u@db/secopsd?sslmode=off": "postgres",
		"POSTGRES://db/secopsd":                 "postgres",
	}
	for u, backend := range good {
		cfg := Default()
		cfg.Store.URL = Secret(u)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
		if got := cfg.Store.Backend(); got != backend {
			t.Errorf("%s: backend %q, want %q", u, got, backend)
		}
	}
	for _, u := range []string{"", "./data/x.db", "sqlite://", "mysql://db/x", "postgres://db/%zz"} {
		cfg := Default()
		cfg.Store.URL = Secret(u)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

func TestListen(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8080", ":8080", "[::1]:0", "localhost:9000"} {
		if msg := checkListen(a); msg != "" {
			t.Errorf("%s: %s", a, msg)
		}
	}
	for _, a := range []string{"", "localhost", "127.0.0.1:http", "127.0.0.1:70000", "::1:80"} {
		if checkListen(a) == "" {
			t.Errorf("%s: accepted", a)
		}
	}
}

// TestMonitorTypeKeysDistinct guards the monitor type table: no
// type-specific key may shadow a common key.
func TestMonitorTypeKeysDistinct(t *testing.T) {
	common := fieldNames(fieldsOf(monitorType, 0))
	for _, typ := range MonitorTypes() {
		m, ok := DefaultMonitor(typ)
		if !ok || monitorTypes[typ].block(&m, false) == nil {
			t.Errorf("%s: DefaultMonitor does not set the block", typ)
		}
		if err := validateMonitorDefaults(m); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
		for _, k := range blockKeys(typ) {
			if slices.Contains(common, k) {
				t.Errorf("%s: key %s is also a common key", typ, k)
			}
		}
		if DefaultSchedule(typ) == "" || DefaultTimeout(typ) <= 0 {
			t.Errorf("%s: no default schedule or timeout", typ)
		}
	}
}

// validateMonitorDefaults checks that a monitor's defaults only lack a
// target: every problem is ErrMissing.
func validateMonitorDefaults(m Monitor) error {
	m.Name = "x"
	ch := &checker{}
	m.validate(ch, "m")
	for _, err := range ch.errs {
		if !errors.Is(err, ErrMissing) {
			return err
		}
	}
	return nil
}

func TestShippedConfigsLoad(t *testing.T) {
	t.Setenv("EXAMPLE_STATUS_TOKEN", "example-token")
	for _, path := range []string{"../../configs/example.yaml", "../../configs/secopsd.yaml"} {
		cfg, err := Load(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if len(cfg.Monitors) == 0 {
			t.Errorf("%s: no monitors", path)
		}
	}
	cfg, err := Load("../../configs/secopsd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := cfg.MonitorByName("secopsd-self")
	if !ok || m.Type != "http" || m.HTTP.URL != "http://127.0.0.1:8080/healthz" || m.Schedule != DefaultSchedule("http") ||
		m.HTTP.Expect.Status != 200 || cfg.Listen != "127.0.0.1:8080" || cfg.Policies != "./policies" ||
		cfg.Store.URL.Reveal() != "sqlite://./data/secopsd.db" {
		t.Errorf("secopsd.yaml: %+v / %+v", cfg, m)
	}
	if _, err := Load("testdata/does-not-exist.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestExampleDocumentsEveryKey checks that configs/example.yaml mentions
// every key of the schema, so new options get documented.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || t == secretType {
			return
		}
		for _, f := range fieldsOf(t, 0) {
			keys = append(keys, f.name)
			walk(t.FieldByIndex(f.index).Type)
		}
	}
	walk(reflect.TypeFor[Config]())
	for _, typ := range MonitorTypes() {
		m, _ := DefaultMonitor(typ)
		walk(reflect.TypeOf(monitorTypes[typ].block(&m, false)))
		keys = append(keys, "type: "+typ)
	}
	for _, k := range keys {
		if !strings.Contains(string(data), k) {
			t.Errorf("configs/example.yaml does not document %q", k)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Path: "x.y", Err: ErrInvalid, Msg: "bad"}, "a.yaml:3: x.y: bad"},
		{Error{File: "a.yaml", Err: ErrSyntax}, "a.yaml: invalid yaml"},
		{Error{Line: 2, Path: "x", Msg: "m\nn"}, "line 2: x: m n"},
		{Error{Path: "x", Msg: "m"}, "x: m"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestUnknownKeyMessage(t *testing.T) {
	valid := []string{"name", "type", "url"}
	if got := unknownKeyMessage("nmae", valid, "an http monitor", ""); got != `unknown key; did you mean "name"? (valid keys for an http monitor: name, type, url)` {
		t.Errorf("got %q", got)
	}
	if got := unknownKeyMessage("min_version", valid, "an http monitor", "tls monitors"); got != `unknown key; it belongs to tls monitors (valid keys for an http monitor: name, type, url)` {
		t.Errorf("got %q", got)
	}
	if got := unknownKeyMessage("zzzzzz", valid, "", ""); got != `unknown key (valid keys: name, type, url)` {
		t.Errorf("got %q", got)
	}
	if article("http") != "an" || article("tls") != "a" || article("endpoint") != "an" {
		t.Error("article")
	}
}

// TestImports keeps internal/config within its allowed dependencies (see
// STYLE.md): the standard library, yaml, cron, internal/event and
// internal/yamlnode.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"go.yaml.in/yaml/v3":                           true,
		"github.com/robfig/cron/v3":                    true,
		"github.com/secopsd/secopsd/internal/event":    true,
		"github.com/secopsd/secopsd/internal/yamlnode": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") && !allowed[p] {
				t.Errorf("%s imports %s, which internal/config may not depend on", f, p)
			}
		}
	}
}

func TestValidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/valid-*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid files: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parse(data, f, testEnv); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
