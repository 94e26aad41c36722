package config

import (
	"reflect"
	"testing"
)

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
