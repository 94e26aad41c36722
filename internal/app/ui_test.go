package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api/ui"
	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
	"github.com/secopsd/secopsd/internal/testpolicy"
	"github.com/secopsd/secopsd/monitors"
)

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so that tests see the UI's 303s.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string, tr http.RoundTripper) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get returns the status, body and response of GET path.
func (b *browser) get(path string) (int, string, *http.Response) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

// post posts form to path.
func (b *browser) post(path string, form url.Values) (int, string, *http.Response) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the anti-forgery token of the first form of body.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// signIn signs in with token through the login form and returns the
// answer to the form post.
func (b *browser) signIn(token string) (int, string, *http.Response) {
	b.t.Helper()
	code, body, _ := b.get("/ui/login")
	if code != http.StatusOK || !strings.Contains(body, `id="sign-in"`) || !strings.Contains(body, `type="password"`) {
		b.t.Fatalf("login page: %d\n%s", code, body)
	}
	return b.post("/ui/login", url.Values{"csrf": {csrf(b.t, body)}, "api_key": {token}})
}

func (b *browser) mustSignIn(token string) {
	b.t.Helper()
	code, body, resp := b.signIn(token)
	if code != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/incidents" {
		b.t.Fatalf("sign-in: %d %s\n%s", code, resp.Header.Get("Location"), body)
	}
}

// uiApp starts a daemon on storeURL with the extra YAML, logging into log.
func uiApp(t *testing.T, storeURL, extra string, log io.Writer, clock incident.Clock) *app.App {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("listen: 127.0.0.1:0\nstore:\n  url: %q\npolicies: ../../policies\n%s", storeURL, extra)), "ui.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return startWith(t, cfg, log, clock)
}

func startWith(t *testing.T, cfg *config.Config, log io.Writer, clock incident.Clock) *app.App {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	a, err := app.New(context.Background(), app.Options{Config: cfg, Version: "test", Clock: clock,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	return a
}

// openIncident stores an incident with a first timeline entry.
func openIncident(t *testing.T, st store.Store, n int, sev event.Severity, tier incident.Tier, monitor string, opened time.Time) incident.Incident {
	t.Helper()
	inc, err := st.CreateIncident(context.Background(), incident.Incident{
		Fingerprint: fmt.Sprintf("fp-%d", n), Title: fmt.Sprintf("problem %d", n), Monitor: monitor,
		Severity: sev, Tier: tier, Status: incident.StatusOpen, OpenedAt: opened,
	}, incident.Entry{Time: opened, Actor: incident.ActorEngine, Kind: incident.KindOpened,
		Payload: map[string]any{"title": fmt.Sprintf("problem %d", n), "input": map[string]any{"attempt": 1, "budget": "5/h"}}})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func setCookie(t *testing.T, resp *http.Response, name string) string {
	t.Helper()
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	t.Fatalf("no Set-Cookie %s in %v", name, resp.Header.Values("Set-Cookie"))
	return ""
}

func TestUISignInSessionsAndActions(t *testing.T) {
	var log syncBuffer
	a := uiApp(t, "sqlite://"+filepath.Join(t.TempDir(), "ui.db"), "auth: {key_cache_ttl: 1s}\n", &log, nil)
	base := "http://" + a.Addr()
	st := a.Store()
	inc := openIncident(t, st, 1, event.SeverityHigh, incident.TierMajor, "api-health", time.Now().Add(-time.Hour))
	viewer, admin, ingest := newKey(t, a, auth.RoleViewer), newKey(t, a, auth.RoleAdmin), newKey(t, a, auth.RoleIngest)
	var pages []string

	// "/" leads to the UI, which leads to the sign-in page.
	anon := newBrowser(t, base, nil)
	if code, _, resp := anon.get("/"); code != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/incidents" {
		t.Fatalf("GET /: %d %s", code, resp.Header.Get("Location"))
	}
	if code, _, resp := anon.get("/ui/incidents"); code != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("signed out: %d %s", code, resp.Header.Get("Location"))
	}

	// A wrong key, an ingest key and a form without its anti-forgery
	// token are refused; the refusals are recorded.
	for name, token := range map[string]string{"wrong": wrongSecret(viewer.Token), "garbage": "not a key", "ingest": ingest.Token} {
		code, body, _ := anon.signIn(token)
		if code != http.StatusUnauthorized || !strings.Contains(body, `id="error"`) {
			t.Errorf("%s key: %d\n%s", name, code, body)
		}
		pages = append(pages, body)
	}
	if code, body, _ := anon.post("/ui/login", url.Values{"api_key": {viewer.Token}}); code != http.StatusForbidden || !strings.Contains(body, `id="error"`) {
		t.Errorf("login without csrf: %d", code)
	}
	failed := waitEvents(t, st, ui.KindSignInFailed, 3)
	reasons := map[string]bool{}
	for _, ev := range failed {
		reasons[ev.Attributes["reason"]] = true
		if ev.Attributes["ip"] != "127.0.0.1" {
			t.Errorf("failed sign-in event without the address: %v", ev.Attributes)
		}
	}
	if !reasons[auth.ReasonBadSecret] || !reasons[auth.ReasonMalformed] || !reasons["role_ingest"] {
		t.Errorf("failed sign-in reasons = %v", reasons)
	}

	// A viewer signs in: the cookie is HttpOnly, SameSite=Strict, Path=/,
	// not Secure on plain HTTP.
	vb := newBrowser(t, base, nil)
	code, _, resp := vb.signIn(viewer.Token)
	if code != http.StatusSeeOther {
		t.Fatalf("viewer sign-in: %d", code)
	}
	c := setCookie(t, resp, ui.SessionCookie)
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(c, attr) {
			t.Errorf("session cookie %q lacks %s", c, attr)
		}
	}
	if strings.Contains(c, "Secure") {
		t.Errorf("session cookie Secure on plain HTTP: %q", c)
	}
	signins := waitEvents(t, st, ui.KindSignIn, 1)
	if signins[0].Attributes["key_id"] != viewer.Key.ID || signins[0].Attributes["role"] != "viewer" {
		t.Errorf("sign-in event = %+v", signins[0].Attributes)
	}

	// The viewer sees the list and the incident, with no action forms.
	code, body, _ := vb.get("/ui/incidents")
	pages = append(pages, body)
	if code != http.StatusOK || !strings.Contains(body, `id="incidents"`) || !strings.Contains(body, `id="filters"`) ||
		!strings.Contains(body, fmt.Sprintf(`<tr class="incident status-open" data-id="%d">`, inc.ID)) ||
		!strings.Contains(body, fmt.Sprintf(`class="incident-link" href="/ui/incidents/%d"`, inc.ID)) {
		t.Fatalf("incidents page: %d\n%s", code, body)
	}
	ipath := fmt.Sprintf("/ui/incidents/%d", inc.ID)
	code, body, _ = vb.get(ipath)
	pages = append(pages, body)
	if code != http.StatusOK {
		t.Fatalf("incident page: %d", code)
	}
	for _, want := range []string{`id="chain-badge" class="badge badge-ok"`, "Chain verified", `id="timeline"`,
		`<li class="entry" data-kind="incident.opened"`, `id="sla"`, `id="export-json"`, `id="export-csv"`, "input.attempt", "5/h"} {
		if !strings.Contains(body, want) {
			t.Errorf("incident page lacks %s", want)
		}
	}
	if strings.Contains(body, `class="ack"`) || strings.Contains(body, `class="resolve"`) {
		t.Error("a viewer sees action forms")
	}
	// ... and is refused server-side, with a valid token.
	if code, _, _ := vb.post(ipath+"/ack", url.Values{"csrf": {csrf(t, body)}}); code != http.StatusForbidden {
		t.Errorf("viewer ack: %d, want 403", code)
	}
	// The export is a download.
	code, body, resp = vb.get(ipath + "/export?format=json")
	if code != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || !strings.Contains(body, inc.HeadHash) {
		t.Errorf("export: %d %q", code, resp.Header.Get("Content-Disposition"))
	}

	// An admin acts through the forms; a post without or with a wrong
	// token is refused.
	ab := newBrowser(t, base, nil)
	ab.mustSignIn(admin.Token)
	_, body, _ = ab.get(ipath)
	pages = append(pages, body)
	if !strings.Contains(body, `<form class="ack" method="post" action="`+ipath+`/ack">`) || !strings.Contains(body, `class="resolve"`) {
		t.Fatalf("admin page lacks the action forms:\n%s", body)
	}
	token := csrf(t, body)
	for name, form := range map[string]url.Values{"no csrf": {"comment": {"x"}}, "wrong csrf": {"csrf": {token[:len(token)-2] + "xx"}}} {
		if code, _, _ := ab.post(ipath+"/ack", form); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	// The viewer's token is not the admin's.
	if code, _, _ := ab.post(ipath+"/ack", url.Values{"csrf": {csrf(t, pages[len(pages)-2])}}); code != http.StatusForbidden {
		t.Errorf("another session's csrf: %d, want 403", code)
	}
	code, _, resp = ab.post(ipath+"/ack", url.Values{"csrf": {token}, "comment": {"looking into it"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), ipath) {
		t.Fatalf("admin ack: %d", code)
	}
	tl, err := st.Timeline(context.Background(), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := tl[len(tl)-1]
	if last.Kind != incident.KindAcknowledged || last.Actor != "ui:test admin" || !strings.Contains(string(last.Payload), "looking into it") {
		t.Errorf("last entry = %s by %s: %s", last.Kind, last.Actor, last.Payload)
	}
	// Acknowledging again is a conflict shown on a page.
	if code, body, _ := ab.post(ipath+"/ack", url.Values{"csrf": {token}}); code != http.StatusConflict || !strings.Contains(body, "already acknowledged") {
		t.Errorf("second ack: %d", code)
	}

	// A tampered timeline shows a broken chain.
	storetest.TamperTimelinePayload(t, st, inc.ID, 1, `{"title":"nothing happened"}`)
	_, body, _ = vb.get(ipath)
	if !strings.Contains(body, `class="badge badge-broken"`) || !strings.Contains(body, "Chain broken") || !strings.Contains(body, "entry 1") {
		t.Errorf("tampered timeline: no broken badge:\n%s", body)
	}

	// Sign-out ends the session; it is recorded.
	_, body, _ = vb.get("/ui/incidents")
	if code, _, resp := vb.post("/ui/logout", url.Values{"csrf": {csrf(t, body)}}); code != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := vb.get("/ui/incidents"); code != http.StatusSeeOther {
		t.Errorf("after sign-out: %d, want 303 to the sign-in page", code)
	}
	if out := waitEvents(t, st, ui.KindSignOut, 1); out[0].Attributes["reason"] != "signed_out" {
		t.Errorf("sign-out event = %v", out[0].Attributes)
	}

	// A revoked key: its session ends within the key cache TTL, and it
	// cannot sign in again.
	if _, err := st.RevokeAPIKey(context.Background(), admin.Key.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the revoked key's session to end", func() bool {
		code, _, _ := ab.get("/ui/incidents")
		return code == http.StatusSeeOther
	})
	if code, body, _ := newBrowser(t, base, nil).signIn(admin.Token); code != http.StatusUnauthorized || !strings.Contains(body, `id="error"`) {
		t.Errorf("revoked key sign-in: %d", code)
	}
	eventually(t, 5*time.Second, "a revoked sign-in event", func() bool {
		evs, _ := st.ListEvents(context.Background(), store.EventFilter{Kind: ui.KindSignInFailed})
		for _, ev := range evs {
			if ev.Attributes["reason"] == auth.ReasonRevoked && ev.Attributes["key_id"] == admin.Key.ID {
				return true
			}
		}
		return false
	})

	// No key or secret ever shows in a page, an event or the log.
	for _, p := range pages {
		for _, k := range []auth.NewKey{viewer, admin, ingest} {
			_, secret, _ := auth.ParseToken(k.Token)
			if strings.Contains(p, k.Token) || strings.Contains(p, secret) {
				t.Error("a key appears in a page")
			}
		}
	}
	assertNoSecrets(t, st, &log, viewer.Token, admin.Token, ingest.Token)
}

// manualClock is a settable clock.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestUISessionExpiry(t *testing.T) {
	clock := &manualClock{t: time.Now()}
	a := uiApp(t, "sqlite://"+filepath.Join(t.TempDir(), "ui.db"), "ui: {session_idle: 10m, session_max: 30m}\n", nil, clock)
	base := "http://" + a.Addr()
	k := newKey(t, a, auth.RoleViewer)

	// Idle: used within the idle period it lives; unused past it, it ends.
	b := newBrowser(t, base, nil)
	b.mustSignIn(k.Token)
	clock.add(9 * time.Minute)
	if code, _, _ := b.get("/ui/incidents"); code != http.StatusOK {
		t.Fatalf("after 9m: %d", code)
	}
	clock.add(9 * time.Minute) // 9m since the last use
	if code, _, _ := b.get("/ui/incidents"); code != http.StatusOK {
		t.Fatalf("after 18m, used 9m ago: %d", code)
	}
	clock.add(11 * time.Minute)
	if code, _, resp := b.get("/ui/incidents"); code != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("idle 11m: %d, want 303 to the sign-in page", code)
	}

	// Absolute: however busy, it ends at session_max.
	b = newBrowser(t, base, nil)
	b.mustSignIn(k.Token)
	for range 3 {
		clock.add(9 * time.Minute)
		if code, _, _ := b.get("/ui/incidents"); code != http.StatusOK {
			t.Fatalf("busy session ended early: %d", code)
		}
	}
	clock.add(4 * time.Minute) // 31m after sign-in
	if code, _, _ := b.get("/ui/incidents"); code != http.StatusSeeOther {
		t.Fatalf("past session_max: %d, want 303", code)
	}
}

func TestUIFiltersAndPaging(t *testing.T) {
	a := uiApp(t, "sqlite://"+filepath.Join(t.TempDir(), "ui.db"), "", nil, nil)
	st := a.Store()
	day := time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)
	want := map[int64]bool{}
	n := 0
	// 60 high MAJOR incidents of api on 2026-02-10, interleaved with
	// others that each miss one filter.
	for i := range 60 {
		inc := openIncident(t, st, n, event.SeverityHigh, incident.TierMajor, "api", day)
		want[inc.ID] = true
		n++
		switch i % 4 {
		case 0:
			openIncident(t, st, n, event.SeverityLow, incident.TierMajor, "api", day)
		case 1:
			openIncident(t, st, n, event.SeverityHigh, incident.TierMinor, "api", day)
		case 2:
			openIncident(t, st, n, event.SeverityHigh, incident.TierMajor, "web", day)
		case 3:
			openIncident(t, st, n, event.SeverityHigh, incident.TierMajor, "api", day.AddDate(0, 0, 2))
		}
		n++
	}
	b := newBrowser(t, "http://"+a.Addr(), nil)
	b.mustSignIn(newKey(t, a, auth.RoleViewer).Token)
	row := regexp.MustCompile(`<tr class="incident status-open" data-id="(\d+)">`)
	next := regexp.MustCompile(`<a id="next" href="([^"]+)">`)
	got := map[int64]bool{}
	path := "/ui/incidents?" + url.Values{"status": {"open"}, "severity": {"high"}, "tier": {"MAJOR"}, "monitor": {"api"},
		"since": {"2026-02-10"}, "until": {"2026-02-10"}}.Encode()
	for pageNo := 0; path != ""; pageNo++ {
		code, body, _ := b.get(path)
		if code != http.StatusOK || pageNo > 3 {
			t.Fatalf("page %d: %d", pageNo, code)
		}
		for _, m := range row.FindAllStringSubmatch(body, -1) {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			if got[id] {
				t.Errorf("incident %d on two pages", id)
			}
			got[id] = true
		}
		path = ""
		if m := next.FindStringSubmatch(body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
			if pageNo == 0 && len(row.FindAllString(body, -1)) != ui.DefaultPageSize {
				t.Errorf("first page lists %d incidents", len(row.FindAllString(body, -1)))
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("listed %d incidents, want %d", len(got), len(want))
	}
	for id := range got {
		if !want[id] {
			t.Errorf("incident %d does not match the filters", id)
		}
	}
	// A bad filter names the field.
	if code, body, _ := b.get("/ui/incidents?since=10.2.2026"); code != http.StatusBadRequest || !strings.Contains(body, "since: want a date as YYYY-MM-DD") {
		t.Errorf("bad since: %d", code)
	}
	// The events search.
	if code, body, _ := b.get("/ui/events?kind=ui.signin"); code != http.StatusOK || !strings.Contains(body, `id="events"`) {
		t.Errorf("events: %d", code)
	}
}

// TestUIApproveThroughForm: an admin approves a pending step from the
// incident page; the decision is in the timeline with actor ui:<name>.
func TestUIApproveThroughForm(t *testing.T) {
	svc := newRestartable(t)
	cfg := remediationConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"), svc.srv.URL, fmt.Sprintf(restartPlaybook, false))
	cfg.Policies = testpolicy.Dir(t, map[string]string{"actions.rego": testpolicy.AlwaysApprove})
	a := startApp(t, cfg)
	inc := onlyIncident(t, a)
	var pending []incident.Approval
	eventually(t, 15*time.Second, "an approval request", func() bool {
		var err error
		pending, err = a.Remediator().PendingApprovals(context.Background())
		return err == nil && len(pending) == 1
	})
	base := "http://" + a.Addr()
	ipath := fmt.Sprintf("/ui/incidents/%d", inc.ID)
	action := fmt.Sprintf("/ui/approvals/%d/approve", pending[0].ID)

	vb := newBrowser(t, base, nil)
	vb.mustSignIn(newKey(t, a, auth.RoleViewer).Token)
	_, body, _ := vb.get(ipath)
	if !strings.Contains(body, `id="approvals"`) || !strings.Contains(body, `id="runs"`) || strings.Contains(body, `class="approve`) {
		t.Fatalf("viewer's incident page:\n%s", body)
	}
	if code, _, _ := vb.post(action, url.Values{"csrf": {csrf(t, body)}}); code != http.StatusForbidden {
		t.Errorf("viewer approve: %d, want 403", code)
	}

	ab := newBrowser(t, base, nil)
	ab.mustSignIn(newKey(t, a, auth.RoleAdmin).Token)
	_, body, _ = ab.get(ipath)
	if !strings.Contains(body, `<form class="approve noprint" method="post" action="`+action+`">`) || !strings.Contains(body, `class="deny noprint"`) {
		t.Fatalf("admin's incident page lacks the approval forms:\n%s", body)
	}
	code, _, resp := ab.post(action, url.Values{"csrf": {csrf(t, body)}, "comment": {"safe to restart"}})
	if code != http.StatusSeeOther || resp.Header.Get("Location") != ipath+"?done=approved" {
		t.Fatalf("approve: %d %s", code, resp.Header.Get("Location"))
	}
	got, err := a.Remediator().GetApproval(context.Background(), pending[0].ID)
	if err != nil || got.Status != incident.ApprovalApproved || got.Actor != "ui:test admin" {
		t.Fatalf("approval = %+v, %v", got, err)
	}
	eventually(t, 15*time.Second, "the approved step to resolve the incident", func() bool {
		got, err := a.Store().GetIncident(context.Background(), inc.ID)
		return err == nil && got.Status == incident.StatusResolved
	})
	tl, _ := a.Store().Timeline(context.Background(), inc.ID)
	found := false
	for _, e := range tl {
		found = found || (e.Kind == incident.KindApprovalDecided && e.Actor == "ui:test admin")
	}
	if !found {
		t.Errorf("no approval.decided entry by ui:test admin in %v", kinds(tl))
	}
	_, body, _ = ab.get(ipath)
	if !strings.Contains(body, `data-kind="approval.decided"`) || !strings.Contains(body, `data-kind="guard.decision"`) || strings.Contains(body, `class="approve`) {
		t.Errorf("incident page after approval:\n%s", body)
	}
}

// TestUISelfAudit runs secopsd's headers monitor against the UI's sign-in
// page and a signed-in page: zero findings, grade A+.
func TestUISelfAudit(t *testing.T) {
	a := uiApp(t, "sqlite://"+filepath.Join(t.TempDir(), "ui.db"), "", nil, nil)
	base := "http://" + a.Addr()
	inc := openIncident(t, a.Store(), 1, event.SeverityHigh, incident.TierMajor, "api", time.Now())
	b := newBrowser(t, base, nil)
	b.mustSignIn(newKey(t, a, auth.RoleAdmin).Token)
	u, _ := url.Parse(base)
	var cookie string
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == ui.SessionCookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	signedOut := selfAuditMonitor(t, base+"/ui/login", base+"/ui/no-such-page", base+"/ui/static/ui.css")
	checkNoFindings(t, monitors.ProbeHeaders(context.Background(), signedOut, monitors.Env{}, nil))
	signedIn := selfAuditMonitor(t, base+"/ui/incidents", fmt.Sprintf("%s/ui/incidents/%d", base, inc.ID), base+"/ui/events")
	signedIn.Headers.Headers = map[string]config.Secret{"Cookie": config.Secret(cookie)}
	res := monitors.ProbeHeaders(context.Background(), signedIn, monitors.Env{}, nil)
	checkNoFindings(t, res)
	if res.Details["status:"+base+"/ui/incidents"] != "200" {
		t.Errorf("the signed-in page was not audited signed in: %v", res.Details)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kd, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// TestUIOverTLS serves the daemon over its own TLS listener: cookies are
// Secure, HSTS is sent, and the headers monitor finds nothing.
func TestUIOverTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	a := uiApp(t, "sqlite://"+filepath.Join(t.TempDir(), "ui.db"), fmt.Sprintf("tls: {cert_file: %q, key_file: %q}\n", certFile, keyFile), nil, nil)
	base := "https://" + a.Addr()
	tr := func() http.RoundTripper {
		return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	b := newBrowser(t, base, tr())
	code, _, resp := b.get("/ui/login")
	if code != http.StatusOK || !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=63072000") {
		t.Fatalf("login over TLS: %d %v", code, resp.Header)
	}
	if c := setCookie(t, resp, ui.LoginCSRFCookie); !strings.Contains(c, "Secure") {
		t.Errorf("login cookie not Secure over TLS: %q", c)
	}
	code, _, resp = b.signIn(newKey(t, a, auth.RoleViewer).Token)
	if code != http.StatusSeeOther {
		t.Fatalf("sign-in over TLS: %d", code)
	}
	if c := setCookie(t, resp, ui.SessionCookie); !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Errorf("session cookie over TLS: %q", c)
	}
	if code, _, _ := b.get("/ui/incidents"); code != http.StatusOK {
		t.Errorf("incidents over TLS: %d", code)
	}
	// Plain HTTP is not served on the TLS port.
	if resp, err := http.Get("http://" + a.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
	m := selfAuditMonitor(t, base+"/ui/login", base+"/healthz")
	checkNoFindings(t, monitors.ProbeHeaders(context.Background(), m, monitors.Env{Transport: tr}, nil))
}
