package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tlsTestCAFile writes a PEM file holding one self-signed certificate.
func tlsTestCAFile(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "secopsd test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsBlockTestCase is one monitor configuration and the one problem it must
// give (want nil: none).
type tlsBlockTestCase struct {
	name string
	yaml string // the monitor's mapping, indented by 4 spaces
	want error
	path string // key path of the problem
	line int    // line of the problem in the whole document
}

// runTLSBlockTests parses each case as the only monitor of a configuration.
func runTLSBlockTests(t *testing.T, tests []tlsBlockTestCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "monitors:\n  - name: m\n" + tc.yaml
			cfg, err := parse([]byte(src), "test.yaml", testEnv)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v\n%s", err, src)
				}
				if len(cfg.Monitors) != 1 {
					t.Fatalf("monitors: %+v", cfg.Monitors)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for\n%s", src)
			}
			errs := located(t, err)
			if len(errs) != 1 {
				t.Fatalf("want exactly one problem, got %d: %v", len(errs), err)
			}
			e := errs[0]
			if !errors.Is(err, tc.want) || e.Path != tc.path || e.Line != tc.line {
				t.Errorf("got %v (path %q, line %d), want %v at %s line %d", err, e.Path, e.Line, tc.want, tc.path, tc.line)
			}
			if !strings.HasPrefix(err.Error(), "test.yaml:"+strconv.Itoa(tc.line)+": ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q", err.Error())
			}
		})
	}
}

func TestTLSMonitorConfig(t *testing.T) {
	ca := tlsTestCAFile(t)
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runTLSBlockTests(t, []tlsBlockTestCase{
		{name: "minimal", yaml: "    type: tls\n    targets: [example.com]\n"},
		{name: "full", yaml: "    type: tls\n    targets: [example.com, \"api.example.com:8443\", \"[::1]:443\", \"2001:db8::1\", 10.0.0.1]\n" +
			"    server_name: www.example.com\n    warn_before: 21d\n    critical_before: 3d\n    min_version: \"1.3\"\n" +
			"    check_legacy: false\n    check_cipher_suites: false\n    ca_file: " + ca + "\n"},
		{name: "targets-missing", yaml: "    type: tls\n", want: ErrMissing, path: "monitors[0].targets", line: 2},
		{name: "targets-empty", yaml: "    type: tls\n    targets: []\n", want: ErrMissing, path: "monitors[0].targets", line: 4},
		{name: "target-url", yaml: "    type: tls\n    targets:\n      - https://example.com/\n", want: ErrInvalid, path: "monitors[0].targets[0]", line: 5},
		{name: "target-port", yaml: "    type: tls\n    targets: [\"example.com:0\"]\n", want: ErrInvalid, path: "monitors[0].targets[0]", line: 4},
		{name: "target-port-name", yaml: "    type: tls\n    targets: [\"example.com:https\"]\n", want: ErrInvalid, path: "monitors[0].targets[0]", line: 4},
		{name: "target-host", yaml: "    type: tls\n    targets: [\"exa_mple!.com\"]\n", want: ErrInvalid, path: "monitors[0].targets[0]", line: 4},
		{name: "target-duplicate", yaml: "    type: tls\n    targets:\n      - example.com\n      - EXAMPLE.com:443\n", want: ErrInvalid, path: "monitors[0].targets[1]", line: 6},
		{name: "server-name-port", yaml: "    type: tls\n    targets: [example.com]\n    server_name: example.com:443\n", want: ErrInvalid, path: "monitors[0].server_name", line: 5},
		{name: "server-name-ip", yaml: "    type: tls\n    targets: [example.com]\n    server_name: 10.0.0.1\n", want: ErrInvalid, path: "monitors[0].server_name", line: 5},
		{name: "critical-after-warn", yaml: "    type: tls\n    targets: [example.com]\n    warn_before: 7d\n    critical_before: 14d\n", want: ErrInvalid, path: "monitors[0].critical_before", line: 6},
		{name: "warning-off-any-critical", yaml: "    type: tls\n    targets: [example.com]\n    warn_before: 0s\n    critical_before: 14d\n"},
		{name: "bad-duration", yaml: "    type: tls\n    targets: [example.com]\n    warn_before: soon\n", want: ErrDuration, path: "monitors[0].warn_before", line: 5},
		{name: "min-version", yaml: "    type: tls\n    targets: [example.com]\n    min_version: TLSv1.2\n", want: ErrInvalid, path: "monitors[0].min_version", line: 5},
		{name: "min-version-number", yaml: "    type: tls\n    targets: [example.com]\n    min_version: 1.2\n"},
		{name: "check-legacy-type", yaml: "    type: tls\n    targets: [example.com]\n    check_legacy: sometimes\n", want: ErrType, path: "monitors[0].check_legacy", line: 5},
		{name: "ca-file-relative", yaml: "    type: tls\n    targets: [example.com]\n    ca_file: ca.pem\n", want: ErrInvalid, path: "monitors[0].ca_file", line: 5},
		{name: "ca-file-missing", yaml: "    type: tls\n    targets: [example.com]\n    ca_file: " + ca + ".gone\n", want: ErrInvalid, path: "monitors[0].ca_file", line: 5},
		{name: "ca-file-not-pem", yaml: "    type: tls\n    targets: [example.com]\n    ca_file: " + notPEM + "\n", want: ErrInvalid, path: "monitors[0].ca_file", line: 5},
		{name: "other-types-key", yaml: "    type: tls\n    targets: [example.com]\n    urls: [https://example.com/]\n", want: ErrUnknownKey, path: "monitors[0].urls", line: 5},
	})
}

func TestTLSMonitorDefaults(t *testing.T) {
	m, ok := DefaultMonitor("tls")
	if !ok || m.TLS == nil {
		t.Fatal("no tls defaults")
	}
	want := TLSMonitor{WarnBefore: Duration(30 * day), CriticalBefore: Duration(7 * day), MinVersion: "1.2", CheckLegacy: true, CheckCipherSuites: true}
	if got := *m.TLS; got.WarnBefore != want.WarnBefore || got.CriticalBefore != want.CriticalBefore || got.MinVersion != want.MinVersion ||
		!got.CheckLegacy || !got.CheckCipherSuites || got.CAFile != "" || got.ServerName != "" || len(got.Targets) != 0 {
		t.Errorf("defaults %+v", got)
	}
	if m.Schedule != "@every 12h" {
		t.Errorf("schedule %q", m.Schedule)
	}
	// "check_legacy: false" overrides the true default.
	cfg, err := parse([]byte("monitors:\n  - {name: m, type: tls, targets: [a.example], check_legacy: false}\n"), "x.yaml", testEnv)
	if err != nil || cfg.Monitors[0].TLS.CheckLegacy || !cfg.Monitors[0].TLS.CheckCipherSuites {
		t.Errorf("%v %+v", err, cfg)
	}
}

func TestSplitTLSTarget(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":       "example.com 443",
		"example.com:8443":  "example.com 8443",
		"EXAMPLE.com.":      "EXAMPLE.com. 443",
		"10.0.0.1":          "10.0.0.1 443",
		"10.0.0.1:993":      "10.0.0.1 993",
		"::1":               "::1 443",
		"[::1]":             "::1 443",
		"[2001:db8::1]:636": "2001:db8::1 636",
		"_svc.example.com":  "_svc.example.com 443",
	} {
		h, p, err := SplitTLSTarget(in)
		if err != nil || h+" "+p != want {
			t.Errorf("SplitTLSTarget(%q) = %q %q %v, want %s", in, h, p, err, want)
		}
	}
	for _, in := range []string{"", "https://example.com", "example.com/x", "user@example.com", "example.com:", "example.com:70000",
		"example.com:-1", "[::1]:x", "a..b", "-a.example", "exa mple.com", "::1:443:x", strings.Repeat("a", 64) + ".com"} {
		if h, p, err := SplitTLSTarget(in); err == nil {
			t.Errorf("SplitTLSTarget(%q) = %q %q, want an error", in, h, p)
		}
	}
}
