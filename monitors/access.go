package monitors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Finding ids of the access monitor.
const (
	// FindingAccessUnauthenticated is a protected endpoint answering 2xx to
	// a request without credentials (critical).
	FindingAccessUnauthenticated = "access.unauthenticated"
	// FindingAccessPrivilegeEscalation is an admin endpoint answering 2xx
	// to the low-privilege credential (critical).
	FindingAccessPrivilegeEscalation = "access.privilege_escalation"
	// FindingAccessError is an endpoint answering 5xx where it should
	// refuse, or a request that failed, so protection is unverified
	// (medium).
	FindingAccessError = "access.error"
	// FindingAccessUnexpectedStatus is any other answer than a refusal: a
	// status not in expect_status, or a redirect that is not an accepted
	// login redirect (low).
	FindingAccessUnexpectedStatus = "access.unexpected_status"
)

const (
	// accessMaxBody is how much of a response an access check reads.
	accessMaxBody = 4096
	// accessExcerptBytes is how much of a body evidence quotes at most.
	accessExcerptBytes = 200
)

// accessLoginStems mark a path segment as a login page when the segment,
// without "-" and "_", contains one of them ("/users/sign_in",
// "/wp-login.php", "/Account/LogOn").
var accessLoginStems = []string{"login", "signin", "logon"}

// accessLoginWords mark a path segment as a login page when one of its
// "-", "_" or "." separated words is one of them ("/oauth2/authorize",
// "/.auth/login", "/session/new"), so that "/authors" is not one.
var accessLoginWords = []string{"auth", "authn", "oauth", "oauth2", "authorize", "authenticate", "authentication",
	"sso", "saml", "saml2", "session", "sessions", "openid", "idp", "cas", "adfs"}

// accessSecretWords in a JSON-looking body suggest it carries credentials.
var accessSecretWords = []string{"token", "secret", "password", "passwd", "api_key", "apikey", "api-key",
	"credential", "private", "session", "cookie", "authorization", "bearer"}

// accessSecretShapes find credentials in any body: a JWT, a PEM block, a
// URL with a password.
var accessSecretShapes = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.|-----BEGIN [A-Z ]+-----|[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`)

// accessRun holds the state of one run of an access monitor.
type accessRun struct {
	m        config.Monitor
	cfg      *config.AccessMonitor
	env      Env
	requests int
	findings []event.Finding
	// secrets are the configured credential values, never to be shown.
	secrets []string
}

// accessOutcome is what one check of one endpoint saw.
type accessOutcome struct {
	method, target string // target is the redacted URL
	status         int
	finalURL       string // the URL that answered, after followed redirects
	location       string // Location of a final redirect, redacted
	body           []byte // the first accessMaxBody bytes
	err            error
}

// ProbeAccess checks that every configured endpoint refuses a request
// without credentials, and that every admin endpoint also refuses the
// low-privilege credential.
func ProbeAccess(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res := startResult(m, env)
	cfg := m.Access
	if cfg == nil || len(cfg.Endpoints) == 0 {
		return configFailure(res, m, env, "access monitor has no endpoints", "missing access.endpoints",
			"Set endpoints in the monitor's configuration.")
	}
	var origins []string
	for i, ep := range cfg.Endpoints {
		u, err := url.Parse(ep.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// url.Parse errors quote the input, which may carry credentials.
			return configFailure(res, m, env, "access monitor has an invalid endpoint url",
				fmt.Sprintf("endpoints[%d]: invalid url: want an absolute http or https URL", i),
				"Fix the endpoint's url in the monitor's configuration.")
		}
		if o := u.Scheme + "://" + u.Host; !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	res.Target = strings.Join(origins, " ")

	if len(cfg.ExpectStatus) == 0 {
		c := *cfg
		c.ExpectStatus = config.DefaultAccessExpectStatus()
		cfg = &c
	}
	r := &accessRun{m: m, cfg: cfg, env: env}
	for _, v := range cfg.LowPrivilegeHeaders {
		if s := v.Reveal(); s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	lowPriv := http.Header{}
	for k, v := range cfg.LowPrivilegeHeaders {
		lowPriv.Set(k, v.Reveal())
	}
	checked := 0
	for i, ep := range cfg.Endpoints {
		anon := r.check(ctx, ep, nil)
		if ctx.Err() != nil {
			break // an interrupted check proves nothing
		}
		r.judge(anon, false)
		line := "no credentials: " + anon.summary()
		if ep.Admin && len(lowPriv) > 0 {
			low := r.check(ctx, ep, lowPriv)
			if ctx.Err() != nil {
				break
			}
			r.judge(low, true)
			line += "; low privilege: " + low.summary()
		}
		res.Details["endpoint_"+strconv.Itoa(i)] = anon.method + " " + anon.target + " → " + line
		checked++
	}
	res.Details["endpoints"] = strconv.Itoa(len(cfg.Endpoints))
	res.Details["endpoints_checked"] = strconv.Itoa(checked)
	res.Details["requests"] = strconv.Itoa(r.requests)
	res.Details["expected_status"] = webJoinInts(cfg.ExpectStatus)
	res.Attempts = r.requests
	res.Findings = r.findings
	if checked < len(cfg.Endpoints) {
		f := webStopped(m.Name, res.Target, ctx.Err(), fmt.Sprintf("after %d of %d endpoints", checked, len(cfg.Endpoints)))
		res.Details["error"] = f.Evidence
		res.Findings = append(res.Findings, f)
	}
	if n := len(res.Findings); n > 0 {
		logger.Debug("access check found problems", "findings", n, "requests", r.requests)
	}
	return res.finish(env)
}

// check requests ep once, with header (nil: no credentials at all), and
// follows the redirects of GET and HEAD requests that only canonicalize
// the URL (http → https, a trailing slash); any other redirect is the
// answer, judged by judge.
func (r *accessRun) check(ctx context.Context, ep config.AccessEndpoint, header http.Header) accessOutcome {
	method := ep.RequestMethod()
	out := accessOutcome{method: method, target: webRedactURL(ep.URL)}
	next := ep.URL
	for hop := 0; ; hop++ {
		r.requests++
		resp, err := fetch(ctx, r.env, fetchRequest{Method: method, URL: next, Header: header.Clone(), MaxBody: accessMaxBody, NoRedirects: true})
		if err != nil {
			out.err = err
			return out
		}
		out.status, out.body, out.finalURL = resp.Status, resp.Body, webRedactURL(resp.URL.String())
		out.location = ""
		if resp.Status < 300 || resp.Status > 399 {
			return out
		}
		loc, err := resp.URL.Parse(resp.Header.Get("Location"))
		if err != nil || resp.Header.Get("Location") == "" {
			return out
		}
		out.location = loc.Redacted()
		if !accessCanonicalRedirect(resp.URL, loc) || (method != http.MethodGet && method != http.MethodHead) || hop >= maxRedirects {
			return out
		}
		next = loc.String()
	}
}

// judge turns one outcome into findings; lowPriv says whether the request
// carried the low-privilege credential.
func (r *accessRun) judge(o accessOutcome, lowPriv bool) {
	target := o.method + " " + o.target
	who := "without credentials"
	if lowPriv {
		who = "to the low-privilege credential"
	}
	expected := webJoinInts(r.cfg.ExpectStatus)
	add := func(id string, sev event.Severity, title, evidence, remediation string) {
		r.findings = append(r.findings, newFinding(r.m.Name, target, id, sev, r.m.Name+": "+title, evidence, remediation))
	}
	switch {
	case o.err != nil:
		add(FindingAccessError, event.SeverityMedium,
			fmt.Sprintf("%s failed %s: %s", target, who, errorText(o.err)),
			r.evidence(o, lowPriv),
			"The endpoint could not be checked: make sure it is reachable from secopsd; the http monitor tells whether it is up.")
	case o.status >= 200 && o.status <= 299 && lowPriv:
		add(FindingAccessPrivilegeEscalation, event.SeverityCritical,
			fmt.Sprintf("admin endpoint %s answers %d %s", target, o.status, who),
			r.evidence(o, lowPriv),
			"Enforce the admin role on this route (authorization, not only authentication): a user with the "+
				"low-privilege credential must get 403. Review who could reach it and its access logs.")
	case o.status >= 200 && o.status <= 299:
		add(FindingAccessUnauthenticated, event.SeverityCritical,
			fmt.Sprintf("%s answers %d %s", target, o.status, who),
			r.evidence(o, lowPriv),
			"Require authentication on this route (the auth middleware is missing or ordered after the handler): "+
				"an anonymous request must get 401. Review its access logs for unauthenticated use.")
	case o.status >= 500:
		add(FindingAccessError, event.SeverityMedium,
			fmt.Sprintf("%s answers %d %s", target, o.status, who),
			r.evidence(o, lowPriv),
			fmt.Sprintf("The auth layer fails instead of refusing: make the endpoint answer %s when credentials are "+
				"missing or insufficient. A crash there can hide a bypass and leaks failure details.", expected))
	case slices.Contains(r.cfg.ExpectStatus, o.status):
	case o.status >= 300 && o.status <= 399 && o.location != "" && r.loginRedirectOK(o):
	default:
		why := fmt.Sprintf("answers %d %s (want %s)", o.status, who, expected)
		rem := fmt.Sprintf("Expected a refusal (%s). If this answer is intended (for example 404 to hide the route), "+
			"add it to expect_status; otherwise check the route's authentication.", expected)
		if o.status >= 300 && o.status <= 399 && o.location != "" {
			why = fmt.Sprintf("redirects %s to %s (want %s or a same-host login page)", who, webQuote(o.location), expected)
			rem = "The endpoint redirects instead of refusing, and not to a login page on the same host: check " +
				"where it leads. With allow_login_redirect: false every redirect is reported."
		}
		add(FindingAccessUnexpectedStatus, event.SeverityLow, target+" "+why, r.evidence(o, lowPriv), rem)
	}
}

// loginRedirectOK reports whether o is a redirect to a login page on the
// endpoint's host that the configuration accepts.
func (r *accessRun) loginRedirectOK(o accessOutcome) bool {
	if !r.cfg.AllowLoginRedirect {
		return false
	}
	loc, err := url.Parse(o.location)
	if err != nil {
		return false
	}
	from, err := url.Parse(o.finalURL)
	return err == nil && webSameHost(from, loc) && accessIsLogin(loc)
}

// accessCanonicalRedirect reports whether a redirect from → to stays on
// the same resource: same host name, http or https, and the same path but
// for a trailing slash. A redirect elsewhere on the host (to / or to a
// login page) is an answer in itself: following it would judge another
// page.
func accessCanonicalRedirect(from, to *url.URL) bool {
	return webSameHost(from, to) && strings.TrimSuffix(from.EscapedPath(), "/") == strings.TrimSuffix(to.EscapedPath(), "/")
}

// webSameHost reports whether to (an http or https URL) is on the host of
// from: the same host name and port, where the default ports of http and
// https count as the same, so that an upgrade to https stays on the host.
func webSameHost(from, to *url.URL) bool {
	if (to.Scheme != "http" && to.Scheme != "https") || !strings.EqualFold(from.Hostname(), to.Hostname()) {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80") && !(u.Scheme == "https" && p == "443") {
			return p
		}
		return ""
	}
	return port(from) == port(to)
}

// accessIsLogin reports whether u looks like a login page: a path segment
// naming login, sign-in, auth, SSO or a session (see accessLoginStems and
// accessLoginWords). The query is ignored: "/?next=/login" is the home page.
func accessIsLogin(u *url.URL) bool {
	for seg := range strings.SplitSeq(strings.ToLower(u.Path), "/") {
		joined := strings.NewReplacer("-", "", "_", "").Replace(seg)
		for _, stem := range accessLoginStems {
			if strings.Contains(joined, stem) {
				return true
			}
		}
		words := strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' })
		for _, w := range words {
			if slices.Contains(accessLoginWords, w) {
				return true
			}
		}
	}
	return false
}

// evidence describes an outcome without any credential: method, URL,
// status, redirect and a short body excerpt.
func (r *accessRun) evidence(o accessOutcome, lowPriv bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", o.method, o.target)
	if lowPriv {
		names := slices.Sorted(maps.Keys(r.cfg.LowPrivilegeHeaders))
		fmt.Fprintf(&b, " with the low-privilege credential (headers %s)", strings.Join(names, ", "))
	} else {
		b.WriteString(" without credentials")
	}
	if o.err != nil {
		fmt.Fprintf(&b, ": error=%s", errorText(o.err))
		return b.String()
	}
	fmt.Fprintf(&b, ": status=%d", o.status)
	if o.finalURL != "" && o.finalURL != o.target {
		fmt.Fprintf(&b, " final_url=%s", o.finalURL)
	}
	if o.location != "" {
		fmt.Fprintf(&b, " location=%s", o.location)
	}
	if ex := accessExcerpt(o.body, r.secrets); ex != "" {
		fmt.Fprintf(&b, " body=%s", ex)
	}
	return b.String()
}

// summary is the outcome in a few words, for the run's details.
func (o accessOutcome) summary() string {
	switch {
	case o.err != nil:
		return "error " + errorText(o.err)
	case o.location != "":
		return strconv.Itoa(o.status) + " → " + o.location
	}
	return strconv.Itoa(o.status)
}

// accessExcerpt returns up to accessExcerptBytes of body as one quoted
// line, or a note saying why it is withheld: it echoes a configured
// credential, or looks like it holds credentials or tokens.
func accessExcerpt(body []byte, secrets []string) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	for _, s := range secrets {
		if bytes.Contains(body, []byte(s)) {
			return fmt.Sprintf("[%d bytes withheld: the body echoes the credential]", len(body))
		}
	}
	if accessSecretShapes.Match(body) {
		return fmt.Sprintf("[%d bytes withheld: the body looks like it holds a token, key or password]", len(body))
	}
	if t := bytes.TrimSpace(body); t[0] == '{' || t[0] == '[' {
		lower := bytes.ToLower(body)
		for _, w := range accessSecretWords {
			if bytes.Contains(lower, []byte(w)) {
				return fmt.Sprintf("[%d bytes withheld: JSON with a %q field]", len(body), w)
			}
		}
	}
	cut := body
	if len(cut) > accessExcerptBytes {
		cut = cut[:accessExcerptBytes]
	}
	// A rune split by the cut is invalid UTF-8 and dropped.
	text := strings.ToValidUTF8(string(cut), "")
	text = strings.Join(strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if len(cut) < len(body) {
		text += "…"
	}
	return strconv.Quote(text)
}

// webStopped is the finding of a run that its context stopped before it
// checked everything (progress says how far it got): a timeout, like the
// scheduler's, or a cancellation, which is no fault of the target.
func webStopped(monitor, target string, ctxErr error, progress string) event.Finding {
	msg := "the run stopped " + progress + ": " + errorText(ctxErr)
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return newFinding(monitor, target, FindingTimeout, event.SeverityHigh, monitor+": check timed out "+progress, msg,
			"The target may be slow; raise the monitor's timeout, or check fewer things per monitor.")
	}
	return newFinding(monitor, target, FindingCancelled, event.SeverityLow, monitor+": check cancelled "+progress, msg,
		"None needed if secopsd was shutting down.")
}

// webRedactURL returns raw with any password removed, or a placeholder if it
// does not parse (its text may hold credentials).
func webRedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}

// webJoinInts renders statuses as "401, 403".
func webJoinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
