package monitors

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// owaspPermissionsPolicy is OWASP Secure Headers' recommended
// Permissions-Policy, a long real-world dictionary.
const owaspPermissionsPolicy = "accelerometer=(), autoplay=(), camera=(), cross-origin-isolated=(), display-capture=(), encrypted-media=(), fullscreen=(), geolocation=(), gyroscope=(), keyboard-map=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), sync-xhr=(self), usb=(), web-share=(), xr-spatial-tracking=(), clipboard-read=(), clipboard-write=(), gamepad=(), hid=(), idle-detection=(), interest-cohort=(), serial=(), unload=()"

func benchInput() headersInput {
	h := http.Header{}
	r := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	hardenedHeaders(h, r, true)
	h.Set("Permissions-Policy", owaspPermissionsPolicy)
	return headersInput{
		url: &url.URL{Scheme: "https", Host: "example.com", Path: "/"}, header: h, html: []byte(fixtureHTML),
		cors: h, nullCORS: h, probeOrigin: "https://secopsd-probe.invalid", now: time.Now(),
	}
}

// BenchmarkAuditHeaders measures the checks of one response (no I/O).
func BenchmarkAuditHeaders(b *testing.B) {
	in := benchInput()
	opt := headersOptions{hstsMinMaxAge: 31536000}
	b.ReportAllocs()
	for b.Loop() {
		if issues := auditHeaders(in, opt); len(issues) != 0 {
			b.Fatal(issues)
		}
	}
}

func BenchmarkParseSFDictionary(b *testing.B) {
	lines := []string{owaspPermissionsPolicy}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseSFDictionary(lines); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCSP(b *testing.B) {
	lines := []string{"default-src 'self'; script-src 'self' 'nonce-r4nd0m' 'strict-dynamic' https://cdn.example.com; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; report-to csp"}
	b.ReportAllocs()
	for b.Loop() {
		if fs := analyzeCSP(parseCSPHeader(lines), false); len(fs) != 0 {
			b.Fatal(fs)
		}
	}
}

// BenchmarkProbeHeaders measures a whole run of one URL over loopback
// HTTP: three requests and the audit.
func BenchmarkProbeHeaders(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hardenedHeaders(w.Header(), r, false)
		w.Write([]byte(fixtureHTML))
	}))
	defer srv.Close()
	m := headersMonitor(b, srv.URL+"/")
	b.ReportAllocs()
	for b.Loop() {
		if res := ProbeHeaders(context.Background(), m, Env{}, nil); !res.Success {
			b.Fatal(res.Findings)
		}
	}
}
