package monitors

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestParseHTMLMeta(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		csp, ref []string
	}{
		{"csp", `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head></html>`,
			[]string{"default-src 'none'"}, nil},
		{"case, quotes and entities", `<HTML><HEAD><META HTTP-EQUIV='content-security-policy' CONTENT="script-src &#39;self&#39; &quot;x&quot; &amp;"/></HEAD>`,
			[]string{`script-src 'self' "x" &`}, nil},
		{"unquoted and referrer", `<head><meta name=referrer content=no-referrer><meta http-equiv=Content-Security-Policy content=default-src></head>`,
			[]string{"default-src"}, []string{"no-referrer"}},
		{"comment and script skipped", `<head><!-- <meta http-equiv="Content-Security-Policy" content="a"> --><script>var s = '<meta http-equiv="Content-Security-Policy" content="b">';</script><meta name="referrer" content="same-origin"></head>`,
			nil, []string{"same-origin"}},
		{"body ignored", `<head></head><body><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></body>`, nil, nil},
		{"implicit body ignored", `<meta charset=utf-8><div><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></div>`, nil, nil},
		{"http-equiv with spaces is not a keyword", `<head><meta http-equiv=" Content-Security-Policy " content="x"></head>`, nil, nil},
		{"first attribute wins", `<head><meta http-equiv="Content-Security-Policy" content="a" content="b"></head>`, []string{"a"}, nil},
		{"unterminated", `<head><meta http-equiv="Content-Security-Policy" content="a`, nil, nil},
		{"stray lt", `<head>< <meta name="referrer" content="origin"></head>`, nil, []string{"origin"}},
	}
	for _, tc := range tests {
		got := parseHTMLMeta([]byte(tc.doc))
		if !reflect.DeepEqual(got.csp, tc.csp) || !reflect.DeepEqual(got.referrer, tc.ref) {
			t.Errorf("%s: got %+v, want csp %q referrer %q", tc.name, got, tc.csp, tc.ref)
		}
	}
}

// TestParseHTMLMetaObservatoryFiles parses Observatory's <meta
// http-equiv> fixtures.
func TestParseHTMLMetaObservatoryFiles(t *testing.T) {
	dir := headersVectorFile(t, "mdn-http-observatory", "html")
	tests := map[string]htmlMeta{
		"test_parse_http_equiv_headers_csp1.html": {csp: []string{"default-src 'none';"}},
		"test_parse_http_equiv_headers_csp2.html": {csp: []string{"default-src https:"}},
		// The third tag's http-equiv is " Content-Security-Policy " with
		// spaces, which is not the keyword for browsers (Observatory trims it).
		"test_parse_http_equiv_headers_csp_multiple_http_equiv1.html": {csp: []string{
			"default-src 'none'; object-src 'none'; media-src 'none';",
			"connect-src 'self'; font-src 'self'; child-src 'self'",
			"script-src 'self' 'unsafe-inline' 'nonce-gAeQO8jI4VJCsrsXkcUVRCzQjiihKteQ'",
		}},
		"test_parse_http_equiv_headers_not_allowed.html":        {csp: []string{"frame-ancestors 'none'"}},
		"test_parse_http_equiv_headers_referrer1.html":          {referrer: []string{"no-referrer, same-origin"}},
		"test_parse_http_equiv_headers_case_insensitivity.html": {referrer: []string{"no-referrer, same-origin"}},
		"test_parse_http_equiv_headers_x_frame_options.html":    {},
	}
	for name, want := range tests {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := parseHTMLMeta(data); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
}

func TestParseHSTS(t *testing.T) {
	tests := []struct {
		in      string
		maxAge  int64
		sub, pl bool
		errs    []string
	}{
		{"max-age=31536000; includeSubDomains; preload", 31536000, true, true, nil},
		{`MAX-AGE="300";includesubdomains`, 300, true, false, nil},
		{"max-age = 10 ; preload", 10, false, true, nil},
		{"max-age=99999999999999999999999", 1<<63 - 1, false, false, nil},
		{"max-age=1; max-age=2", 1, false, false, []string{hstsErrRepeated}},
		{"max-age=1; includeSubDomains=yes", 1, false, false, []string{hstsErrValued}},
		{"max-age=1 2", -1, false, false, []string{hstsErrMaxAgeBad}},
		{`max-age="1`, -1, false, false, []string{hstsErrMaxAgeBad}},
		{"max-age=1; inc lude", 1, false, false, []string{hstsErrSyntax}},
		{`max-age=1; foo="a;b"`, 1, false, false, nil},
		{"includeSubDomains", -1, true, false, []string{hstsErrMaxAgeAbsent}},
		{"max-age=15768000; includeSubDomains, max-age=15768000; includeSubDomains", 15768000, true, false, []string{hstsErrSyntax}},
	}
	for _, tc := range tests {
		h := parseHSTS(tc.in)
		if h.maxAge != tc.maxAge || h.includeSubDomains != tc.sub || h.preload != tc.pl || !slices.Equal(h.errors, tc.errs) {
			t.Errorf("%q: %+v", tc.in, h)
		}
	}
}

func TestParseXFrameOptions(t *testing.T) {
	tests := map[string][]string{
		"":           nil,
		"deny":       {"DENY"},
		"sameorigin": {" SameOrigin "},
		"invalid":    {"ALLOW-FROM https://a.example"},
	}
	for want, lines := range tests {
		if got := parseXFrameOptions(lines); got != want {
			t.Errorf("%q: %q, want %q", lines, got, want)
		}
	}
	for lines, want := range map[string]string{
		"SAMEORIGIN, SAMEORIGIN": "sameorigin", // a set of one value
		"DENY, SAMEORIGIN":       "deny",       // conflicting values block framing
		"ALLOWALL, whatever":     "invalid",
		"":                       "invalid",
	} {
		if got := parseXFrameOptions([]string{lines}); got != want {
			t.Errorf("%q: %q, want %q", lines, got, want)
		}
	}
}

func TestParseSetCookie(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want headersCookie
		ok   bool
	}{
		{"a=b; Secure; HttpOnly; SameSite=Strict; Path=/; Domain=.example.com",
			headersCookie{name: "a", secure: true, httpOnly: true, sameSite: "strict", sameSiteSet: true, domainSet: true, pathSet: true, path: "/"}, true},
		{" sid = x ;secure;SAMESITE=lax;samesite=None", headersCookie{name: "sid", secure: true, sameSite: "none", sameSiteSet: true}, true},
		{"noequals", headersCookie{}, true},
		{"=", headersCookie{}, false},
		{"gone=; Max-Age=0", headersCookie{name: "gone", expired: true}, true},
		{"gone=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", headersCookie{name: "gone", expired: true}, true},
		{"kept=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60", headersCookie{name: "kept"}, true},
		{"kept=1; Max-Age=abc", headersCookie{name: "kept"}, true},
	}
	for _, tc := range tests {
		got, ok := parseSetCookie(tc.in, now)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("%q: %+v %v, want %+v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for name, want := range map[string]string{
		"SESSIONID": "session", "connect.sid": "session", "auth_token": "session", "XSRF-TOKEN": "csrf",
		"csrftoken": "csrf", "theme": "", "_ga": "",
	} {
		if got := cookieKind(name); got != want {
			t.Errorf("cookieKind(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseCSPSource(t *testing.T) {
	tests := map[string]cspSourceKind{
		"'self'": cspKeyword, "'UNSAFE-INLINE'": cspKeyword, "'nonce-abc+/=='": cspNonce, "'sha256-abc='": cspHash,
		"'sha256-a=''sha256-b='": cspInvalid, "'nonce-'": cspInvalid, "'bogus'": cspInvalid,
		"https:": cspScheme, "data:": cspScheme, "*": cspHost, "https://*": cspHost, "*.example.com:*": cspHost,
		"https://cdn.example.com:8443/js/": cspHost, "example.com": cspHost, "1http:": cspInvalid, "https://exa mple": cspInvalid,
		"https://a..b": cspInvalid, "https://a:b": cspInvalid,
	}
	for in, want := range tests {
		if got := parseCSPSource(in).kind; got != want {
			t.Errorf("%q: kind %d, want %d", in, got, want)
		}
	}
	for in, broad := range map[string]bool{"*": true, "https://*": true, "https:": true, "data:": true, "blob:": false, "*.example.com": false, "'self'": false} {
		if got := parseCSPSource(in).broad(); got != broad {
			t.Errorf("%q: broad %v", in, got)
		}
	}
	p := parseCSPPolicy("Default-Src 'self';; script-src a; script-src b; frame-anchestors x; frame-ancestors 'none'", true)
	if !reflect.DeepEqual(p.order, []string{"default-src", "script-src"}) || !slices.Equal(p.duplicates, []string{"script-src"}) ||
		!slices.Equal(p.unknown, []string{"frame-anchestors"}) || !slices.Equal(p.metaIgnored, []string{"frame-ancestors"}) ||
		!slices.Equal(p.directives["script-src"], []string{"a"}) {
		t.Errorf("policy %+v", p)
	}
	if got := suggestDirectives([]string{"frame-anchestors", "zzz-qqq-www"}); !slices.Equal(got, []string{"frame-anchestors (did you mean frame-ancestors?)", "zzz-qqq-www"}) {
		t.Errorf("suggestions %q", got)
	}
}

func TestHeadersSecretParts(t *testing.T) {
	r := &headersRun{}
	for _, v := range []string{"Bearer abcdef123456", "sid=s3cr3t-cookie; lang=en", "short"} {
		r.secrets = append(r.secrets, headersSecretParts(v)...)
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	got := r.scrub("x Bearer abcdef123456 y s3cr3t-cookie z short")
	if want := "x <redacted> y <redacted> z short"; got != want {
		t.Errorf("scrub = %q, want %q", got, want)
	}
}
