package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestInvalidSecretsConfigs maps each invalid secrets monitor configuration
// in testdata/secrets to its error: the sentinel, the line and the key path
// of its one problem, and that the message shows none of the secrets.
func TestInvalidSecretsConfigs(t *testing.T) {
	runSectionInvalid(t, "testdata/secrets", map[string]typeInvalidCase{
		"invalid-urls-missing.yml":       {ErrMissing, 2, "monitors[0].urls"},
		"invalid-url-scheme.yml":         {ErrInvalid, 6, "monitors[0].urls[1]"},
		"invalid-url-duplicate.yml":      {ErrInvalid, 7, "monitors[0].urls[2]"},
		"invalid-url-no-host.yml":        {ErrInvalid, 4, "monitors[0].urls[0]"},
		"invalid-urls-not-list.yml":      {ErrType, 4, "monitors[0].urls"},
		"invalid-url-singular.yml":       {ErrUnknownKey, 4, "monitors[0].url"},
		"invalid-header-value.yml":       {ErrInvalid, 6, "monitors[0].headers.Authorization"},
		"invalid-header-name.yml":        {ErrInvalid, 6, `monitors[0].headers["X Token"]`},
		"invalid-ignore-rule.yml":        {ErrInvalid, 7, "monitors[0].ignore_rules[1]"},
		"invalid-ignore-fingerprint.yml": {ErrInvalid, 5, "monitors[0].ignore_fingerprints[1]"},
		"invalid-max-body-zero.yml":      {ErrInvalid, 5, "monitors[0].max_body"},
		"invalid-max-body-too-large.yml": {ErrInvalid, 5, "monitors[0].max_body"},
	}, "s3cr3t-hdr-9f2c", "pw-7c1e")
}

func TestSecretsConfig(t *testing.T) {
	src := `monitors:
  - name: leaks
    type: secrets
    urls:
      - https://www.example.com/
      - https://www.example.com/static/app.js
    headers:
      Authorization: "Bearer ${SECOPSD_TEST_TOKEN}"
    ignore_rules: [jwt, google-api-key]
    ignore_fingerprints: [1a2b3c4d]
    max_body: 2097152
  - name: leaks-minimal
    type: secrets
    urls: [https://docs.example.com/]
`
	cfg, err := parse([]byte(src), "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := cfg.MonitorByName("leaks")
	if !ok || m.Secrets == nil {
		t.Fatalf("no secrets block: %+v", m)
	}
	want := &SecretsMonitor{
		URLs:               []string{"https://www.example.com/", "https://www.example.com/static/app.js"},
		Headers:            map[string]Secret{"Authorization": "Bearer tok-from-env"},
		IgnoreRules:        []string{"jwt", "google-api-key"},
		IgnoreFingerprints: []string{"1a2b3c4d"},
		MaxBody:            2 << 20,
	}
	if !reflect.DeepEqual(m.Secrets, want) {
		t.Errorf("block = %+v, want %+v", m.Secrets, want)
	}
	if m.Schedule != "@every 6h" || m.Timeout.Std() != DefaultTimeout("secrets") {
		t.Errorf("schedule %q, timeout %s", m.Schedule, m.Timeout)
	}
	minimal, _ := cfg.MonitorByName("leaks-minimal")
	if minimal.Secrets.MaxBody != DefaultSecretsMaxBody || minimal.Secrets.Headers != nil || minimal.Secrets.IgnoreRules != nil {
		t.Errorf("defaults: %+v", minimal.Secrets)
	}
	def, _ := DefaultMonitor("secrets")
	if def.Secrets == nil || def.Secrets.MaxBody != 1<<20 || len(def.Secrets.URLs) != 0 {
		t.Errorf("DefaultMonitor: %+v", def.Secrets)
	}
}

func TestSecretsConfigValidateInGo(t *testing.T) {
	c := Default()
	m, _ := DefaultMonitor("secrets")
	m.Name = "leaks"
	c.Monitors = []Monitor{m}
	err := c.Validate()
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "monitors[0].urls") {
		t.Errorf("Validate = %v, want the missing urls", err)
	}
	c.Monitors[0].Secrets.URLs = []string{"https://www.example.com/"}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}
