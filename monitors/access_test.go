package monitors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

const (
	accessViewerToken = "viewer-tok-5b1e9c"
	accessAdminToken  = "admin-tok-77aa01"
)

// accessApp is a fixture application whose routes are protected the way
// the access monitor expects; a test breaks one route at a time.
type accessApp struct {
	mu     sync.Mutex
	broken map[string]http.HandlerFunc // path → handler replacing the good one
	seen   []*http.Request             // every request, in order
}

func (a *accessApp) breakRoute(path string, h http.HandlerFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.broken[path] = h
}

func (a *accessApp) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

func (a *accessApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Clone(context.Background()))
	h := a.broken[r.URL.Path]
	a.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	role := ""
	switch r.Header.Get("Authorization") {
	case "Bearer " + accessViewerToken:
		role = "viewer"
	case "Bearer " + accessAdminToken:
		role = "admin"
	}
	switch r.URL.Path {
	case "/api/users":
		if role == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `[{"id":1}]`)
	case "/admin/settings":
		switch role {
		case "":
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case "viewer":
			http.Error(w, "forbidden", http.StatusForbidden)
		default:
			fmt.Fprint(w, `{"mfa":true}`)
		}
	case "/dashboard":
		if r.Header.Get("Cookie") == "" {
			http.Redirect(w, r, "/users/sign_in?next=%2Fdashboard", http.StatusFound)
			return
		}
		fmt.Fprint(w, "<h1>dashboard</h1>")
	case "/reports":
		// Canonicalization first, then the real answer.
		http.Redirect(w, r, "/reports/", http.StatusMovedPermanently)
	case "/reports/":
		if role == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "reports")
	case "/":
		fmt.Fprint(w, "home")
	default:
		http.NotFound(w, r)
	}
}

func newAccessApp(t *testing.T) (*accessApp, *httptest.Server) {
	t.Helper()
	app := &accessApp{broken: map[string]http.HandlerFunc{}}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return app, srv
}

func accessMon(base string, mod func(*config.AccessMonitor)) config.Monitor {
	a := &config.AccessMonitor{
		Endpoints: []config.AccessEndpoint{
			{URL: base + "/api/users"},
			{URL: base + "/admin/settings", Admin: true},
			{URL: base + "/dashboard"},
			{URL: base + "/reports"},
			{URL: base + "/api/users", Method: http.MethodPost},
		},
		LowPrivilegeHeaders: map[string]config.Secret{"Authorization": "Bearer " + accessViewerToken},
		ExpectStatus:        config.DefaultAccessExpectStatus(),
		AllowLoginRedirect:  true,
	}
	if mod != nil {
		mod(a)
	}
	return config.Monitor{Name: "auth", Type: "access", Labels: map[string]string{"team": "sec"}, Access: a}
}

func runAccess(t *testing.T, m config.Monitor) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	logger, logs := webLogger(t)
	r := ProbeAccess(ctx, m, testEnv(), logger)
	webNoSecretIn(t, r, accessViewerToken, accessAdminToken)
	webNoSecretInLogs(t, logs, accessViewerToken, accessAdminToken)
	if r.Success != (len(r.Findings) == 0) {
		t.Errorf("Success = %v with %d findings", r.Success, len(r.Findings))
	}
	return r
}

// webExpiringCtx is a context whose deadline passes when expire is called,
// so that tests stop a run at an exact point instead of racing a timer.
type webExpiringCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newWebExpiringCtx(t *testing.T) *webExpiringCtx {
	return &webExpiringCtx{Context: t.Context(), done: make(chan struct{})}
}

func (c *webExpiringCtx) Done() <-chan struct{} { return c.done }

func (c *webExpiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *webExpiringCtx) expire() { c.once.Do(func() { close(c.done) }) }

// webLogBuffer collects log output from several goroutines.
type webLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *webLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *webLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// webLogger logs at debug level into the test's output and a buffer.
func webLogger(t *testing.T) (*slog.Logger, *webLogBuffer) {
	buf := &webLogBuffer{}
	h := slog.NewTextHandler(io.MultiWriter(t.Output(), buf), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), buf
}

// webNoSecretInLogs fails if any secret was logged.
func webNoSecretInLogs(t *testing.T, logs *webLogBuffer, secrets ...string) {
	t.Helper()
	out := logs.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("logs leak secret %q", s)
		}
	}
}

// webNoSecretIn fails if any secret appears anywhere in r.
func webNoSecretIn(t *testing.T, r Result, secrets ...string) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	all := string(b) + fmt.Sprintf("%+v", r)
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("result leaks secret %q: %s", s, b)
		}
	}
}

// webOnlyFinding checks that r has exactly one finding, with id and sev,
// and returns it.
func webOnlyFinding(t *testing.T, r Result, id string, sev event.Severity) event.Finding {
	t.Helper()
	if r.Success || len(r.Findings) != 1 {
		t.Fatalf("want exactly one %s finding, got success=%v findings=%+v details=%v", id, r.Success, r.Findings, r.Details)
	}
	f := r.Findings[0]
	if f.ID != id || f.Severity != sev {
		t.Errorf("finding = %s/%s, want %s/%s: %+v", f.ID, f.Severity, id, sev, f)
	}
	if f.Title == "" || f.Evidence == "" || f.Remediation == "" || (f.Target == "" && id != FindingConfig) {
		t.Errorf("finding lacks title, evidence, remediation or target: %+v", f)
	}
	if want := event.Fingerprint(r.Monitor, f.Target, id); f.Fingerprint != want {
		t.Errorf("fingerprint = %s, want %s", f.Fingerprint, want)
	}
	return f
}

func TestAccessHardenedAppPasses(t *testing.T) {
	app, srv := newAccessApp(t)
	r := runAccess(t, accessMon(srv.URL, nil))
	if !r.Success || len(r.Findings) != 0 {
		t.Fatalf("hardened app: findings %+v details %v", r.Findings, r.Details)
	}
	if r.Monitor != "auth" || r.Type != "access" || r.Target != srv.URL || r.Labels["team"] != "sec" {
		t.Errorf("result header = %q %q %q %v", r.Monitor, r.Type, r.Target, r.Labels)
	}
	// 5 endpoints without credentials, /reports twice (its redirect is
	// followed), the admin endpoint once more with the viewer token.
	reqs := app.requests()
	if len(reqs) != 7 || r.Attempts != 7 || r.Details["requests"] != "7" {
		t.Errorf("requests = %d (attempts %d, details %q), want 7", len(reqs), r.Attempts, r.Details["requests"])
	}
	withCred := 0
	for _, q := range reqs {
		if q.Header.Get("Cookie") != "" {
			t.Errorf("a request carried a cookie: %v", q.Header)
		}
		if q.Header.Get("Authorization") != "" {
			withCred++
			if q.URL.Path != "/admin/settings" {
				t.Errorf("credential sent to a non-admin endpoint %s", q.URL.Path)
			}
		}
		if q.Method == http.MethodPost && q.ContentLength > 0 {
			t.Errorf("POST with a body")
		}
		if q.UserAgent() != "secopsd/test" {
			t.Errorf("User-Agent = %q", q.UserAgent())
		}
	}
	if withCred != 1 {
		t.Errorf("%d requests carried the low-privilege credential, want 1", withCred)
	}
	if got := r.Details["endpoint_2"]; !strings.Contains(got, "302 → "+srv.URL+"/users/sign_in?next=%2Fdashboard") {
		t.Errorf("endpoint_2 detail = %q", got)
	}
	if got := r.Details["endpoint_1"]; !strings.Contains(got, "no credentials: 401; low privilege: 403") {
		t.Errorf("endpoint_1 detail = %q", got)
	}
}

func TestAccessUnauthenticatedIsCritical(t *testing.T) {
	app, srv := newAccessApp(t)
	app.breakRoute("/api/users", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id":1,"email":"a@example.com"}]`)
	})
	m := accessMon(srv.URL, func(a *config.AccessMonitor) { a.Endpoints = a.Endpoints[:1] })
	r := runAccess(t, m)
	f := webOnlyFinding(t, r, FindingAccessUnauthenticated, event.SeverityCritical)
	if f.Target != "GET "+srv.URL+"/api/users" {
		t.Errorf("target = %q", f.Target)
	}
	for _, want := range []string{"GET " + srv.URL + "/api/users without credentials", "status=200", `body="[{\"id\":1,\"email\":\"a@example.com\"}]"`} {
		if !strings.Contains(f.Evidence, want) {
			t.Errorf("evidence %q lacks %q", f.Evidence, want)
		}
	}
	if !strings.Contains(f.Title, "answers 200 without credentials") {
		t.Errorf("title = %q", f.Title)
	}
	// Stable across runs.
	if f2 := webOnlyFinding(t, runAccess(t, m), FindingAccessUnauthenticated, event.SeverityCritical); f2.Fingerprint != f.Fingerprint {
		t.Error("fingerprint changed across runs")
	}
}

func TestAccessPrivilegeEscalationIsCritical(t *testing.T) {
	app, srv := newAccessApp(t)
	app.breakRoute("/admin/settings", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// Echoes the caller's credential: must never reach the evidence.
		fmt.Fprintf(w, "hello %s, here are the settings", r.Header.Get("Authorization"))
	})
	r := runAccess(t, accessMon(srv.URL, nil))
	f := webOnlyFinding(t, r, FindingAccessPrivilegeEscalation, event.SeverityCritical)
	if f.Target != "GET "+srv.URL+"/admin/settings" {
		t.Errorf("target = %q", f.Target)
	}
	for _, want := range []string{"with the low-privilege credential (headers Authorization)", "status=200", "withheld: the body echoes the credential"} {
		if !strings.Contains(f.Evidence, want) {
			t.Errorf("evidence %q lacks %q", f.Evidence, want)
		}
	}
}

func TestAccessFindingsPerAnswer(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		mod     func(*config.AccessMonitor)
		more    map[string]http.HandlerFunc // other routes to replace
		id      string
		sev     event.Severity
		has     []string // in the evidence or title
	}{
		{
			name: "5xx is an auth-layer error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "panic: nil map", http.StatusInternalServerError)
			},
			id: FindingAccessError, sev: event.SeverityMedium,
			has: []string{"status=500", `body="panic: nil map"`, "answers 500 without credentials"},
		},
		{
			name:    "404 is unexpected",
			handler: http.NotFound,
			id:      FindingAccessUnexpectedStatus, sev: event.SeverityLow,
			has: []string{"status=404", "want 401, 403"},
		},
		{
			name:    "404 accepted when listed",
			handler: http.NotFound,
			mod:     func(a *config.AccessMonitor) { a.ExpectStatus = []int{401, 403, 404} },
		},
		{
			name: "login redirect refused when not allowed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/login", http.StatusFound)
			},
			mod: func(a *config.AccessMonitor) { a.AllowLoginRedirect = false },
			id:  FindingAccessUnexpectedStatus, sev: event.SeverityLow,
			has: []string{"status=302", "/login", "redirects without credentials"},
		},
		{
			name: "login redirect accepted",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/auth/login?return_to=/api/users", http.StatusSeeOther)
			},
		},
		{
			name: "redirect to the home page is not a refusal",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/", http.StatusFound)
			},
			id: FindingAccessUnexpectedStatus, sev: event.SeverityLow,
			has: []string{"status=302", "same-host login page"},
		},
		{
			name: "canonical redirect followed to a 200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/api/users/", http.StatusMovedPermanently)
			},
			more: map[string]http.HandlerFunc{"/api/users/": func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "users") }},
			id:   FindingAccessUnauthenticated, sev: event.SeverityCritical,
			has: []string{"status=200", "final_url="},
		},
		{
			name: "redirect without Location",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusFound)
			},
			id: FindingAccessUnexpectedStatus, sev: event.SeverityLow,
			has: []string{"status=302"},
		},
		{
			name: "JSON with a token is withheld",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"user":"root","api_token":"sk_live_0000"}`)
			},
			id: FindingAccessUnauthenticated, sev: event.SeverityCritical,
			has: []string{`withheld: JSON with a "token" field`},
		},
		{
			name: "a JWT is withheld",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "ok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig")
			},
			id: FindingAccessUnauthenticated, sev: event.SeverityCritical,
			has: []string{"withheld: the body looks like it holds a token"},
		},
		{
			name: "a DSN in a stack trace is withheld",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "dial postgres://app:hunter2@db:5432/app failed", http.StatusBadGateway)
			},
			id: FindingAccessError, sev: event.SeverityMedium,
			has: []string{"status=502", "withheld"},
		},
		{
			name: "long bodies are cut",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, strings.Repeat("é", 300))
			},
			id: FindingAccessUnauthenticated, sev: event.SeverityCritical,
			has: []string{strings.Repeat("é", 100) + "…\""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, srv := newAccessApp(t)
			app.breakRoute("/api/users", tc.handler)
			for path, h := range tc.more {
				app.breakRoute(path, h)
			}
			m := accessMon(srv.URL, func(a *config.AccessMonitor) {
				a.Endpoints = a.Endpoints[:1]
				a.LowPrivilegeHeaders = nil
				if tc.mod != nil {
					tc.mod(a)
				}
			})
			r := runAccess(t, m)
			if tc.id == "" {
				if !r.Success {
					t.Fatalf("want a pass, got %+v", r.Findings)
				}
				return
			}
			f := webOnlyFinding(t, r, tc.id, tc.sev)
			for _, want := range tc.has {
				if !strings.Contains(f.Evidence+" | "+f.Title, want) {
					t.Errorf("evidence/title %q lacks %q", f.Evidence+" | "+f.Title, want)
				}
			}
			if strings.Contains(f.Evidence, "hunter2") || strings.Contains(f.Evidence, "sk_live") {
				t.Errorf("evidence leaks a secret from the body: %q", f.Evidence)
			}
		})
	}
}

func TestAccessOffHostRedirectNotFollowed(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		fmt.Fprint(w, "sso login page")
	}))
	defer other.Close()
	app, srv := newAccessApp(t)
	// Another port of the same host name is another host too.
	app.breakRoute("/api/users", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/login", http.StatusFound)
	})
	m := accessMon(srv.URL, func(a *config.AccessMonitor) {
		a.Endpoints = a.Endpoints[:1]
		a.LowPrivilegeHeaders = nil
	})
	f := webOnlyFinding(t, runAccess(t, m), FindingAccessUnexpectedStatus, event.SeverityLow)
	if !strings.Contains(f.Evidence, "location="+other.URL+"/login") {
		t.Errorf("evidence = %q", f.Evidence)
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}

func TestWebSameHost(t *testing.T) {
	tests := []struct {
		from, to string
		same     bool
	}{
		{"http://a.example/x", "https://a.example/x", true},
		{"http://a.example:80/x", "https://A.EXAMPLE:443/x", true},
		{"http://a.example:8080/x", "http://a.example:8080/y", true},
		{"http://a.example:8080/x", "http://a.example:8081/x", false},
		{"http://a.example/x", "http://a.example:8080/x", false},
		{"http://a.example/x", "http://b.example/x", false},
		{"http://a.example/x", "ftp://a.example/x", false},
	}
	for _, tc := range tests {
		from, _ := url.Parse(tc.from)
		to, _ := url.Parse(tc.to)
		if got := webSameHost(from, to); got != tc.same {
			t.Errorf("webSameHost(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.same)
		}
	}
	for path, login := range map[string]bool{
		"/Users/Sign_In": true, "/oauth2/authorize": true, "/wp-login.php": true, "/Account/LogOn": true,
		"/.auth/login/aad": true, "/session/new": true, "/sso": true, "/realms/x/protocol/openid-connect/auth": true,
		"/log-in": true, "/auth": true,
		"/": false, "/home": false, "/authors": false, "/api/users/": false, "/casino": false, "/sessionless-page": false,
	} {
		if got := accessIsLogin(&url.URL{Path: path}); got != login {
			t.Errorf("accessIsLogin(%s) = %v, want %v", path, got, login)
		}
	}
	if accessIsLogin(&url.URL{Path: "/home", RawQuery: "next=/login"}) {
		t.Error("the query made a login page")
	}
}

func TestAccessStateChangingRedirectNotFollowed(t *testing.T) {
	app, srv := newAccessApp(t)
	app.breakRoute("/api/users", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/users/", http.StatusTemporaryRedirect)
	})
	m := accessMon(srv.URL, func(a *config.AccessMonitor) {
		a.Endpoints = []config.AccessEndpoint{{URL: srv.URL + "/api/users", Method: http.MethodDelete}}
		a.LowPrivilegeHeaders = nil
	})
	webOnlyFinding(t, runAccess(t, m), FindingAccessUnexpectedStatus, event.SeverityLow)
	if n := len(app.requests()); n != 1 {
		t.Errorf("%d requests, want 1: a DELETE's redirect is never followed", n)
	}
}

func TestAccessFindingsAreDistinctPerEndpoint(t *testing.T) {
	app, srv := newAccessApp(t)
	open := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "open") }
	app.breakRoute("/api/users", open)
	app.breakRoute("/admin/settings", open)
	r := runAccess(t, accessMon(srv.URL, nil))
	// GET and POST /api/users, and /admin/settings without credentials
	// and with the viewer token.
	var ids, fps []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID+" "+f.Target)
		fps = append(fps, f.Fingerprint)
	}
	want := []string{
		FindingAccessUnauthenticated + " GET " + srv.URL + "/api/users",
		FindingAccessUnauthenticated + " GET " + srv.URL + "/admin/settings",
		FindingAccessPrivilegeEscalation + " GET " + srv.URL + "/admin/settings",
		FindingAccessUnauthenticated + " POST " + srv.URL + "/api/users",
	}
	if !slices.Equal(ids, want) {
		t.Errorf("findings =\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	slices.Sort(fps)
	if len(slices.Compact(fps)) != len(want) {
		t.Errorf("fingerprints collide: %v", fps)
	}
}

func TestAccessRequestFailureIsError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := accessMon("http://"+addr, func(a *config.AccessMonitor) {
		a.Endpoints = a.Endpoints[:1]
		a.LowPrivilegeHeaders = nil
	})
	f := webOnlyFinding(t, runAccess(t, m), FindingAccessError, event.SeverityMedium)
	if !strings.Contains(f.Evidence, "refused") {
		t.Errorf("evidence = %q", f.Evidence)
	}
}

func TestAccessDeadlineStopsTheRun(t *testing.T) {
	_, srv := newAccessApp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := ProbeAccess(ctx, accessMon(srv.URL, nil), testEnv(), testLogger(t))
	// Cancelled: no access finding for the interrupted request, only the
	// scheduler's kind of cancellation finding.
	f := webOnlyFinding(t, r, FindingCancelled, event.SeverityLow)
	if !strings.Contains(f.Evidence, "after 0 of 5 endpoints") || r.Details["endpoints_checked"] != "0" {
		t.Errorf("evidence = %q details %v", f.Evidence, r.Details)
	}

	// A deadline in the middle of the run is a timeout; what was checked
	// before it still counts.
	app, srv2 := newAccessApp(t)
	app.breakRoute("/api/users", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "open") })
	dctx := newWebExpiringCtx(t)
	app.breakRoute("/admin/settings", func(w http.ResponseWriter, r *http.Request) {
		dctx.expire()
		<-r.Context().Done()
	})
	r = ProbeAccess(dctx, accessMon(srv2.URL, nil), testEnv(), testLogger(t))
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, []string{FindingAccessUnauthenticated, FindingTimeout}) {
		t.Errorf("findings = %v, want the open endpoint and a timeout", ids)
	}
	if r.Details["endpoints_checked"] != "1" {
		t.Errorf("details = %v", r.Details)
	}
}

func TestAccessMisconfigured(t *testing.T) {
	for name, m := range map[string]config.Monitor{
		"no block":     {Name: "a", Type: "access"},
		"no endpoints": {Name: "a", Type: "access", Access: &config.AccessMonitor{}},
		"bad url":      {Name: "a", Type: "access", Access: &config.AccessMonitor{Endpoints: []config.AccessEndpoint{{URL: "ftp://u:pw-secret@x/"}}}},
	} {
		r := ProbeAccess(t.Context(), m, testEnv(), testLogger(t))
		webOnlyFinding(t, r, FindingConfig, event.SeverityHigh)
		webNoSecretIn(t, r, "pw-secret")
		_ = name
	}
}

func TestAccessExcerpt(t *testing.T) {
	tests := []struct{ body, want string }{
		{"", ""},
		{"  \n", ""},
		{"Unauthorized\n", `"Unauthorized"`},
		{"a\x00b\r\nc\td", `"a b c d"`},
		{"\xff\xfeok", `"ok"`},
		{`{"data":[1,2]}`, `"{\"data\":[1,2]}"`},
		{`{"Password":"x"}`, `[16 bytes withheld: JSON with a "password" field]`},
		{"-----BEGIN RSA PRIVATE KEY-----\nMII", "[35 bytes withheld: the body looks like it holds a token, key or password]"},
		{"my token is viewer-tok-5b1e9c", "[29 bytes withheld: the body echoes the credential]"},
	}
	for _, tc := range tests {
		if got := accessExcerpt([]byte(tc.body), []string{accessViewerToken}); got != tc.want {
			t.Errorf("accessExcerpt(%q) = %s, want %s", tc.body, got, tc.want)
		}
	}
}
