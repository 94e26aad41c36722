package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
	"github.com/secopsd/secopsd/internal/testpolicy"
)

// The browser tests drive the auditor UI in headless Chromium: sign-in,
// filtering, an incident page, exports downloaded through their links and
// verified offline, an admin approving a pending playbook step, and the
// broken-chain badge of a tampered timeline. They need the chromium binary
// ($SECOPSD_CHROMIUM, or chromium on $PATH): without it they are skipped,
// except under CI (the CI variable set), where that is a failure.

// chromiumPath finds the browser or skips (fails under CI).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SECOPSD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: the browser tests must run under CI (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser tests")
	return ""
}

// testOutputDir is where test artefacts (screenshots) go:
// $SECOPSD_TEST_OUTPUT, or testdata/output of this package (not committed).
func testOutputDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SECOPSD_TEST_OUTPUT")
	if dir == "" {
		dir = filepath.Join("testdata", "output")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newChromium starts a headless Chromium with a fresh profile and returns a
// tab's context, bounded by timeout.
func newChromium(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := chromiumPath(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the CI sandbox runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return ctx
}

// tab is a browser tab on the daemon's UI.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (b tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// submit clicks sel (a submit button or a link) and waits for the page
// that answers to load, so that later queries do not see the old page.
func (b tab) submit(what, sel string) {
	b.t.Helper()
	loaded := chromedp.Events(b.ctx, page.LoadEventFired)
	b.do(what, chromedp.Click(chromedp.CSS(sel)))
	for _, err := range loaded {
		if err != nil {
			b.t.Fatalf("%s: %v", what, err)
		}
		return
	}
}

func (b tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b tab) eval(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

func (b tab) count(sel string) int {
	b.t.Helper()
	n, err := strconv.Atoi(b.eval(fmt.Sprintf("String(document.querySelectorAll(%q).length)", sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

func (b tab) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.base)
}

// rows returns the incident ids listed in table#incidents.
func (b tab) rows() []int64 {
	b.t.Helper()
	var ids []int64
	s := b.eval(`Array.from(document.querySelectorAll('#incidents tr.incident')).map(r => r.dataset.id).join(',')`)
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.t.Fatalf("row id %q", f)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (b tab) signIn(token string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.Navigate(b.base+"/ui/login"),
		chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.CSS(`input[name="api_key"]`), token),
	)
	b.submit("sign in", "#sign-in")
}

// download clicks the link sel with downloads allowed into dir and returns
// the downloaded file's content.
func (b tab) download(sel, dir string) []byte {
	b.t.Helper()
	progress := chromedp.Events(b.ctx, cdpbrowser.DownloadProgress)
	b.do("download "+sel,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)})
			return err
		}),
		chromedp.Click(chromedp.CSS(sel)),
	)
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download %s: %v", sel, err)
		}
		switch ev.State {
		case cdpbrowser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		case cdpbrowser.DownloadProgressStateCanceled:
			b.t.Fatalf("download %s was canceled", sel)
		}
	}
	b.t.Fatalf("download %s: no completion event", sel)
	return nil
}

// browserIncident stores an incident with two timeline entries.
func browserIncident(t *testing.T, st store.Store, n int, sev event.Severity, tier incident.Tier, monitor string) incident.Incident {
	t.Helper()
	ctx := context.Background()
	at := time.Now().Add(-time.Duration(n) * time.Minute)
	inc, err := st.CreateIncident(ctx, incident.Incident{Fingerprint: fmt.Sprint("browser-", n), Title: fmt.Sprintf("%s problem %d", monitor, n),
		Monitor: monitor, Severity: sev, Tier: tier, Status: incident.StatusOpen, OpenedAt: at},
		incident.Entry{Time: at, Actor: incident.ActorEngine, Kind: incident.KindOpened, Payload: map[string]any{"finding": monitor + ".bad"}})
	if err != nil {
		t.Fatal(err)
	}
	inc, _, err = st.MutateIncident(ctx, inc.ID, func(*incident.Incident) ([]incident.Entry, error) {
		return []incident.Entry{{Time: at.Add(time.Second), Actor: incident.ActorEngine, Kind: incident.KindFailure, Payload: map[string]any{"status": 500}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func TestBrowserAuditorJourney(t *testing.T) {
	ctx := newChromium(t, 90*time.Second)

	// The daemon: a failing loopback service whose playbook step needs an
	// approval, and a few more incidents, one of them tampered with.
	svc := newRestartable(t)
	cfg := remediationConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"), svc.srv.URL, fmt.Sprintf(restartPlaybook, false))
	cfg.Policies = testpolicy.Dir(t, map[string]string{"actions.rego": testpolicy.AlwaysApprove})
	a := startApp(t, cfg)
	st := a.Store()
	failing := onlyIncident(t, a)
	eventually(t, 15*time.Second, "an approval request", func() bool {
		p, err := a.Remediator().PendingApprovals(context.Background())
		return err == nil && len(p) == 1
	})
	critical := browserIncident(t, st, 1, event.SeverityCritical, incident.TierCritical, "tls")
	minor := browserIncident(t, st, 2, event.SeverityLow, incident.TierMinor, "headers")
	tampered := browserIncident(t, st, 3, event.SeverityMedium, incident.TierMajor, "securitytxt")
	storetest.TamperTimelinePayload(t, st, tampered.ID, 2, `{"status":200}`)
	viewer, admin := newKey(t, a, auth.RoleViewer), newKey(t, a, auth.RoleAdmin)
	b := tab{t: t, ctx: ctx, base: "http://" + a.Addr()}
	downloads := t.TempDir()

	// A wrong key is refused with an error on the sign-in page.
	b.signIn("secopsd_not-a-real-key")
	b.do("refused sign-in", chromedp.WaitVisible(chromedp.ID("error")))
	if loc := b.location(); loc != "/ui/login" {
		t.Fatalf("after a refused sign-in the browser is at %s", loc)
	}

	// A viewer signs in and sees every incident.
	b.signIn(viewer.Token)
	b.do("incident list", chromedp.WaitVisible(chromedp.ID("incidents")))
	all := []int64{failing.ID, critical.ID, minor.ID, tampered.ID}
	slices.Sort(all)
	if got := b.rows(); !slices.Equal(got, all) || b.location() != "/ui/incidents" {
		t.Fatalf("incident list at %s: %v, want %v", b.location(), got, all)
	}

	// Filtering: by severity, then by tier and monitor.
	b.do("filter by severity",
		chromedp.SetValue(chromedp.CSS(`#filters select[name="severity"]`), "critical"),
	)
	b.submit("filter by severity", "#apply-filters")
	var wantCritical []int64
	listed, err := st.ListIncidents(context.Background(), incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range listed {
		if inc.Severity == event.SeverityCritical {
			wantCritical = append(wantCritical, inc.ID)
		}
	}
	slices.Sort(wantCritical)
	if got := b.rows(); !slices.Equal(got, wantCritical) || !slices.Contains(got, critical.ID) || !strings.Contains(b.location(), "severity=critical") {
		t.Fatalf("severity filter at %s: %v, want %v", b.location(), got, wantCritical)
	}
	b.do("filter by tier and monitor",
		chromedp.Navigate(b.base+"/ui/incidents"),
		chromedp.WaitVisible(chromedp.ID("filters")),
		chromedp.SetValue(chromedp.CSS(`#filters select[name="tier"]`), "MINOR"),
		chromedp.SendKeys(chromedp.CSS(`#filters input[name="monitor"]`), "headers"),
	)
	b.submit("filter by tier and monitor", "#apply-filters")
	if got := b.rows(); !slices.Equal(got, []int64{minor.ID}) {
		t.Fatalf("tier+monitor filter at %s: %v, want [%d]", b.location(), got, minor.ID)
	}

	// Opening the failing incident from the list: an intact chain, its
	// timeline, its pending approval and no forms for a viewer.
	b.do("open the incident",
		chromedp.Navigate(b.base+"/ui/incidents"),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr.incident[data-id="%d"] a.incident-link`, failing.ID))),
		chromedp.WaitVisible(chromedp.ID("chain-badge")),
	)
	if loc := b.location(); loc != fmt.Sprintf("/ui/incidents/%d", failing.ID) {
		t.Fatalf("the incident link led to %s", loc)
	}
	if cls := b.eval(`document.getElementById('chain-badge').className`); !strings.Contains(cls, "badge-ok") || !strings.Contains(b.text("#chain-badge"), "Chain verified") {
		t.Fatalf("chain badge %q: %q", cls, b.text("#chain-badge"))
	}
	tl, err := st.Timeline(context.Background(), failing.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.count("#timeline li.entry"); n < len(tl) {
		t.Errorf("the page shows %d timeline entries, the store holds %d", n, len(tl))
	}
	if b.count(`#timeline li.entry[data-kind="incident.opened"]`) != 1 || !strings.Contains(b.text("#approvals"), "pending") {
		t.Errorf("timeline or approvals missing:\n%s", b.text("main"))
	}
	if n := b.count("form.approve") + b.count("form.deny") + b.count("form.ack") + b.count("form.resolve"); n != 0 {
		t.Errorf("a viewer sees %d action forms", n)
	}

	// Exporting through the link: the downloaded JSON verifies offline and
	// ends at the store's head.
	data := b.download("#export-json", downloads)
	rep, err := incident.VerifyExport(bytes.NewReader(data))
	if err != nil || rep.Incidents != 1 || rep.Entries < len(tl) {
		t.Fatalf("downloaded export: %+v %v\n%s", rep, err, data)
	}
	head, err := st.GetIncident(context.Background(), failing.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"head_hash":"`+head.HeadHash+`"`)) || rep.Entries != int(head.LastSeq) {
		t.Errorf("the export does not carry the store's head %s", head.HeadHash)
	}

	// The viewer signs out; an admin approves the pending step.
	b.submit("sign out", "#sign-out")
	b.do("signed out", chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.signIn(admin.Token)
	b.do("approve",
		chromedp.WaitVisible(chromedp.ID("incidents")),
		chromedp.Navigate(fmt.Sprintf("%s/ui/incidents/%d", b.base, failing.ID)),
		chromedp.WaitVisible(chromedp.CSS("form.approve")),
		chromedp.SendKeys(chromedp.CSS(`form.approve input[name="comment"]`), "restart is safe now"),
	)
	b.submit("approve", `form.approve button[type="submit"]`)
	if loc := b.location(); loc != fmt.Sprintf("/ui/incidents/%d", failing.ID) && !strings.HasPrefix(loc, fmt.Sprintf("/ui/incidents/%d?", failing.ID)) {
		t.Fatalf("after approving the browser is at %s", loc)
	}
	eventually(t, 20*time.Second, "the approved step to run and the incident to resolve", func() bool {
		got, err := st.GetIncident(context.Background(), failing.ID)
		return err == nil && got.Status == incident.StatusResolved
	})
	if svc.restarts.Load() != 1 {
		t.Fatalf("the restart hook was called %d times, want 1", svc.restarts.Load())
	}
	b.do("reload", chromedp.Navigate(fmt.Sprintf("%s/ui/incidents/%d", b.base, failing.ID)), chromedp.WaitVisible(chromedp.ID("timeline")))
	if !strings.Contains(b.text("#approvals"), "approved") || b.count("form.approve") != 0 || !strings.Contains(b.text("#approvals"), "restart is safe now") {
		t.Errorf("approvals after the decision:\n%s", b.text("#approvals"))
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	writeScreenshot(t, fmt.Sprintf("incident-%d.png", failing.ID), shot)

	// The tampered incident shows a broken chain, and its export does not
	// verify offline.
	b.do("open the tampered incident",
		chromedp.Navigate(fmt.Sprintf("%s/ui/incidents/%d", b.base, tampered.ID)),
		chromedp.WaitVisible(chromedp.ID("chain-badge")),
	)
	if cls, txt := b.eval(`document.getElementById('chain-badge').className`), b.text("#chain-badge"); !strings.Contains(cls, "badge-broken") ||
		!strings.Contains(txt, "Chain broken") || !strings.Contains(txt, "entry 2") {
		t.Fatalf("tampered incident badge %q: %q", cls, txt)
	}
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	writeScreenshot(t, fmt.Sprintf("incident-%d-broken.png", tampered.ID), shot)
	data = b.download("#export-csv", downloads)
	if _, err := incident.VerifyExport(bytes.NewReader(data)); !errors.Is(err, incident.ErrChainBroken) ||
		!strings.Contains(err.Error(), fmt.Sprintf("incident %d, entry 2", tampered.ID)) {
		t.Fatalf("export of the tampered incident: %v\n%s", err, data)
	}
}

func writeScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	p := filepath.Join(testOutputDir(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
