package monitors

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// tlsTestNow() is the time of every tls test run (the probe's clock).
func tlsTestNow() time.Time { return time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC) }

const tlsTestDay = 24 * time.Hour

// tlsTestCA is a certificate authority made in-process.
type tlsTestCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// tlsTestCert describes a certificate to issue.
type tlsTestCert struct {
	subject   pkix.Name
	dns       []string
	ips       []net.IP
	notBefore time.Time // zero: tlsTestNow() - 30 days
	notAfter  time.Time // zero: tlsTestNow() + 60 days
	key       crypto.Signer
	sigAlg    x509.SignatureAlgorithm
	isCA      bool
	policies  []string
}

func tlsTestKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func tlsTestRSAKey(t testing.TB, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTLSTestCA returns a self-signed root CA valid around tlsTestNow().
func newTLSTestCA(t testing.TB, name string) *tlsTestCA {
	t.Helper()
	key := tlsTestKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"secopsd tests"}},
		NotBefore:             tlsTestNow().Add(-365 * tlsTestDay),
		NotAfter:              tlsTestNow().Add(10 * 365 * tlsTestDay),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tlsTestCA{cert: cert, key: key}
}

// tlsTestSerialNumber returns a random certificate serial number.
func tlsTestSerialNumber(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// issue signs a certificate described by c.
func (ca *tlsTestCA) issue(t testing.TB, c tlsTestCert) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	if c.key == nil {
		c.key = tlsTestKey(t)
	}
	if c.notBefore.IsZero() {
		c.notBefore = tlsTestNow().Add(-30 * tlsTestDay)
	}
	if c.notAfter.IsZero() {
		c.notAfter = tlsTestNow().Add(60 * tlsTestDay)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       tlsTestSerialNumber(t),
		Subject:            c.subject,
		DNSNames:           c.dns,
		IPAddresses:        c.ips,
		NotBefore:          c.notBefore,
		NotAfter:           c.notAfter,
		SignatureAlgorithm: c.sigAlg,
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if c.isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tmpl.ExtKeyUsage = nil
	}
	for _, p := range c.policies {
		var oid x509.OID
		if err := oid.UnmarshalText([]byte(p)); err != nil {
			t.Fatal(err)
		}
		tmpl.Policies = append(tmpl.Policies, oid)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, c.key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, c.key
}

// intermediate issues a CA certificate below ca.
func (ca *tlsTestCA) intermediate(t testing.TB, name string, notAfter time.Time) *tlsTestCA {
	t.Helper()
	cert, key := ca.issue(t, tlsTestCert{subject: pkix.Name{CommonName: name}, isCA: true,
		notBefore: tlsTestNow().Add(-365 * tlsTestDay), notAfter: notAfter})
	return &tlsTestCA{cert: cert, key: key}
}

func (ca *tlsTestCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// tlsTestChain builds a tls.Certificate serving leaf and the given chain.
func tlsTestChain(leaf *x509.Certificate, key crypto.Signer, chain ...*x509.Certificate) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// tlsTestServer is a loopback TLS server that completes handshakes and
// closes; it counts handshakes and records the SNI names it was sent.
type tlsTestServer struct {
	addr       string
	handshakes atomic.Int32
	mu         sync.Mutex
	snis       []string
}

// startTLSTestServer serves cfg on 127.0.0.1 until the test ends.
func startTLSTestServer(t testing.TB, cfg *tls.Config) *tlsTestServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsTestServer{addr: ln.Addr().String()}
	cfg = cfg.Clone()
	prev := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		s.mu.Lock()
		s.snis = append(s.snis, hello.ServerName)
		s.mu.Unlock()
		if prev != nil {
			return prev(hello)
		}
		return nil, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, cfg)
				if tc.Handshake() == nil {
					s.handshakes.Add(1)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

// tlsTestServerConfig is a hardened server: TLS 1.2 and 1.3 with the
// intermediate suites only.
func tlsTestServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsMozillaIntermediateSuites(),
	}
}

// tlsTestMonitor is a tls monitor with the type's defaults.
func tlsTestMonitor(t testing.TB, targets []string, mod func(*config.TLSMonitor)) config.Monitor {
	t.Helper()
	m, ok := config.DefaultMonitor("tls")
	if !ok {
		t.Fatal("no tls monitor type")
	}
	m.Name = "edge-tls"
	m.Labels = map[string]string{"team": "platform"}
	m.TLS.Targets = targets
	if mod != nil {
		mod(m.TLS)
	}
	return m
}

// tlsTestEnv trusts roots through the environment's transport and runs at
// tlsTestNow().
func tlsTestEnv(roots *x509.CertPool) Env {
	return Env{
		Clock: func() time.Time { return tlsTestNow() },
		Transport: func() http.RoundTripper {
			return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
		},
	}
}

func runTLSProbe(t testing.TB, m config.Monitor, env Env) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return ProbeTLS(ctx, m, env, slog.New(slog.DiscardHandler))
}

// tlsFindingIDs lists the ids of r's findings, sorted.
func tlsFindingIDs(r Result) []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	return ids
}

func tlsFinding(r Result, id string) (event.Finding, bool) {
	for _, f := range r.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return event.Finding{}, false
}

// wantTLSFindings checks that r has exactly the finding ids want, each
// well formed.
func wantTLSFindings(t *testing.T, r Result, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := tlsFindingIDs(r); !slices.Equal(got, want) {
		t.Fatalf("findings = %v, want %v\n%+v\ndetails %v", got, want, r.Findings, r.Details)
	}
	if r.Success != (len(want) == 0) {
		t.Errorf("Success = %v with %d findings", r.Success, len(want))
	}
	for _, f := range r.Findings {
		if f.Title == "" || f.Evidence == "" || f.Remediation == "" || f.Target == "" && f.ID != FindingConfig {
			t.Errorf("finding %s is incomplete: %+v", f.ID, f)
		}
		if f.Fingerprint != event.Fingerprint(r.Monitor, f.Target, f.ID) {
			t.Errorf("finding %s: unstable fingerprint", f.ID)
		}
	}
}

func wantTLSSeverity(t *testing.T, r Result, id string, sev event.Severity) event.Finding {
	t.Helper()
	f, ok := tlsFinding(r, id)
	if !ok {
		t.Fatalf("no %s finding in %v", id, tlsFindingIDs(r))
	}
	if f.Severity != sev {
		t.Errorf("%s severity = %s, want %s", id, f.Severity, sev)
	}
	return f
}

func TestTLSHardenedServerPassesClean(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{
		{"ecdsa-p256", nil},
		{"rsa-2048", tlsTestRSAKey(t, 2048)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf, key := ca.issue(t, tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}, key: tc.key})
			srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(leaf, key)))
			m := tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" })
			r := runTLSProbe(t, m, tlsTestEnv(ca.pool()))
			wantTLSFindings(t, r)
			if !r.Conclusive() {
				t.Error("a clean run is not conclusive")
			}
			for k, want := range map[string]string{
				"tls_version":            "1.3",
				"accepts_tls1.0":         "no",
				"accepts_tls1.1":         "no",
				"insecure_cipher_suites": "none",
				"weak_cipher_suites":     "none",
				"server_name":            "good.test",
				"leaf_days_left":         "60",
				"targets":                "1",
			} {
				if got := r.Details[k]; got != want {
					t.Errorf("details[%s] = %q, want %q", k, got, want)
				}
			}
			if r.Monitor != "edge-tls" || r.Type != "tls" || r.Target != srv.addr || r.Labels["team"] != "platform" || !r.Start.Equal(tlsTestNow()) {
				t.Errorf("result header: %+v", r)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.snis) == 0 || slices.ContainsFunc(srv.snis, func(s string) bool { return s != "good.test" }) {
				t.Errorf("SNI sent = %v, want good.test", srv.snis)
			}
		})
	}
}

func TestTLSCertificateInvalid(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	other := newTLSTestCA(t, "Untrusted Root")
	inter := ca.intermediate(t, "Test Intermediate", tlsTestNow().Add(365*tlsTestDay))
	good := tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}}
	tests := []struct {
		name    string
		cert    func() tls.Certificate
		problem string
	}{
		{"expired", func() tls.Certificate {
			c := good
			c.notBefore, c.notAfter = tlsTestNow().Add(-90*tlsTestDay), tlsTestNow().Add(-tlsTestDay)
			return tlsTestChain(ca.issue(t, c))
		}, "expired"},
		{"not-yet-valid", func() tls.Certificate {
			c := good
			c.notBefore, c.notAfter = tlsTestNow().Add(tlsTestDay), tlsTestNow().Add(90*tlsTestDay)
			return tlsTestChain(ca.issue(t, c))
		}, "expired or not yet valid"},
		{"wrong-host", func() tls.Certificate {
			c := good
			c.dns = []string{"other.test"}
			return tlsTestChain(ca.issue(t, c))
		}, "wrong host name"},
		{"self-signed", func() tls.Certificate {
			key := tlsTestKey(t)
			tmpl := &x509.Certificate{SerialNumber: tlsTestSerialNumber(t), Subject: pkix.Name{CommonName: "good.test"},
				DNSNames: []string{"good.test"}, NotBefore: tlsTestNow().Add(-tlsTestDay), NotAfter: tlsTestNow().Add(90 * tlsTestDay)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
			if err != nil {
				t.Fatal(err)
			}
			cert, _ := x509.ParseCertificate(der)
			return tlsTestChain(cert, key)
		}, "unknown authority"},
		{"untrusted-root", func() tls.Certificate {
			return tlsTestChain(other.issue(t, good))
		}, "unknown authority"},
		{"incomplete-chain", func() tls.Certificate {
			return tlsTestChain(inter.issue(t, good)) // intermediate not sent
		}, "unknown authority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startTLSTestServer(t, tlsTestServerConfig(tc.cert()))
			m := tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" })
			r := runTLSProbe(t, m, tlsTestEnv(ca.pool()))
			wantTLSFindings(t, r, FindingTLSCertInvalid)
			f := wantTLSSeverity(t, r, FindingTLSCertInvalid, event.SeverityCritical)
			if !strings.Contains(f.Title, tc.problem) || !strings.Contains(f.Evidence, "subject=") || !strings.Contains(f.Evidence, "not_after=") {
				t.Errorf("finding = %+v", f)
			}
			if r.Details["certificate_error"] == "" || r.Conclusive() {
				t.Errorf("details %v, conclusive %v", r.Details, r.Conclusive())
			}
			if r.Details["accepts_tls1.0"] != "no" || r.Details["insecure_cipher_suites"] != "none" {
				t.Errorf("the legacy and cipher probes did not run despite the bad certificate: %v", r.Details)
			}
		})
	}
	t.Run("full-chain-passes", func(t *testing.T) {
		leaf, key := inter.issue(t, good)
		srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(leaf, key, inter.cert)))
		m := tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" })
		r := runTLSProbe(t, m, tlsTestEnv(ca.pool()))
		wantTLSFindings(t, r)
		if r.Details["chain_length"] != "3" {
			t.Errorf("chain_length = %q", r.Details["chain_length"])
		}
	})
}

func TestTLSExpiry(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	tests := []struct {
		name         string
		leafLeft     time.Duration
		interLeft    time.Duration
		warn, crit   time.Duration
		wantSeverity event.Severity // SeverityUnknown: no finding
		wantTitle    string
	}{
		{"fine", 60 * tlsTestDay, 400 * tlsTestDay, 30 * tlsTestDay, 7 * tlsTestDay, event.SeverityUnknown, ""},
		{"warn", 20 * tlsTestDay, 400 * tlsTestDay, 30 * tlsTestDay, 7 * tlsTestDay, event.SeverityMedium, "the certificate of"},
		{"critical", 3*tlsTestDay + time.Hour, 400 * tlsTestDay, 30 * tlsTestDay, 7 * tlsTestDay, event.SeverityCritical, "expires in 3 days"},
		{"intermediate-critical", 60 * tlsTestDay, 5 * tlsTestDay, 30 * tlsTestDay, 7 * tlsTestDay, event.SeverityCritical, "a chain certificate of"},
		{"warning-off", 20 * tlsTestDay, 400 * tlsTestDay, 0, 7 * tlsTestDay, event.SeverityUnknown, ""},
		{"both-off", 2 * tlsTestDay, 400 * tlsTestDay, 0, 0, event.SeverityUnknown, ""},
		{"boundary-is-inclusive", 30 * tlsTestDay, 400 * tlsTestDay, 30 * tlsTestDay, 7 * tlsTestDay, event.SeverityMedium, "expires in 30 days"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inter := ca.intermediate(t, "Test Intermediate", tlsTestNow().Add(tc.interLeft))
			leaf, key := inter.issue(t, tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"},
				notAfter: tlsTestNow().Add(tc.leafLeft)})
			srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(leaf, key, inter.cert)))
			m := tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) {
				c.ServerName = "good.test"
				c.WarnBefore, c.CriticalBefore = config.Duration(tc.warn), config.Duration(tc.crit)
				c.CheckLegacy, c.CheckCipherSuites = false, false
			})
			r := runTLSProbe(t, m, tlsTestEnv(ca.pool()))
			if tc.wantSeverity == event.SeverityUnknown {
				wantTLSFindings(t, r)
				return
			}
			wantTLSFindings(t, r, FindingTLSCertExpiring)
			f := wantTLSSeverity(t, r, FindingTLSCertExpiring, tc.wantSeverity)
			if !strings.Contains(f.Title, tc.wantTitle) {
				t.Errorf("title %q lacks %q", f.Title, tc.wantTitle)
			}
			for _, s := range []string{"subject=", "issuer=", "not_after=", "days_left="} {
				if !strings.Contains(f.Evidence, s) {
					t.Errorf("evidence %q lacks %s", f.Evidence, s)
				}
			}
		})
	}
}

func TestTLSVersions(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	leaf, key := ca.issue(t, tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}})
	cert := tlsTestChain(leaf, key)
	tests := []struct {
		name         string
		min, max     uint16
		minVersion   string
		checkLegacy  bool
		want         []string
		legacySev    event.Severity
		legacyAccept string
	}{
		{"accepts-1.0-and-1.1", tls.VersionTLS10, tls.VersionTLS13, "1.2", true,
			[]string{FindingTLSLegacyVersion}, event.SeverityHigh, "TLS 1.0 and TLS 1.1"},
		{"accepts-1.1", tls.VersionTLS11, tls.VersionTLS13, "1.2", true,
			[]string{FindingTLSLegacyVersion}, event.SeverityHigh, "TLS 1.1"},
		{"tops-out-at-1.1", tls.VersionTLS10, tls.VersionTLS11, "1.2", true,
			[]string{FindingTLSLegacyVersion, FindingTLSBelowMinVersion}, event.SeverityHigh, "TLS 1.0 and TLS 1.1"},
		{"legacy-check-off", tls.VersionTLS10, tls.VersionTLS13, "1.2", false, nil, 0, ""},
		{"modern-policy-flags-1.2", tls.VersionTLS12, tls.VersionTLS13, "1.3", true,
			[]string{FindingTLSLegacyVersion}, event.SeverityMedium, "TLS 1.2"},
		{"modern-policy-1.2-only", tls.VersionTLS12, tls.VersionTLS12, "1.3", false,
			[]string{FindingTLSBelowMinVersion}, 0, ""},
		{"min-1.0-allows-everything", tls.VersionTLS10, tls.VersionTLS13, "1.0", true, nil, 0, ""},
		{"hardened-1.3-only", tls.VersionTLS13, tls.VersionTLS13, "1.2", true, nil, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tc.min, MaxVersion: tc.max}
			if tc.max == tls.VersionTLS13 || tc.max == tls.VersionTLS12 {
				cfg.CipherSuites = append(tlsMozillaIntermediateSuites(),
					tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA) // TLS 1.0/1.1 need a CBC suite
			}
			srv := startTLSTestServer(t, cfg)
			m := tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) {
				c.ServerName = "good.test"
				c.MinVersion = tc.minVersion
				c.CheckLegacy = tc.checkLegacy
				c.CheckCipherSuites = false
			})
			r := runTLSProbe(t, m, tlsTestEnv(ca.pool()))
			wantTLSFindings(t, r, tc.want...)
			if tc.legacySev != 0 {
				f := wantTLSSeverity(t, r, FindingTLSLegacyVersion, tc.legacySev)
				if !strings.HasSuffix(f.Title, "accepts "+tc.legacyAccept) {
					t.Errorf("title %q, want it to end in %q", f.Title, tc.legacyAccept)
				}
			}
			if slices.Contains(tc.want, FindingTLSBelowMinVersion) {
				wantTLSSeverity(t, r, FindingTLSBelowMinVersion, event.SeverityHigh)
			}
			if !r.Conclusive() {
				t.Errorf("not conclusive: %v", r.Details)
			}
		})
	}
}

func TestTLSCipherSuites(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	rsaLeaf, rsaKey := ca.issue(t, tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}, key: tlsTestRSAKey(t, 2048)})
	cert := tlsTestChain(rsaLeaf, rsaKey)
	tests := []struct {
		name      string
		extra     []uint16
		check     bool
		want      []string
		wantNames map[string][]string
	}{
		{"intermediate-only", nil, true, nil, nil},
		{"ecdhe-cbc", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}, true,
			[]string{FindingTLSWeakCipher},
			map[string][]string{FindingTLSWeakCipher: {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"}}},
		{"rsa-kex-3des-rc4", []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA}, true,
			[]string{FindingTLSInsecureCipher},
			map[string][]string{FindingTLSInsecureCipher: {"TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA"}}},
		{"both", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, true,
			[]string{FindingTLSInsecureCipher, FindingTLSWeakCipher},
			map[string][]string{FindingTLSInsecureCipher: {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"}, FindingTLSWeakCipher: {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"}}},
		{"check-off", []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}, false, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tlsTestServerConfig(cert)
			cfg.CipherSuites = append(cfg.CipherSuites, tc.extra...)
			srv := startTLSTestServer(t, cfg)
			m := tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) {
				c.ServerName = "good.test"
				c.CheckCipherSuites = tc.check
			})
			r := runTLSProbe(t, m, tlsTestEnv(ca.pool()))
			wantTLSFindings(t, r, tc.want...)
			for id, names := range tc.wantNames {
				sev := event.SeverityMedium
				if id == FindingTLSInsecureCipher {
					sev = event.SeverityHigh
				}
				f := wantTLSSeverity(t, r, id, sev)
				for _, n := range names {
					if !strings.Contains(f.Evidence, n) {
						t.Errorf("%s evidence %q lacks %s", id, f.Evidence, n)
					}
				}
				if got := strings.Count(f.Evidence, "TLS_"); got != len(names) {
					t.Errorf("%s evidence lists %d suites, want %d: %s", id, got, len(names), f.Evidence)
				}
			}
		})
	}
}

func TestTLSWeakKeyAndSignature(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	good := tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}}

	t.Run("rsa-1024", func(t *testing.T) {
		c := good
		c.key = tlsTestRSAKey(t, 1024)
		srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(ca.issue(t, c))))
		r := runTLSProbe(t, tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" }), tlsTestEnv(ca.pool()))
		wantTLSFindings(t, r, FindingTLSWeakKey)
		if f := wantTLSSeverity(t, r, FindingTLSWeakKey, event.SeverityHigh); !strings.Contains(f.Evidence, "1024-bit RSA key") {
			t.Errorf("evidence %q", f.Evidence)
		}
	})
	t.Run("sha1-leaf", func(t *testing.T) {
		c := good
		c.sigAlg = x509.ECDSAWithSHA1
		srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(ca.issue(t, c))))
		r := runTLSProbe(t, tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" }), tlsTestEnv(ca.pool()))
		// crypto/x509 refuses SHA-1 signatures, so the chain is invalid too.
		wantTLSFindings(t, r, FindingTLSCertInvalid, FindingTLSWeakSignature)
		if f := wantTLSSeverity(t, r, FindingTLSWeakSignature, event.SeverityHigh); !strings.Contains(f.Evidence, "ECDSA-SHA1 signature") {
			t.Errorf("evidence %q", f.Evidence)
		}
	})
	t.Run("sha1-self-signed-root-is-fine", func(t *testing.T) {
		// A root's own signature is never checked, so a SHA-1 self-signature
		// on a root the server sends along is not a finding.
		key := tlsTestKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "SHA1 Root"},
			NotBefore: tlsTestNow().Add(-tlsTestDay), NotAfter: tlsTestNow().Add(3650 * tlsTestDay),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, SignatureAlgorithm: x509.ECDSAWithSHA1}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		rootCert, _ := x509.ParseCertificate(der)
		root := &tlsTestCA{cert: rootCert, key: key}
		leaf, lkey := root.issue(t, good)
		srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(leaf, lkey, rootCert)))
		r := runTLSProbe(t, tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" }), tlsTestEnv(root.pool()))
		wantTLSFindings(t, r)
	})
}

func TestTLSUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.0\r\n"))
			c.Close()
		}
	})
	t.Cleanup(func() { plain.Close(); wg.Wait() })

	for name, addr := range map[string]string{"refused": closedAddr, "not-tls": plain.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			r := runTLSProbe(t, tlsTestMonitor(t, []string{addr}, nil), tlsTestEnv(nil))
			wantTLSFindings(t, r, FindingTLSUnreachable)
			wantTLSSeverity(t, r, FindingTLSUnreachable, event.SeverityHigh)
			if r.Conclusive() || r.Details["error"] == "" {
				t.Errorf("conclusive %v, details %v", r.Conclusive(), r.Details)
			}
		})
	}
}

func TestTLSHonoursDeadline(t *testing.T) {
	// A server that accepts and never answers the ClientHello.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { <-done; c.Close() })
		}
	})
	t.Cleanup(func() { ln.Close(); close(done); wg.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := ProbeTLS(ctx, tlsTestMonitor(t, []string{ln.Addr().String()}, nil), tlsTestEnv(nil), nil)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("probe took %s past a 200ms deadline", el)
	}
	wantTLSFindings(t, r, FindingTLSUnreachable)
}

func TestTLSSeveralTargets(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	leaf, key := ca.issue(t, tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	good := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(leaf, key)))
	legacyCfg := tlsTestServerConfig(tlsTestChain(leaf, key))
	legacyCfg.MinVersion = tls.VersionTLS10
	legacyCfg.CipherSuites = append(legacyCfg.CipherSuites, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)
	legacy := startTLSTestServer(t, legacyCfg)

	env := tlsTestEnv(ca.pool())
	env.Hosts = NewHostLimiter(1)
	m := tlsTestMonitor(t, []string{good.addr, legacy.addr}, nil) // IP targets: verified against IP SANs
	r := runTLSProbe(t, m, env)
	wantTLSFindings(t, r, FindingTLSLegacyVersion, FindingTLSWeakCipher)
	for _, f := range r.Findings {
		if f.Target != legacy.addr {
			t.Errorf("finding %s for target %s, want %s", f.ID, f.Target, legacy.addr)
		}
	}
	if r.Target != good.addr+","+legacy.addr || r.Details["targets"] != "2" ||
		r.Details[good.addr+"/tls_version"] != "1.3" || r.Details[legacy.addr+"/accepts_tls1.0"] != "yes" ||
		r.Details[good.addr+"/server_name"] != "127.0.0.1" {
		t.Errorf("target %q details %v", r.Target, r.Details)
	}
}

func TestTLSWaitsForHostSlot(t *testing.T) {
	ca := newTLSTestCA(t, "Test Root")
	leaf, key := ca.issue(t, tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}})
	srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(leaf, key)))
	env := tlsTestEnv(ca.pool())
	env.Hosts = NewHostLimiter(1)
	m := tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" })

	// While another request holds the only slot to the host, the probe
	// does not connect, and gives up with its deadline.
	release, err := env.Hosts.Acquire(context.Background(), srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	r := ProbeTLS(ctx, m, env, nil)
	cancel()
	wantTLSFindings(t, r, FindingTLSUnreachable)
	if !strings.Contains(r.Details["error"], "slot") || srv.handshakes.Load() != 0 {
		t.Errorf("error %q, handshakes %d", r.Details["error"], srv.handshakes.Load())
	}
	release()
	wantTLSFindings(t, runTLSProbe(t, m, env))
}

func TestTLSCAFile(t *testing.T) {
	ca := newTLSTestCA(t, "Private Root")
	leaf, key := ca.issue(t, tlsTestCert{subject: pkix.Name{CommonName: "good.test"}, dns: []string{"good.test"}})
	srv := startTLSTestServer(t, tlsTestServerConfig(tlsTestChain(leaf, key)))
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := Env{Clock: func() time.Time { return tlsTestNow() }} // system roots only

	without := runTLSProbe(t, tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) { c.ServerName = "good.test" }), env)
	wantTLSFindings(t, without, FindingTLSCertInvalid)

	with := runTLSProbe(t, tlsTestMonitor(t, []string{srv.addr}, func(c *config.TLSMonitor) {
		c.ServerName = "good.test"
		c.CAFile = path
	}), env)
	wantTLSFindings(t, with)
}

func TestTLSMisconfigured(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]config.Monitor{
		"no-block":      {Name: "x", Type: "tls"},
		"no-targets":    tlsTestMonitor(t, nil, nil),
		"bad-target":    tlsTestMonitor(t, []string{"https://example.com/"}, nil),
		"bad-version":   tlsTestMonitor(t, []string{"example.com"}, func(c *config.TLSMonitor) { c.MinVersion = "1.4" }),
		"ca-file-gone":  tlsTestMonitor(t, []string{"example.com"}, func(c *config.TLSMonitor) { c.CAFile = bad + ".missing" }),
		"ca-file-empty": tlsTestMonitor(t, []string{"example.com"}, func(c *config.TLSMonitor) { c.CAFile = bad }),
	} {
		t.Run(name, func(t *testing.T) {
			r := runTLSProbe(t, m, Env{})
			wantTLSFindings(t, r, FindingConfig)
			if r.Conclusive() {
				t.Error("a misconfigured run is conclusive")
			}
		})
	}
}

func TestTLSHelpers(t *testing.T) {
	insecure, weak := tlsSuiteClasses()
	for _, id := range tlsMozillaIntermediateSuites() {
		if slices.Contains(insecure, id) || slices.Contains(weak, id) {
			t.Errorf("%s is both intermediate and flagged", tls.CipherSuiteName(id))
		}
	}
	if len(weak) != 4 || !slices.Contains(insecure, tls.TLS_RSA_WITH_AES_128_GCM_SHA256) {
		t.Errorf("weak %s insecure %s", tlsSuiteNames(weak), tlsSuiteNames(insecure))
	}
	for _, v := range config.TLSVersions() {
		id, ok := tlsVersionByName(v)
		if !ok || tlsVersionName(id) != v {
			t.Errorf("version %s round trip", v)
		}
	}
	if tlsVersionName(0x0300) != "0x0300" {
		t.Error("unknown version name")
	}
	if got := tlsCertProblem(errors.New("x")); got != "verification failed" {
		t.Errorf("tlsCertProblem = %q", got)
	}
	if tlsBestChain(nil) != nil {
		t.Error("tlsBestChain(nil)")
	}
}
