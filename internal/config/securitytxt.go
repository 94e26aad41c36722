package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Defaults of the securitytxt monitor type.
const (
	// DefaultSecurityTxtMaxExpiry is how far ahead Expires may lie without
	// a finding: RFC 9116 recommends less than a year.
	DefaultSecurityTxtMaxExpiry = Duration(365 * day)
	// DefaultSecurityTxtWarnBefore is how long before Expires passes a
	// securitytxt monitor raises a medium finding.
	DefaultSecurityTxtWarnBefore = Duration(7 * day)
	// SecurityTxtPath is where RFC 9116 places the file on a web site.
	SecurityTxtPath = "/.well-known/security.txt"
)

// SecurityTxtMonitor is the type-specific configuration of a securitytxt
// monitor: the web sites whose RFC 9116 security.txt it checks.
type SecurityTxtMonitor struct {
	// URLs are the sites to check, as origins such as https://example.com/
	// (or the full https://example.com/.well-known/security.txt).
	URLs []string `yaml:"urls"`
	// MaxExpiry raises a low finding when Expires lies further ahead; 0
	// turns the check off.
	MaxExpiry Duration `yaml:"max_expiry"`
	// WarnBefore raises a medium finding when Expires passes within it; 0
	// turns the warning off.
	WarnBefore Duration `yaml:"warn_before"`
	// RequireSignature requires an OpenPGP cleartext signature envelope
	// (the signature itself is not verified).
	RequireSignature bool `yaml:"require_signature"`
	// RequireCanonical requires a Canonical field.
	RequireCanonical bool `yaml:"require_canonical"`
}

// defaultSecurityTxtMonitor returns the defaults of a securitytxt
// monitor's block.
func defaultSecurityTxtMonitor() *SecurityTxtMonitor {
	return &SecurityTxtMonitor{
		MaxExpiry:  DefaultSecurityTxtMaxExpiry,
		WarnBefore: DefaultSecurityTxtWarnBefore,
	}
}

// validate checks a securitytxt monitor's block; path is the monitor's
// path.
func (b *SecurityTxtMonitor) validate(c *checker, path string) {
	up := joinPath(path, "urls")
	if len(b.URLs) == 0 {
		c.errorf(up, ErrMissing, "urls is required for a securitytxt monitor (a list of site URLs such as https://example.com/)")
	}
	seen := map[string]int{}
	for i, u := range b.URLs {
		ip := fmt.Sprintf("%s[%d]", up, i)
		wk, err := SecurityTxtURL(u)
		if err != nil {
			c.errorf(ip, ErrInvalid, "%v", err)
			continue
		}
		if first, dup := seen[wk]; dup {
			c.errorf(ip, ErrInvalid, "url %s is listed twice (first as urls[%d])", quote(u), first)
			continue
		}
		seen[wk] = i
	}
}

// SecurityTxtURL returns the URL of the security.txt of site u, an
// absolute http or https URL whose path is empty, "/" or
// /.well-known/security.txt.
func SecurityTxtURL(u string) (string, error) {
	if msg := checkHTTPURL(u); msg != "" {
		return "", fmt.Errorf("%s", msg)
	}
	p, _ := url.Parse(u)
	switch {
	case p.User != nil:
		return "", fmt.Errorf("url %s must not hold credentials", quote(p.Redacted()))
	case p.RawQuery != "" || p.Fragment != "" || p.ForceQuery:
		return "", fmt.Errorf("url %s must not have a query or fragment", quote(p.Redacted()))
	case p.Path != "" && p.Path != "/" && p.Path != SecurityTxtPath:
		return "", fmt.Errorf("url %s must be a site such as https://example.com/ (security.txt is always read from %s)", quote(p.Redacted()), SecurityTxtPath)
	}
	return strings.ToLower(p.Scheme) + "://" + strings.ToLower(p.Host) + SecurityTxtPath, nil
}
