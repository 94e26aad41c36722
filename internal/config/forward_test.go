package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// forwardInvalidDir holds one invalid forward section per file.
const forwardInvalidDir = "testdata/forward"

func TestForwardInvalidConfigs(t *testing.T) {
	tests := map[string]typeInvalidCase{
		"invalid-forward-name-missing.yml":           {ErrMissing, 2, "forward[0].name"},
		"invalid-forward-name-duplicate.yml":         {ErrDuplicate, 5, "forward[1].name"},
		"invalid-forward-name-form.yml":              {ErrInvalid, 2, "forward[0].name"},
		"invalid-forward-type-unknown.yml":           {ErrUnknownType, 3, "forward[0].type"},
		"invalid-forward-type-missing.yml":           {ErrMissing, 2, "forward[0].type"},
		"invalid-forward-block-missing.yml":          {ErrMissing, 2, "forward[0].webhook"},
		"invalid-forward-block-mismatch.yml":         {ErrInvalid, 5, "forward[0].syslog"},
		"invalid-forward-start.yml":                  {ErrInvalid, 4, "forward[0].start"},
		"invalid-forward-batch-size-zero.yml":        {ErrInvalid, 4, "forward[0].batch_size"},
		"invalid-forward-batch-size-large.yml":       {ErrInvalid, 5, "forward[0].batch_size"},
		"invalid-forward-poll-interval.yml":          {ErrInvalid, 4, "forward[0].poll_interval"},
		"invalid-forward-settle-delay.yml":           {ErrInvalid, 4, "forward[0].settle_delay"},
		"invalid-forward-backoff-order.yml":          {ErrInvalid, 5, "forward[0].max_backoff"},
		"invalid-forward-min-severity.yml":           {ErrInvalid, 6, "forward[0].filter.min_severity"},
		"invalid-forward-kind.yml":                   {ErrInvalid, 8, "forward[0].filter.kinds[1]"},
		"invalid-forward-kind-duplicate.yml":         {ErrDuplicate, 6, "forward[0].filter.kinds[2]"},
		"invalid-forward-url-missing.yml":            {ErrMissing, 4, "forward[0].webhook.url"},
		"invalid-forward-url-scheme.yml":             {ErrInvalid, 5, "forward[0].webhook.url"},
		"invalid-forward-header-reserved.yml":        {ErrInvalid, 8, "forward[0].webhook.headers.Content-Type"},
		"invalid-forward-header-newline.yml":         {ErrInvalid, 7, "forward[0].webhook.headers.Authorization"},
		"invalid-forward-ca-relative.yml":            {ErrInvalid, 6, "forward[0].webhook.ca_file"},
		"invalid-forward-timeout-zero.yml":           {ErrInvalid, 6, "forward[0].webhook.timeout"},
		"invalid-forward-syslog-address-missing.yml": {ErrMissing, 4, "forward[0].syslog.address"},
		"invalid-forward-syslog-address-port.yml":    {ErrInvalid, 5, "forward[0].syslog.address"},
		"invalid-forward-syslog-network.yml":         {ErrInvalid, 5, "forward[0].syslog.network"},
		"invalid-forward-syslog-facility.yml":        {ErrInvalid, 6, "forward[0].syslog.facility"},
		"invalid-forward-syslog-server-name-tcp.yml": {ErrInvalid, 7, "forward[0].syslog.server_name"},
		"invalid-forward-syslog-app-name.yml":        {ErrInvalid, 6, "forward[0].syslog.app_name"},
		"invalid-forward-unknown-key.yml":            {ErrUnknownKey, 4, "forward[0].batchsize"},
		"invalid-forward-not-list.yml":               {ErrType, 2, "forward"},
	}
	runSectionInvalid(t, forwardInvalidDir, tests, "url-token-do-not-print", "header-token-do-not-print")
}

func TestForwardValidFile(t *testing.T) {
	path := filepath.Join(forwardInvalidDir, "valid-forward.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(data, path, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Forward) != 2 {
		t.Fatalf("got %d outputs", len(cfg.Forward))
	}
	w := cfg.Forward[0]
	want := ForwardOutput{
		Name: "siem-webhook", Type: "webhook", Start: "oldest",
		PollInterval: Duration(500 * time.Millisecond), BatchSize: 200, SettleDelay: durationPtr(0),
		MinBackoff: Duration(100 * time.Millisecond), MaxBackoff: Duration(time.Minute),
		Filter: ForwardFilter{MinSeverity: "low", Kinds: []string{"auth.*", "monitor.result"}},
		Webhook: &ForwardWebhook{
			URL:           "https://siem.example.com/ingest?token=tok-from-env",
			Headers:       map[string]Secret{"Authorization": "Bearer tok-from-env"},
			SigningSecret: "hmac-secret-0123456789",
			Timeout:       Duration(5 * time.Second),
		},
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("webhook output = %+v (%+v)\nwant %+v (%+v)", w, w.Webhook, want, want.Webhook)
	}
	s := cfg.Forward[1]
	// Keys left out take their defaults: explicit settle_delay 0s above
	// stays 0, the one left out here is the default.
	wantSyslog := ForwardOutput{
		Name: "siem-syslog", Type: "syslog", Start: "now",
		PollInterval: Duration(time.Second), BatchSize: 500, SettleDelay: durationPtr(2 * time.Second),
		MinBackoff: Duration(time.Second), MaxBackoff: Duration(5 * time.Minute),
		Syslog: &ForwardSyslog{
			Network: "tcp", Address: "127.0.0.1:9191", Facility: "local3",
			Hostname: "secopsd-1.example.com", AppName: "secopsd-prod", Timeout: Duration(3 * time.Second),
		},
	}
	if !reflect.DeepEqual(s, wantSyslog) {
		t.Errorf("syslog output = %+v (%+v)\nwant %+v (%+v)", s, s.Syslog, wantSyslog, wantSyslog.Syslog)
	}
	if strings.Contains(fmt.Sprintf("%+v %v %#v", w.Webhook, w.Webhook, w.Webhook), "tok-from-env") {
		t.Error("printing the webhook block shows its secrets")
	}
}

func TestForwardDefaults(t *testing.T) {
	cfg, err := parse([]byte(`forward:
  - name: siem
    type: syslog
    syslog: {address: "siem.example.com:6514"}
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := ForwardOutput{
		Name: "siem", Type: "syslog", Start: DefaultForwardStart,
		PollInterval: Duration(DefaultForwardPollInterval), BatchSize: DefaultForwardBatchSize,
		SettleDelay: durationPtr(DefaultForwardSettleDelay),
		MinBackoff:  Duration(DefaultForwardMinBackoff), MaxBackoff: Duration(DefaultForwardMaxBackoff),
		Syslog: &ForwardSyslog{
			Network: "tls", Address: "siem.example.com:6514", Facility: "authpriv", AppName: "secopsd",
			Timeout: Duration(DefaultForwardTimeout),
		},
	}
	if got := cfg.Forward[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("defaults = %+v (%+v)\nwant %+v (%+v)", got, got.Syslog, want, want.Syslog)
	}
	if len(Default().Forward) != 0 {
		t.Error("forwarding is on by default")
	}
}

// TestForwardValidateProgrammatic checks a configuration built in Go:
// zero values take the defaults, and problems are reported without lines.
func TestForwardValidateProgrammatic(t *testing.T) {
	cfg := Default()
	cfg.Forward = []ForwardOutput{{Name: "siem", Type: "webhook", Webhook: &ForwardWebhook{URL: "https://siem.example.com/x"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	o := cfg.Forward[0]
	if o.BatchSize != DefaultForwardBatchSize || o.Start != "now" || o.Webhook.Timeout.Std() != DefaultForwardTimeout ||
		o.SettleDelay.Std() != DefaultForwardSettleDelay {
		t.Errorf("defaults not applied: %+v %+v", o, o.Webhook)
	}
	// Validating again changes nothing, not even an explicit 0s.
	zero := Duration(0)
	cfg.Forward[0].SettleDelay = &zero
	before := fmt.Sprintf("%+v %+v", cfg.Forward[0], *cfg.Forward[0].Webhook)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if after := fmt.Sprintf("%+v %+v", cfg.Forward[0], *cfg.Forward[0].Webhook); after != before || cfg.Forward[0].SettleDelay.Std() != 0 {
		t.Errorf("validating again changed the output:\n%s\n%s", before, after)
	}
	cfg.Forward[0].Webhook.URL = "mailto:x@example.com"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("want ErrInvalid, got %v", err)
	}
}

func TestForwardCAFile(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeTestCA(t, ca)
	notPEM := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := func(file string) string {
		return fmt.Sprintf(`forward:
  - name: siem
    type: syslog
    syslog:
      address: "siem.example.com:6514"
      server_name: siem.internal
      ca_file: %q
`, file)
	}
	cfg, err := parse([]byte(src(ca)), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Forward[0].Syslog; got.CAFile != ca || got.ServerName != "siem.internal" {
		t.Errorf("syslog = %+v", got)
	}
	for _, bad := range []string{notPEM, filepath.Join(dir, "missing.pem")} {
		_, err := parse([]byte(src(bad)), "t.yml", testEnv)
		errs := located(t, err)
		if len(errs) != 1 || errs[0].Path != "forward[0].syslog.ca_file" || !errors.Is(err, ErrInvalid) || errs[0].Line != 7 {
			t.Errorf("ca_file %s: %v", bad, err)
		}
	}
}

func TestSyslogFacilities(t *testing.T) {
	names := SyslogFacilities()
	if len(names) != 24 {
		t.Fatalf("%d facilities, want 24", len(names))
	}
	for name, code := range map[string]int{"kern": 0, "auth": 4, "authpriv": 10, "audit": 13, "local0": 16, "local7": 23} {
		if got, ok := SyslogFacilityCode(name); !ok || got != code || names[code] != name {
			t.Errorf("facility %s = %d, %v; want %d", name, got, ok, code)
		}
	}
	if _, ok := SyslogFacilityCode("local8"); ok {
		t.Error("local8 accepted")
	}
	names[0] = "changed"
	if SyslogFacilities()[0] != "kern" {
		t.Error("SyslogFacilities shares its backing array")
	}
}

func durationPtr(d time.Duration) *Duration {
	v := Duration(d)
	return &v
}

// writeTestCA writes a self-signed CA certificate in PEM to path.
func writeTestCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
