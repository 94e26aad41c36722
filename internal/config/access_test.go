package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// typeInvalidCase is one invalid configuration in testdata/bytype: the
// sentinel it must fail with, on which line, at which key path.
type typeInvalidCase struct {
	want error
	line int
	path string
}

// typeInvalidDir holds the invalid configurations of the access, ui,
// ratelimit and http expect.json keys. They live apart from
// testdata/invalid-*.yml, whose table (TestInvalidConfigs) must list every
// file of that directory.
const typeInvalidDir = "testdata/bytype"

// runTypeInvalid parses each file of tests and checks that it fails with
// exactly one problem: its sentinel, line and key path, on one line, and
// that the message leaks none of the secrets.
func runTypeInvalid(t *testing.T, tests map[string]typeInvalidCase, secrets ...string) {
	t.Helper()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(typeInvalidDir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := parse(data, path, testEnv)
			if err == nil {
				t.Fatalf("parse succeeded: %+v", cfg)
			}
			t.Log(err)
			errs := located(t, err)
			if len(errs) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%v", len(errs), err)
			}
			e := errs[0]
			if !errors.Is(err, tc.want) {
				t.Errorf("errors.Is(err, %v) = false; err = %v", tc.want, err)
			}
			if e.Line != tc.line {
				t.Errorf("line = %d, want %d", e.Line, tc.line)
			}
			if e.Path != tc.path {
				t.Errorf("path = %q, want %q", e.Path, tc.path)
			}
			msg := err.Error()
			if prefix := path + ":" + strconv.Itoa(tc.line) + ": " + tc.path + ": "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("message leaks secret %q: %s", s, msg)
				}
			}
		})
	}
}

// TestTypeInvalidFilesAreTabled checks that every file of typeInvalidDir
// is in one of the tables of the access, ui, ratelimit and http json tests.
func TestTypeInvalidFilesAreTabled(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(typeInvalidDir, "invalid-*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in %s: %v", typeInvalidDir, err)
	}
	all := map[string]bool{}
	for _, table := range []map[string]typeInvalidCase{accessInvalid(), uiInvalid(), rateLimitInvalid(), httpJSONInvalid(), remediationInvalid()} {
		for name := range table {
			all[name] = true
		}
	}
	for _, f := range files {
		if !all[filepath.Base(f)] {
			t.Errorf("%s has no entry in a table", f)
		}
	}
}

func accessInvalid() map[string]typeInvalidCase {
	return map[string]typeInvalidCase{
		"invalid-access-endpoints-missing.yml":        {ErrMissing, 2, "monitors[0].endpoints"},
		"invalid-access-url.yml":                      {ErrInvalid, 6, "monitors[0].endpoints[1].url"},
		"invalid-access-url-missing.yml":              {ErrMissing, 5, "monitors[0].endpoints[0].url"},
		"invalid-access-method.yml":                   {ErrInvalid, 6, "monitors[0].endpoints[0].method"},
		"invalid-access-duplicate-endpoint.yml":       {ErrInvalid, 6, "monitors[0].endpoints[1]"},
		"invalid-access-admin-without-credential.yml": {ErrMissing, 2, "monitors[0].low_privilege_headers"},
		"invalid-access-credential-unused.yml":        {ErrInvalid, 6, "monitors[0].low_privilege_headers"},
		"invalid-access-credential-crlf.yml":          {ErrInvalid, 8, "monitors[0].low_privilege_headers.Authorization"},
		"invalid-access-credential-empty.yml":         {ErrInvalid, 8, "monitors[0].low_privilege_headers.Authorization"},
		"invalid-access-expect-status.yml":            {ErrInvalid, 8, "monitors[0].expect_status[1]"},
		"invalid-access-expect-status-empty.yml":      {ErrInvalid, 6, "monitors[0].expect_status"},
		"invalid-access-endpoint-unknown-key.yml":     {ErrUnknownKey, 6, "monitors[0].endpoints[0].admn"},
		"invalid-access-allow-login-redirect.yml":     {ErrType, 6, "monitors[0].allow_login_redirect"},
	}
}

func TestAccessInvalidConfigs(t *testing.T) {
	runTypeInvalid(t, accessInvalid(), "viewer-secret-7f3a")
}

func TestAccessDefaults(t *testing.T) {
	cfg, err := parse([]byte(`monitors:
  - name: auth
    type: access
    endpoints:
      - url: https://app.example.com/api/users
      - url: https://app.example.com/admin
        method: POST
        admin: true
    low_privilege_headers:
      Authorization: "Bearer ${SECOPSD_TEST_TOKEN}"
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Monitors[0]
	if m.Schedule != "@every 1h" || m.Timeout.Std() != DefaultTimeout("access") {
		t.Errorf("schedule/timeout = %q/%s", m.Schedule, m.Timeout)
	}
	a := m.Access
	want := &AccessMonitor{
		Endpoints: []AccessEndpoint{
			{URL: "https://app.example.com/api/users"},
			{URL: "https://app.example.com/admin", Method: "POST", Admin: true},
		},
		LowPrivilegeHeaders: map[string]Secret{"Authorization": "Bearer tok-from-env"},
		ExpectStatus:        []int{401, 403},
		AllowLoginRedirect:  true,
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("access block = %+v, want %+v", a, want)
	}
	if a.Endpoints[0].RequestMethod() != "GET" || a.Endpoints[1].RequestMethod() != "POST" {
		t.Error("RequestMethod")
	}

	cfg, err = parse([]byte(`monitors:
  - name: auth
    type: access
    endpoints: [{url: "https://app.example.com/x"}]
    expect_status: [404]
    allow_login_redirect: false
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Monitors[0].Access; !reflect.DeepEqual(a.ExpectStatus, []int{404}) || a.AllowLoginRedirect {
		t.Errorf("explicit values not kept: %+v", a)
	}
	// The defaults of one monitor are never shared with another.
	if d := defaultAccessMonitor(); &d.ExpectStatus[0] == &defaultAccessMonitor().ExpectStatus[0] {
		t.Error("defaults share a slice")
	}
}
