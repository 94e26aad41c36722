package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Defaults of the tls monitor type.
const (
	// DefaultTLSPort is the port of a tls target written without one.
	DefaultTLSPort = "443"
	// DefaultTLSWarnBefore is how long before a certificate expires a tls
	// monitor raises a medium finding.
	DefaultTLSWarnBefore = Duration(30 * day)
	// DefaultTLSCriticalBefore is how long before a certificate expires a
	// tls monitor raises a critical finding.
	DefaultTLSCriticalBefore = Duration(7 * day)
	// DefaultTLSMinVersion is the oldest TLS version a target may negotiate
	// without a finding (Mozilla's "intermediate" profile).
	DefaultTLSMinVersion = "1.2"
)

// TLSVersions lists the values min_version accepts, oldest first.
func TLSVersions() []string { return []string{"1.0", "1.1", "1.2", "1.3"} }

// TLSMonitor is the type-specific configuration of a tls monitor: the TLS
// endpoints whose certificate chain, expiry, protocol versions and cipher
// suites it checks.
type TLSMonitor struct {
	// Targets are the endpoints to check, as host:port or host (port 443).
	Targets []string `yaml:"targets"`
	// ServerName overrides the name sent in SNI and verified against the
	// certificate; empty means each target's host.
	ServerName string `yaml:"server_name"`
	// WarnBefore raises a medium finding when a certificate of the chain
	// expires within it; 0 turns the warning off.
	WarnBefore Duration `yaml:"warn_before"`
	// CriticalBefore raises a critical finding when a certificate of the
	// chain expires within it; 0 turns it off.
	CriticalBefore Duration `yaml:"critical_before"`
	// MinVersion is the oldest acceptable TLS version: 1.0, 1.1, 1.2 or 1.3.
	MinVersion string `yaml:"min_version"`
	// CheckLegacy probes whether the target still accepts each TLS version
	// older than MinVersion.
	CheckLegacy bool `yaml:"check_legacy"`
	// CheckCipherSuites probes whether the target accepts TLS 1.2 cipher
	// suites outside Mozilla's "intermediate" profile.
	CheckCipherSuites bool `yaml:"check_cipher_suites"`
	// CAFile is an absolute path to a PEM bundle of extra trusted root
	// certificates (for a private CA), added to the system roots; it is
	// read again at every run.
	CAFile string `yaml:"ca_file"`
}

// defaultTLSMonitor returns the defaults of a tls monitor's block.
func defaultTLSMonitor() *TLSMonitor {
	return &TLSMonitor{
		WarnBefore:        DefaultTLSWarnBefore,
		CriticalBefore:    DefaultTLSCriticalBefore,
		MinVersion:        DefaultTLSMinVersion,
		CheckLegacy:       true,
		CheckCipherSuites: true,
	}
}

// validate checks a tls monitor's block; path is the monitor's path.
func (b *TLSMonitor) validate(c *checker, path string) {
	tp := joinPath(path, "targets")
	if len(b.Targets) == 0 {
		c.errorf(tp, ErrMissing, "targets is required for a tls monitor (a list of host:port)")
	}
	seen := map[string]int{}
	for i, t := range b.Targets {
		ip := fmt.Sprintf("%s[%d]", tp, i)
		host, port, err := SplitTLSTarget(t)
		if err != nil {
			c.errorf(ip, ErrInvalid, "%v", err)
			continue
		}
		addr := net.JoinHostPort(strings.ToLower(host), port)
		if first, dup := seen[addr]; dup {
			c.errorf(ip, ErrInvalid, "target %s is listed twice (first as targets[%d])", quote(t), first)
			continue
		}
		seen[addr] = i
	}
	if b.ServerName != "" && !isDNSName(b.ServerName) {
		c.errorf(joinPath(path, "server_name"), ErrInvalid, "server_name %s is not a DNS name (no port, no IP address)", quote(b.ServerName))
	}
	if b.WarnBefore > 0 && b.CriticalBefore > b.WarnBefore {
		c.errorf(joinPath(path, "critical_before"), ErrInvalid, "critical_before (%s) must not be longer than warn_before (%s)", b.CriticalBefore, b.WarnBefore)
	}
	if !slices.Contains(TLSVersions(), b.MinVersion) {
		c.errorf(joinPath(path, "min_version"), ErrInvalid, "unsupported min_version %s (use %s)", quote(b.MinVersion), strings.Join(TLSVersions(), ", "))
	}
	if b.CAFile != "" {
		if msg := checkCAFile(b.CAFile); msg != "" {
			c.errorf(joinPath(path, "ca_file"), ErrInvalid, "%s", msg)
		}
	}
}

// SplitTLSTarget splits a tls monitor target, host:port or host, into its
// host and port (DefaultTLSPort if none). An IPv6 address is written as
// [::1]:443 or ::1.
func SplitTLSTarget(target string) (host, port string, err error) {
	switch {
	case target == "":
		return "", "", errors.New("empty target (use host:port)")
	case strings.Contains(target, "://") || strings.ContainsAny(target, "/@?# \t"):
		return "", "", fmt.Errorf("target %s is not host:port (write example.com:443, not a URL)", quote(target))
	}
	if net.ParseIP(target) != nil {
		return target, DefaultTLSPort, nil
	}
	if strings.HasPrefix(target, "[") && strings.HasSuffix(target, "]") {
		if ip := net.ParseIP(target[1 : len(target)-1]); ip != nil && ip.To4() == nil {
			return target[1 : len(target)-1], DefaultTLSPort, nil
		}
	}
	host, port, err = net.SplitHostPort(target)
	if err != nil {
		if strings.Contains(target, ":") {
			return "", "", fmt.Errorf("target %s is not host:port", quote(target))
		}
		host, port = target, DefaultTLSPort
	}
	if n, perr := strconv.ParseUint(port, 10, 16); perr != nil || n == 0 {
		return "", "", fmt.Errorf("target %s has an invalid port (use 1 to 65535)", quote(target))
	}
	if net.ParseIP(host) == nil && !isDNSName(host) {
		return "", "", fmt.Errorf("target %s has an invalid host name", quote(target))
	}
	return host, port, nil
}

// isDNSName reports whether s is a plausible DNS host name: dot-separated
// labels of letters, digits, "-" and "_", at most 253 characters.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 || net.ParseIP(s) != nil {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkCAFile returns why name is not a usable bundle of CA certificates,
// or "".
func checkCAFile(name string) string {
	if !filepath.IsAbs(name) {
		return fmt.Sprintf("ca_file %s must be an absolute path", quote(name))
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("cannot read ca_file: %v", err)
	}
	if n, err := ParsePEMCertificates(data); err != nil {
		return fmt.Sprintf("ca_file %s: %v", quote(name), err)
	} else if n == 0 {
		return fmt.Sprintf("ca_file %s holds no PEM certificate", quote(name))
	}
	return ""
}

// ParsePEMCertificates counts the CERTIFICATE blocks of a PEM bundle,
// failing on the first that does not parse.
func ParsePEMCertificates(data []byte) (int, error) {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return n, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return n, fmt.Errorf("certificate %d does not parse: %w", n+1, err)
		}
		n++
	}
}
