package monitors

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Finding ids of the headers monitor; config.HeadersFindingIDs lists the
// same set (a test keeps them in step).
const (
	findingHeadersUnreachable = "headers.unreachable"
	findingHeadersGrade       = "headers.grade"

	findingCSPMissing                  = "headers.csp.missing"
	findingCSPReportOnly               = "headers.csp.report_only"
	findingCSPInvalid                  = "headers.csp.invalid"
	findingCSPDuplicate                = "headers.csp.duplicate_directive"
	findingCSPUnknown                  = "headers.csp.unknown_directive"
	findingCSPScriptUnrestricted       = "headers.csp.script_unrestricted"
	findingCSPUnsafeInline             = "headers.csp.unsafe_inline"
	findingCSPUnsafeEval               = "headers.csp.unsafe_eval"
	findingCSPScriptWildcard           = "headers.csp.script_wildcard"
	findingCSPInsecureScheme           = "headers.csp.insecure_scheme"
	findingCSPObjectSrc                = "headers.csp.object_src"
	findingCSPBaseURI                  = "headers.csp.base_uri"
	findingCSPFrameAncestorsMissing    = "headers.csp.frame_ancestors_missing"
	findingCSPFrameAncestorsPermissive = "headers.csp.frame_ancestors_permissive"

	findingHSTSMissing      = "headers.hsts.missing"
	findingHSTSInvalid      = "headers.hsts.invalid"
	findingHSTSMultiple     = "headers.hsts.multiple"
	findingHSTSShortMaxAge  = "headers.hsts.short_max_age"
	findingHSTSNoSubdomains = "headers.hsts.no_subdomains"
	findingHSTSNoPreload    = "headers.hsts.no_preload"
	findingHSTSPlainHTTP    = "headers.hsts.plain_http"

	findingXFOMissing    = "headers.xfo.missing"
	findingXFOInvalid    = "headers.xfo.invalid"
	findingXFOSameOrigin = "headers.xfo.sameorigin"

	findingXCTOMissing = "headers.xcto.missing"
	findingXCTOInvalid = "headers.xcto.invalid"

	findingReferrerMissing = "headers.referrer.missing"
	findingReferrerInvalid = "headers.referrer.invalid"
	findingReferrerUnsafe  = "headers.referrer.unsafe"
	findingReferrerWeak    = "headers.referrer.weak"

	findingPermissionsMissing = "headers.permissions_policy.missing"
	findingPermissionsInvalid = "headers.permissions_policy.invalid"

	findingCookieInsecure     = "headers.cookie.insecure"
	findingCookieHTTPOnly     = "headers.cookie.httponly"
	findingCookieSameSite     = "headers.cookie.samesite"
	findingCookieSameSiteNone = "headers.cookie.samesite_none_insecure"
	findingCookiePrefix       = "headers.cookie.prefix"

	findingCORSReflected      = "headers.cors.reflected_origin"
	findingCORSReflectedCreds = "headers.cors.reflected_origin_credentials"
	findingCORSWildcardCreds  = "headers.cors.wildcard_credentials"
	findingCORSNull           = "headers.cors.null_origin"
	findingCORSNullCreds      = "headers.cors.null_origin_credentials"

	findingDisclosureServer    = "headers.disclosure.server"
	findingDisclosurePoweredBy = "headers.disclosure.powered_by"
)

// headersFindingSpec is the fixed part of a headers finding.
type headersFindingSpec struct {
	severity event.Severity
	// title says what is wrong; the monitor name and URL are added.
	title string
	// remediation names the exact header to send.
	remediation string
}

// The recommended headers, quoted in remediations.
const (
	recommendedCSP  = `"Content-Security-Policy: default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"`
	recommendedHSTS = `"Strict-Transport-Security: max-age=31536000; includeSubDomains"`
	recommendedRP   = `"Referrer-Policy: strict-origin-when-cross-origin" (or no-referrer)`
	recommendedPP   = `"Permissions-Policy: camera=(), microphone=(), geolocation=(), payment=(), usb=()"`
	recommendedXFO  = `"Content-Security-Policy: frame-ancestors 'none'" and "X-Frame-Options: DENY"`
)

// headersFindings is the one table of headers findings: severity, title
// and remediation of each id.
var headersFindings = map[string]headersFindingSpec{
	findingHeadersUnreachable: {event.SeverityHigh, "cannot audit security headers: the request failed",
		"Check that the URL answers from where secopsd runs, with a valid TLS certificate; the audit needs a response."},
	findingHeadersGrade: {event.SeverityMedium, "security header grade below min_grade",
		"Fix the other headers findings of this URL until its grade reaches the monitor's min_grade."},

	findingCSPMissing: {event.SeverityMedium, "no Content-Security-Policy",
		"Send " + recommendedCSP + ", then allow what the page needs (an API answering JSON can send \"default-src 'none'; frame-ancestors 'none'\")."},
	findingCSPReportOnly: {event.SeverityMedium, "Content-Security-Policy is report-only, nothing is enforced",
		"Content-Security-Policy-Report-Only only reports violations. Once its reports are clean, send the same policy as Content-Security-Policy, e.g. " + recommendedCSP + "."},
	findingCSPInvalid: {event.SeverityMedium, "Content-Security-Policy has no directive browsers apply",
		"Send a well-formed policy, directives separated by ';' and each a known name followed by its sources, e.g. " + recommendedCSP + "."},
	findingCSPDuplicate: {event.SeverityLow, "Content-Security-Policy repeats a directive (only the first counts)",
		"Merge the sources of each repeated directive into its first occurrence and delete the repeats."},
	findingCSPUnknown: {event.SeverityLow, "Content-Security-Policy has unknown directives (browsers ignore them)",
		"Fix the spelling of the unknown directives (e.g. frame-ancestors, not frame-anchestors) or remove them."},
	findingCSPScriptUnrestricted: {event.SeverityMedium, "Content-Security-Policy does not restrict scripts",
		"Add script-src or default-src, e.g. \"script-src 'self'\" or, with a per-response nonce, \"script-src 'nonce-RANDOM' 'strict-dynamic'\"; or send " + recommendedCSP + "."},
	findingCSPUnsafeInline: {event.SeverityMedium, "Content-Security-Policy allows inline scripts ('unsafe-inline')",
		"Remove 'unsafe-inline' from script-src and default-src: move inline scripts to files, or allow them with a per-response nonce ('nonce-RANDOM') or a hash ('sha256-…'), which also make browsers ignore 'unsafe-inline'."},
	findingCSPUnsafeEval: {event.SeverityMedium, "Content-Security-Policy allows eval ('unsafe-eval')",
		"Remove 'unsafe-eval' from script-src and default-src, and replace eval(), new Function() and string timers in the page's scripts."},
	findingCSPScriptWildcard: {event.SeverityMedium, "Content-Security-Policy allows scripts from any host",
		"Replace *, https:, http:, data: and https://* in script-src and default-src with the exact hosts scripts come from, or use \"script-src 'nonce-RANDOM' 'strict-dynamic'\"."},
	findingCSPInsecureScheme: {event.SeverityLow, "Content-Security-Policy allows active content over plain HTTP or FTP",
		"Use https:// for every source of script-src, style-src, object-src, frame-src, worker-src, connect-src and default-src."},
	findingCSPObjectSrc: {event.SeverityLow, "Content-Security-Policy does not restrict plugins (object-src)",
		"Add \"object-src 'none'\" to the Content-Security-Policy (or make default-src 'none' or 'self')."},
	findingCSPBaseURI: {event.SeverityLow, "Content-Security-Policy does not restrict <base> (base-uri)",
		"Add \"base-uri 'none'\" (or 'self') to the Content-Security-Policy; base-uri does not fall back to default-src."},
	findingCSPFrameAncestorsMissing: {event.SeverityLow, "Content-Security-Policy has no frame-ancestors",
		"Add \"frame-ancestors 'none'\" (or 'self') to the Content-Security-Policy header; it supersedes X-Frame-Options."},
	findingCSPFrameAncestorsPermissive: {event.SeverityMedium, "Content-Security-Policy frame-ancestors lets any site frame the page",
		"Replace the wildcard in frame-ancestors with 'none', 'self' or the exact origins allowed to frame the page, e.g. \"Content-Security-Policy: frame-ancestors 'none'\"."},

	findingHSTSMissing: {event.SeverityMedium, "no Strict-Transport-Security on an HTTPS URL",
		"Send " + recommendedHSTS + " on every HTTPS response."},
	findingHSTSInvalid: {event.SeverityMedium, "Strict-Transport-Security is malformed (browsers ignore it)",
		"Send exactly " + recommendedHSTS + ": max-age once with digits only, each directive once."},
	findingHSTSMultiple: {event.SeverityLow, "several Strict-Transport-Security headers (only the first counts)",
		"Send one Strict-Transport-Security header: " + recommendedHSTS + "; check that a proxy and the application do not both add one."},
	findingHSTSShortMaxAge: {event.SeverityLow, "Strict-Transport-Security max-age is too short",
		"Send " + recommendedHSTS + " (max-age at least the monitor's hsts_min_max_age)."},
	findingHSTSNoSubdomains: {event.SeverityLow, "Strict-Transport-Security lacks includeSubDomains",
		"Once every subdomain serves HTTPS, send " + recommendedHSTS + "."},
	findingHSTSNoPreload: {event.SeverityLow, "Strict-Transport-Security lacks preload",
		"Send \"Strict-Transport-Security: max-age=31536000; includeSubDomains; preload\" and submit the domain at https://hstspreload.org."},
	findingHSTSPlainHTTP: {event.SeverityInfo, "Strict-Transport-Security sent over plain HTTP (browsers ignore it)",
		"Redirect http:// to https:// and send Strict-Transport-Security on the HTTPS responses; audit the https:// URL."},

	findingXFOMissing: {event.SeverityMedium, "no clickjacking protection (neither CSP frame-ancestors nor X-Frame-Options)",
		"Send " + recommendedXFO + " (SAMEORIGIN and 'self' if the site frames its own pages)."},
	findingXFOInvalid: {event.SeverityMedium, "X-Frame-Options has an invalid value (browsers ignore it)",
		"Send " + recommendedXFO + "; ALLOW-FROM is obsolete: list allowed framers in CSP frame-ancestors instead."},
	findingXFOSameOrigin: {event.SeverityLow, "X-Frame-Options SAMEORIGIN lets same-origin pages frame this one",
		"Unless the site frames its own pages, send " + recommendedXFO + "."},

	findingXCTOMissing: {event.SeverityLow, "no X-Content-Type-Options",
		"Send \"X-Content-Type-Options: nosniff\"."},
	findingXCTOInvalid: {event.SeverityLow, "X-Content-Type-Options is not nosniff",
		"Send \"X-Content-Type-Options: nosniff\" (exactly that value)."},

	findingReferrerMissing: {event.SeverityLow, "no Referrer-Policy",
		"Send " + recommendedRP + "."},
	findingReferrerInvalid: {event.SeverityLow, "Referrer-Policy has no valid policy (browsers ignore it)",
		"Send " + recommendedRP + "."},
	findingReferrerUnsafe: {event.SeverityMedium, "Referrer-Policy unsafe-url sends full URLs to every site",
		"Send " + recommendedRP + "."},
	findingReferrerWeak: {event.SeverityLow, "weak Referrer-Policy (leaks the origin or full URL on some requests)",
		"Send " + recommendedRP + "."},

	findingPermissionsMissing: {event.SeverityLow, "no Permissions-Policy",
		"Send a Permissions-Policy that turns off what the page does not use, e.g. " + recommendedPP + "."},
	findingPermissionsInvalid: {event.SeverityLow, "Permissions-Policy is not a valid structured-field dictionary of allowlists",
		"Use the structured-field syntax: feature=() to turn off, feature=(self \"https://other.example\") to allow, separated by commas, e.g. " + recommendedPP + "."},

	findingCookieInsecure: {event.SeverityMedium, "cookies without Secure on an HTTPS site",
		"Add Secure to every cookie: \"Set-Cookie: name=value; Secure; HttpOnly; SameSite=Lax; Path=/\"."},
	findingCookieHTTPOnly: {event.SeverityMedium, "session cookies readable by scripts (no HttpOnly)",
		"Add HttpOnly to session and authentication cookies: \"Set-Cookie: session=…; Secure; HttpOnly; SameSite=Lax; Path=/\"."},
	findingCookieSameSite: {event.SeverityLow, "session or anti-CSRF cookies without a valid SameSite",
		"Add SameSite=Lax (or Strict) to session and anti-CSRF cookies: \"Set-Cookie: session=…; Secure; HttpOnly; SameSite=Lax; Path=/\"; the only values are Strict, Lax and None."},
	findingCookieSameSiteNone: {event.SeverityLow, "SameSite=None cookies without Secure (browsers reject them)",
		"A SameSite=None cookie must be Secure: \"Set-Cookie: name=value; SameSite=None; Secure\"."},
	findingCookiePrefix: {event.SeverityLow, "cookies break their __Host-/__Secure- prefix rules (browsers reject them)",
		"__Secure- cookies need Secure; __Host- cookies need Secure, Path=/ and no Domain: \"Set-Cookie: __Host-name=value; Secure; Path=/; HttpOnly; SameSite=Lax\"."},

	findingCORSReflected: {event.SeverityHigh, "CORS allows any origin (the request's Origin is echoed)",
		"Answer Access-Control-Allow-Origin only for an explicit allowlist of trusted origins, never by echoing the request's Origin, and send \"Vary: Origin\"."},
	findingCORSReflectedCreds: {event.SeverityCritical, "CORS echoes any Origin with credentials: any site can read authenticated responses",
		"Stop echoing the request's Origin: send Access-Control-Allow-Origin with \"Access-Control-Allow-Credentials: true\" only for an explicit allowlist of trusted origins, and \"Vary: Origin\"."},
	findingCORSWildcardCreds: {event.SeverityHigh, "CORS allows any origin (*) together with credentials",
		"Drop \"Access-Control-Allow-Credentials: true\" from public (Access-Control-Allow-Origin: *) responses, or replace * with an explicit allowlist of trusted origins."},
	findingCORSNull: {event.SeverityMedium, "CORS allows the null origin",
		"Never send \"Access-Control-Allow-Origin: null\": sandboxed iframes and local files send Origin: null. Allow explicit trusted origins only."},
	findingCORSNullCreds: {event.SeverityHigh, "CORS allows the null origin with credentials",
		"Never send \"Access-Control-Allow-Origin: null\" (least of all with \"Access-Control-Allow-Credentials: true\"): any sandboxed iframe sends Origin: null. Allow explicit trusted origins only."},

	findingDisclosureServer: {event.SeverityLow, "Server header discloses the software version",
		"Remove the version from the Server header (nginx: server_tokens off; Apache: ServerTokens Prod) or drop the header."},
	findingDisclosurePoweredBy: {event.SeverityLow, "response discloses its framework (X-Powered-By, X-AspNet-Version, X-Generator…)",
		"Stop sending the headers named in the evidence, such as X-Powered-By, X-AspNet-Version and X-AspNetMvc-Version (Express: app.disable(\"x-powered-by\"); PHP: expose_php = Off; ASP.NET: <httpRuntime enableVersionHeader=\"false\">)."},
}

// headersPenalty is the one scoring table: every URL starts at 100 points
// and loses this many per finding of each severity.
var headersPenalty = [...]int{
	event.SeverityUnknown:  0,
	event.SeverityInfo:     0,
	event.SeverityLow:      5,
	event.SeverityMedium:   20,
	event.SeverityHigh:     40,
	event.SeverityCritical: 100,
}

// headersGradeChart maps a score to a grade: the first row whose minimum
// the score reaches (the grade chart of Mozilla's HTTP Observatory).
var headersGradeChart = [...]struct {
	min   int
	grade string
}{
	{100, "A+"}, {90, "A"}, {85, "A-"}, {80, "B+"}, {70, "B"}, {65, "B-"},
	{60, "C+"}, {50, "C"}, {45, "C-"}, {40, "D+"}, {30, "D"}, {25, "D-"}, {0, "F"},
}

// headersScore returns the score (0 to 100) and grade of a URL's issues.
func headersScore(issues []headersIssue) (int, string) {
	score := 100
	for _, is := range issues {
		score -= headersPenalty[headersFindings[is.id].severity]
	}
	score = max(score, 0)
	for _, row := range headersGradeChart {
		if score >= row.min {
			return score, row.grade
		}
	}
	return score, "F"
}

// headersGradeRank orders grades, 0 best; -1 if unknown.
func headersGradeRank(grade string) int {
	for i, row := range headersGradeChart {
		if row.grade == grade {
			return i
		}
	}
	return -1
}

const (
	// headersMaxHTML bounds how much of an HTML page is read for its
	// <meta> policies, which belong in the head.
	headersMaxHTML = 256 << 10
	// headersWorkers bounds how many URLs of one monitor are audited at
	// once (the per-host limit of Env.Hosts applies as well).
	headersWorkers = 4
	// headersMaxError bounds the request error quoted in evidence.
	headersMaxError = 200
	// headersMaxEvidence bounds the evidence of one finding, which quotes
	// what the audited site sent.
	headersMaxEvidence = 1000
)

// headersRun holds one run of a headers monitor.
type headersRun struct {
	m       config.Monitor
	cfg     *config.HeadersMonitor
	env     Env
	logger  *slog.Logger
	opt     headersOptions
	request http.Header
	// secrets are the configured header values (and their longer parts),
	// scrubbed from every evidence string.
	secrets []string
}

// headersURLResult is the audit of one URL.
type headersURLResult struct {
	target  string
	issues  []headersIssue
	status  int
	final   string
	offHost string
	corsErr string
}

// ProbeHeaders audits the security headers of each configured URL: CSP,
// HSTS (https URLs only), clickjacking protection, X-Content-Type-Options,
// Referrer-Policy, Permissions-Policy, cookies, CORS (with a probe from a
// foreign origin and from the null origin) and version disclosure. Every
// URL gets a score and grade in Details (score:URL, grade:URL).
func ProbeHeaders(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("monitor", m.Name)
	res := startResult(m, env)
	start := res.Start
	cfg := m.Headers
	if cfg == nil || len(cfg.URLs) == 0 {
		return configFailure(res, m, env, "headers monitor has no urls", "missing urls",
			"Set urls in the monitor's configuration.")
	}
	r := &headersRun{m: m, cfg: cfg, env: env, logger: logger, request: http.Header{}}
	r.opt = headersOptions{hstsMinMaxAge: int64(cfg.HSTSMinMaxAge.Std().Seconds()), requirePreload: cfg.RequirePreload}
	if r.opt.hstsMinMaxAge <= 0 {
		r.opt.hstsMinMaxAge = int64(config.DefaultHeadersHSTSMinMaxAge.Seconds())
	}
	for k, v := range cfg.Headers {
		r.request.Set(k, v.Reveal())
		r.secrets = append(r.secrets, headersSecretParts(v.Reveal())...)
	}
	for _, raw := range cfg.URLs {
		if u, err := url.Parse(raw); err == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				r.secrets = append(r.secrets, pw)
			}
		}
	}
	// Longest first, so that a value is scrubbed before its parts.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })

	targets := make([]string, len(cfg.URLs))
	results := make([]headersURLResult, len(cfg.URLs))
	sem := make(chan struct{}, headersWorkers)
	var wg sync.WaitGroup
	for i, raw := range cfg.URLs {
		targets[i] = headersRedactURL(raw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[i] = headersURLResult{target: targets[i], issues: []headersIssue{{findingHeadersUnreachable, "not audited: " + ctx.Err().Error()}}}
				return
			}
			results[i] = r.auditURL(ctx, raw, targets[i])
		}()
	}
	wg.Wait()

	res.Target = strings.Join(targets, ", ")
	ignored := 0
	worstScore, worstGrade := 101, ""
	for _, ur := range results {
		var kept []headersIssue
		for _, is := range ur.issues {
			if slices.Contains(cfg.Ignore, is.id) {
				ignored++
				continue
			}
			kept = append(kept, is)
		}
		for _, is := range kept {
			res.Findings = append(res.Findings, r.finding(ur.target, is))
		}
		if ur.unreachable() {
			res.Details["error:"+ur.target] = ur.issues[0].evidence
			continue // not audited: no score
		}
		score, grade := headersScore(kept)
		res.Details["score:"+ur.target] = strconv.Itoa(score)
		res.Details["grade:"+ur.target] = grade
		if ur.status != 0 {
			res.Details["status:"+ur.target] = strconv.Itoa(ur.status)
		}
		if ur.final != "" && ur.final != ur.target {
			res.Details["final_url:"+ur.target] = ur.final
		}
		if ur.offHost != "" {
			res.Details["offhost_redirect:"+ur.target] = ur.offHost
		}
		if ur.corsErr != "" {
			// The CORS findings of this URL are unknown: a run without
			// them must not resolve their incidents.
			res.Details["cors_probe_error:"+ur.target] = ur.corsErr
			res.Inconclusive = true
		}
		if score < worstScore {
			worstScore, worstGrade = score, grade
		}
		if cfg.MinGrade != "" && headersGradeRank(grade) > headersGradeRank(cfg.MinGrade) && !slices.Contains(cfg.Ignore, findingHeadersGrade) {
			res.Findings = append(res.Findings, r.finding(ur.target, headersIssue{findingHeadersGrade,
				fmt.Sprintf("grade %s (score %d), min_grade %s", grade, score, cfg.MinGrade)}))
		}
	}
	res.Details["urls"] = strconv.Itoa(len(cfg.URLs))
	if worstGrade != "" {
		res.Details["score"] = strconv.Itoa(worstScore)
		res.Details["grade"] = worstGrade
	}
	if ignored > 0 {
		res.Details["ignored_findings"] = strconv.Itoa(ignored)
	}
	res.Success = len(res.Findings) == 0
	res.Duration = env.now().Sub(start)
	logger.Debug("headers audit done", "urls", len(cfg.URLs), "findings", len(res.Findings), "worst_grade", worstGrade)
	return res
}

// unreachable reports a URL that could not be audited.
func (u headersURLResult) unreachable() bool {
	return len(u.issues) == 1 && u.issues[0].id == findingHeadersUnreachable
}

// finding turns an issue of target into a Finding.
func (r *headersRun) finding(target string, is headersIssue) event.Finding {
	spec, ok := headersFindings[is.id]
	if !ok { // unreachable: every id the audit raises is in the table
		spec = headersFindingSpec{event.SeverityMedium, is.id, "See the evidence."}
	}
	title := fmt.Sprintf("%s: %s (%s)", r.m.Name, spec.title, target)
	evidence := clipTo(r.scrub(is.evidence), headersMaxEvidence)
	return newFinding(r.m.Name, target, is.id, spec.severity, title, evidence, spec.remediation)
}

// auditURL requests one URL three times (plain, with a foreign Origin,
// with Origin: null) and audits the answers.
func (r *headersRun) auditURL(ctx context.Context, raw, target string) headersURLResult {
	out := headersURLResult{target: target}
	main, err := fetch(ctx, r.env, fetchRequest{URL: raw, Header: r.request.Clone(), MaxBody: headersMaxHTML})
	if err != nil {
		msg := clipTo(r.scrub(errorText(err)), headersMaxError)
		r.logger.Debug("headers audit request failed", "url", target, "err", msg)
		out.issues = []headersIssue{{findingHeadersUnreachable, "GET " + target + ": " + msg}}
		return out
	}
	out.status = main.Status
	out.final = main.URL.Redacted()
	if main.OffHostRedirect != "" {
		out.offHost = headersRedactURL(main.OffHostRedirect)
	}
	in := headersInput{url: main.URL, header: main.Header, probeOrigin: r.cfg.ProbeOrigin, now: r.env.now(),
		redirect: main.OffHostRedirect != ""}
	if headersIsHTML(main.Header, main.Body) {
		in.html = main.Body
	}
	var corsErrs []string
	for _, origin := range []string{r.cfg.ProbeOrigin, "null"} {
		h := r.request.Clone()
		h.Set("Origin", origin)
		resp, err := fetch(ctx, r.env, fetchRequest{URL: raw, Header: h, MaxBody: 1})
		if err != nil {
			corsErrs = append(corsErrs, "Origin "+origin+": "+r.scrub(errorText(err)))
			continue
		}
		if origin == "null" {
			in.nullCORS = resp.Header
		} else {
			in.cors = resp.Header
		}
	}
	out.corsErr = strings.Join(corsErrs, "; ")
	out.issues = auditHeaders(in, r.opt)
	return out
}

// headersIsHTML reports whether a response is an HTML document, by its
// Content-Type or, without one, by its first bytes.
func headersIsHTML(h http.Header, body []byte) bool {
	if ct := h.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
	}
	return strings.Contains(strings.ToLower(http.DetectContentType(body)), "text/html")
}

// headersRedactURL returns raw without its password, or a placeholder if it does
// not parse (the configuration validation rejects such URLs).
func headersRedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}

// headersSecretParts returns the strings of a configured header value to scrub
// from evidence: the value and its longer space, comma, ';' or '='
// separated parts (a bearer token, a cookie value).
func headersSecretParts(v string) []string {
	const minLen = 6
	var out []string
	if len(v) >= minLen {
		out = append(out, v)
	}
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '=' }) {
		if len(p) >= minLen && p != v {
			out = append(out, p)
		}
	}
	return out
}

// scrub replaces configured secrets in s with <redacted>.
func (r *headersRun) scrub(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "<redacted>")
	}
	return s
}
