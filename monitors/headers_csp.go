package monitors

// Content-Security-Policy parsing (CSP Level 3 §2.2) and the analysis the
// headers monitor makes of a page's policies.

import (
	"slices"
	"strings"
)

// cspDirectives are the directive names browsers know (CSP3 and its
// extensions, plus a few obsolete ones that are harmless); any other name
// is reported as unknown, as browsers ignore it.
var cspDirectives = map[string]bool{
	"default-src": true, "script-src": true, "script-src-elem": true, "script-src-attr": true,
	"style-src": true, "style-src-elem": true, "style-src-attr": true, "img-src": true,
	"font-src": true, "connect-src": true, "media-src": true, "object-src": true,
	"frame-src": true, "child-src": true, "worker-src": true, "manifest-src": true,
	"prefetch-src": true, "fenced-frame-src": true, "base-uri": true, "form-action": true,
	"frame-ancestors": true, "navigate-to": true, "sandbox": true, "plugin-types": true,
	"report-uri": true, "report-to": true, "upgrade-insecure-requests": true,
	"block-all-mixed-content": true, "require-trusted-types-for": true, "trusted-types": true,
	"require-sri-for": true, "webrtc": true, "referrer": true, "disown-opener": true,
	"reflected-xss": true,
}

// cspMetaIgnored are the directives a <meta> policy may not set (CSP3
// §3.3); browsers ignore them there.
var cspMetaIgnored = map[string]bool{"frame-ancestors": true, "report-uri": true, "sandbox": true}

// cspKeywords are the keyword sources, quoted and in lower case.
var cspKeywords = map[string]bool{
	"'self'": true, "'none'": true, "'unsafe-inline'": true, "'unsafe-eval'": true,
	"'strict-dynamic'": true, "'unsafe-hashes'": true, "'report-sample'": true,
	"'wasm-unsafe-eval'": true, "'unsafe-allow-redirects'": true, "'inline-speculation-rules'": true,
	"'trusted-types-eval'": true, "'report-sha256'": true, "'report-sha384'": true, "'report-sha512'": true,
}

// cspPolicy is one parsed policy: a header line holds a comma-separated
// list of them, and every <meta http-equiv> holds one.
type cspPolicy struct {
	// meta reports a policy delivered in <meta http-equiv>.
	meta bool
	// directives maps each directive name (lower case) to its source list
	// as written; the first occurrence of a name wins.
	directives map[string][]string
	// order lists the directive names in the order they appeared.
	order []string
	// duplicates, unknown and metaIgnored list the directive names that
	// browsers skip: repeated, unknown, or not allowed in <meta>.
	duplicates, unknown, metaIgnored []string
}

// parseCSPHeader parses the lines of a Content-Security-Policy (or
// -Report-Only) header into policies: each line is a comma-separated list.
func parseCSPHeader(lines []string) []*cspPolicy {
	var out []*cspPolicy
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ",") {
			out = append(out, parseCSPPolicy(part, false))
		}
	}
	return out
}

// cspSpace reports whether c is ASCII whitespace in the Infra sense.
func cspSpace(c rune) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// parseCSPPolicy parses one serialized policy the way CSP3 §2.2.1 does:
// directives split on ';', the name lower-cased, the sources split on
// ASCII whitespace, a repeated directive ignored.
func parseCSPPolicy(s string, meta bool) *cspPolicy {
	p := &cspPolicy{meta: meta, directives: map[string][]string{}}
	for token := range strings.SplitSeq(s, ";") {
		fields := strings.FieldsFunc(token, cspSpace)
		if len(fields) == 0 {
			continue
		}
		name := strings.ToLower(fields[0])
		switch {
		case !validDirectiveName(name) || !cspDirectives[name]:
			p.unknown = hdrAppendUnique(p.unknown, name)
			continue
		case meta && cspMetaIgnored[name]:
			p.metaIgnored = hdrAppendUnique(p.metaIgnored, name)
			continue
		}
		if _, dup := p.directives[name]; dup {
			p.duplicates = hdrAppendUnique(p.duplicates, name)
			continue
		}
		p.directives[name] = fields[1:]
		p.order = append(p.order, name)
	}
	return p
}

// validDirectiveName matches 1*( ALPHA / DIGIT / "-" ).
func validDirectiveName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !sfAlpha(c) && !sfDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// headersMaxListed bounds the lists of names (unknown directives, cookies,
// sources …) that the audit collects for evidence, so that a hostile
// response cannot make it quadratic.
const headersMaxListed = 50

// hdrAppendUnique appends s to list unless it is there already or the
// list is full (headersMaxListed).
func hdrAppendUnique(list []string, s string) []string {
	if len(list) >= headersMaxListed || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// empty reports a policy without any directive browsers apply.
func (p *cspPolicy) empty() bool { return len(p.directives) == 0 }

// sources returns the source list that governs directive, following the
// given fallbacks (such as default-src); ok is false when no directive
// governs it, which means anything is allowed.
func (p *cspPolicy) sources(directive string, fallbacks ...string) (list []string, ok bool) {
	for _, d := range append([]string{directive}, fallbacks...) {
		if l, found := p.directives[d]; found {
			return l, true
		}
	}
	return nil, false
}

// cspSourceKind classifies a source expression.
type cspSourceKind int

const (
	cspInvalid cspSourceKind = iota
	cspKeyword
	cspNonce
	cspHash
	cspScheme
	cspHost
)

// cspSource is one classified source expression.
type cspSource struct {
	kind cspSourceKind
	// text is the expression, lower-cased except for nonce and hash values.
	text string
	// scheme is the scheme of a scheme or host source ("" if none).
	scheme string
	// host is the host of a host source ("*" for any).
	host string
}

// parseCSPSource classifies a source expression per the CSP3 grammar.
func parseCSPSource(s string) cspSource {
	lower := strings.ToLower(s)
	if strings.HasPrefix(s, "'") {
		switch {
		case cspKeywords[lower]:
			return cspSource{kind: cspKeyword, text: lower}
		case strings.HasPrefix(lower, "'nonce-") && strings.HasSuffix(s, "'") && cspBase64Value(s[len("'nonce-"):len(s)-1]):
			return cspSource{kind: cspNonce, text: s}
		}
		for _, alg := range []string{"'sha256-", "'sha384-", "'sha512-"} {
			if strings.HasPrefix(lower, alg) && strings.HasSuffix(s, "'") && cspBase64Value(s[len(alg):len(s)-1]) {
				return cspSource{kind: cspHash, text: s}
			}
		}
		return cspSource{kind: cspInvalid, text: lower}
	}
	if lower == "*" {
		return cspSource{kind: cspHost, text: lower, host: "*"}
	}
	// scheme-source: scheme ":" and nothing else.
	if scheme, rest, ok := strings.Cut(lower, ":"); ok && rest == "" {
		if cspIsScheme(scheme) {
			return cspSource{kind: cspScheme, text: lower, scheme: scheme}
		}
		return cspSource{kind: cspInvalid, text: lower}
	}
	// host-source: [ scheme "://" ] host [ ":" port ] [ path ].
	rest, scheme := lower, ""
	if sch, r, ok := strings.Cut(lower, "://"); ok {
		if !cspIsScheme(sch) {
			return cspSource{kind: cspInvalid, text: lower}
		}
		scheme, rest = sch, r
	}
	hostPort, _, _ := strings.Cut(rest, "/")
	host, port, hasPort := strings.Cut(hostPort, ":")
	if !isCSPHost(host) || hasPort && port != "*" && !cspAllDigits(port) {
		return cspSource{kind: cspInvalid, text: lower}
	}
	return cspSource{kind: cspHost, text: lower, scheme: scheme, host: host}
}

// cspBase64Value matches 1*( ALPHA / DIGIT / "+" / "/" / "-" / "_" )*2( "=" ).
func cspBase64Value(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" || len(s)-len(body) > 2 {
		return false
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; !sfAlpha(c) && !sfDigit(c) && c != '+' && c != '/' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// cspIsScheme matches ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func cspIsScheme(s string) bool {
	if s == "" || !sfAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !sfAlpha(c) && !sfDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isCSPHost matches "*" / [ "*." ] 1*host-char *( "." 1*host-char ).
func isCSPHost(h string) bool {
	if h == "*" {
		return true
	}
	h = strings.TrimPrefix(h, "*.")
	if h == "" {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !sfAlpha(c) && !sfDigit(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func cspAllDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !sfDigit(s[i]) {
			return false
		}
	}
	return true
}

// cspBroadSchemes are the schemes whose scheme-source lets a page load
// content from any host (or inline data) for that directive.
var cspBroadSchemes = map[string]bool{"http": true, "https": true, "data": true, "ftp": true}

// cspInsecureSchemes are the schemes without transport security.
var cspInsecureSchemes = map[string]bool{"http": true, "ftp": true}

// broad reports whether src allows any host: *, a host of *, or a scheme
// such as https: or data:.
func (s cspSource) broad() bool {
	switch s.kind {
	case cspHost:
		return s.host == "*"
	case cspScheme:
		return cspBroadSchemes[s.scheme]
	}
	return false
}

// insecure reports whether src allows content over plain HTTP or FTP.
func (s cspSource) insecure() bool {
	return (s.kind == cspHost || s.kind == cspScheme) && cspInsecureSchemes[s.scheme]
}

// cspScriptPolicy is what one policy allows scripts to do.
type cspScriptPolicy struct {
	unrestricted, inline, eval, wildcard, insecure bool
	// broadSources and insecureSources are the offending sources.
	broadSources, insecureSources []string
}

// scripts evaluates what p allows scripts to do (script-src, falling back
// to default-src). Per CSP3, a nonce, a hash or 'strict-dynamic' makes
// browsers ignore 'unsafe-inline', and 'strict-dynamic' makes them ignore
// host and scheme sources.
func (p *cspPolicy) scripts() cspScriptPolicy {
	list, ok := p.sources("script-src", "default-src")
	if !ok {
		return cspScriptPolicy{unrestricted: true, inline: true, eval: true, wildcard: true, insecure: true}
	}
	var r cspScriptPolicy
	var unsafeInline, nonceOrHash, strictDynamic bool
	srcs := make([]cspSource, 0, len(list))
	for _, s := range list {
		src := parseCSPSource(s)
		srcs = append(srcs, src)
		switch {
		case src.kind == cspNonce || src.kind == cspHash:
			nonceOrHash = true
		case src.text == "'unsafe-inline'":
			unsafeInline = true
		case src.text == "'unsafe-eval'":
			r.eval = true
		case src.text == "'strict-dynamic'":
			strictDynamic = true
		}
	}
	r.inline = unsafeInline && !nonceOrHash && !strictDynamic
	if !strictDynamic {
		for _, src := range srcs {
			if src.broad() {
				r.wildcard = true
				r.broadSources = hdrAppendUnique(r.broadSources, src.text)
			}
			if src.insecure() {
				r.insecure = true
				r.insecureSources = hdrAppendUnique(r.insecureSources, src.text)
			}
		}
	}
	return r
}

// cspActiveDirectives are the fetch directives of active content (CSP
// "blockable" mixed content), each with its fallback.
var cspActiveDirectives = [][]string{
	{"style-src", "default-src"},
	{"object-src", "default-src"},
	{"frame-src", "child-src", "default-src"},
	{"worker-src", "script-src", "child-src", "default-src"},
	{"connect-src", "default-src"},
}

// insecureActive returns the plain-HTTP sources p allows for active
// content other than scripts.
func (p *cspPolicy) insecureActive() []string {
	var out []string
	for _, chain := range cspActiveDirectives {
		list, ok := p.sources(chain[0], chain[1:]...)
		if !ok {
			continue
		}
		for _, s := range list {
			if src := parseCSPSource(s); src.insecure() {
				out = hdrAppendUnique(out, src.text)
			}
		}
	}
	return out
}

// anySource reports whether the source list of directive (with its
// fallbacks) is missing or allows any host; it returns the broad sources.
func (p *cspPolicy) anySource(directive string, fallbacks ...string) (bool, []string) {
	list, ok := p.sources(directive, fallbacks...)
	if !ok {
		return true, nil
	}
	var broad []string
	for _, s := range list {
		if src := parseCSPSource(s); src.broad() {
			broad = hdrAppendUnique(broad, src.text)
		}
	}
	return len(broad) > 0, broad
}

// cspFinding is a CSP problem: a finding id and its evidence.
type cspFinding struct{ id, evidence string }

// analyzeCSP audits the enforced policies of a response (header and
// <meta>). A weakness counts only when every policy has it, since a
// resource must satisfy all of them. reportOnly reports whether a
// Content-Security-Policy-Report-Only header was present.
func analyzeCSP(policies []*cspPolicy, reportOnly bool) []cspFinding {
	var out []cspFinding
	add := func(id, evidence string) { out = append(out, cspFinding{id, evidence}) }
	if len(policies) == 0 {
		if reportOnly {
			add(findingCSPReportOnly, "only Content-Security-Policy-Report-Only is sent; it enforces nothing")
		} else {
			add(findingCSPMissing, "no Content-Security-Policy header or <meta http-equiv> policy")
		}
		return out
	}
	var dups, unknown, metaIgnored []string
	effective := 0
	for _, p := range policies {
		for _, d := range p.duplicates {
			dups = hdrAppendUnique(dups, d)
		}
		for _, d := range p.unknown {
			unknown = hdrAppendUnique(unknown, d)
		}
		for _, d := range p.metaIgnored {
			metaIgnored = hdrAppendUnique(metaIgnored, d)
		}
		if !p.empty() {
			effective++
		}
	}
	if effective < len(policies) {
		ev := "a policy has no directive that browsers apply"
		if len(unknown) > 0 {
			ev += "; unknown: " + strings.Join(unknown, ", ")
		}
		if len(metaIgnored) > 0 {
			ev += "; not allowed in <meta>: " + strings.Join(metaIgnored, ", ")
		}
		add(findingCSPInvalid, ev)
		if effective == 0 {
			return out
		}
	}
	if len(dups) > 0 {
		add(findingCSPDuplicate, "repeated directives (only the first counts): "+strings.Join(dups, ", "))
	}
	if len(unknown) > 0 {
		add(findingCSPUnknown, "unknown directives: "+strings.Join(suggestDirectives(unknown), ", "))
	}

	all := func(pred func(*cspPolicy) bool) bool {
		for _, p := range policies {
			if !pred(p) {
				return false
			}
		}
		return true
	}
	scripts := make([]cspScriptPolicy, len(policies))
	for i, p := range policies {
		scripts[i] = p.scripts()
	}
	allScripts := func(pred func(cspScriptPolicy) bool) bool {
		for _, s := range scripts {
			if !pred(s) {
				return false
			}
		}
		return true
	}
	if allScripts(func(s cspScriptPolicy) bool { return s.unrestricted }) {
		add(findingCSPScriptUnrestricted, "neither script-src nor default-src is set, so any script runs, inline ones included")
	} else {
		if allScripts(func(s cspScriptPolicy) bool { return s.inline }) {
			add(findingCSPUnsafeInline, "script-src/default-src allows 'unsafe-inline' without a nonce, hash or 'strict-dynamic'")
		}
		if allScripts(func(s cspScriptPolicy) bool { return s.eval }) {
			add(findingCSPUnsafeEval, "script-src/default-src allows 'unsafe-eval'")
		}
		if allScripts(func(s cspScriptPolicy) bool { return s.wildcard }) {
			add(findingCSPScriptWildcard, "scripts allowed from "+strings.Join(cspCollect(scripts, func(s cspScriptPolicy) []string { return s.broadSources }), " "))
		}
		var insecure []string
		if allScripts(func(s cspScriptPolicy) bool { return s.insecure }) {
			insecure = cspCollect(scripts, func(s cspScriptPolicy) []string { return s.insecureSources })
		}
		if all(func(p *cspPolicy) bool { return len(p.insecureActive()) > 0 }) {
			for _, p := range policies {
				for _, s := range p.insecureActive() {
					insecure = hdrAppendUnique(insecure, s)
				}
			}
		}
		if len(insecure) > 0 {
			add(findingCSPInsecureScheme, "active content allowed over plain HTTP/FTP from "+strings.Join(insecure, " "))
		}
	}
	var objBroad []string
	if all(func(p *cspPolicy) bool {
		broad, srcs := p.anySource("object-src", "default-src")
		for _, s := range srcs {
			objBroad = hdrAppendUnique(objBroad, s)
		}
		return broad
	}) {
		ev := "neither object-src nor default-src restricts plugins"
		if len(objBroad) > 0 {
			ev = "object-src/default-src allows " + strings.Join(objBroad, " ")
		}
		add(findingCSPObjectSrc, ev)
	}
	if all(func(p *cspPolicy) bool { broad, _ := p.anySource("base-uri"); return broad }) {
		add(findingCSPBaseURI, "base-uri is not set (or allows any URL), so an injected <base> can redirect relative script URLs")
	}
	return out
}

// cspCollect gathers the unique strings that f returns for each element.
func cspCollect[T any](xs []T, f func(T) []string) []string {
	var out []string
	for _, x := range xs {
		for _, s := range f(x) {
			out = hdrAppendUnique(out, s)
		}
	}
	return out
}

// frameAncestors evaluates the frame-ancestors of the header policies
// (<meta> cannot set it): set reports whether any policy sets it, and
// permissive whether every policy lets any site frame the page.
func frameAncestors(policies []*cspPolicy) (set, permissive bool, broad []string) {
	permissive = true
	for _, p := range policies {
		if p.meta {
			continue
		}
		list, ok := p.directives["frame-ancestors"]
		if !ok {
			continue
		}
		set = true
		var b []string
		for _, s := range list {
			if src := parseCSPSource(s); src.broad() {
				b = hdrAppendUnique(b, src.text)
			}
		}
		if len(b) == 0 {
			permissive = false
		}
		broad = append(broad, b...)
	}
	return set, set && permissive, broad
}

// suggestDirectives annotates unknown directive names with the known name
// they are probably a misspelling of.
func suggestDirectives(unknown []string) []string {
	out := make([]string, len(unknown))
	for i, u := range unknown {
		out[i] = u
		best, bestDist := "", 3
		for d := range cspDirectives {
			if dist := cspEditDistance(u, d); dist < bestDist || dist == bestDist && d < best {
				best, bestDist = d, dist
			}
		}
		if best != "" {
			out[i] += " (did you mean " + best + "?)"
		}
	}
	return out
}

// cspEditDistance is the edit distance between a and b in bytes.
func cspEditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
