package monitors

import (
	"context"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Finding ids of the tls monitor.
const (
	// FindingTLSUnreachable: no TLS handshake with the target was possible
	// (connection refused, timeout, no common version or cipher suite).
	FindingTLSUnreachable = "tls.unreachable"
	// FindingTLSCertInvalid: the certificate chain does not verify against
	// the host name and the trusted roots (expired, wrong host,
	// self-signed, unknown or incomplete chain, insecure signature).
	FindingTLSCertInvalid = "tls.certificate.invalid"
	// FindingTLSCertExpiring: a certificate of the verified chain expires
	// within critical_before (critical) or warn_before (medium).
	FindingTLSCertExpiring = "tls.certificate.expiring"
	// FindingTLSWeakKey: a certificate sent by the server has an RSA key
	// shorter than 2048 bits.
	FindingTLSWeakKey = "tls.certificate.weak_key"
	// FindingTLSWeakSignature: a non-root certificate sent by the server is
	// signed with SHA-1 or MD5.
	FindingTLSWeakSignature = "tls.certificate.weak_signature"
	// FindingTLSBelowMinVersion: the version negotiated when secopsd offers
	// every version is older than min_version.
	FindingTLSBelowMinVersion = "tls.version.below_minimum"
	// FindingTLSLegacyVersion: the server accepts a TLS version older than
	// min_version.
	FindingTLSLegacyVersion = "tls.legacy_version"
	// FindingTLSInsecureCipher: the server accepts a TLS 1.2 cipher suite
	// that Go lists as insecure (RC4, 3DES, RSA key exchange, CBC-SHA256).
	FindingTLSInsecureCipher = "tls.cipher_suite.insecure"
	// FindingTLSWeakCipher: the server accepts another TLS 1.2 cipher suite
	// outside Mozilla's "intermediate" profile (ECDHE with CBC-SHA).
	FindingTLSWeakCipher = "tls.cipher_suite.weak"
)

// tlsMinRSABits is the shortest acceptable RSA key (Mozilla intermediate).
const tlsMinRSABits = 2048

// Bounds on one connection and handshake, so that one stalled probe
// cannot use up the whole run: the main handshake, and each extra probe
// (legacy version, cipher suite), which some middleboxes silently drop.
const (
	tlsHandshakeTimeout = 10 * time.Second
	tlsProbeTimeout     = 5 * time.Second
)

// tlsMozillaIntermediateSuites are the TLS 1.2 cipher suites of Mozilla's
// server-side TLS "intermediate" profile (guidelines 6.0), by IANA name.
// TLS 1.3 suites are not configurable and all acceptable.
func tlsMozillaIntermediateSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// tlsSuiteClasses returns the TLS 1.2 cipher suites crypto/tls implements
// outside the intermediate profile: those Go lists as insecure, and the
// remaining (weak) ones.
func tlsSuiteClasses() (insecure, weak []uint16) {
	good := tlsMozillaIntermediateSuites()
	for _, s := range tls.InsecureCipherSuites() {
		if slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			insecure = append(insecure, s.ID)
		}
	}
	for _, s := range tls.CipherSuites() {
		if slices.Contains(s.SupportedVersions, tls.VersionTLS12) && !slices.Contains(good, s.ID) {
			weak = append(weak, s.ID)
		}
	}
	return insecure, weak
}

// tlsAllSuites returns every TLS 1.0–1.2 cipher suite crypto/tls
// implements, so that a handshake succeeds with as many servers as
// possible.
func tlsAllSuites() []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !slices.Equal(s.SupportedVersions, []uint16{tls.VersionTLS13}) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// tlsVersionByName maps min_version values to crypto/tls versions.
func tlsVersionByName(name string) (uint16, bool) {
	switch name {
	case "1.0":
		return tls.VersionTLS10, true
	case "1.1":
		return tls.VersionTLS11, true
	case "1.2":
		return tls.VersionTLS12, true
	case "1.3":
		return tls.VersionTLS13, true
	}
	return 0, false
}

// tlsVersionName renders a TLS version as "1.2".
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// tlsTarget is one endpoint of a tls monitor.
type tlsTarget struct {
	name       string // as configured, used as the findings' target
	addr       string // host:port to dial
	serverName string // SNI and verification name
}

// tlsRun holds what all targets of one run share.
type tlsRun struct {
	m          config.Monitor
	cfg        *config.TLSMonitor
	env        Env
	roots      *x509.CertPool // nil: system roots
	minVersion uint16
	logger     *slog.Logger
}

// ProbeTLS checks the TLS endpoints of a tls monitor: certificate chain
// and host name, expiry of every certificate of the chain, key size and
// signature algorithm, the negotiated version against min_version, and
// (optionally) legacy versions and cipher suites outside Mozilla's
// intermediate profile. Targets are probed concurrently, each handshake
// holding a per-host slot; TLS verification is never turned off.
func ProbeTLS(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res := startResult(m, env)
	start := res.Start
	misconfigured := func(msg string) Result { return misconfiguredResult(res, m, env, msg) }
	cfg := m.TLS
	if cfg == nil || len(cfg.Targets) == 0 {
		return misconfigured("missing tls.targets")
	}
	res.Target = strings.Join(cfg.Targets, ",")
	minVersion, ok := tlsVersionByName(cfg.MinVersion)
	if !ok {
		return misconfigured(fmt.Sprintf("unsupported min_version %q", cfg.MinVersion))
	}
	targets := make([]tlsTarget, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		host, port, err := config.SplitTLSTarget(t)
		if err != nil {
			return misconfigured(err.Error())
		}
		sn := cfg.ServerName
		if sn == "" {
			sn = host
		}
		targets = append(targets, tlsTarget{name: t, addr: net.JoinHostPort(host, port), serverName: sn})
	}
	roots, err := tlsRootCAs(cfg, env)
	if err != nil {
		return misconfigured(err.Error())
	}

	run := &tlsRun{m: m, cfg: cfg, env: env, roots: roots, minVersion: minVersion, logger: logger}
	reports := probeTargets(targets, func(t tlsTarget) targetReport { return run.probe(ctx, t) })
	res.addReports(reports, func(i int) string { return targets[i].name + "/" })
	res.Details["targets"] = strconv.Itoa(len(targets))
	res.Success = len(res.Findings) == 0
	res.Duration = env.now().Sub(start)
	if !res.Success {
		logger.Debug("tls check failed", "findings", len(res.Findings))
	}
	return res
}

// tlsRootCAs returns the roots to verify against: the roots of the
// environment's transport (tests), plus the system roots and ca_file when
// ca_file is set; nil means the system roots.
func tlsRootCAs(cfg *config.TLSMonitor, env Env) (*x509.CertPool, error) {
	var pool *x509.CertPool
	if env.Transport != nil {
		rt := env.Transport()
		if t, ok := rt.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.RootCAs != nil {
			pool = t.TLSClientConfig.RootCAs
		}
		closeIdle(rt)
	}
	if cfg.CAFile == "" {
		return pool, nil
	}
	data, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	if n, err := config.ParsePEMCertificates(data); err != nil || n == 0 {
		return nil, fmt.Errorf("ca_file %s holds no usable PEM certificate", cfg.CAFile)
	}
	if pool != nil {
		pool = pool.Clone()
	} else if pool, err = x509.SystemCertPool(); err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(data)
	return pool, nil
}

// tlsHandshakeOutcome classifies a probe handshake.
type tlsHandshakeOutcome int

const (
	// tlsHandshakeOK: the handshake completed and the chain verified.
	tlsHandshakeOK tlsHandshakeOutcome = iota
	// tlsHandshakeBadCert: the server accepted the offered version and cipher
	// suites (its Certificate message came), but the chain did not verify.
	tlsHandshakeBadCert
	// tlsHandshakeRefused: TCP connected but the server refused the handshake.
	tlsHandshakeRefused
	// tlsHandshakeUnknown: no TCP connection, or the run's deadline expired.
	tlsHandshakeUnknown
)

// accepted reports whether the server agreed to the offered parameters.
func (o tlsHandshakeOutcome) accepted() bool { return o == tlsHandshakeOK || o == tlsHandshakeBadCert }

// handshake connects to t and runs one TLS handshake offering versions
// minV to maxV and suites (nil: crypto/tls's default), verifying the chain
// at the environment's time, within timeout. It holds one per-host slot
// while it runs.
func (r *tlsRun) handshake(ctx context.Context, t tlsTarget, minV, maxV uint16, suites []uint16, timeout time.Duration) (*tls.ConnectionState, tlsHandshakeOutcome, error) {
	if r.env.Hosts != nil {
		release, err := r.env.Hosts.Acquire(ctx, t.addr)
		if err != nil {
			return nil, tlsHandshakeUnknown, err
		}
		defer release()
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(hctx, "tcp", t.addr)
	if err != nil {
		return nil, tlsHandshakeUnknown, err
	}
	conn := tls.Client(raw, &tls.Config{
		ServerName:   t.serverName,
		RootCAs:      r.roots,
		MinVersion:   minV,
		MaxVersion:   maxV,
		CipherSuites: suites,
		Time:         r.env.now,
	})
	defer conn.Close()
	if err := conn.HandshakeContext(hctx); err != nil {
		var cve *tls.CertificateVerificationError
		switch {
		case errors.As(err, &cve):
			return nil, tlsHandshakeBadCert, err
		case hctx.Err() != nil:
			return nil, tlsHandshakeUnknown, err
		}
		return nil, tlsHandshakeRefused, err
	}
	st := conn.ConnectionState()
	return &st, tlsHandshakeOK, nil
}

// probe checks one target.
func (r *tlsRun) probe(ctx context.Context, t tlsTarget) targetReport {
	rep := targetReport{details: map[string]string{}}
	add := func(id string, sev event.Severity, title, evidence, remediation string) {
		rep.findings = append(rep.findings, newFinding(r.m.Name, t.name, id, sev, title, evidence, remediation))
	}
	rep.details["server_name"] = t.serverName

	st, outcome, err := r.handshake(ctx, t, tls.VersionTLS10, tls.VersionTLS13, tlsAllSuites(), tlsHandshakeTimeout)
	switch outcome {
	case tlsHandshakeRefused, tlsHandshakeUnknown:
		msg := err.Error()
		rep.details["error"] = msg
		add(FindingTLSUnreachable, event.SeverityHigh,
			fmt.Sprintf("%s: TLS handshake with %s failed", r.m.Name, t.name),
			fmt.Sprintf("target=%s sni=%s error=%s", t.addr, t.serverName, msg),
			"Check that the endpoint is up and serves TLS on this port, and that it supports TLS 1.2 or 1.3 with an ECDHE cipher suite.")
		return rep
	case tlsHandshakeBadCert:
		var cve *tls.CertificateVerificationError
		errors.As(err, &cve)
		rep.details["certificate_error"] = cve.Err.Error()
		rep.details["tls_version"] = "unknown (certificate not verified)"
		// Without a verified handshake the negotiated version is unknown,
		// so this run cannot say whether that problem is gone.
		rep.inconclusive = true
		leaf := cve.UnverifiedCertificates[0]
		add(FindingTLSCertInvalid, event.SeverityCritical,
			fmt.Sprintf("%s: certificate of %s does not verify: %s", r.m.Name, t.name, tlsCertProblem(cve.Err)),
			fmt.Sprintf("target=%s sni=%s error=%s; leaf %s", t.addr, t.serverName, cve.Err.Error(), tlsDescribeCert(leaf, r.env.now())),
			"Serve a certificate for this host name, valid now, issued by a trusted CA, with the full intermediate chain; renew it if it expired.")
		r.checkPresented(cve.UnverifiedCertificates, t, add)
	default:
		rep.details["tls_version"] = tlsVersionName(st.Version)
		rep.details["cipher_suite"] = tls.CipherSuiteName(st.CipherSuite)
		leaf := st.PeerCertificates[0]
		rep.details["leaf_subject"] = leaf.Subject.String()
		rep.details["leaf_issuer"] = leaf.Issuer.String()
		rep.details["leaf_not_after"] = leaf.NotAfter.UTC().Format(time.RFC3339)
		rep.details["leaf_days_left"] = strconv.Itoa(tlsDaysLeft(leaf, r.env.now()))
		chain := tlsBestChain(st.VerifiedChains)
		rep.details["chain_length"] = strconv.Itoa(len(chain))
		r.checkExpiry(chain, t, add)
		r.checkPresented(st.PeerCertificates, t, add)
		if st.Version < r.minVersion {
			add(FindingTLSBelowMinVersion, event.SeverityHigh,
				fmt.Sprintf("%s: %s negotiates TLS %s, older than %s", r.m.Name, t.name, tlsVersionName(st.Version), r.cfg.MinVersion),
				fmt.Sprintf("target=%s offered TLS 1.0-1.3, server chose TLS %s (%s); min_version=%s", t.addr, tlsVersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), r.cfg.MinVersion),
				"Enable TLS 1.2 and TLS 1.3 on the server (Mozilla intermediate profile).")
		}
	}

	if fips140.Enabled() && (r.cfg.CheckLegacy || r.cfg.CheckCipherSuites) {
		// In FIPS 140-3 mode crypto/tls cannot offer TLS 1.0/1.1 or the
		// suites probed, so every probe would look refused.
		rep.details["legacy_checks"] = "skipped: FIPS 140-3 mode"
		return rep
	}
	if r.cfg.CheckLegacy {
		r.checkLegacy(ctx, t, &rep, add)
	}
	if r.cfg.CheckCipherSuites && (st == nil || st.Version >= tls.VersionTLS12) {
		r.checkSuites(ctx, t, &rep, add)
	}
	return rep
}

// checkExpiry raises one finding for the certificates of the verified
// chain that expire within critical_before or warn_before.
func (r *tlsRun) checkExpiry(chain []*x509.Certificate, t tlsTarget, add func(string, event.Severity, string, string, string)) {
	now := r.env.now()
	warn, crit := r.cfg.WarnBefore.Std(), r.cfg.CriticalBefore.Std()
	var soon []string
	sev := event.SeverityUnknown
	var first *x509.Certificate
	for _, c := range chain {
		left := c.NotAfter.Sub(now)
		switch {
		case crit > 0 && left <= crit:
			sev = event.SeverityCritical
		case warn > 0 && left <= warn:
			sev = max(sev, event.SeverityMedium)
		default:
			continue
		}
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
		soon = append(soon, tlsDescribeCert(c, now))
	}
	if first == nil {
		return
	}
	what := "the certificate"
	if first != chain[0] {
		what = "a chain certificate"
	}
	add(FindingTLSCertExpiring, sev,
		fmt.Sprintf("%s: %s of %s expires in %d days", r.m.Name, what, t.name, tlsDaysLeft(first, now)),
		strings.Join(soon, "; "),
		"Renew the certificate (or get the CA's renewed intermediate) and deploy it; check that automatic renewal works.")
}

// checkPresented checks the certificates the server sent: RSA key size,
// and SHA-1 or MD5 signatures on certificates other than self-signed
// roots.
func (r *tlsRun) checkPresented(certs []*x509.Certificate, t tlsTarget, add func(string, event.Severity, string, string, string)) {
	now := r.env.now()
	var weakKeys, weakSigs []string
	for _, c := range certs {
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < tlsMinRSABits {
			weakKeys = append(weakKeys, fmt.Sprintf("%d-bit RSA key: %s", k.N.BitLen(), tlsDescribeCert(c, now)))
		}
		if tlsSelfSigned(c) {
			continue
		}
		switch c.SignatureAlgorithm {
		case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
			weakSigs = append(weakSigs, fmt.Sprintf("%s signature: %s", c.SignatureAlgorithm, tlsDescribeCert(c, now)))
		}
	}
	if len(weakKeys) > 0 {
		add(FindingTLSWeakKey, event.SeverityHigh,
			fmt.Sprintf("%s: %s presents an RSA key shorter than %d bits", r.m.Name, t.name, tlsMinRSABits),
			strings.Join(weakKeys, "; "),
			"Issue a new certificate with an RSA key of at least 2048 bits or an ECDSA P-256 key.")
	}
	if len(weakSigs) > 0 {
		add(FindingTLSWeakSignature, event.SeverityHigh,
			fmt.Sprintf("%s: %s presents a certificate signed with SHA-1 or MD5", r.m.Name, t.name),
			strings.Join(weakSigs, "; "),
			"Reissue the certificate (and any intermediate) with a SHA-256 or stronger signature.")
	}
}

// checkLegacy probes each TLS version older than min_version.
func (r *tlsRun) checkLegacy(ctx context.Context, t tlsTarget, rep *targetReport, add func(string, event.Severity, string, string, string)) {
	var accepted []string
	sev := event.SeverityUnknown
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12} {
		if v >= r.minVersion {
			break
		}
		name := tlsVersionName(v)
		_, outcome, err := r.handshake(ctx, t, v, v, tlsAllSuites(), tlsProbeTimeout)
		key := "accepts_tls" + name
		switch {
		case outcome.accepted():
			rep.details[key] = "yes"
			accepted = append(accepted, "TLS "+name)
			if v < tls.VersionTLS12 {
				sev = event.SeverityHigh
			} else {
				sev = max(sev, event.SeverityMedium)
			}
		case outcome == tlsHandshakeRefused:
			rep.details[key] = "no"
		default:
			rep.details[key] = "unknown: " + err.Error()
			rep.inconclusive = true
		}
	}
	if len(accepted) == 0 {
		return
	}
	add(FindingTLSLegacyVersion, sev,
		fmt.Sprintf("%s: %s accepts %s", r.m.Name, t.name, strings.Join(accepted, " and ")),
		fmt.Sprintf("target=%s accepted handshakes limited to %s; min_version=%s", t.addr, strings.Join(accepted, ", "), r.cfg.MinVersion),
		"Disable the old protocol versions on the server or load balancer: allow TLS 1.2 and 1.3 only (Mozilla intermediate).")
}

// checkSuites probes, at TLS 1.2, which cipher suites outside the
// intermediate profile the server accepts, one class at a time: offer the
// whole class, note the suite chosen, offer the rest, until the server
// refuses.
func (r *tlsRun) checkSuites(ctx context.Context, t tlsTarget, rep *targetReport, add func(string, event.Severity, string, string, string)) {
	insecure, weak := tlsSuiteClasses()
	classes := []struct {
		id     string
		sev    event.Severity
		key    string
		suites []uint16
		what   string
	}{
		{FindingTLSInsecureCipher, event.SeverityHigh, "insecure_cipher_suites", insecure, "insecure"},
		{FindingTLSWeakCipher, event.SeverityMedium, "weak_cipher_suites", weak, "non-intermediate"},
	}
	for _, cl := range classes {
		offer := slices.Clone(cl.suites)
		var found []string
		for len(offer) > 0 {
			st, outcome, err := r.handshake(ctx, t, tls.VersionTLS12, tls.VersionTLS12, offer, tlsProbeTimeout)
			if outcome == tlsHandshakeUnknown {
				rep.details[cl.key] = "unknown: " + err.Error()
				rep.inconclusive = true
				break
			}
			if !outcome.accepted() {
				break
			}
			if st == nil {
				// The certificate did not verify, so which suite was chosen
				// is unknown; one accepted suite is enough to tell.
				found = append(found, "one of "+tlsSuiteNames(offer))
				break
			}
			found = append(found, tls.CipherSuiteName(st.CipherSuite))
			offer = slices.DeleteFunc(offer, func(id uint16) bool { return id == st.CipherSuite })
		}
		if len(found) == 0 {
			if _, set := rep.details[cl.key]; !set {
				rep.details[cl.key] = "none"
			}
			continue
		}
		rep.details[cl.key] = strings.Join(found, ",")
		add(cl.id, cl.sev,
			fmt.Sprintf("%s: %s accepts %s TLS 1.2 cipher suites", r.m.Name, t.name, cl.what),
			fmt.Sprintf("target=%s accepts %s", t.addr, strings.Join(found, ", ")),
			"Restrict TLS 1.2 to the ECDHE AES-GCM and ChaCha20-Poly1305 suites of Mozilla's intermediate profile (https://ssl-config.mozilla.org/).")
	}
}

// tlsBestChain returns the verified chain that stays valid the longest (the
// one whose earliest expiry is latest), as a client would prefer it.
func tlsBestChain(chains [][]*x509.Certificate) []*x509.Certificate {
	var best []*x509.Certificate
	var bestEnd time.Time
	for _, ch := range chains {
		if len(ch) == 0 {
			continue
		}
		end := ch[0].NotAfter
		for _, c := range ch[1:] {
			if c.NotAfter.Before(end) {
				end = c.NotAfter
			}
		}
		if best == nil || end.After(bestEnd) {
			best, bestEnd = ch, end
		}
	}
	return best
}

// tlsSelfSigned reports whether c is a self-signed (root) certificate, whose
// own signature no client checks.
func tlsSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil || (len(c.RawSubject) > 0 && string(c.RawSubject) == string(c.RawIssuer) && c.IsCA)
}

// tlsDaysLeft is the number of whole days until c expires (negative once it
// has).
func tlsDaysLeft(c *x509.Certificate, now time.Time) int {
	return int(c.NotAfter.Sub(now) / (24 * time.Hour))
}

// tlsDescribeCert renders the facts of a certificate an operator needs.
func tlsDescribeCert(c *x509.Certificate, now time.Time) string {
	return fmt.Sprintf("subject=%q issuer=%q not_after=%s days_left=%d",
		c.Subject.String(), c.Issuer.String(), c.NotAfter.UTC().Format(time.RFC3339), tlsDaysLeft(c, now))
}

// tlsCertProblem names the kind of a verification error for a title.
func tlsCertProblem(err error) string {
	var (
		hn  x509.HostnameError
		ua  x509.UnknownAuthorityError
		inv x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &hn):
		return "wrong host name"
	case errors.As(err, &ua):
		return "unknown authority (self-signed, untrusted root or incomplete chain)"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "expired or not yet valid"
	case errors.As(err, &inv):
		return "invalid certificate"
	}
	return "verification failed"
}

// tlsSuiteNames joins the names of suites.
func tlsSuiteNames(ids []uint16) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = tls.CipherSuiteName(id)
	}
	return strings.Join(names, "|")
}
