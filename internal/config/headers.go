package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and limits of the headers monitor type.
const (
	// DefaultHeadersProbeOrigin is the foreign Origin a headers monitor
	// sends to find CORS policies that reflect any origin. The .invalid
	// top-level domain never resolves (RFC 2606).
	DefaultHeadersProbeOrigin = "https://secopsd-probe.invalid"
	// DefaultHeadersHSTSMinMaxAge is the shortest Strict-Transport-Security
	// max-age a headers monitor accepts: one year (31536000 seconds), what
	// the HSTS preload list requires.
	DefaultHeadersHSTSMinMaxAge = 365 * day
	// MaxHeadersURLs bounds HeadersMonitor.URLs.
	MaxHeadersURLs = 100
)

// headersGrades are the grades of a headers audit, best first.
var headersGrades = [...]string{"A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F"}

// HeadersGrades returns the grades a headers audit gives a URL, best first
// ("A+" … "F"); HeadersMonitor.MinGrade is one of them.
func HeadersGrades() []string { return slices.Clone(headersGrades[:]) }

// headersFindingIDs are the finding ids a headers monitor raises.
var headersFindingIDs = [...]string{
	"headers.unreachable",
	"headers.grade",
	"headers.csp.missing",
	"headers.csp.report_only",
	"headers.csp.invalid",
	"headers.csp.duplicate_directive",
	"headers.csp.unknown_directive",
	"headers.csp.script_unrestricted",
	"headers.csp.unsafe_inline",
	"headers.csp.unsafe_eval",
	"headers.csp.script_wildcard",
	"headers.csp.insecure_scheme",
	"headers.csp.object_src",
	"headers.csp.base_uri",
	"headers.csp.frame_ancestors_missing",
	"headers.csp.frame_ancestors_permissive",
	"headers.hsts.missing",
	"headers.hsts.invalid",
	"headers.hsts.multiple",
	"headers.hsts.short_max_age",
	"headers.hsts.no_subdomains",
	"headers.hsts.no_preload",
	"headers.hsts.plain_http",
	"headers.xfo.missing",
	"headers.xfo.invalid",
	"headers.xfo.sameorigin",
	"headers.xcto.missing",
	"headers.xcto.invalid",
	"headers.referrer.missing",
	"headers.referrer.invalid",
	"headers.referrer.unsafe",
	"headers.referrer.weak",
	"headers.permissions_policy.missing",
	"headers.permissions_policy.invalid",
	"headers.cookie.insecure",
	"headers.cookie.httponly",
	"headers.cookie.samesite",
	"headers.cookie.samesite_none_insecure",
	"headers.cookie.prefix",
	"headers.cors.reflected_origin",
	"headers.cors.reflected_origin_credentials",
	"headers.cors.wildcard_credentials",
	"headers.cors.null_origin",
	"headers.cors.null_origin_credentials",
	"headers.disclosure.server",
	"headers.disclosure.powered_by",
}

// HeadersFindingIDs returns every finding id a headers monitor can raise,
// which is what HeadersMonitor.Ignore may list (all but
// headers.unreachable).
func HeadersFindingIDs() []string { return slices.Clone(headersFindingIDs[:]) }

// unignorableHeadersFinding may not be listed in HeadersMonitor.Ignore:
// hiding that a URL cannot be audited would hide every other finding.
const unignorableHeadersFinding = "headers.unreachable"

// HeadersMonitor is the type-specific configuration of a headers monitor,
// which audits the security headers (CSP, HSTS, X-Frame-Options,
// X-Content-Type-Options, Referrer-Policy, Permissions-Policy, cookies,
// CORS, version disclosure) of web pages and grades each page.
type HeadersMonitor struct {
	// URLs are the absolute http or https URLs audited, each on its own.
	URLs []string `yaml:"urls"`
	// Headers are sent with every request (for pages behind a login);
	// values may be credentials.
	Headers map[string]Secret `yaml:"headers"`
	// ProbeOrigin is the foreign origin sent as Origin in the CORS probe.
	ProbeOrigin string `yaml:"probe_origin"`
	// MinGrade, if set, raises headers.grade when a URL grades below it.
	MinGrade string `yaml:"min_grade"`
	// HSTSMinMaxAge is the shortest acceptable HSTS max-age.
	HSTSMinMaxAge Duration `yaml:"hsts_min_max_age"`
	// RequirePreload requires the HSTS preload directive.
	RequirePreload bool `yaml:"require_preload"`
	// Ignore lists finding ids that are not reported (nor scored).
	Ignore []string `yaml:"ignore"`
}

// defaultHeadersMonitor returns the defaults of a headers monitor's block:
// the .invalid probe origin, a one-year HSTS minimum, no preload
// requirement, no grade threshold, nothing ignored.
func defaultHeadersMonitor() *HeadersMonitor {
	return &HeadersMonitor{
		ProbeOrigin:   DefaultHeadersProbeOrigin,
		HSTSMinMaxAge: Duration(DefaultHeadersHSTSMinMaxAge),
	}
}

// validate checks a headers monitor's block; path is the monitor's path.
func (b *HeadersMonitor) validate(c *checker, path string) {
	up := joinPath(path, "urls")
	switch n := len(b.URLs); {
	case n == 0:
		c.errorf(up, ErrMissing, "urls is required for a headers monitor (a list of http:// or https:// URLs)")
	case n > MaxHeadersURLs:
		c.errorf(up, ErrInvalid, "at most %d urls, got %d", MaxHeadersURLs, n)
	}
	seen := map[string]int{}
	for i, u := range b.URLs {
		ip := fmt.Sprintf("%s[%d]", up, i)
		if msg := checkHTTPURL(u); msg != "" {
			c.errorf(ip, ErrInvalid, "%s", msg)
			continue
		}
		if first, dup := seen[u]; dup {
			c.errorf(ip, ErrDuplicate, "duplicate url (also urls[%d])", first)
			continue
		}
		seen[u] = i
	}
	for name, value := range b.Headers {
		hp := mapKeyPath(joinPath(path, "headers"), name)
		switch {
		case !isToken(name):
			c.errorf(hp, ErrInvalid, "invalid header name %s", quote(name))
		case strings.EqualFold(name, "Origin"):
			c.errorf(hp, ErrInvalid, "the Origin header is set by the monitor's CORS probe (use probe_origin)")
		case strings.ContainsAny(value.Reveal(), "\r\n\x00"):
			// Never print the value: it may be a credential.
			c.errorf(hp, ErrInvalid, "header value contains a line break or NUL")
		}
	}
	if msg := checkOrigin(b.ProbeOrigin); msg != "" {
		c.errorf(joinPath(path, "probe_origin"), ErrInvalid, "%s", msg)
	}
	if b.MinGrade != "" && !slices.Contains(headersGrades[:], b.MinGrade) {
		c.errorf(joinPath(path, "min_grade"), ErrInvalid, "unknown grade %s (use one of %s, or leave it out)",
			quote(b.MinGrade), strings.Join(headersGrades[:], ", "))
	}
	if d := b.HSTSMinMaxAge.Std(); d < time.Second || d%time.Second != 0 {
		c.errorf(joinPath(path, "hsts_min_max_age"), ErrInvalid,
			"hsts_min_max_age must be a whole number of seconds of at least 1s, got %s (the default is 365d)", b.HSTSMinMaxAge)
	}
	ip := joinPath(path, "ignore")
	for i, id := range b.Ignore {
		ep := fmt.Sprintf("%s[%d]", ip, i)
		switch {
		case id == unignorableHeadersFinding:
			c.errorf(ep, ErrInvalid, "%s cannot be ignored: it means the URL was not audited at all", id)
		case !slices.Contains(headersFindingIDs[:], id):
			hint := "see configs/example.yaml for the list"
			if s := closest(id, headersFindingIDs[:]); s != "" {
				hint = "did you mean " + s + "?"
			}
			c.errorf(ep, ErrInvalid, "unknown headers finding id %s (%s)", quote(id), hint)
		case slices.Index(b.Ignore, id) < i:
			c.errorf(ep, ErrDuplicate, "%s is listed twice", id)
		}
	}
}

// checkOrigin returns why s is not a serialized http(s) origin
// (scheme://host[:port], nothing else), or "".
func checkOrigin(s string) string {
	const hint = "(use scheme://host[:port], such as " + DefaultHeadersProbeOrigin + ")"
	p, err := url.Parse(s)
	switch {
	case s == "":
		return "probe_origin must not be empty " + hint
	case err != nil:
		return "probe_origin is not a valid URL " + hint
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Sprintf("probe_origin %s must start with http:// or https:// %s", quote(s), hint)
	case p.Hostname() == "":
		return fmt.Sprintf("probe_origin %s has no host %s", quote(s), hint)
	case p.User != nil || p.Path != "" || p.RawQuery != "" || p.Fragment != "" || p.ForceQuery:
		return fmt.Sprintf("probe_origin %s must be an origin without user, path, query or fragment %s", quote(p.Redacted()), hint)
	}
	return ""
}
