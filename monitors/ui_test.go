package monitors

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// uiSite is a fixture web application: a page and its assets, each route
// replaceable, counting requests per path.
type uiSite struct {
	mu       sync.Mutex
	routes   map[string]http.HandlerFunc
	hits     map[string]int
	inFlight int
	maxInFl  int
}

func (s *uiSite) route(path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[path] = h
}

func (s *uiSite) hitsOf(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *uiSite) totalHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.hits {
		n += c
	}
	return n
}

func (s *uiSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.inFlight++
	s.maxInFl = max(s.maxInFl, s.inFlight)
	h := s.routes[r.URL.Path]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// uiServe answers with body as ctype, with nosniff.
func uiServe(ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fmt.Fprint(w, body)
	}
}

// newUISite starts a hardened site and a "CDN" on another origin that
// must never be contacted; cdnHits counts its requests.
func newUISite(t *testing.T) (site *uiSite, srv *httptest.Server, cdn string, cdnHits *atomic.Int32) {
	t.Helper()
	cdnHits = &atomic.Int32{}
	cdnSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cdnHits.Add(1) }))
	t.Cleanup(cdnSrv.Close)
	site = &uiSite{routes: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	srv = httptest.NewServer(site)
	t.Cleanup(srv.Close)
	page := `<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8"><title>Example App</title>
<link rel="stylesheet" href="/assets/app.3f9a.css">
<link rel="preload" href="/assets/font.woff2" as="font">
<link rel="icon" href="/favicon.ico">
<link rel="alternate stylesheet" href="/assets/contrast.css" title="High contrast">
<script src="` + cdnSrv.URL + `/lib.js" integrity="sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC" crossorigin="anonymous"></script>
<link rel="stylesheet" href="//` + strings.TrimPrefix(cdnSrv.URL, "http://") + `/theme.css">
</head><body>
<div id="root"></div>
<script>window.__BOOT__ = {"v": 1}; // "<script src=/fake.js>" in inline code is not an asset</script>
<script src="assets/app.3f9a.js" defer></script>
<script type="module" src="/assets/mod.js#frag"></script>
<script type="text/template" src="/assets/template.html"></script>
<script src="/assets/app.3f9a.js"></script>
<img src="/logo.png">
</body></html>`
	site.route("/", uiServe("text/html; charset=utf-8", page))
	site.route("/assets/app.3f9a.css", uiServe("text/css; charset=utf-8", "body{margin:0}"))
	site.route("/assets/app.3f9a.js", uiServe("text/javascript; charset=utf-8", "console.log(1)"))
	site.route("/assets/mod.js", uiServe("application/javascript", "export {}"))
	return site, srv, cdnSrv.URL, cdnHits
}

func uiMon(pageURL string, mod func(*config.UIMonitor)) config.Monitor {
	u := &config.UIMonitor{URL: pageURL, ExpectMarkers: []string{`<div id="root">`, "<title>Example App</title>"},
		CheckAssets: true, MaxAssets: config.DefaultUIMaxAssets}
	if mod != nil {
		mod(u)
	}
	return config.Monitor{Name: "web", Type: "ui", Labels: map[string]string{"team": "fe"}, UI: u}
}

func runUI(t *testing.T, m config.Monitor, env Env) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r := ProbeUI(ctx, m, env, testLogger(t))
	if r.Success != (len(r.Findings) == 0) {
		t.Errorf("Success = %v with %d findings", r.Success, len(r.Findings))
	}
	return r
}

func TestUIHardenedSitePasses(t *testing.T) {
	site, srv, cdn, cdnHits := newUISite(t)
	r := runUI(t, uiMon(srv.URL+"/", func(u *config.UIMonitor) { u.CheckSRI = true }), testEnv())
	if !r.Success || len(r.Findings) != 0 {
		t.Fatalf("hardened site: findings %+v details %v", r.Findings, r.Details)
	}
	if r.Target != srv.URL+"/" || r.Monitor != "web" || r.Type != "ui" || r.Labels["team"] != "fe" {
		t.Errorf("result header = %q %q %q %v", r.Target, r.Monitor, r.Type, r.Labels)
	}
	// app.css, app.js (listed twice, fetched once), mod.js; never the
	// preload, icon, alternate stylesheet, template or image.
	for path, want := range map[string]int{"/": 1, "/assets/app.3f9a.css": 1, "/assets/app.3f9a.js": 1, "/assets/mod.js": 1} {
		if got := site.hitsOf(path); got != want {
			t.Errorf("%s fetched %d times, want %d", path, got, want)
		}
	}
	if n := site.totalHits(); n != 4 {
		t.Errorf("%d requests to the site, want 4", n)
	}
	if n := cdnHits.Load(); n != 0 {
		t.Errorf("the cross-origin CDN got %d requests", n)
	}
	want := map[string]string{
		"status_code": "200", "assets_found": "5", "assets_same_origin": "3", "assets_checked": "3",
		"cross_origin_assets": "script:" + cdn + "/lib.js stylesheet:" + cdn + "/theme.css",
		"cross_origin_note":   "cross-origin assets are listed, never fetched",
	}
	for k, v := range want {
		if r.Details[k] != v {
			t.Errorf("details[%s] = %q, want %q", k, r.Details[k], v)
		}
	}
	if r.Attempts != 4 {
		t.Errorf("attempts = %d, want 4", r.Attempts)
	}
}

func TestUIPageBroken(t *testing.T) {
	tests := map[string]struct {
		handler http.HandlerFunc
		has     string
	}{
		"503": {func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		}, "answers 503"},
		"json": {uiServe("application/json", `{"root":true}`), `is served as "application/json", not HTML`},
		"no content type": {func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			w.Write(nil)
		}, `is served as "", not HTML`},
		"off-host redirect": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://evil.example/phish", http.StatusFound)
		}, "redirects to another host (https://evil.example/phish)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			site, srv, _, _ := newUISite(t)
			site.route("/", tc.handler)
			r := runUI(t, uiMon(srv.URL+"/", nil), testEnv())
			f := webOnlyFinding(t, r, FindingUIPageBroken, event.SeverityHigh)
			if !strings.Contains(f.Title, tc.has) {
				t.Errorf("title %q lacks %q", f.Title, tc.has)
			}
			if f.Target != srv.URL+"/" {
				t.Errorf("target = %q", f.Target)
			}
			if n := site.totalHits(); n != 1 {
				t.Errorf("%d requests, want only the page's", n)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		f := webOnlyFinding(t, runUI(t, uiMon("http://"+addr+"/", nil), testEnv()), FindingUIPageBroken, event.SeverityHigh)
		if !strings.Contains(f.Evidence, "refused") {
			t.Errorf("evidence = %q", f.Evidence)
		}
	})
	t.Run("same-host redirect followed", func(t *testing.T) {
		site, srv, _, _ := newUISite(t)
		site.route("/start", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/", http.StatusFound) })
		r := runUI(t, uiMon(srv.URL+"/start", nil), testEnv())
		if !r.Success || r.Details["final_url"] != srv.URL+"/" || r.Details["assets_checked"] != "3" {
			t.Errorf("findings %+v details %v", r.Findings, r.Details)
		}
	})
}

func TestUIMarkersMissing(t *testing.T) {
	site, srv, _, _ := newUISite(t)
	site.route("/", uiServe("text/html", "<!doctype html><title>Welcome to nginx!</title><script src=/assets/app.3f9a.js></script>"))
	m := uiMon(srv.URL+"/", nil)
	r := runUI(t, m, testEnv())
	if len(r.Findings) != 2 {
		t.Fatalf("findings = %+v, want one per missing marker", r.Findings)
	}
	for i, mk := range m.UI.ExpectMarkers {
		f := r.Findings[i]
		if f.ID != FindingUIMarkerMissing || f.Severity != event.SeverityHigh || !strings.Contains(f.Title, webQuote(mk)) || !strings.Contains(f.Evidence, webQuote(mk)) {
			t.Errorf("finding %d = %+v", i, f)
		}
		if f.Fingerprint != event.Fingerprint("web", srv.URL+"/", FindingUIMarkerMissing) {
			t.Errorf("fingerprint is not per page")
		}
	}
	// The assets of the wrong page are still checked.
	if site.hitsOf("/assets/app.3f9a.js") != 1 {
		t.Error("asset not checked")
	}
}

func TestUIMarkerBeyondTheCap(t *testing.T) {
	site, srv, _, _ := newUISite(t)
	site.route("/", uiServe("text/html", "<!doctype html>"+strings.Repeat(" ", DefaultMaxBody)+`<div id="root"></div><title>Example App</title>`))
	r := runUI(t, uiMon(srv.URL+"/", nil), testEnv())
	if len(r.Findings) != 2 || !strings.Contains(r.Findings[0].Evidence, fmt.Sprintf("not found in the first %d bytes", DefaultMaxBody)) {
		t.Errorf("findings = %+v", r.Findings)
	}
	if r.Details["body_truncated"] != "true" {
		t.Errorf("details = %v", r.Details)
	}
}

func TestUIAssetBroken(t *testing.T) {
	plain := func(ctype, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			fmt.Fprint(w, body)
		}
	}
	tests := map[string]struct {
		path    string
		handler http.HandlerFunc
		has     string // "" means the asset is fine
	}{
		"script 404":                      {"/assets/app.3f9a.js", http.NotFound, "HTTP 404"},
		"script 500":                      {"/assets/mod.js", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", http.StatusInternalServerError) }, "HTTP 500"},
		"script is the SPA fallback page": {"/assets/app.3f9a.js", uiServe("text/html; charset=utf-8", "<!doctype html>"), `served as "text/html; charset=utf-8", not JavaScript`},
		"script is JSON":                  {"/assets/mod.js", plain("application/json", "{}"), `served as "application/json", not JavaScript`},
		"script text/plain with nosniff":  {"/assets/app.3f9a.js", uiServe("text/plain", "x()"), "with nosniff, browsers refuse it"},
		"script text/plain sniffable":     {"/assets/app.3f9a.js", plain("text/plain", "x()"), ""},
		"script octet-stream sniffable":   {"/assets/app.3f9a.js", plain("application/octet-stream", "x()"), ""},
		"script empty":                    {"/assets/app.3f9a.js", uiServe("text/javascript", ""), "HTTP 200 with an empty body"},
		"script 204":                      {"/assets/app.3f9a.js", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, "HTTP 204 with an empty body"},
		"stylesheet text/plain":           {"/assets/app.3f9a.css", plain("text/plain", "body{}"), `served as "text/plain", not text/css`},
		"stylesheet html":                 {"/assets/app.3f9a.css", uiServe("text/html", "<html>"), `not text/css`},
		"stylesheet uppercase type":       {"/assets/app.3f9a.css", uiServe("Text/CSS", "body{}"), ""},
		"stylesheet redirected on host": {"/assets/app.3f9a.css", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/assets/app.3f9a.js", http.StatusFound) // lands on a script: wrong type
		}, "not text/css"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			site, srv, _, _ := newUISite(t)
			site.route(tc.path, tc.handler)
			r := runUI(t, uiMon(srv.URL+"/", nil), testEnv())
			if tc.has == "" {
				if !r.Success {
					t.Fatalf("want a pass, got %+v", r.Findings)
				}
				return
			}
			f := webOnlyFinding(t, r, FindingUIAssetBroken, event.SeverityHigh)
			asset := srv.URL + tc.path
			if !strings.Contains(f.Title, asset) || !strings.Contains(f.Title, tc.has) || !strings.Contains(f.Evidence, asset) {
				t.Errorf("finding %q / %q lacks %q or %q", f.Title, f.Evidence, asset, tc.has)
			}
			if f.Target != srv.URL+"/" {
				t.Errorf("target = %q, want the page", f.Target)
			}
		})
	}
}

func TestUIMaxAssetsAndPoliteness(t *testing.T) {
	site, srv, _, _ := newUISite(t)
	var page strings.Builder
	page.WriteString("<!doctype html><title>Example App</title><div id=\"root\"></div>")
	for i := range 12 {
		path := fmt.Sprintf("/assets/chunk-%d.js", i)
		fmt.Fprintf(&page, "<script src=%q></script>", path)
		site.route(path, func(w http.ResponseWriter, r *http.Request) {
			// Slow answers, so that requests would overlap without the
			// per-host limit (the probe fetches 4 at a time).
			select {
			case <-r.Context().Done():
			case <-time.After(20 * time.Millisecond):
			}
			uiServe("text/javascript", "1")(w, r)
		})
	}
	site.route("/", uiServe("text/html", page.String()))
	env := testEnv()
	env.Hosts = NewHostLimiter(1)
	r := runUI(t, uiMon(srv.URL+"/", func(u *config.UIMonitor) { u.MaxAssets = 5 }), env)
	if !r.Success {
		t.Fatalf("findings %+v", r.Findings)
	}
	if n := site.totalHits(); n != 1+5 {
		t.Errorf("%d requests, want the page and max_assets=5 assets", n)
	}
	for i := range 5 {
		if site.hitsOf(fmt.Sprintf("/assets/chunk-%d.js", i)) != 1 {
			t.Errorf("chunk %d not fetched: the first assets in document order are checked", i)
		}
	}
	if r.Details["assets_checked"] != "5" || r.Details["assets_not_checked"] != "7" {
		t.Errorf("details = %v", r.Details)
	}
	site.mu.Lock()
	defer site.mu.Unlock()
	if site.maxInFl != 1 {
		t.Errorf("%d requests in flight at once, want 1 (per-host limit)", site.maxInFl)
	}
}

func TestUICheckAssetsOff(t *testing.T) {
	site, srv, _, _ := newUISite(t)
	site.route("/assets/app.3f9a.js", http.NotFound)
	r := runUI(t, uiMon(srv.URL+"/", func(u *config.UIMonitor) { u.CheckAssets = false }), testEnv())
	if !r.Success || site.totalHits() != 1 {
		t.Errorf("findings %+v, %d requests", r.Findings, site.totalHits())
	}
}

func TestUISRI(t *testing.T) {
	site, srv, cdn, cdnHits := newUISite(t)
	page := `<!doctype html><title>Example App</title><div id="root"></div>
<script src="` + cdn + `/analytics.js?key=AIzaSECRETISH"></script>
<script src="` + cdn + `/pinned.js" integrity="sha384-abc"></script>
<link rel="stylesheet" href="` + cdn + `/style.css">`
	site.route("/", uiServe("text/html", page))
	// Off by default.
	if r := runUI(t, uiMon(srv.URL+"/", nil), testEnv()); !r.Success {
		t.Fatalf("check_sri off: %+v", r.Findings)
	}
	r := runUI(t, uiMon(srv.URL+"/", func(u *config.UIMonitor) { u.CheckSRI = true }), testEnv())
	f := webOnlyFinding(t, r, FindingUISRIMissing, event.SeverityLow)
	if !strings.Contains(f.Title, cdn+"/analytics.js") || strings.Contains(f.Title+f.Evidence, "AIza") {
		t.Errorf("finding = %+v", f)
	}
	if strings.Contains(r.Details["cross_origin_assets"], "AIza") {
		t.Errorf("details list a query: %q", r.Details["cross_origin_assets"])
	}
	if cdnHits.Load() != 0 {
		t.Error("the CDN was contacted")
	}
}

func TestUIDeadline(t *testing.T) {
	site, srv, _, _ := newUISite(t)
	ctx := newWebExpiringCtx(t)
	site.route("/assets/mod.js", func(w http.ResponseWriter, r *http.Request) {
		ctx.expire()
		<-r.Context().Done()
	})
	r := ProbeUI(ctx, uiMon(srv.URL+"/", nil), testEnv(), testLogger(t))
	// The interrupted assets (at least mod.js; the others may still have
	// been in flight) are not reported broken: only a timeout is.
	f := webOnlyFinding(t, r, FindingTimeout, event.SeverityHigh)
	if !regexp.MustCompile(`after [0-2] of 3 assets`).MatchString(f.Evidence) {
		t.Errorf("evidence = %q", f.Evidence)
	}
	if !strings.Contains(r.Details["assets_skipped"], srv.URL+"/assets/mod.js (interrupted: context deadline exceeded)") {
		t.Errorf("details = %v", r.Details)
	}
}

func TestUIMisconfigured(t *testing.T) {
	for _, m := range []config.Monitor{
		{Name: "w", Type: "ui"},
		{Name: "w", Type: "ui", UI: &config.UIMonitor{URL: "app.example.com"}},
	} {
		webOnlyFinding(t, ProbeUI(t.Context(), m, testEnv(), nil), FindingConfig, event.SeverityHigh)
	}
}

func TestUIAssetsParse(t *testing.T) {
	page, _ := url.Parse("https://app.example.com/en/home?x=1")
	html := `<HTML><HEAD>
<BASE HREF="/static/v2/"><base href="/ignored/">
<LINK REL="Stylesheet" HREF="main.css">
<link rel="stylesheet preload" href="main.css">
<link rel="stylesheet" href="">
<link rel="stylesheet" href="data:text/css,body{}">
<link rel=stylesheet href=https://fonts.example.net/css?family=X>
<SCRIPT SRC="app.js" INTEGRITY=""></SCRIPT>
<script src=" /root.js " type="text/javascript"></script>
<script src="javascript:alert(1)"></script>
<script src="//cdn.example.org/x.js" integrity="sha384-x"></script>
<script src="https://app.example.com:443/same.js"></script>
<script src="http://app.example.com/insecure.js"></script>
<script src="https://app.example.com:8443/other-port.js"></script>
<script type="application/ld+json" src="/data.json"></script>
<script type="importmap" src="/map.json"></script>
<script src="/a.js" src="/b.js"></script>
<!-- <script src="/commented.js"></script> -->
<textarea><script src="/in-textarea.js"></script></textarea>
</HEAD></HTML>`
	got := uiAssets([]byte(html), page)
	var lines []string
	for _, a := range got {
		lines = append(lines, fmt.Sprintf("%s %s sri=%v cross=%v", a.kind, a.url, a.integrity, a.crossOrig))
	}
	want := []string{
		"stylesheet https://app.example.com/static/v2/main.css sri=false cross=false",
		"stylesheet https://fonts.example.net/css?family=X sri=false cross=true",
		"script https://app.example.com/static/v2/app.js sri=false cross=false",
		"script https://app.example.com/root.js sri=false cross=false",
		"script https://cdn.example.org/x.js sri=true cross=true",
		"script https://app.example.com:443/same.js sri=false cross=false",
		"script http://app.example.com/insecure.js sri=false cross=true",
		"script https://app.example.com:8443/other-port.js sri=false cross=true",
		"script https://app.example.com/a.js sri=false cross=false",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("assets:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(uiAssets([]byte("not html at all <<<>>>"), page)) != 0 || len(uiAssets(nil, page)) != 0 {
		t.Error("garbage yields assets")
	}
}

func TestUIEssence(t *testing.T) {
	for in, want := range map[string]string{
		"text/html; charset=utf-8": "text/html", "Text/CSS": "text/css", "": "", "garbage": "",
		"text/javascript;;": "text/javascript", "application/javascript; charset": "application/javascript",
	} {
		if got := uiEssence(in); got != want {
			t.Errorf("uiEssence(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkUIAssets parses a 200 KiB page with 100 scripts and stylesheets.
func BenchmarkUIAssets(b *testing.B) {
	var page strings.Builder
	page.WriteString("<!doctype html><html><head><title>x</title>")
	for i := range 50 {
		fmt.Fprintf(&page, `<link rel="stylesheet" href="/css/%d.css"><script src="https://cdn.example.org/%d.js" integrity="sha384-x" defer></script>`, i, i)
	}
	page.WriteString("</head><body>")
	for page.Len() < 200<<10 {
		page.WriteString(`<div class="row"><p>Lorem ipsum dolor sit amet, <a href="/x">consectetur</a> adipiscing elit.</p></div>`)
	}
	body := []byte(page.String())
	base, _ := url.Parse("https://app.example.com/")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if n := len(uiAssets(body, base)); n != 100 {
			b.Fatal(n)
		}
	}
}
