package config

import (
	"strings"
	"testing"
)

func TestSecurityTxtMonitorConfig(t *testing.T) {
	runTLSBlockTests(t, []tlsBlockTestCase{
		{name: "minimal", yaml: "    type: securitytxt\n    urls: [https://example.com/]\n"},
		{name: "full", yaml: "    type: securitytxt\n    urls:\n      - https://example.com\n      - https://www.example.com/.well-known/security.txt\n      - http://legacy.example.com/\n" +
			"    max_expiry: 180d\n    warn_before: 14d\n    require_signature: true\n    require_canonical: true\n"},
		{name: "checks-off", yaml: "    type: securitytxt\n    urls: [https://example.com/]\n    max_expiry: 0s\n    warn_before: 0s\n"},
		{name: "urls-missing", yaml: "    type: securitytxt\n", want: ErrMissing, path: "monitors[0].urls", line: 2},
		{name: "url-scheme", yaml: "    type: securitytxt\n    urls: [ftp://example.com/]\n", want: ErrInvalid, path: "monitors[0].urls[0]", line: 4},
		{name: "url-relative", yaml: "    type: securitytxt\n    urls: [/security.txt]\n", want: ErrInvalid, path: "monitors[0].urls[0]", line: 4},
		{name: "url-path", yaml: "    type: securitytxt\n    urls:\n      - https://example.com/\n      - https://example.com/app/\n", want: ErrInvalid, path: "monitors[0].urls[1]", line: 6},
		{name: "url-query", yaml: "    type: securitytxt\n    urls: [\"https://example.com/?x=1\"]\n", want: ErrInvalid, path: "monitors[0].urls[0]", line: 4},
		{name: "url-credentials", yaml: "    type: securitytxt\n    urls: [\"https://user:pw@example.com/\"]\n", want: ErrInvalid, path: "monitors[0].urls[0]", line: 4},
		{name: "url-duplicate", yaml: "    type: securitytxt\n    urls: [https://example.com, \"https://EXAMPLE.com/.well-known/security.txt\"]\n", want: ErrInvalid, path: "monitors[0].urls[1]", line: 4},
		{name: "max-expiry", yaml: "    type: securitytxt\n    urls: [https://example.com/]\n    max_expiry: -1d\n", want: ErrDuration, path: "monitors[0].max_expiry", line: 5},
		{name: "require-type", yaml: "    type: securitytxt\n    urls: [https://example.com/]\n    require_signature: yes please\n", want: ErrType, path: "monitors[0].require_signature", line: 5},
		{name: "other-types-key", yaml: "    type: securitytxt\n    urls: [https://example.com/]\n    min_version: \"1.2\"\n", want: ErrUnknownKey, path: "monitors[0].min_version", line: 5},
	})
}

func TestSecurityTxtMonitorDefaults(t *testing.T) {
	m, ok := DefaultMonitor("securitytxt")
	if !ok || m.SecurityTxt == nil {
		t.Fatal("no securitytxt defaults")
	}
	if got := *m.SecurityTxt; got.MaxExpiry != Duration(365*day) || got.WarnBefore != Duration(7*day) ||
		got.RequireSignature || got.RequireCanonical || len(got.URLs) != 0 {
		t.Errorf("defaults %+v", got)
	}
	if m.Schedule != "@every 24h" {
		t.Errorf("schedule %q", m.Schedule)
	}
}

func TestSecurityTxtURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.com":                               "https://example.com/.well-known/security.txt",
		"https://Example.COM/":                              "https://example.com/.well-known/security.txt",
		"HTTPS://example.com:8443/.well-known/security.txt": "https://example.com:8443/.well-known/security.txt",
		"http://[::1]:8080/":                                "http://[::1]:8080/.well-known/security.txt",
	} {
		if got, err := SecurityTxtURL(in); err != nil || got != want {
			t.Errorf("SecurityTxtURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "example.com", "https://", "https://example.com/security.txt", "https://example.com/#x", "https://u:p@example.com/"} {
		if got, err := SecurityTxtURL(in); err == nil {
			t.Errorf("SecurityTxtURL(%q) = %q, want an error", in, got)
		} else if in == "https://u:p@example.com/" && strings.Contains(err.Error(), "p@") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
