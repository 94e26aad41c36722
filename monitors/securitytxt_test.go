package monitors

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// stxtTestNow is the clock of every securitytxt test run.
func stxtTestNow() time.Time { return time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC) }

// stxtTestResponse is what the test server answers for one path.
type stxtTestResponse struct {
	status      int
	contentType string
	body        string
	location    string
}

// stxtTestSite serves responses by path; the body may use {{base}} for the
// server's URL and {{expires}} for a date 180 days after stxtTestNow.
type stxtTestSite struct {
	srv *httptest.Server
	mu  sync.Mutex
	by  map[string]stxtTestResponse
	log []string
}

func newStxtTestSite(t *testing.T, tlsOn bool, by map[string]stxtTestResponse) *stxtTestSite {
	t.Helper()
	s := &stxtTestSite{by: by}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.log = append(s.log, r.URL.Path)
		resp, ok := s.by[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if resp.contentType != "" {
			w.Header().Set("Content-Type", resp.contentType)
		}
		if resp.location != "" {
			w.Header().Set("Location", resp.location)
		}
		if resp.status == 0 {
			resp.status = http.StatusOK
		}
		w.WriteHeader(resp.status)
		_, _ = w.Write([]byte(strings.ReplaceAll(resp.body, "{{base}}", s.srv.URL)))
	})
	if tlsOn {
		s.srv = httptest.NewTLSServer(h)
	} else {
		s.srv = httptest.NewServer(h)
	}
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stxtTestSite) env() Env {
	return Env{
		Clock:     stxtTestNow,
		UserAgent: UserAgent("test"),
		Transport: func() http.RoundTripper { return s.srv.Client().Transport },
	}
}

// stxtGood is a correct security.txt for a site at {{base}}.
func stxtGood() string {
	return "# security contacts of the test site\r\n" +
		"Contact: mailto:security@example.com\r\n" +
		"Contact: https://example.com/report\r\n" +
		"Expires: " + stxtTestNow().Add(180*24*time.Hour).Format(time.RFC3339) + "\r\n" +
		"Encryption: https://example.com/pgp-key.txt\r\n" +
		"Canonical: {{base}}/.well-known/security.txt\r\n" +
		"Preferred-Languages: en, de-CH\r\n" +
		"Policy: https://example.com/policy\r\n"
}

const stxtPlainUTF8 = "text/plain; charset=utf-8"

func stxtTestMonitor(t *testing.T, urls []string, mod func(*config.SecurityTxtMonitor)) config.Monitor {
	t.Helper()
	m, ok := config.DefaultMonitor("securitytxt")
	if !ok {
		t.Fatal("no securitytxt monitor type")
	}
	m.Name = "www-securitytxt"
	m.Labels = map[string]string{"team": "security"}
	m.SecurityTxt.URLs = urls
	if mod != nil {
		mod(m.SecurityTxt)
	}
	return m
}

func runStxtProbe(t *testing.T, m config.Monitor, env Env) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ProbeSecurityTxt(ctx, m, env, slog.New(slog.DiscardHandler))
}

func TestSecurityTxtCorrectFilePassesClean(t *testing.T) {
	site := newStxtTestSite(t, true, map[string]stxtTestResponse{
		config.SecurityTxtPath: {contentType: stxtPlainUTF8, body: stxtGood()},
	})
	r := runStxtProbe(t, stxtTestMonitor(t, []string{site.srv.URL + "/"}, nil), site.env())
	wantTLSFindings(t, r)
	if !r.Conclusive() {
		t.Error("not conclusive")
	}
	for k, want := range map[string]string{
		"status_code":     "200",
		"contacts":        "2",
		"signed":          "false",
		"expires":         stxtTestNow().Add(180 * 24 * time.Hour).Format(time.RFC3339),
		"expires_in_days": "180",
		"recommendations": "not_signed",
	} {
		if got := r.Details[k]; got != want {
			t.Errorf("details[%s] = %q, want %q", k, got, want)
		}
	}
	if r.Target != site.srv.URL+config.SecurityTxtPath || r.Type != "securitytxt" || r.Labels["team"] != "security" {
		t.Errorf("result header %+v", r)
	}
	site.mu.Lock()
	defer site.mu.Unlock()
	if !slices.Equal(site.log, []string{config.SecurityTxtPath}) {
		t.Errorf("requests %v, want only the well-known path", site.log)
	}
}

func TestSecurityTxtFindings(t *testing.T) {
	good := stxtGood()
	expires := "Expires: " + stxtTestNow().Add(180*24*time.Hour).Format(time.RFC3339) + "\r\n"
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("good file lacks %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	wk := config.SecurityTxtPath
	tests := []struct {
		name     string
		by       map[string]stxtTestResponse
		mod      func(*config.SecurityTxtMonitor)
		want     map[string]event.Severity
		evidence string // a substring of the first finding's evidence
	}{
		{name: "missing", by: map[string]stxtTestResponse{},
			want: map[string]event.Severity{FindingSecurityTxtMissing: event.SeverityMedium}, evidence: "HTTP 404"},
		{name: "missing-but-legacy-exists", by: map[string]stxtTestResponse{"/security.txt": {contentType: stxtPlainUTF8, body: good}},
			want: map[string]event.Severity{FindingSecurityTxtMissing: event.SeverityMedium}, evidence: "legacy /security.txt: HTTP 200"},
		{name: "server-error", by: map[string]stxtTestResponse{wk: {status: 500, body: "oops"}},
			want: map[string]event.Severity{FindingSecurityTxtMissing: event.SeverityMedium}, evidence: "HTTP 500"},
		{name: "html-catch-all", by: map[string]stxtTestResponse{wk: {contentType: "text/html; charset=utf-8", body: "<!DOCTYPE html><html><body>app</body></html>"}},
			want: map[string]event.Severity{FindingSecurityTxtMissing: event.SeverityMedium}, evidence: "HTML page"},
		{name: "wrong-content-type", by: map[string]stxtTestResponse{wk: {contentType: "application/octet-stream", body: good}},
			want: map[string]event.Severity{FindingSecurityTxtContentType: event.SeverityMedium}, evidence: "application/octet-stream"},
		{name: "no-charset", by: map[string]stxtTestResponse{wk: {contentType: "text/plain", body: good}},
			want: map[string]event.Severity{FindingSecurityTxtCharset: event.SeverityLow}, evidence: "no charset"},
		{name: "latin1", by: map[string]stxtTestResponse{wk: {contentType: "text/plain; charset=iso-8859-1", body: good}},
			want: map[string]event.Severity{FindingSecurityTxtCharset: event.SeverityLow}, evidence: "charset=iso-8859-1"},
		{name: "too-large", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: good + strings.Repeat("# padding\n", 4000)}},
			want: map[string]event.Severity{FindingSecurityTxtTooLarge: event.SeverityMedium}, evidence: "larger than 32768 bytes"},
		{name: "malformed-lines", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Encryption:", "this is not a field\r\nBad Name: x\r\nEncryption:")}},
			want: map[string]event.Severity{FindingSecurityTxtSyntax: event.SeverityMedium}, evidence: "line 5: not a field (Name: value), a comment (#) or a blank line; line 6: invalid field name"},
		{name: "no-contact", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Contact: mailto:security@example.com\r\nContact: https://example.com/report\r\n", "")}},
			want: map[string]event.Severity{FindingSecurityTxtContactMissing: event.SeverityHigh}, evidence: "no Contact field"},
		{name: "no-usable-contact", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Contact: mailto:security@example.com\r\nContact: https://example.com/report\r\n", "Contact: security@example.com\r\n")}},
			want: map[string]event.Severity{FindingSecurityTxtContactMissing: event.SeverityHigh, FindingSecurityTxtContactInvalid: event.SeverityMedium}, evidence: "line 2: Contact: \"security@example.com\" is not a URI"},
		{name: "contact-bad-scheme", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Contact: https://example.com/report", "Contact: ftp://example.com/report")}},
			want: map[string]event.Severity{FindingSecurityTxtContactInvalid: event.SeverityMedium}, evidence: "line 3: Contact: scheme ftp: is not allowed"},
		{name: "contact-http", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Contact: https://example.com/report", "Contact: http://example.com/report")}},
			want: map[string]event.Severity{FindingSecurityTxtContactInsecure: event.SeverityLow}, evidence: "line 3: Contact: http: is not allowed"},
		{name: "expired", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace(expires, "Expires: 2030-06-01T00:00:00Z\r\n")}},
			want: map[string]event.Severity{FindingSecurityTxtExpired: event.SeverityHigh}, evidence: "line 4: Expires: the file expired on 2030-06-01T00:00:00Z"},
		{name: "no-expires", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace(expires, "")}},
			want: map[string]event.Severity{FindingSecurityTxtExpiresMissing: event.SeverityMedium}, evidence: "no Expires field"},
		{name: "two-expires", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: good + expires}},
			want: map[string]event.Severity{FindingSecurityTxtExpiresInvalid: event.SeverityMedium}, evidence: "line 9: Expires: the field appears more than once"},
		{name: "bad-expires", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace(expires, "Expires: 31 Dec 2030\r\n")}},
			want: map[string]event.Severity{FindingSecurityTxtExpiresInvalid: event.SeverityMedium}, evidence: "line 4: Expires: \"31 Dec 2030\" is not an RFC 3339 date-time"},
		{name: "expires-soon", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace(expires, "Expires: 2030-06-18T12:00:00Z\r\n")}},
			want: map[string]event.Severity{FindingSecurityTxtExpiresSoon: event.SeverityMedium}, evidence: "line 4: Expires: 2030-06-18T12:00:00Z (warn_before 7d)"},
		{name: "expires-soon-warning-off", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace(expires, "Expires: 2030-06-18T12:00:00Z\r\n")}},
			mod: func(c *config.SecurityTxtMonitor) { c.WarnBefore = 0 }},
		{name: "expires-too-far", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace(expires, "Expires: 2032-06-15T12:00:00z\r\n")}},
			want: map[string]event.Severity{FindingSecurityTxtExpiresTooFar: event.SeverityLow}, evidence: "is 731 days ahead"},
		{name: "expires-too-far-check-off", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace(expires, "Expires: 2032-06-15T12:00:00z\r\n")}},
			mod: func(c *config.SecurityTxtMonitor) { c.MaxExpiry = 0 }},
		{name: "invalid-fields", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Policy: https://example.com/policy", "Policy: http://example.com/policy\r\nPreferred-Languages: en_US")}},
			want: map[string]event.Severity{FindingSecurityTxtFieldInvalid: event.SeverityLow}, evidence: "line 8: Policy: a web URI must start with https://, not http:; line 9: Preferred-Languages: \"en_US\" is not an RFC 5646 language tag"},
		{name: "canonical-elsewhere", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Canonical: {{base}}/", "Canonical: https://www.example.com/")}},
			want: map[string]event.Severity{FindingSecurityTxtCanonicalMismatch: event.SeverityMedium}, evidence: "Canonical lists https://www.example.com/.well-known/security.txt"},
		{name: "canonical-required", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Canonical: {{base}}/.well-known/security.txt\r\n", "")}},
			mod:  func(c *config.SecurityTxtMonitor) { c.RequireCanonical = true },
			want: map[string]event.Severity{FindingSecurityTxtCanonicalMissing: event.SeverityMedium}, evidence: "require_canonical"},
		{name: "canonical-not-required", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: replace("Canonical: {{base}}/.well-known/security.txt\r\n", "")}}},
		{name: "signature-required", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: good}},
			mod:  func(c *config.SecurityTxtMonitor) { c.RequireSignature = true },
			want: map[string]event.Severity{FindingSecurityTxtSignatureMissing: event.SeverityMedium}, evidence: "require_signature"},
		{name: "signed-passes", by: map[string]stxtTestResponse{wk: {contentType: stxtPlainUTF8, body: "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
			strings.ReplaceAll(strings.ReplaceAll(good, "\r\n", "\n"), "Contact: m", "- Contact: m") +
			"-----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQSsP2kEdoKDVFpSg6u3rK+YCkjapwUCY9qRaQAKCRC3rK+YCkja\n=KONn\n-----END PGP SIGNATURE-----\n"}},
			mod: func(c *config.SecurityTxtMonitor) { c.RequireSignature = true; c.RequireCanonical = true }},
		{name: "same-host-redirect-followed", by: map[string]stxtTestResponse{
			wk:              {status: http.StatusMovedPermanently, location: "/security.txt"},
			"/security.txt": {contentType: stxtPlainUTF8, body: replace("Canonical: {{base}}/.well-known/security.txt", "Canonical: {{base}}/security.txt")}}},
		{name: "redirect-off-host", by: map[string]stxtTestResponse{wk: {status: http.StatusFound, location: "https://security.example.net/.well-known/security.txt"}},
			want: map[string]event.Severity{FindingSecurityTxtRedirect: event.SeverityLow}, evidence: "Location: https://security.example.net/.well-known/security.txt (not followed)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			site := newStxtTestSite(t, true, tc.by)
			r := runStxtProbe(t, stxtTestMonitor(t, []string{site.srv.URL}, tc.mod), site.env())
			var ids []string
			for id := range tc.want {
				ids = append(ids, id)
			}
			wantTLSFindings(t, r, ids...)
			for id, sev := range tc.want {
				wantTLSSeverity(t, r, id, sev)
			}
			if tc.evidence != "" {
				f, _ := tlsFinding(r, r.Findings[0].ID)
				all := ""
				for _, f := range r.Findings {
					all += f.Evidence + "\n"
				}
				if !strings.Contains(all, tc.evidence) {
					t.Errorf("evidence %q lacks %q (first finding %s)", all, tc.evidence, f.ID)
				}
			}
			if want := tc.name != "redirect-off-host"; r.Conclusive() != want {
				t.Errorf("Conclusive = %v, want %v", r.Conclusive(), want)
			}
		})
	}
}

func TestSecurityTxtOverPlainHTTP(t *testing.T) {
	site := newStxtTestSite(t, false, map[string]stxtTestResponse{
		config.SecurityTxtPath: {contentType: stxtPlainUTF8, body: stxtGood()},
	})
	r := runStxtProbe(t, stxtTestMonitor(t, []string{site.srv.URL + "/"}, nil), site.env())
	// The file's own http:// Canonical is flagged as well.
	wantTLSFindings(t, r, FindingSecurityTxtNotHTTPS, FindingSecurityTxtFieldInvalid)
	wantTLSSeverity(t, r, FindingSecurityTxtNotHTTPS, event.SeverityMedium)
}

func TestSecurityTxtUnreachableAndSeveralSites(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String() + "/"
	ln.Close()
	site := newStxtTestSite(t, true, map[string]stxtTestResponse{
		config.SecurityTxtPath: {contentType: stxtPlainUTF8, body: stxtGood()},
	})
	r := runStxtProbe(t, stxtTestMonitor(t, []string{site.srv.URL, closed}, nil), site.env())
	wantTLSFindings(t, r, FindingSecurityTxtUnreachable)
	f := wantTLSSeverity(t, r, FindingSecurityTxtUnreachable, event.SeverityMedium)
	if want := strings.TrimSuffix(closed, "/") + config.SecurityTxtPath; f.Target != want {
		t.Errorf("target %q, want %q", f.Target, want)
	}
	if r.Conclusive() {
		t.Error("a run with an unreachable site is conclusive")
	}
	if r.Details[site.srv.URL+"/status_code"] != "200" || r.Details[strings.TrimSuffix(closed, "/")+"/error"] == "" {
		t.Errorf("details %v", r.Details)
	}
}

func TestSecurityTxtMisconfigured(t *testing.T) {
	for name, m := range map[string]config.Monitor{
		"no-block": {Name: "x", Type: "securitytxt"},
		"no-urls":  stxtTestMonitor(t, nil, nil),
		"bad-url":  stxtTestMonitor(t, []string{"https://example.com/security/"}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			r := runStxtProbe(t, m, Env{})
			wantTLSFindings(t, r, FindingConfig)
		})
	}
}

func TestSecurityTxtHostileInput(t *testing.T) {
	inputs := []string{
		"", "\x00\x01\x02", "Contact:", ":", ": x", "\ufeff\ufeff", "-----BEGIN PGP SIGNED MESSAGE-----",
		"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\ntrailing\n",
		" continuation without a field\n", "Contact: mailto:\xff\xfe\n", strings.Repeat("Contact: https://a.example/\n", 1200),
		"Preferred-Languages: " + strings.Repeat("en-", 300) + "x\n", "Expires: 2030-01-01T00:00:00+24:00\n",
	}
	for _, in := range inputs {
		r := checkSecurityTxt([]byte(in), stxtTestNow(), 365*24*time.Hour)
		for _, i := range r.Errors {
			if i.Msg == "" || len(i.String()) > 300 {
				t.Errorf("%q: issue %+v", stxtTruncate(in, 40), i)
			}
		}
	}
}

func TestSecurityTxtParser(t *testing.T) {
	in := "# comment\r\n" +
		"X-Note: first part\r\n" +
		" and a folded second\r\n" +
		"contact: https://example.com/a\n" +
		"\n" +
		" stray continuation\n" +
		"Contact:https://example.com/b\n" +
		"Contact: https://example.com/c \t\n" +
		"Expires: 2030-01-01T00:00:00.5+02:00\n" +
		"Expires: 2031-01-01T00:00:00Z"
	f, errs := parseSecurityTxt([]byte(in))
	var got []string
	for _, fl := range f.Fields {
		got = append(got, fmt.Sprintf("%d %s=%q", fl.Line, fl.Name, fl.Value))
	}
	want := []string{
		`2 X-Note="first part and a folded second"`,
		`4 contact="https://example.com/a"`,
		`8 Contact="https://example.com/c"`,
		`9 Expires="2030-01-01T00:00:00.5+02:00"`,
		`10 Expires="2031-01-01T00:00:00Z"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("fields:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var gotErrs []string
	for _, e := range errs {
		gotErrs = append(gotErrs, fmt.Sprintf("%d %s", e.Line, e.Code))
	}
	if want := []string{"6 invalid_line", "7 invalid_line", "10 invalid_line_ending"}; !slices.Equal(gotErrs, want) {
		t.Errorf("errors %v, want %v", gotErrs, want)
	}
	r := checkSecurityTxt([]byte(in), time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	if r.ExpiresLine != 9 || !r.ExpiresAt.Equal(time.Date(2029, 12, 31, 22, 0, 0, 500e6, time.UTC)) ||
		!slices.Equal(r.Contact, []string{"https://example.com/a", "https://example.com/c"}) {
		t.Errorf("report %+v", r)
	}

	for tag, ok := range map[string]bool{
		"en": true, "de-CH-1901": true, "zh-cmn-Hans-CN": true, "x-whatever": true, "i-klingon": true, "qaa-Qaaa-QM-x-southern": true,
		"en-a-bbb-x-a-ccc": true, "sr-Latn-RS": true, "es-419": true,
		"": false, "e": false, "en-": false, "en--US": false, "en-US-x": false, "de-1901-1901": false, "toolongtag": false, "en_US": false, "123": false,
	} {
		if stxtValidLangTag(tag) != ok {
			t.Errorf("stxtValidLangTag(%q) = %v, want %v", tag, !ok, ok)
		}
	}
	for uri, ok := range map[string]bool{
		"mailto:a@example.com": true, "tel:+1-201-555-0123": true, "https://example.com/x?y#z": true, "dns:key.example.com?type=OPENPGPKEY": true,
		"https://[::1]:8443/": true, "example.com": false, "https://": false, "https://exa mple.com/": false, "https://example.com/%zz": false,
		"1http://x": false, "urn:": false, "https://a/#b#c": false, "mailto:ü@example.com": false,
	} {
		if _, _, got := parseStxtURI(uri); got != ok {
			t.Errorf("parseStxtURI(%q) ok = %v, want %v", uri, got, ok)
		}
	}
	if !stxtCanonicalMatches([]string{"HTTPS://Example.COM:443/.well-known/security.txt"}, "https://example.com/.well-known/security.txt") ||
		stxtCanonicalMatches([]string{"https://example.com:8443/.well-known/security.txt"}, "https://example.com/.well-known/security.txt") ||
		!stxtCanonicalMatches([]string{"https://[::1]:8443/.well-known/security.txt"}, "https://[::1]:8443/.well-known/security.txt") {
		t.Error("stxtCanonicalMatches")
	}
}
