package monitors

// The checks of the headers monitor on one response: a pure function of
// the response headers (and HTML head, and CORS probe answers), so that it
// is tested against peer vectors without a network.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// headersIssue is one problem of one URL: a finding id and its evidence.
type headersIssue struct{ id, evidence string }

// headersInput is what the audit of one URL looks at.
type headersInput struct {
	// url is the URL that answered (after same-host redirects); https
	// enables the checks that only make sense over TLS (HSTS, Secure).
	url *url.URL
	// header is the answer to a plain GET.
	header http.Header
	// html is the body of that answer if it is an HTML document, else nil.
	html []byte
	// cors and nullCORS are the answers to the same GET with Origin set to
	// probeOrigin and to "null"; nil if that probe was not made or failed.
	cors, nullCORS http.Header
	probeOrigin    string
	// redirect reports that header is a redirect to another host, which
	// the audit does not follow: browsers render no document from it, so
	// only the checks that matter on a redirect (HSTS, cookies, CORS,
	// disclosure) are made, and the target deserves its own URL.
	redirect bool
	// now decides whether a cookie is already expired (a deletion).
	now time.Time
}

// headersOptions are the configurable thresholds of the audit.
type headersOptions struct {
	// hstsMinMaxAge is the least acceptable HSTS max-age in seconds.
	hstsMinMaxAge int64
	// requirePreload requires the HSTS preload directive.
	requirePreload bool
}

// headersAudit accumulates the issues of one URL.
type headersAudit struct {
	in     headersInput
	opt    headersOptions
	issues []headersIssue
}

// add records an issue, merging the evidence of a repeated id.
func (a *headersAudit) add(id, evidence string) {
	for i := range a.issues {
		if a.issues[i].id == id {
			if evidence != "" && !strings.Contains(a.issues[i].evidence, evidence) {
				a.issues[i].evidence += "; " + evidence
			}
			return
		}
	}
	a.issues = append(a.issues, headersIssue{id: id, evidence: evidence})
}

// auditHeaders runs every check on one response and returns the issues in
// a stable order, one per finding id.
func auditHeaders(in headersInput, opt headersOptions) []headersIssue {
	if in.header == nil {
		in.header = http.Header{}
	}
	a := &headersAudit{in: in, opt: opt}
	if !in.redirect {
		a.document()
	}
	a.hsts()
	a.cookies()
	a.cors()
	a.disclosure()
	return a.issues
}

// document runs the checks of headers that govern a rendered document:
// CSP, clickjacking, X-Content-Type-Options, Referrer-Policy and
// Permissions-Policy.
func (a *headersAudit) document() {
	in := a.in
	var meta htmlMeta
	if in.html != nil {
		meta = parseHTMLMeta(in.html)
	}
	policies := parseCSPHeader(in.header.Values("Content-Security-Policy"))
	headerCSP := slices.ContainsFunc(policies, func(p *cspPolicy) bool { return !p.empty() })
	for _, c := range meta.csp {
		policies = append(policies, parseCSPPolicy(c, true))
	}
	for _, f := range analyzeCSP(policies, len(in.header.Values("Content-Security-Policy-Report-Only")) > 0) {
		a.add(f.id, f.evidence)
	}
	a.clickjacking(policies, headerCSP)
	a.contentTypeOptions()
	a.referrerPolicy(meta.referrer)
	a.permissionsPolicy()
}

// clickjacking checks CSP frame-ancestors and, where no policy sets it,
// X-Frame-Options (HTML "check a navigation response's adherence to
// X-Frame-Options": browsers ignore X-Frame-Options when frame-ancestors
// is set).
func (a *headersAudit) clickjacking(policies []*cspPolicy, headerCSP bool) {
	set, permissive, broad := frameAncestors(policies)
	if set {
		if permissive {
			a.add(findingCSPFrameAncestorsPermissive, "frame-ancestors "+strings.Join(broad, " "))
		}
		return
	}
	values := a.in.header.Values("X-Frame-Options")
	state := parseXFrameOptions(values)
	switch state {
	case "":
		a.add(findingXFOMissing, "no X-Frame-Options and no CSP frame-ancestors")
		return
	case "invalid":
		a.add(findingXFOInvalid, "X-Frame-Options: "+clipEvidence(strings.Join(values, ", ")))
		return
	case "sameorigin":
		a.add(findingXFOSameOrigin, "X-Frame-Options: "+clipEvidence(strings.Join(values, ", ")))
	}
	if headerCSP {
		a.add(findingCSPFrameAncestorsMissing, "Content-Security-Policy without frame-ancestors (X-Frame-Options protects for now)")
	}
}

// parseXFrameOptions returns "deny", "sameorigin", "invalid", or "" if
// there is no header, as browsers read it: values split on commas and
// compared case-insensitively; several values of which one is DENY or
// SAMEORIGIN block framing altogether.
func parseXFrameOptions(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	var set []string
	for _, line := range lines {
		for v := range strings.SplitSeq(line, ",") {
			set = hdrAppendUnique(set, strings.ToLower(strings.Trim(v, " \t")))
		}
	}
	switch {
	case len(set) > 1 && (slices.Contains(set, "deny") || slices.Contains(set, "sameorigin")):
		return "deny"
	case len(set) == 1 && set[0] == "deny":
		return "deny"
	case len(set) == 1 && set[0] == "sameorigin":
		return "sameorigin"
	}
	return "invalid"
}

// hsts checks Strict-Transport-Security: on https URLs only, since
// browsers ignore it over plain HTTP.
func (a *headersAudit) hsts() {
	lines := a.in.header.Values("Strict-Transport-Security")
	if a.in.url.Scheme != "https" {
		if len(lines) > 0 {
			a.add(findingHSTSPlainHTTP, "Strict-Transport-Security: "+clipEvidence(lines[0])+" (on http://)")
		}
		return
	}
	if len(lines) == 0 {
		a.add(findingHSTSMissing, "no Strict-Transport-Security header")
		return
	}
	if len(lines) > 1 {
		a.add(findingHSTSMultiple, fmt.Sprintf("%d Strict-Transport-Security headers; the first counts", len(lines)))
	}
	h := parseHSTS(lines[0])
	if !h.valid() {
		a.add(findingHSTSInvalid, fmt.Sprintf("Strict-Transport-Security: %s (%s)", clipEvidence(lines[0]), strings.Join(h.errors, ", ")))
		return
	}
	if h.maxAge < a.opt.hstsMinMaxAge {
		ev := fmt.Sprintf("max-age=%d, want at least %d", h.maxAge, a.opt.hstsMinMaxAge)
		if h.maxAge == 0 {
			ev += " (0 tells browsers to forget HSTS)"
		}
		a.add(findingHSTSShortMaxAge, ev)
	}
	if !h.includeSubDomains {
		a.add(findingHSTSNoSubdomains, "Strict-Transport-Security: "+clipEvidence(lines[0]))
	}
	if a.opt.requirePreload && !h.preload {
		a.add(findingHSTSNoPreload, "Strict-Transport-Security: "+clipEvidence(lines[0]))
	}
}

// contentTypeOptions checks X-Content-Type-Options the way Fetch reads
// it: the first value of the list must be nosniff (case-insensitively).
func (a *headersAudit) contentTypeOptions() {
	lines := a.in.header.Values("X-Content-Type-Options")
	if len(lines) == 0 {
		a.add(findingXCTOMissing, "no X-Content-Type-Options header")
		return
	}
	first, _, _ := strings.Cut(strings.Join(lines, ","), ",")
	if !strings.EqualFold(strings.Trim(first, " \t"), "nosniff") {
		a.add(findingXCTOInvalid, "X-Content-Type-Options: "+clipEvidence(strings.Join(lines, ", ")))
	}
}

// referrerPolicies are the valid Referrer-Policy tokens and how safe each
// is: "good", "weak" (leaks the origin, or the full URL to other HTTPS
// sites) or "unsafe" (leaks the full URL everywhere).
var referrerPolicies = map[string]string{
	"no-referrer":                     "good",
	"same-origin":                     "good",
	"strict-origin":                   "good",
	"strict-origin-when-cross-origin": "good",
	"no-referrer-when-downgrade":      "weak",
	"origin":                          "weak",
	"origin-when-cross-origin":        "weak",
	"unsafe-url":                      "unsafe",
}

// legacyMetaReferrer maps the legacy <meta name="referrer"> keywords
// (HTML "meta referrer" processing).
var legacyMetaReferrer = map[string]string{
	"never":                   "no-referrer",
	"default":                 "strict-origin-when-cross-origin",
	"always":                  "unsafe-url",
	"origin-when-crossorigin": "origin-when-cross-origin",
}

// referrerPolicy checks the effective referrer policy: the last valid
// token of the Referrer-Policy header list (Referrer Policy §8.1), then
// overridden by each <meta name="referrer"> whose content is exactly one
// valid policy (HTML).
func (a *headersAudit) referrerPolicy(metas []string) {
	lines := a.in.header.Values("Referrer-Policy")
	policy := ""
	for _, line := range lines {
		for tok := range strings.SplitSeq(line, ",") {
			if t := strings.ToLower(strings.Trim(tok, " \t")); referrerPolicies[t] != "" {
				policy = t
			}
		}
	}
	var written []string
	written = append(written, lines...)
	for _, m := range metas {
		v := strings.ToLower(m)
		if mapped, ok := legacyMetaReferrer[v]; ok {
			v = mapped
		}
		if referrerPolicies[v] != "" {
			policy = v
		}
		written = append(written, `<meta name="referrer" content="`+m+`">`)
	}
	switch {
	case policy == "" && len(written) == 0:
		a.add(findingReferrerMissing, "no Referrer-Policy header or <meta name=\"referrer\">")
	case policy == "":
		a.add(findingReferrerInvalid, "no valid policy in "+clipEvidence(strings.Join(written, ", ")))
	case referrerPolicies[policy] == "unsafe":
		a.add(findingReferrerUnsafe, "effective Referrer-Policy: "+policy)
	case referrerPolicies[policy] == "weak":
		a.add(findingReferrerWeak, "effective Referrer-Policy: "+policy)
	}
}

// permissionsPolicy checks that Permissions-Policy is a structured-field
// Dictionary whose every member is an allowlist: *, self, an origin
// string, or an inner list of those (Permissions Policy §5).
func (a *headersAudit) permissionsPolicy() {
	lines := a.in.header.Values("Permissions-Policy")
	if len(lines) == 0 {
		a.add(findingPermissionsMissing, "no Permissions-Policy header")
		return
	}
	dict, err := parseSFDictionary(lines)
	if err != nil {
		a.add(findingPermissionsInvalid, fmt.Sprintf("not a structured-field dictionary (%v): %s", err, clipEvidence(strings.Join(lines, ", "))))
		return
	}
	if len(dict) == 0 {
		a.add(findingPermissionsMissing, "an empty Permissions-Policy header")
		return
	}
	var bad []string
	for _, m := range dict {
		if !validAllowlist(m.Value) {
			bad = append(bad, m.Key)
		}
	}
	if len(bad) > 0 {
		a.add(findingPermissionsInvalid, "members whose value is not an allowlist (*, self, \"origin\" or a list of them): "+strings.Join(bad, ", "))
	}
}

// validAllowlist reports whether v is a Permissions-Policy allowlist.
func validAllowlist(v any) bool {
	switch x := v.(type) {
	case sfItem:
		return validAllowlistItem(x.Value)
	case sfInnerList:
		for _, it := range x.Items {
			if !validAllowlistItem(it.Value) {
				return false
			}
		}
		return true
	}
	return false
}

func validAllowlistItem(v any) bool {
	switch x := v.(type) {
	case sfToken:
		return x == "*" || x == "self" || x == "src"
	case string:
		u, err := url.Parse(x)
		return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && (u.Path == "" || u.Path == "/")
	}
	return false
}

// headersCookie is what the audit needs of one Set-Cookie line.
type headersCookie struct {
	name               string
	secure, httpOnly   bool
	sameSite           string // lower-cased value; "" if absent
	sameSiteSet        bool
	domainSet, pathSet bool
	path               string
	expired            bool
}

// parseSetCookie parses a Set-Cookie line (RFC 6265bis §5.6): the name
// before the first '=', then ';'-separated attributes whose last
// occurrence wins. ok is false for a line without a name and value.
func parseSetCookie(line string, now time.Time) (headersCookie, bool) {
	pair, attrs, _ := strings.Cut(line, ";")
	name, value, hasEq := strings.Cut(pair, "=")
	if !hasEq {
		name, value = "", name
	}
	c := headersCookie{name: strings.Trim(name, " \t")}
	if c.name == "" && strings.Trim(value, " \t") == "" {
		return c, false
	}
	maxAgeSet := false
	for attr := range strings.SplitSeq(attrs, ";") {
		k, v, _ := strings.Cut(attr, "=")
		k, v = strings.ToLower(strings.Trim(k, " \t")), strings.Trim(v, " \t")
		switch k {
		case "secure":
			c.secure = true
		case "httponly":
			c.httpOnly = true
		case "samesite":
			c.sameSite, c.sameSiteSet = strings.ToLower(v), true
		case "domain":
			c.domainSet = v != ""
		case "path":
			c.path, c.pathSet = v, true
		case "max-age":
			switch n, err := strconv.ParseInt(v, 10, 64); {
			case err == nil:
				maxAgeSet, c.expired = true, n <= 0
			case errors.Is(err, strconv.ErrRange):
				maxAgeSet, c.expired = true, n < 0
			}
		case "expires":
			if t, err := http.ParseTime(v); err == nil && !maxAgeSet {
				c.expired = !t.After(now)
			}
		}
	}
	return c, true
}

// cookieKind classifies a cookie by name: "csrf" for anti-CSRF tokens
// (which scripts often must read), "session" for session and
// authentication cookies, "" for others.
func cookieKind(name string) string {
	l := strings.ToLower(name)
	switch {
	case strings.Contains(l, "csrf") || strings.Contains(l, "xsrf"):
		return "csrf"
	}
	for _, s := range []string{"sess", "sid", "auth", "token", "login", "jwt", "remember", "identity"} {
		if strings.Contains(l, s) {
			return "session"
		}
	}
	return ""
}

// cookies checks every Set-Cookie of the response. Deletions (expired
// cookies) are skipped. Evidence names cookies, never their values.
func (a *headersAudit) cookies() {
	lists := map[string][]string{}
	note := func(id, name string) {
		if name == "" {
			name = "(nameless)"
		}
		lists[id] = hdrAppendUnique(lists[id], name)
	}
	https := a.in.url.Scheme == "https"
	for _, line := range a.in.header.Values("Set-Cookie") {
		c, ok := parseSetCookie(line, a.in.now)
		if !ok || c.expired {
			continue
		}
		kind := cookieKind(c.name)
		if https && !c.secure {
			note(findingCookieInsecure, c.name)
		}
		if kind == "session" && !c.httpOnly {
			note(findingCookieHTTPOnly, c.name)
		}
		validSameSite := c.sameSite == "strict" || c.sameSite == "lax" || c.sameSite == "none"
		if c.sameSiteSet && !validSameSite || !c.sameSiteSet && kind != "" {
			note(findingCookieSameSite, c.name)
		}
		if c.sameSite == "none" && !c.secure {
			note(findingCookieSameSiteNone, c.name)
		}
		lower := strings.ToLower(c.name)
		if strings.HasPrefix(lower, "__secure-") && !c.secure ||
			strings.HasPrefix(lower, "__host-") && (!c.secure || c.domainSet || c.path != "/") {
			note(findingCookiePrefix, c.name)
		}
	}
	for _, id := range []string{findingCookieInsecure, findingCookieHTTPOnly, findingCookieSameSite, findingCookieSameSiteNone, findingCookiePrefix} {
		if names := lists[id]; len(names) > 0 {
			a.add(id, "cookies: "+clipEvidence(strings.Join(names, ", ")))
		}
	}
}

// cors checks the CORS answers: to the foreign probe origin, to the null
// origin, and to the plain request.
func (a *headersAudit) cors() {
	a.corsAnswer(a.in.cors, a.in.probeOrigin)
	a.corsAnswer(a.in.nullCORS, "null")
	a.corsAnswer(a.in.header, "")
}

// corsAnswer checks one answer to a request sent with Origin: origin ("":
// none). Fetch requires exactly one Access-Control-Allow-Origin value and
// Access-Control-Allow-Credentials to be exactly "true".
func (a *headersAudit) corsAnswer(h http.Header, origin string) {
	acao := h.Values("Access-Control-Allow-Origin")
	if len(acao) != 1 {
		return
	}
	allow := strings.Trim(acao[0], " \t")
	creds := false
	if acac := h.Values("Access-Control-Allow-Credentials"); len(acac) > 0 {
		creds = strings.Trim(acac[0], " \t") == "true"
	}
	credsNote := ""
	if creds {
		credsNote = " with Access-Control-Allow-Credentials: true"
	}
	switch {
	case origin != "" && origin != "null" && allow == origin:
		id := findingCORSReflected
		if creds {
			id = findingCORSReflectedCreds
		}
		a.add(id, fmt.Sprintf("Origin: %s was answered with Access-Control-Allow-Origin: %s%s", origin, allow, credsNote))
	case allow == "*" && creds:
		a.add(findingCORSWildcardCreds, "Access-Control-Allow-Origin: *"+credsNote)
	case allow == "null":
		id := findingCORSNull
		if creds {
			id = findingCORSNullCreds
		}
		a.add(id, "Access-Control-Allow-Origin: null"+credsNote)
	}
}

// serverVersionPattern matches a version number in a Server header, such as
// nginx/1.25.3, Apache/2.4.1 or Jetty(9.4.43).
var serverVersionPattern = regexp.MustCompile(`/v?[0-9]|[0-9]+\.[0-9]+`)

// frameworkHeaders disclose the server-side framework, CMS or language,
// often with its version (from OWASP Secure Headers' list of headers to
// remove).
var frameworkHeaders = []string{
	"X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "Powered-By", "X-CF-Powered-By",
	"X-Powered-By-Plesk", "X-Powered-CMS", "X-Server-Powered-By", "X-Generator", "X-Generated-By",
	"X-Php-Version", "X-OWA-Version", "X-Joomla-Version", "X-Umbraco-Version", "X-Cocoon-Version",
	"X-Framework",
}

// disclosure checks for software version disclosure.
func (a *headersAudit) disclosure() {
	for _, v := range a.in.header.Values("Server") {
		if serverVersionPattern.MatchString(v) {
			a.add(findingDisclosureServer, "Server: "+clipEvidence(v))
		}
	}
	for _, name := range frameworkHeaders {
		for _, v := range a.in.header.Values(name) {
			a.add(findingDisclosurePoweredBy, name+": "+clipEvidence(v))
		}
	}
}

// maxEvidenceValue bounds how much of one header value evidence quotes.
const maxEvidenceValue = 300

// clipEvidence shortens a header value for evidence and removes control
// characters.
func clipEvidence(s string) string {
	return clipTo(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s), maxEvidenceValue)
}

// clipTo shortens s to at most n bytes (plus an ellipsis) without
// splitting a UTF-8 sequence.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
