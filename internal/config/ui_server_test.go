package config

import (
	"testing"
	"time"
)

func TestUIServerInvalidConfigs(t *testing.T) {
	runSectionInvalid(t, "testdata/ui_server", map[string]typeInvalidCase{
		"invalid-ui-session-idle.yml":      {ErrInvalid, 2, "ui.session_idle"},
		"invalid-ui-session-max-short.yml": {ErrInvalid, 3, "ui.session_max"},
		"invalid-ui-session-max-long.yml":  {ErrInvalid, 2, "ui.session_max"},
		"invalid-ui-secure-cookies.yml":    {ErrType, 2, "ui.secure_cookies"},
		"invalid-ui-unknown-key.yml":       {ErrUnknownKey, 2, "ui.sessions"},
		"invalid-tls-key-missing.yml":      {ErrMissing, 1, "tls.key_file"},
		"invalid-tls-unloadable.yml":       {ErrInvalid, 3, "tls.cert_file"},
	})
}

func TestUIServerDefaults(t *testing.T) {
	cfg, err := parse([]byte("listen: 127.0.0.1:8080\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.UI
	if !u.On() || u.SessionIdle.Std() != 30*time.Minute || u.SessionMax.Std() != 8*time.Hour || u.SecureCookies {
		t.Errorf("default ui = %+v", u)
	}
	if cfg.TLS.Enabled() {
		t.Errorf("tls enabled by default: %+v", cfg.TLS)
	}
	cfg, err = parse([]byte("ui:\n  enabled: false\n  session_idle: 5m\n  session_max: 1h\n  secure_cookies: true\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.UI; u.On() || u.SessionIdle.Std() != 5*time.Minute || u.SessionMax.Std() != time.Hour || !u.SecureCookies {
		t.Errorf("ui = %+v", u)
	}
}
