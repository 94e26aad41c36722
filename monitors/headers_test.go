package monitors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// The hardened fixture's headers: what a well-configured site sends.
const (
	fixtureCSP  = "default-src 'self'; script-src 'self' 'nonce-r4nd0m'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
	fixtureHSTS = "max-age=63072000; includeSubDomains; preload"
	fixturePP   = `camera=(), geolocation=(self "https://maps.example.com"), fullscreen=*`
	// fixtureAllowed is the one origin the fixture's CORS policy allows.
	fixtureAllowed = "https://app.example.com"
	fixtureHTML    = "<!doctype html><html><head><title>fixture</title></head><body>ok</body></html>"
)

// hardenedHeaders sets the headers of the hardened fixture on h, for a
// request r; tls adds HSTS.
func hardenedHeaders(h http.Header, r *http.Request, tls bool) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", fixtureCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Permissions-Policy", fixturePP)
	h.Set("Server", "fixture")
	if tls {
		h.Set("Strict-Transport-Security", fixtureHSTS)
		h.Add("Set-Cookie", "__Host-session=c2Vzc2lvbi12YWx1ZQ; Path=/; Secure; HttpOnly; SameSite=Lax")
		h.Add("Set-Cookie", "theme=dark; Path=/; Secure; SameSite=Lax")
		h.Add("Set-Cookie", "old_session=; Path=/; Max-Age=0") // a deletion
	} else {
		h.Add("Set-Cookie", "theme=dark; Path=/; SameSite=Lax")
	}
	h.Set("Vary", "Origin")
	if r.Header.Get("Origin") == fixtureAllowed {
		h.Set("Access-Control-Allow-Origin", fixtureAllowed)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// headersCase is one fixture: the hardened headers changed by mutate, and
// the finding ids the audit must raise (exactly).
type headersCase struct {
	name   string
	tls    bool
	mutate func(h http.Header, r *http.Request)
	// body replaces the HTML body.
	body string
	want []string
}

func hdrSet(name, value string) func(http.Header, *http.Request) {
	return func(h http.Header, _ *http.Request) { h.Set(name, value) }
}

func hdrDel(names ...string) func(http.Header, *http.Request) {
	return func(h http.Header, _ *http.Request) {
		for _, n := range names {
			h.Del(n)
		}
	}
}

func hdrAddCookie(c string) func(http.Header, *http.Request) {
	return func(h http.Header, _ *http.Request) { h.Add("Set-Cookie", c) }
}

// hdrCORSEcho answers Access-Control-Allow-Origin with the request's Origin
// (the null origin only if null is set), with credentials if creds.
func hdrCORSEcho(null, creds bool) func(http.Header, *http.Request) {
	return func(h http.Header, r *http.Request) {
		o := r.Header.Get("Origin")
		if o == "" || o == "null" && !null || o != "null" && null {
			return
		}
		h.Set("Access-Control-Allow-Origin", o)
		if creds {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
}

// manyUnknownDirectives returns n distinct unknown directives, to check that
// evidence stays bounded.
func manyUnknownDirectives(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "; x-unknown-directive-%d 'self'", i)
	}
	return b.String()
}

func headersCases() []headersCase {
	csp := func(v string) func(http.Header, *http.Request) { return hdrSet("Content-Security-Policy", v) }
	return []headersCase{
		{name: "hardened-https", tls: true},
		{name: "hardened-http"},
		{name: "csp-in-meta", tls: true, mutate: hdrDel("Content-Security-Policy"),
			body: `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'self'; object-src 'none'; base-uri 'none'"></head><body></body></html>`},
		{name: "csp-in-meta-unsafe-inline", tls: true, mutate: hdrDel("Content-Security-Policy"),
			body: `<html><head><meta http-equiv="content-security-policy" content="default-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'"></head></html>`,
			want: []string{findingCSPUnsafeInline}},
		{name: "csp-missing", tls: true, mutate: hdrDel("Content-Security-Policy"), want: []string{findingCSPMissing}},
		{name: "csp-report-only", tls: true, mutate: func(h http.Header, _ *http.Request) {
			h.Set("Content-Security-Policy-Report-Only", h.Get("Content-Security-Policy"))
			h.Del("Content-Security-Policy")
		}, want: []string{findingCSPReportOnly}},
		{name: "csp-invalid", tls: true, mutate: csp("defualt-src 'self'"), want: []string{findingCSPInvalid}},
		{name: "csp-empty", tls: true, mutate: csp(""), want: []string{findingCSPInvalid}},
		{name: "csp-duplicate", tls: true, mutate: csp(fixtureCSP + "; script-src *"), want: []string{findingCSPDuplicate}},
		{name: "csp-unknown", tls: true, mutate: csp(fixtureCSP + "; frame-anchestors 'none'"), want: []string{findingCSPUnknown}},
		{name: "csp-unknown-many", tls: true, mutate: csp(fixtureCSP + manyUnknownDirectives(200)),
			want: []string{findingCSPUnknown}},
		{name: "csp-script-unrestricted", tls: true, mutate: csp("object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
			want: []string{findingCSPScriptUnrestricted}},
		{name: "csp-unsafe-inline", tls: true, mutate: csp("default-src 'self'; script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
			want: []string{findingCSPUnsafeInline}},
		{name: "csp-unsafe-inline-with-nonce", tls: true, mutate: csp("default-src 'self'; script-src 'unsafe-inline' 'nonce-abc123' 'strict-dynamic' https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")},
		{name: "csp-unsafe-eval", tls: true, mutate: csp("default-src 'self'; script-src 'self' 'unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
			want: []string{findingCSPUnsafeEval}},
		{name: "csp-script-wildcard", tls: true, mutate: csp("default-src 'self'; script-src 'self' https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
			want: []string{findingCSPScriptWildcard}},
		{name: "csp-insecure-scheme", tls: true, mutate: csp("default-src 'self'; script-src 'self' http://cdn.example.com; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
			want: []string{findingCSPInsecureScheme}},
		{name: "csp-object-src", tls: true, mutate: csp("script-src 'self'; base-uri 'none'; frame-ancestors 'none'"),
			want: []string{findingCSPObjectSrc}},
		{name: "csp-base-uri", tls: true, mutate: csp("default-src 'self'; object-src 'none'; frame-ancestors 'none'"),
			want: []string{findingCSPBaseURI}},
		{name: "csp-frame-ancestors-missing", tls: true, mutate: csp("default-src 'self'; object-src 'none'; base-uri 'none'"),
			want: []string{findingCSPFrameAncestorsMissing}},
		{name: "csp-frame-ancestors-permissive", tls: true, mutate: csp("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors *"),
			want: []string{findingCSPFrameAncestorsPermissive}},
		{name: "csp-two-policies", tls: true, mutate: func(h http.Header, _ *http.Request) {
			// The second policy forbids what the first allows: no weakness.
			h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
			h.Add("Content-Security-Policy", "script-src 'self'")
		}},

		{name: "hsts-missing", tls: true, mutate: hdrDel("Strict-Transport-Security"), want: []string{findingHSTSMissing}},
		{name: "hsts-invalid", tls: true, mutate: hdrSet("Strict-Transport-Security", "max-age=1y; includeSubDomains; preload"), want: []string{findingHSTSInvalid}},
		{name: "hsts-repeated-directive", tls: true, mutate: hdrSet("Strict-Transport-Security", "max-age=63072000; includeSubDomains; max-age=0; preload"), want: []string{findingHSTSInvalid}},
		{name: "hsts-quoted", tls: true, mutate: hdrSet("Strict-Transport-Security", `max-age="63072000" ; INCLUDESUBDOMAINS;preload`)},
		{name: "hsts-multiple", tls: true, mutate: func(h http.Header, _ *http.Request) { h.Add("Strict-Transport-Security", "max-age=0") },
			want: []string{findingHSTSMultiple}},
		{name: "hsts-short", tls: true, mutate: hdrSet("Strict-Transport-Security", "max-age=15768000; includeSubDomains; preload"), want: []string{findingHSTSShortMaxAge}},
		{name: "hsts-no-subdomains", tls: true, mutate: hdrSet("Strict-Transport-Security", "max-age=63072000; preload"), want: []string{findingHSTSNoSubdomains}},
		{name: "hsts-no-preload", tls: true, mutate: hdrSet("Strict-Transport-Security", "max-age=63072000; includeSubDomains"), want: []string{findingHSTSNoPreload}},
		{name: "hsts-plain-http", mutate: hdrSet("Strict-Transport-Security", fixtureHSTS), want: []string{findingHSTSPlainHTTP}},

		{name: "xfo-missing", tls: true, mutate: func(h http.Header, _ *http.Request) {
			h.Del("X-Frame-Options")
			h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'")
		}, want: []string{findingXFOMissing}},
		{name: "xfo-not-needed-with-frame-ancestors", tls: true, mutate: hdrDel("X-Frame-Options")},
		{name: "xfo-invalid", tls: true, mutate: func(h http.Header, _ *http.Request) {
			h.Set("X-Frame-Options", "ALLOW-FROM https://partner.example.com")
			h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'")
		}, want: []string{findingXFOInvalid}},
		{name: "xfo-sameorigin", tls: true, mutate: func(h http.Header, _ *http.Request) {
			h.Set("X-Frame-Options", "SAMEORIGIN")
			h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'")
		}, want: []string{findingXFOSameOrigin, findingCSPFrameAncestorsMissing}},

		{name: "xcto-missing", tls: true, mutate: hdrDel("X-Content-Type-Options"), want: []string{findingXCTOMissing}},
		{name: "xcto-invalid", tls: true, mutate: hdrSet("X-Content-Type-Options", "no-sniff"), want: []string{findingXCTOInvalid}},
		{name: "xcto-case-and-space", tls: true, mutate: hdrSet("X-Content-Type-Options", " NoSniff ")},

		{name: "referrer-missing", tls: true, mutate: hdrDel("Referrer-Policy"), want: []string{findingReferrerMissing}},
		{name: "referrer-invalid", tls: true, mutate: hdrSet("Referrer-Policy", "no-referer"), want: []string{findingReferrerInvalid}},
		{name: "referrer-unsafe", tls: true, mutate: hdrSet("Referrer-Policy", "no-referrer, unsafe-url"), want: []string{findingReferrerUnsafe}},
		{name: "referrer-weak", tls: true, mutate: hdrSet("Referrer-Policy", "no-referrer-when-downgrade"), want: []string{findingReferrerWeak}},
		{name: "referrer-last-valid-wins", tls: true, mutate: func(h http.Header, _ *http.Request) {
			h.Set("Referrer-Policy", "unsafe-url")
			h.Add("Referrer-Policy", "no-referrer, future-policy")
		}},

		{name: "permissions-missing", tls: true, mutate: hdrDel("Permissions-Policy"), want: []string{findingPermissionsMissing}},
		{name: "permissions-invalid", tls: true, mutate: hdrSet("Permissions-Policy", "camera 'none'; microphone 'none'"), want: []string{findingPermissionsInvalid}},
		{name: "permissions-bad-allowlist", tls: true, mutate: hdrSet("Permissions-Policy", "camera=(), geolocation=none"), want: []string{findingPermissionsInvalid}},

		{name: "cookie-insecure", tls: true, mutate: hdrAddCookie("prefs=compact; Path=/; SameSite=Lax"), want: []string{findingCookieInsecure}},
		{name: "cookie-httponly", tls: true, mutate: hdrAddCookie("sessionid=abc; Path=/; Secure; SameSite=Lax"), want: []string{findingCookieHTTPOnly}},
		{name: "cookie-samesite", tls: true, mutate: hdrAddCookie("auth_token=abc; Path=/; Secure; HttpOnly"), want: []string{findingCookieSameSite}},
		{name: "cookie-samesite-invalid", tls: true, mutate: hdrAddCookie("prefs=1; Path=/; Secure; SameSite=True"), want: []string{findingCookieSameSite}},
		{name: "cookie-csrf-readable", tls: true, mutate: hdrAddCookie("XSRF-TOKEN=abc; Path=/; Secure; SameSite=Strict")},
		{name: "cookie-samesite-none-insecure", mutate: hdrAddCookie("tracker=1; Path=/; SameSite=None"), want: []string{findingCookieSameSiteNone}},
		{name: "cookie-prefix", tls: true, mutate: hdrAddCookie("__Host-pref=1; Path=/app; Secure; SameSite=Lax"), want: []string{findingCookiePrefix}},

		{name: "cors-reflected", tls: true, mutate: hdrCORSEcho(false, false), want: []string{findingCORSReflected}},
		{name: "cors-reflected-credentials", tls: true, mutate: hdrCORSEcho(false, true), want: []string{findingCORSReflectedCreds}},
		{name: "cors-wildcard-credentials", tls: true, mutate: func(h http.Header, _ *http.Request) {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Credentials", "true")
		}, want: []string{findingCORSWildcardCreds}},
		{name: "cors-public", tls: true, mutate: hdrSet("Access-Control-Allow-Origin", "*")},
		{name: "cors-null", tls: true, mutate: hdrCORSEcho(true, false), want: []string{findingCORSNull}},
		{name: "cors-null-credentials", tls: true, mutate: hdrCORSEcho(true, true), want: []string{findingCORSNullCreds}},

		{name: "disclosure-server", tls: true, mutate: hdrSet("Server", "nginx/1.25.3"), want: []string{findingDisclosureServer}},
		{name: "disclosure-server-apache", tls: true, mutate: hdrSet("Server", "Apache/2.4.1 (Ubuntu)"), want: []string{findingDisclosureServer}},
		{name: "disclosure-powered-by", tls: true, mutate: hdrSet("X-Powered-By", "Express"), want: []string{findingDisclosurePoweredBy}},
		{name: "disclosure-aspnet", tls: true, mutate: hdrSet("X-AspNet-Version", "4.0.30319"), want: []string{findingDisclosurePoweredBy}},
	}
}

// headersServers starts the fixture over TLS and plain HTTP: the path
// /case/NAME serves the case of that name.
func headersServers(t *testing.T, cases []headersCase) (tlsSrv, plain *httptest.Server) {
	t.Helper()
	byName := map[string]headersCase{}
	for _, c := range cases {
		byName[c.name] = c
	}
	handler := func(tls bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := byName[strings.TrimPrefix(r.URL.Path, "/case/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			hardenedHeaders(w.Header(), r, tls)
			if c.mutate != nil {
				c.mutate(w.Header(), r)
			}
			body := fixtureHTML
			if c.body != "" {
				body = c.body
			}
			io.WriteString(w, body)
		})
	}
	tlsSrv = quietTLSServer(t, handler(true))
	plain = httptest.NewServer(handler(false))
	t.Cleanup(plain.Close)
	return tlsSrv, plain
}

// headersMonitor returns a headers monitor of urls with the defaults.
func headersMonitor(t testing.TB, urls ...string) config.Monitor {
	t.Helper()
	m, ok := config.DefaultMonitor("headers")
	if !ok {
		t.Fatal("no headers monitor type")
	}
	m.Name = "web-headers"
	m.Headers.URLs = urls
	m.Labels = map[string]string{"team": "web"}
	return m
}

// headersEnv returns an Env whose transport trusts srv's certificate; each
// run gets its own transport, as in production.
func headersEnv(srv *httptest.Server) Env {
	return Env{Transport: func() http.RoundTripper { return srv.Client().Transport.(*http.Transport).Clone() }}
}

// quietTLSServer is httptest.NewTLSServer without the server's log of
// failed handshakes, which some tests provoke on purpose.
func quietTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func headersFindingIDsOf(res Result) []string {
	var ids []string
	for _, f := range res.Findings {
		ids = append(ids, f.ID)
	}
	sort.Strings(ids)
	return ids
}

// TestProbeHeadersFixtures audits one fixture per finding (and the
// hardened ones, which must pass) and checks the exact findings.
func TestProbeHeadersFixtures(t *testing.T) {
	cases := headersCases()
	tlsSrv, plain := headersServers(t, cases)
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := plain.URL
			if c.tls {
				base = tlsSrv.URL
			}
			m := headersMonitor(t, base+"/case/"+c.name)
			m.Headers.RequirePreload = true
			res := ProbeHeaders(context.Background(), m, headersEnv(tlsSrv), nil)
			got := headersFindingIDsOf(res)
			want := slices.Clone(c.want)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				for _, f := range res.Findings {
					t.Logf("%s: %s", f.ID, f.Evidence)
				}
				t.Fatalf("findings %v, want %v", got, want)
			}
			if res.Success != (len(want) == 0) || res.Monitor != "web-headers" || res.Type != "headers" ||
				res.Labels["team"] != "web" || res.Start.IsZero() {
				t.Errorf("result %+v", res)
			}
			target := m.Headers.URLs[0]
			if res.Details["grade:"+target] == "" || res.Details["score:"+target] == "" || res.Details["status:"+target] != "200" {
				t.Errorf("details %v", res.Details)
			}
			for _, f := range res.Findings {
				spec := headersFindings[f.ID]
				if f.Severity != spec.severity || f.Remediation == "" || f.Evidence == "" || f.Target != target ||
					len(f.Evidence) > headersMaxEvidence+len("…") ||
					!strings.HasPrefix(f.Title, "web-headers: ") || f.Fingerprint != event.Fingerprint("web-headers", target, f.ID) {
					t.Errorf("finding %+v", f)
				}
			}
			if len(want) == 0 && (res.Details["grade"] != "A+" || res.Details["score"] != "100") {
				t.Errorf("hardened grade %s score %s", res.Details["grade"], res.Details["score"])
			}
		})
		for _, id := range c.want {
			seen[id] = true
		}
	}
	// Every finding id but those of the run itself has a fixture.
	for _, id := range config.HeadersFindingIDs() {
		if !seen[id] && id != findingHeadersUnreachable && id != findingHeadersGrade {
			t.Errorf("no fixture raises %s", id)
		}
	}
}

func TestProbeHeadersUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/"
	srv.Close()
	tlsSrv := quietTLSServer(t, http.NotFoundHandler())
	// The second URL is served with a certificate the default transport
	// does not trust: a TLS failure is unreachable too.
	m := headersMonitor(t, url, tlsSrv.URL+"/")
	res := ProbeHeaders(context.Background(), m, Env{}, nil)
	if got := headersFindingIDsOf(res); !slices.Equal(got, []string{findingHeadersUnreachable, findingHeadersUnreachable}) {
		t.Fatalf("findings %v", got)
	}
	for _, f := range res.Findings {
		if f.Severity != event.SeverityHigh || !strings.Contains(f.Evidence, "GET ") {
			t.Errorf("finding %+v", f)
		}
	}
	if res.Success || res.Details["grade:"+url] != "" || res.Details["error:"+url] == "" || res.Details["grade"] != "" {
		t.Errorf("result %+v", res)
	}
}

func TestProbeHeadersMinGradeAndIgnore(t *testing.T) {
	cases := []headersCase{{name: "weak", tls: true, mutate: hdrDel("X-Content-Type-Options", "Referrer-Policy")}}
	tlsSrv, _ := headersServers(t, cases)
	target := tlsSrv.URL + "/case/weak"

	m := headersMonitor(t, target)
	m.Headers.MinGrade = "A+"
	res := ProbeHeaders(context.Background(), m, headersEnv(tlsSrv), nil)
	if got := headersFindingIDsOf(res); !slices.Equal(got, []string{findingHeadersGrade, findingReferrerMissing, findingXCTOMissing}) {
		t.Fatalf("findings %v", got)
	}
	if res.Details["score:"+target] != "90" || res.Details["grade:"+target] != "A" {
		t.Errorf("details %v", res.Details)
	}
	m.Headers.MinGrade = "A"
	res = ProbeHeaders(context.Background(), m, headersEnv(tlsSrv), nil)
	if got := headersFindingIDsOf(res); slices.Contains(got, findingHeadersGrade) {
		t.Errorf("A is not below A: findings %v", got)
	}

	m.Headers.MinGrade = "A+"
	m.Headers.Ignore = []string{findingXCTOMissing, findingReferrerMissing}
	res = ProbeHeaders(context.Background(), m, headersEnv(tlsSrv), nil)
	if len(res.Findings) != 0 || !res.Success || res.Details["ignored_findings"] != "2" || res.Details["grade:"+target] != "A+" {
		t.Errorf("ignored: %v %v", headersFindingIDsOf(res), res.Details)
	}
}

func TestProbeHeadersSeveralURLs(t *testing.T) {
	cases := []headersCase{{name: "a", tls: true}, {name: "b", tls: true, mutate: hdrDel("Content-Security-Policy")}}
	tlsSrv, _ := headersServers(t, cases)
	a, b := tlsSrv.URL+"/case/a", tlsSrv.URL+"/case/b"
	res := ProbeHeaders(context.Background(), headersMonitor(t, a, b), headersEnv(tlsSrv), nil)
	if len(res.Findings) != 1 || res.Findings[0].Target != b || res.Target != a+", "+b {
		t.Fatalf("findings %+v target %q", res.Findings, res.Target)
	}
	if res.Details["grade:"+a] != "A+" || res.Details["score:"+b] != "80" || res.Details["grade"] != "B+" || res.Details["urls"] != "2" {
		t.Errorf("details %v", res.Details)
	}
}

// TestProbeHeadersLeaksNoSecret sends a credential header to a server that
// reflects it into the audited headers and into a redirect, and checks
// that it appears in no finding, detail or log line.
func TestProbeHeadersLeaksNoSecret(t *testing.T) {
	const secret = "hdr-secret-7f3a9c"
	srv := quietTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Powered-By", "app "+auth)
		w.Header().Set("Server", "nginx/1.2 "+auth)
		w.Header().Add("Set-Cookie", "sessionid="+strings.TrimPrefix(auth, "Bearer ")+"; Path=/")
		w.Header().Set("Content-Security-Policy", "script-src "+auth)
	}))
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := headersMonitor(t, srv.URL+"/")
	m.Headers.Headers = map[string]config.Secret{"Authorization": "Bearer " + secret}
	res := ProbeHeaders(context.Background(), m, headersEnv(srv), logger)
	if len(res.Findings) == 0 {
		t.Fatal("no findings")
	}
	out, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{string(out), logs.String(), fmt.Sprint(res.Events(time.Now()))} {
		if strings.Contains(text, secret) {
			t.Errorf("secret leaked: %s", text)
		}
	}
	scrubbed := 0
	for _, f := range res.Findings {
		if strings.Contains(f.Evidence, "<redacted>") {
			scrubbed++
		}
	}
	if scrubbed != 2 { // Server and X-Powered-By
		t.Errorf("the reflected secret was not scrubbed: %s", out)
	}

	// A request that fails does not leak the secret either.
	srv.Close()
	logs.Reset()
	res = ProbeHeaders(context.Background(), m, headersEnv(srv), logger)
	out, _ = json.Marshal(res)
	if strings.Contains(string(out), secret) || strings.Contains(logs.String(), secret) {
		t.Errorf("secret leaked on failure: %s %s", out, logs.String())
	}
}

func TestProbeHeadersNoConfig(t *testing.T) {
	res := ProbeHeaders(context.Background(), config.Monitor{Name: "x", Type: "headers"}, Env{}, nil)
	if res.Success || len(res.Findings) != 1 || res.Findings[0].ID != FindingConfig {
		t.Errorf("result %+v", res)
	}
}

func TestProbeHeadersCancelled(t *testing.T) {
	tlsSrv, _ := headersServers(t, []headersCase{{name: "a", tls: true}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := ProbeHeaders(ctx, headersMonitor(t, tlsSrv.URL+"/case/a"), headersEnv(tlsSrv), nil)
	if got := headersFindingIDsOf(res); !slices.Equal(got, []string{findingHeadersUnreachable}) {
		t.Errorf("findings %v", got)
	}
}

// TestHeadersFindingCatalog keeps the finding table, config's list of ids
// (which ignore is validated against) and the grade charts in step.
func TestHeadersFindingCatalog(t *testing.T) {
	var ids []string
	for id, spec := range headersFindings {
		ids = append(ids, id)
		if spec.severity == event.SeverityUnknown || spec.title == "" || spec.remediation == "" || !strings.HasPrefix(id, "headers.") {
			t.Errorf("%s: %+v", id, spec)
		}
	}
	sort.Strings(ids)
	cfgIDs := config.HeadersFindingIDs()
	sort.Strings(cfgIDs)
	if !slices.Equal(ids, cfgIDs) {
		t.Errorf("monitor ids %v\nconfig ids %v", ids, cfgIDs)
	}
	var grades []string
	for _, row := range headersGradeChart {
		grades = append(grades, row.grade)
	}
	if !slices.Equal(grades, config.HeadersGrades()) {
		t.Errorf("grades %v, config %v", grades, config.HeadersGrades())
	}
}

func TestHeadersScore(t *testing.T) {
	tests := []struct {
		ids   []string
		score int
		grade string
	}{
		{nil, 100, "A+"},
		{[]string{findingXCTOMissing}, 95, "A"},
		{[]string{findingCSPMissing, findingXCTOMissing}, 75, "B"},
		{[]string{findingCSPMissing, findingXFOMissing, findingHSTSMissing, findingXCTOMissing, findingReferrerMissing, findingPermissionsMissing}, 25, "D-"},
		{[]string{findingCORSReflectedCreds}, 0, "F"},
		{[]string{findingHSTSPlainHTTP}, 100, "A+"},
	}
	for _, tc := range tests {
		var issues []headersIssue
		for _, id := range tc.ids {
			issues = append(issues, headersIssue{id: id})
		}
		if s, g := headersScore(issues); s != tc.score || g != tc.grade {
			t.Errorf("%v: %d %s, want %d %s", tc.ids, s, g, tc.score, tc.grade)
		}
	}
	if headersGradeRank("A+") != 0 || headersGradeRank("F") != len(headersGradeChart)-1 || headersGradeRank("Z") != -1 {
		t.Error("headersGradeRank")
	}
}

// TestOWASPRecommendedHeaders audits OWASP Secure Headers' recommended
// header set (over HTTPS): it must pass, and removing each header that
// both check must raise the finding for it. The fingerprinting headers
// OWASP says to remove that secopsd knows must be flagged.
func TestOWASPRecommendedHeaders(t *testing.T) {
	data, err := os.ReadFile(headersVectorFile(t, "owasp-secure-headers", "headers_add.json"))
	if err != nil {
		t.Fatal(err)
	}
	var add struct {
		Headers []struct{ Name, Value string } `json:"headers"`
	}
	if err := json.Unmarshal(data, &add); err != nil {
		t.Fatal(err)
	}
	base := http.Header{}
	for _, h := range add.Headers {
		base.Add(h.Name, h.Value)
	}
	in := headersInput{url: headersURL(t, "https://example.com/"), header: base, probeOrigin: config.DefaultHeadersProbeOrigin}
	opt := headersOptions{hstsMinMaxAge: 31536000}
	if issues := auditHeaders(in, opt); len(issues) != 0 {
		t.Errorf("OWASP's recommended headers: %v", issues)
	}
	removal := map[string]string{
		"Content-Security-Policy":   findingCSPMissing,
		"Strict-Transport-Security": findingHSTSMissing,
		"X-Content-Type-Options":    findingXCTOMissing,
		"Referrer-Policy":           findingReferrerMissing,
		"Permissions-Policy":        findingPermissionsMissing,
	}
	agree := 0
	for name, want := range removal {
		h := base.Clone()
		h.Del(name)
		in.header = h
		issues := auditHeaders(in, opt)
		if len(issues) == 1 && issues[0].id == want {
			agree++
		} else {
			t.Errorf("without %s: %v, want %s", name, issues, want)
		}
	}
	// X-Frame-Options is redundant next to frame-ancestors 'none'.
	h := base.Clone()
	h.Del("X-Frame-Options")
	in.header = h
	if issues := auditHeaders(in, opt); len(issues) != 0 {
		t.Errorf("without X-Frame-Options: %v", issues)
	}

	data, err = os.ReadFile(headersVectorFile(t, "owasp-secure-headers", "headers_remove.json"))
	if err != nil {
		t.Fatal(err)
	}
	var remove struct {
		Headers []string `json:"headers"`
	}
	if err := json.Unmarshal(data, &remove); err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, name := range remove.Headers {
		h := base.Clone()
		h.Set(name, "Example/1.2.3")
		in.header = h
		if len(auditHeaders(in, opt)) > 0 {
			flagged++
		}
	}
	for _, name := range frameworkHeaders {
		if !slices.ContainsFunc(remove.Headers, func(s string) bool { return strings.EqualFold(s, name) }) {
			t.Errorf("%s is not in OWASP's list", name)
		}
	}
	t.Logf("OWASP: recommended set passes; %d/%d removals raise their finding; %d/%d fingerprinting headers flagged (Server only with a version)",
		agree, len(removal), flagged, len(remove.Headers))
}

func headersURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestProbeHeadersOffHostRedirect audits a redirect to another host: it is
// not followed, only the checks that matter on a redirect are made, and
// the details name the target.
func TestProbeHeadersOffHostRedirect(t *testing.T) {
	srv := quietTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Powered-By", "PHP/8.3.1")
		http.Redirect(w, r, "https://login.example.com/", http.StatusFound)
	}))
	target := srv.URL + "/"
	res := ProbeHeaders(context.Background(), headersMonitor(t, target), headersEnv(srv), nil)
	if got := headersFindingIDsOf(res); !slices.Equal(got, []string{findingDisclosurePoweredBy, findingHSTSMissing}) {
		t.Errorf("findings %v", got)
	}
	if res.Details["offhost_redirect:"+target] != "https://login.example.com/" || res.Details["status:"+target] != "302" {
		t.Errorf("details %v", res.Details)
	}
}

// TestProbeHeadersCORSProbeFails checks that a run whose CORS probes fail
// is inconclusive, so that it resolves no CORS incident.
func TestProbeHeadersCORSProbeFails(t *testing.T) {
	srv := quietTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" && r.URL.RawQuery != "ok" {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		hardenedHeaders(w.Header(), r, true)
	}))
	target := srv.URL + "/"
	res := ProbeHeaders(context.Background(), headersMonitor(t, target), headersEnv(srv), nil)
	if len(res.Findings) != 0 || res.Conclusive() || res.Details["cors_probe_error:"+target] == "" {
		t.Errorf("findings %v conclusive %v details %v", headersFindingIDsOf(res), res.Conclusive(), res.Details)
	}
	res = ProbeHeaders(context.Background(), headersMonitor(t, target+"?ok"), headersEnv(srv), nil)
	if !res.Conclusive() {
		t.Errorf("conclusive %v", res.Conclusive())
	}
}
