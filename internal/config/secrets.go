package config

import (
	"fmt"
	"regexp"
	"strings"
)

// Defaults and limits of the secrets monitor type.
const (
	// DefaultSecretsMaxBody is how many bytes of each response body a
	// secrets monitor scans by default (1 MiB).
	DefaultSecretsMaxBody = 1 << 20
	// MaxSecretsMaxBody bounds SecretsMonitor.MaxBody (16 MiB).
	MaxSecretsMaxBody = 16 << 20
	// MaxSecretsURLs bounds how many URLs one secrets monitor fetches.
	MaxSecretsURLs = 100
)

// SecretsMonitor is the type-specific configuration of a secrets monitor:
// it fetches URLs and scans each response's headers and body for leaked
// credentials (API keys, tokens, private keys, credential-like
// assignments).
type SecretsMonitor struct {
	// URLs are the absolute http or https URLs fetched and scanned: pages,
	// JavaScript bundles, source maps, config or debug endpoints.
	URLs []string `yaml:"urls"`
	// Headers are sent with every request; values may be credentials.
	Headers map[string]Secret `yaml:"headers"`
	// IgnoreRules are ids of detection rules whose findings are dropped.
	IgnoreRules []string `yaml:"ignore_rules"`
	// IgnoreFingerprints are secret fingerprints (8 hex digits, as shown in
	// a finding's evidence) whose findings are dropped: secrets known to be
	// public by design, such as a browser API key.
	IgnoreFingerprints []string `yaml:"ignore_fingerprints"`
	// MaxBody is how many bytes of each response body are scanned.
	MaxBody int64 `yaml:"max_body"`
}

// defaultSecretsMonitor returns the defaults of a secrets monitor's block:
// no URLs (they are required), scan 1 MiB of each body, ignore nothing.
func defaultSecretsMonitor() *SecretsMonitor {
	return &SecretsMonitor{MaxBody: DefaultSecretsMaxBody}
}

// Forms of rule ids and secret fingerprints.
var (
	ruleIDForm      = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
	fingerprintForm = regexp.MustCompile(`^[0-9a-f]{8}$`)
)

// validate checks a secrets monitor's block; path is the monitor's path.
// Messages never show header values or URL passwords.
func (b *SecretsMonitor) validate(c *checker, path string) {
	up := joinPath(path, "urls")
	switch {
	case len(b.URLs) == 0:
		c.errorf(up, ErrMissing, "urls is required for a secrets monitor (a list of http or https URLs to scan)")
	case len(b.URLs) > MaxSecretsURLs:
		c.errorf(up, ErrInvalid, "at most %d urls per secrets monitor, got %d (split them over several monitors)", MaxSecretsURLs, len(b.URLs))
	}
	seen := map[string]int{}
	for i, u := range b.URLs {
		ip := fmt.Sprintf("%s[%d]", up, i)
		if msg := checkHTTPURL(u); msg != "" {
			c.errorf(ip, ErrInvalid, "%s", msg)
			continue
		}
		if first, dup := seen[u]; dup {
			c.errorf(ip, ErrInvalid, "url listed twice (first as %s[%d])", up, first)
			continue
		}
		seen[u] = i
	}
	for name, value := range b.Headers {
		hp := mapKeyPath(joinPath(path, "headers"), name)
		if !isToken(name) {
			c.errorf(hp, ErrInvalid, "invalid header name %s", quote(name))
		}
		if strings.ContainsAny(value.Reveal(), "\r\n\x00") {
			// Never print the value: it may be a credential.
			c.errorf(hp, ErrInvalid, "header value contains a line break or NUL")
		}
	}
	rp := joinPath(path, "ignore_rules")
	for i, id := range b.IgnoreRules {
		if !ruleIDForm.MatchString(id) {
			c.errorf(fmt.Sprintf("%s[%d]", rp, i), ErrInvalid,
				"invalid rule id %s (lower-case letters, digits and dashes, as in aws-access-key-id)", quote(id))
		}
	}
	fp := joinPath(path, "ignore_fingerprints")
	for i, f := range b.IgnoreFingerprints {
		if !fingerprintForm.MatchString(f) {
			c.errorf(fmt.Sprintf("%s[%d]", fp, i), ErrInvalid,
				"invalid secret fingerprint %s (8 lower-case hex digits, as shown in a finding's evidence)", quote(f))
		}
	}
	if b.MaxBody < 1 || b.MaxBody > MaxSecretsMaxBody {
		c.errorf(joinPath(path, "max_body"), ErrInvalid, "max_body must be between 1 and %d bytes, got %d", MaxSecretsMaxBody, b.MaxBody)
	}
}
