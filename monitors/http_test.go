package monitors

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// testLogger logs at debug level into the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testEnv is an Env with tiny retry backoffs so that retry tests are fast.
func testEnv() Env {
	return Env{
		UserAgent:    UserAgent("test"),
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 5 * time.Millisecond,
	}
}

func httpMon(name, url string, mod func(*config.HTTPMonitor)) config.Monitor {
	h := &config.HTTPMonitor{URL: url, Expect: config.HTTPExpect{Status: 200}}
	if mod != nil {
		mod(h)
	}
	return config.Monitor{
		Name:     name,
		Type:     "http",
		Schedule: "@every 15m",
		Timeout:  config.Duration(10 * time.Second),
		Labels:   map[string]string{"team": "platform"},
		HTTP:     h,
	}
}

func runProbe(t *testing.T, m config.Monitor, env Env) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return ProbeHTTP(ctx, m, env, testLogger(t))
}

// wantFailure checks the shape every failed http run must have.
func wantFailure(t *testing.T, r Result, titleHas ...string) event.Finding {
	t.Helper()
	if r.Success {
		t.Fatalf("Success = true, want failure; details %v", r.Details)
	}
	if len(r.Findings) != 1 {
		t.Fatalf("got %d findings, want exactly 1: %+v", len(r.Findings), r.Findings)
	}
	f := r.Findings[0]
	if f.ID != FindingHTTPUnhealthy || f.Severity != event.SeverityHigh {
		t.Errorf("finding id/severity = %s/%s, want %s/high", f.ID, f.Severity, FindingHTTPUnhealthy)
	}
	if want := event.Fingerprint(r.Monitor, r.Target, FindingHTTPUnhealthy); f.Fingerprint != want {
		t.Errorf("fingerprint = %s, want %s", f.Fingerprint, want)
	}
	if f.Evidence == "" || f.Remediation == "" {
		t.Errorf("finding lacks evidence or remediation: %+v", f)
	}
	for _, s := range titleHas {
		if !strings.Contains(f.Title, s) {
			t.Errorf("title %q lacks %q", f.Title, s)
		}
	}
	return f
}

func TestHTTPPass(t *testing.T) {
	var ua atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer srv.Close()

	m := httpMon("api-health", srv.URL+"/healthz", func(h *config.HTTPMonitor) {
		h.Expect.BodyContains = `"ok"`
		h.Expect.MaxLatency = config.Duration(5 * time.Second)
	})
	r := runProbe(t, m, testEnv())
	if !r.Success {
		t.Fatalf("Success = false, want true; findings %+v details %v", r.Findings, r.Details)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings = %+v, want none", r.Findings)
	}
	if r.Attempts != 1 || r.Details["attempts"] != "1" {
		t.Errorf("attempts = %d (%q), want 1", r.Attempts, r.Details["attempts"])
	}
	if r.Details["status_code"] != "200" {
		t.Errorf("status_code = %q, want 200", r.Details["status_code"])
	}
	if _, ok := r.Details["latency_ms"]; !ok {
		t.Error("details lack latency_ms")
	}
	if r.Target != srv.URL+"/healthz" || r.Monitor != "api-health" || r.Type != "http" {
		t.Errorf("target/monitor/type = %q/%q/%q", r.Target, r.Monitor, r.Type)
	}
	if got := ua.Load(); got != "secopsd/test" {
		t.Errorf("User-Agent = %v, want secopsd/test", got)
	}
	if r.Labels["team"] != "platform" {
		t.Errorf("labels = %v", r.Labels)
	}
}

func TestHTTPDefaultsToStatus200AndGET(t *testing.T) {
	var method atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method.Store(r.Method)
	}))
	defer srv.Close()
	m := httpMon("defaults", srv.URL, func(h *config.HTTPMonitor) { h.Expect.Status = 0 })
	if r := runProbe(t, m, Env{}); !r.Success {
		t.Fatalf("failed: %v", r.Details)
	}
	if method.Load() != http.MethodGet {
		t.Errorf("method = %v, want GET", method.Load())
	}
}

func TestHTTPStatusMismatchFailsWithStableFingerprint(t *testing.T) {
	var healthyButWrongBody atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if healthyButWrongBody.Load() {
			fmt.Fprint(w, "wrong")
			return
		}
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	m := httpMon("api-health", srv.URL+"/healthz", func(h *config.HTTPMonitor) { h.Expect.BodyContains = "ok" })

	r1 := runProbe(t, m, testEnv())
	f1 := wantFailure(t, r1, "api-health: HTTP 500 from "+srv.URL+"/healthz (want 200)")
	r2 := runProbe(t, m, testEnv())
	f2 := wantFailure(t, r2)
	if f1.Fingerprint != f2.Fingerprint {
		t.Errorf("fingerprint changed across runs: %s vs %s", f1.Fingerprint, f2.Fingerprint)
	}
	if r1.Details["status_code"] != "500" || r1.Attempts != 1 {
		t.Errorf("status_code=%q attempts=%d, want 500 and 1", r1.Details["status_code"], r1.Attempts)
	}
	if !strings.Contains(f1.Evidence, "status=500") {
		t.Errorf("evidence %q lacks status", f1.Evidence)
	}

	// Another kind of unhealthiness of the same monitor dedupes to the same
	// fingerprint.
	healthyButWrongBody.Store(true)
	r3 := runProbe(t, m, testEnv())
	if f3 := wantFailure(t, r3, "lacks"); f3.Fingerprint != f1.Fingerprint {
		t.Errorf("same monitor+target, other failure: fingerprint %s, want %s", f3.Fingerprint, f1.Fingerprint)
	}
}

// steppingClock advances by step at every reading.
func steppingClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

func TestHTTPLatencyOverBoundFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	m := httpMon("slow", srv.URL, func(h *config.HTTPMonitor) {
		h.Expect.MaxLatency = config.Duration(500 * time.Millisecond)
	})
	env := testEnv()
	env.Clock = steppingClock(time.Second) // every request "takes" ≥ 1s
	r := runProbe(t, m, env)
	f := wantFailure(t, r, "slow response from "+srv.URL)
	if !strings.Contains(f.Evidence, "latency 1s over 500ms") {
		t.Errorf("evidence %q lacks the latency problem", f.Evidence)
	}
	if r.Details["latency_ms"] != "1000" {
		t.Errorf("latency_ms = %q, want 1000", r.Details["latency_ms"])
	}
}

func TestHTTPBodySubstringMissingFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"degraded"}`)
	}))
	defer srv.Close()
	m := httpMon("body", srv.URL, func(h *config.HTTPMonitor) { h.Expect.BodyContains = `"status":"ok"` })
	r := runProbe(t, m, testEnv())
	wantFailure(t, r, "lacks", `status`)
	if !strings.Contains(r.Details["error"], "body lacks") {
		t.Errorf("error detail %q", r.Details["error"])
	}
}

func TestHTTPConnectionRefusedFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := httpMon("refused", "http://"+addr+"/healthz", func(h *config.HTTPMonitor) { h.Retries = 1 })
	r := runProbe(t, m, testEnv())
	wantFailure(t, r, "GET http://"+addr+"/healthz failed", "refused")
	if r.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (1 + 1 retry)", r.Attempts)
	}
	if _, ok := r.Details["status_code"]; ok {
		t.Errorf("status_code set without a response: %v", r.Details)
	}
}

func TestHTTPRedirectToOtherHostNotFollowed(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		fmt.Fprint(w, "ok")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
	}))
	defer srv.Close()

	m := httpMon("redir", srv.URL+"/login", func(h *config.HTTPMonitor) { h.Retries = 2 })
	r := runProbe(t, m, testEnv())
	otherHost := strings.TrimPrefix(other.URL, "http://")
	f := wantFailure(t, r, "redirect to other host "+otherHost)
	if n := otherHits.Load(); n != 0 {
		t.Errorf("other host was requested %d times, want 0", n)
	}
	if r.Attempts != 1 {
		t.Errorf("attempts = %d, want 1: a cross-host redirect is not retried", r.Attempts)
	}
	if r.Details["redirect_host"] != otherHost || r.Details["status_code"] != "302" {
		t.Errorf("details = %v", r.Details)
	}
	if !strings.Contains(f.Remediation, "redirect") {
		t.Errorf("remediation %q", f.Remediation)
	}
}

func TestHTTPSameHostRedirectFollowed(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	r := runProbe(t, httpMon("same", srv.URL+"/old", func(h *config.HTTPMonitor) { h.Expect.BodyContains = "ok" }), testEnv())
	if !r.Success {
		t.Fatalf("same-host redirect not followed: %+v %v", r.Findings, r.Details)
	}
	if r.Details["redirects"] != "1" {
		t.Errorf("redirects = %q, want 1", r.Details["redirects"])
	}

	r = runProbe(t, httpMon("loop", srv.URL+"/loop", nil), testEnv())
	wantFailure(t, r, fmt.Sprintf("stopped after %d redirects", maxRedirects))
}

func TestHTTPOversizedBodyIsCapped(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 2*maxBodyBytes)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/head" {
			w.Write([]byte("HEAD-MARKER"))
		}
		w.Write(big)
		w.Write([]byte("TAIL-MARKER"))
	}))
	defer srv.Close()

	// The marker beyond the cap is not seen.
	r := runProbe(t, httpMon("big", srv.URL+"/tail", func(h *config.HTTPMonitor) { h.Expect.BodyContains = "TAIL-MARKER" }), testEnv())
	wantFailure(t, r, "lacks")
	if r.Details["body_truncated"] != "true" || r.Details["body_bytes_read"] != fmt.Sprint(maxBodyBytes) {
		t.Errorf("details = %v, want body_truncated and body_bytes_read=%d", r.Details, maxBodyBytes)
	}

	// A marker within the cap passes, and the truncation is still recorded.
	r = runProbe(t, httpMon("big", srv.URL+"/head", func(h *config.HTTPMonitor) { h.Expect.BodyContains = "HEAD-MARKER" }), testEnv())
	if !r.Success {
		t.Fatalf("failed: %+v", r.Findings)
	}
	if r.Details["body_truncated"] != "true" {
		t.Errorf("details = %v, want body_truncated", r.Details)
	}
}

func TestHTTPRetriesThenPassRecordsAttempts(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	r := runProbe(t, httpMon("flaky", srv.URL, func(h *config.HTTPMonitor) { h.Retries = 3 }), testEnv())
	if !r.Success {
		t.Fatalf("failed: %+v %v", r.Findings, r.Details)
	}
	if r.Attempts != 3 || r.Details["attempts"] != "3" || hits.Load() != 3 {
		t.Errorf("attempts = %d (%q), server hits = %d, want 3", r.Attempts, r.Details["attempts"], hits.Load())
	}
	if r.Details["failed_attempts"] != "2" || !strings.Contains(r.Details["previous_error"], "HTTP 503 (want 200)") {
		t.Errorf("details don't record the earlier failures: %v", r.Details)
	}
	if _, ok := r.Details["error"]; ok {
		t.Errorf("a passing run has an error detail: %v", r.Details)
	}
}

func TestHTTPRetriesAllFail(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNotFound) // not retryable by default, retried here
	}))
	defer srv.Close()

	r := runProbe(t, httpMon("down", srv.URL, func(h *config.HTTPMonitor) { h.Retries = 2 }), testEnv())
	f := wantFailure(t, r, "HTTP 404")
	if r.Attempts != 3 || hits.Load() != 3 {
		t.Errorf("attempts = %d, server hits = %d, want 3", r.Attempts, hits.Load())
	}
	if !strings.Contains(f.Evidence, "attempts=3") || r.Details["failed_attempts"] != "3" {
		t.Errorf("evidence %q / details %v", f.Evidence, r.Details)
	}
}

func TestHTTPConfiguredHeadersSentButNeverRecorded(t *testing.T) {
	const secret = "s3cr3t-token-value"
	var gotAuth, gotUA, gotHost atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		gotUA.Store(r.UserAgent())
		gotHost.Store(r.Host)
		// Fail, so that every failure path (details, findings, logs) is exercised.
		http.Error(w, "nope", http.StatusUnauthorized)
	}))
	defer srv.Close()

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := httpMon("auth", srv.URL, func(h *config.HTTPMonitor) {
		h.Retries = 1
		h.Headers = map[string]config.Secret{
			"Authorization": config.Secret("Bearer " + secret),
			"Host":          config.Secret("api.internal"),
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r := ProbeHTTP(ctx, m, testEnv(), logger)
	wantFailure(t, r, "HTTP 401")

	if gotAuth.Load() != "Bearer "+secret {
		t.Errorf("Authorization = %v, want the configured header", gotAuth.Load())
	}
	if gotHost.Load() != "api.internal" {
		t.Errorf("Host = %v, want api.internal", gotHost.Load())
	}
	if gotUA.Load() != "secopsd/test" {
		t.Errorf("User-Agent = %v", gotUA.Load())
	}
	var all strings.Builder
	fmt.Fprintf(&all, "%+v\n%s\n", r, logs.String())
	for _, e := range r.Events(time.Now()) {
		fmt.Fprintf(&all, "%+v\n", e)
	}
	if strings.Contains(all.String(), secret) {
		t.Errorf("a configured header value leaked into results, events or logs:\n%s", all.String())
	}
}

func TestHTTPHonoursContextDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	m := httpMon("hang", srv.URL, func(h *config.HTTPMonitor) { h.Retries = 3 })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	r := ProbeHTTP(ctx, m, testEnv(), testLogger(t))
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("probe took %s after a 200ms deadline", took)
	}
	wantFailure(t, r, "failed")
	if !strings.Contains(r.Details["error"], "deadline exceeded") {
		t.Errorf("error = %q, want a deadline error", r.Details["error"])
	}
	if r.Attempts != 1 {
		t.Errorf("attempts = %d, want 1: no retry after the deadline", r.Attempts)
	}
}

func TestHTTPTLSVerified(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	srv.StartTLS()
	defer srv.Close()
	m := httpMon("tls", srv.URL, func(h *config.HTTPMonitor) { h.Retries = 2 })

	// The default transport does not trust the test CA.
	r := runProbe(t, m, testEnv())
	wantFailure(t, r, "certificate")
	if r.Attempts != 1 {
		t.Errorf("attempts = %d, want 1: verification failures are not retried", r.Attempts)
	}

	// A transport that trusts it passes.
	env := testEnv()
	env.Transport = func() http.RoundTripper { return srv.Client().Transport }
	if r := runProbe(t, m, env); !r.Success {
		t.Fatalf("trusted TLS failed: %+v", r.Findings)
	}

	// A transport that turns verification off gets it turned back on.
	env.Transport = func() http.RoundTripper {
		return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	wantFailure(t, runProbe(t, m, env), "certificate")
}

func TestHTTPMisconfigured(t *testing.T) {
	for name, m := range map[string]config.Monitor{
		"no http block": {Name: "x", Type: "http"},
		"relative url":  httpMon("x", "/healthz", nil),
		"bad scheme":    httpMon("x", "ftp://user:pw@example.com/", nil),
	} {
		t.Run(name, func(t *testing.T) {
			r := runProbe(t, m, testEnv())
			if r.Success || len(r.Findings) != 1 || r.Findings[0].ID != FindingConfig {
				t.Fatalf("got %+v, want one %s finding", r, FindingConfig)
			}
			if strings.Contains(fmt.Sprintf("%+v", r), "pw@") {
				t.Errorf("credentials of the url leaked: %+v", r)
			}
		})
	}
}

func TestHTTPTargetRedactsCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)
	r := runProbe(t, httpMon("creds", u, nil), testEnv())
	wantFailure(t, r)
	if strings.Contains(fmt.Sprintf("%+v", r), "hunter2") {
		t.Errorf("url password leaked: %+v", r)
	}
}
