package monitors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Finding ids of the ui monitor. Their target is the page URL, so that a
// bad deploy opens one incident per kind of problem rather than one per
// asset (whose URLs change with every build).
const (
	// FindingUIPageBroken is a page that does not answer 200 with HTML, or
	// cannot be fetched (high).
	FindingUIPageBroken = "ui.page_broken"
	// FindingUIMarkerMissing is an expected marker absent from the page's
	// HTML, one finding per marker (high).
	FindingUIMarkerMissing = "ui.marker_missing"
	// FindingUIAssetBroken is a same-origin script or stylesheet that does
	// not load: a failed request, a non-2xx status, an empty body or a
	// Content-Type a browser refuses, one finding per asset (high).
	FindingUIAssetBroken = "ui.asset_broken"
	// FindingUISRIMissing is a cross-origin script without an integrity
	// attribute, when check_sri is on (low).
	FindingUISRIMissing = "ui.sri_missing"
)

const (
	// uiAssetMaxBody is how much of an asset is read: enough to tell an
	// empty body, no more.
	uiAssetMaxBody = 1024
	// uiAssetWorkers is how many assets are fetched at once (the per-host
	// limit applies as well).
	uiAssetWorkers = 4
	// uiListedMax bounds how many cross-origin assets the details list.
	uiListedMax = 20
)

// uiJavaScriptTypes are the MIME type essences of JavaScript (WHATWG MIME
// Sniffing, "JavaScript MIME type").
var uiJavaScriptTypes = []string{
	"application/ecmascript", "application/javascript", "application/x-ecmascript",
	"application/x-javascript", "text/ecmascript", "text/javascript", "text/javascript1.0",
	"text/javascript1.1", "text/javascript1.2", "text/javascript1.3", "text/javascript1.4",
	"text/javascript1.5", "text/jscript", "text/livescript", "text/x-ecmascript", "text/x-javascript",
}

// uiAsset is one script or stylesheet the page loads.
type uiAsset struct {
	kind      string // "script" or "stylesheet"
	url       *url.URL
	integrity bool // has a non-empty integrity attribute
	crossOrig bool
}

// uiAssetResult is what fetching one asset found; problem is "" if it
// loads.
type uiAssetResult struct {
	problem string
	status  int
	skipped string // why it was not judged (redirect off host, deadline)
}

// ProbeUI checks that a page is served as HTML with the expected markers,
// and that its same-origin scripts and stylesheets load.
func ProbeUI(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res := startResult(m, env)
	cfg := m.UI
	var page *url.URL
	if cfg != nil {
		page, _ = url.Parse(cfg.URL)
	}
	if page == nil || (page.Scheme != "http" && page.Scheme != "https") || page.Host == "" {
		return configFailure(res, m, env, "ui monitor has no usable url",
			"invalid or missing url: want an absolute http or https URL", "Fix url in the monitor's configuration.")
	}
	res.Target = page.Redacted()
	add := func(id string, sev event.Severity, title, evidence, remediation string) {
		res.Findings = append(res.Findings, newFinding(m.Name, res.Target, id, sev, m.Name+": "+title, evidence, remediation))
	}

	resp, err := fetch(ctx, env, fetchRequest{URL: cfg.URL, Header: http.Header{"Accept": {"text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}}})
	res.Attempts = 1
	if err != nil {
		if ctx.Err() != nil {
			res.Findings = append(res.Findings, webStopped(m.Name, res.Target, ctx.Err(), "before the page answered"))
			return res.finish(env)
		}
		msg := errorText(err)
		res.Details["error"] = msg
		add(FindingUIPageBroken, event.SeverityHigh, fmt.Sprintf("%s cannot be loaded: %s", res.Target, msg),
			"GET "+res.Target+": error="+msg, "Check that the site is up and reachable from secopsd (DNS, TLS, firewall).")
		return res.finish(env)
	}
	ctype := resp.Header.Get("Content-Type")
	res.Details["status_code"] = strconv.Itoa(resp.Status)
	res.Details["content_type"] = ctype
	res.Details["latency_ms"] = strconv.FormatInt(resp.Latency.Milliseconds(), 10)
	res.Details["body_bytes_read"] = strconv.Itoa(len(resp.Body))
	if final := resp.URL.Redacted(); final != res.Target {
		res.Details["final_url"] = final
	}
	if resp.Truncated {
		res.Details["body_truncated"] = "true"
	}
	evidence := fmt.Sprintf("GET %s: status=%d content_type=%q", res.Target, resp.Status, ctype)
	switch essence := uiEssence(ctype); {
	case resp.OffHostRedirect != "":
		loc := webRedactURL(resp.OffHostRedirect)
		res.Details["redirect"] = loc
		add(FindingUIPageBroken, event.SeverityHigh, fmt.Sprintf("%s redirects to another host (%s)", res.Target, loc),
			evidence+" location="+loc,
			"The page redirects off its host, which the monitor never follows: point url at the final page, or check for a hijacked redirect.")
		return res.finish(env)
	case resp.Status != http.StatusOK:
		add(FindingUIPageBroken, event.SeverityHigh, fmt.Sprintf("%s answers %d", res.Target, resp.Status), evidence,
			"The page does not load: check the web server or CDN, the latest deploy and the origin's health.")
		return res.finish(env)
	case essence != "text/html" && essence != "application/xhtml+xml":
		add(FindingUIPageBroken, event.SeverityHigh, fmt.Sprintf("%s is served as %q, not HTML", res.Target, ctype), evidence,
			"The page must be served as text/html: check the route (an API or error handler may answer it) and the server's MIME types.")
		return res.finish(env)
	}

	for _, mk := range cfg.ExpectMarkers {
		if bytes.Contains(resp.Body, []byte(mk)) {
			continue
		}
		where := "the page"
		if resp.Truncated {
			where = fmt.Sprintf("the first %d bytes of the page", len(resp.Body))
		}
		add(FindingUIMarkerMissing, event.SeverityHigh, fmt.Sprintf("%s lacks the marker %s", res.Target, webQuote(mk)),
			fmt.Sprintf("%s; marker %s not found in %s", evidence, webQuote(mk), where),
			"The page is not the expected application (a placeholder, error or maintenance page, or a failed build): "+
				"check the latest deploy and what the server serves at this URL.")
	}

	assets := uiAssets(resp.Body, resp.URL)
	var same, cross []uiAsset
	for _, a := range assets {
		if a.crossOrig {
			cross = append(cross, a)
		} else {
			same = append(same, a)
		}
	}
	res.Details["assets_found"] = strconv.Itoa(len(assets))
	res.Details["assets_same_origin"] = strconv.Itoa(len(same))
	if len(cross) > 0 {
		res.Details["cross_origin_assets"] = uiListURLs(cross)
		res.Details["cross_origin_note"] = "cross-origin assets are listed, never fetched"
	}
	if cfg.CheckSRI {
		for _, a := range cross {
			if a.kind != "script" || a.integrity {
				continue
			}
			u := uiShortURL(a.url)
			add(FindingUISRIMissing, event.SeverityLow, "cross-origin script without integrity: "+u,
				fmt.Sprintf("%s loads <script src=%q> without an integrity attribute", res.Target, u),
				"Pin third-party scripts with Subresource Integrity (integrity=\"sha384-…\" crossorigin=\"anonymous\"), "+
					"or self-host them, so that a compromised CDN cannot run code in your origin.")
		}
	}
	if !cfg.CheckAssets {
		res.Details["assets_checked"] = "0 (check_assets is off)"
		return res.finish(env)
	}
	toFetch := same
	if len(toFetch) > cfg.MaxAssets {
		res.Details["assets_not_checked"] = strconv.Itoa(len(toFetch) - cfg.MaxAssets)
		toFetch = toFetch[:max(cfg.MaxAssets, 0)]
	}
	results := uiFetchAssets(ctx, env, toFetch)
	res.Attempts += len(toFetch)
	checked := 0
	var skipped []string
	for i, a := range toFetch {
		r := results[i]
		u := a.url.Redacted()
		switch {
		case r.skipped != "":
			skipped = append(skipped, u+" ("+r.skipped+")")
			continue
		case r.problem != "":
			add(FindingUIAssetBroken, event.SeverityHigh, fmt.Sprintf("%s %s is broken: %s", a.kind, u, r.problem),
				fmt.Sprintf("page %s loads %s %s: %s", res.Target, a.kind, u, r.problem),
				"A script or stylesheet of the page does not load, so the page is broken for users: check that the "+
					"latest deploy uploaded every asset the HTML references (and that a catch-all route does not answer "+
					"missing assets with the HTML page), and purge stale CDN or HTML caches.")
		}
		checked++
	}
	res.Details["assets_checked"] = strconv.Itoa(checked)
	if len(skipped) > 0 {
		res.Details["assets_skipped"] = strings.Join(skipped, " ")
	}
	if ctx.Err() != nil && checked < len(toFetch) {
		res.Findings = append(res.Findings, webStopped(m.Name, res.Target, ctx.Err(),
			fmt.Sprintf("after %d of %d assets", checked, len(toFetch))))
	}
	logger.Debug("ui check done", "assets", len(assets), "checked", checked, "findings", len(res.Findings))
	return res.finish(env)
}

// uiFetchAssets fetches assets, a few at a time, and judges each.
func uiFetchAssets(ctx context.Context, env Env, assets []uiAsset) []uiAssetResult {
	out := make([]uiAssetResult, len(assets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(uiAssetWorkers, len(assets)) {
		wg.Go(func() {
			for i := range next {
				out[i] = uiCheckAsset(ctx, env, assets[i])
			}
		})
	}
	for i := range assets {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// uiCheckAsset fetches one asset the way a browser would use it and says
// what is wrong with it.
func uiCheckAsset(ctx context.Context, env Env, a uiAsset) uiAssetResult {
	if ctx.Err() != nil {
		return uiAssetResult{skipped: "not fetched: " + ctx.Err().Error()}
	}
	accept := "*/*"
	if a.kind == "stylesheet" {
		accept = "text/css,*/*;q=0.1"
	}
	resp, err := fetch(ctx, env, fetchRequest{URL: a.url.String(), Header: http.Header{"Accept": {accept}}, MaxBody: uiAssetMaxBody})
	if err != nil {
		if ctx.Err() != nil {
			return uiAssetResult{skipped: "interrupted: " + ctx.Err().Error()}
		}
		return uiAssetResult{problem: "request failed: " + errorText(err)}
	}
	r := uiAssetResult{status: resp.Status}
	ctype := resp.Header.Get("Content-Type")
	essence := uiEssence(ctype)
	nosniff := strings.EqualFold(strings.TrimSpace(resp.Header.Get("X-Content-Type-Options")), "nosniff")
	switch {
	case resp.OffHostRedirect != "":
		r.skipped = "redirects to another host, not followed"
	case resp.Status < 200 || resp.Status > 299:
		r.problem = fmt.Sprintf("HTTP %d", resp.Status)
	case len(resp.Body) == 0:
		r.problem = fmt.Sprintf("HTTP %d with an empty body", resp.Status)
	case a.kind == "stylesheet" && essence != "text/css":
		// Browsers refuse a stylesheet of another type in standards mode.
		r.problem = fmt.Sprintf("served as %q, not text/css", ctype)
	case a.kind == "script" && !slices.Contains(uiJavaScriptTypes, essence) && (nosniff || uiNeverScript(essence)):
		r.problem = fmt.Sprintf("served as %q, not JavaScript", ctype)
		if nosniff && !uiNeverScript(essence) {
			r.problem += " (with nosniff, browsers refuse it)"
		}
	}
	return r
}

// uiNeverScript reports MIME types that browsers never run as a script, or
// that mean the server answered something else (an HTML error or fallback
// page, JSON from an API).
func uiNeverScript(essence string) bool {
	switch {
	case essence == "text/html", essence == "application/xhtml+xml", essence == "application/json",
		essence == "text/csv", essence == "application/xml", essence == "text/xml",
		strings.HasPrefix(essence, "image/"), strings.HasPrefix(essence, "audio/"), strings.HasPrefix(essence, "video/"):
		return true
	}
	return false
}

// uiEssence returns the lower-case type/subtype of a Content-Type, "" if
// absent or malformed.
func uiEssence(ctype string) string {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		// A malformed parameter does not change the type a browser sees.
		mt, _, _ = strings.Cut(ctype, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	if !strings.Contains(mt, "/") {
		return ""
	}
	return mt
}

// uiAssets lists the scripts (<script src>) and stylesheets (<link
// rel=stylesheet href>) of an HTML page in document order, without
// duplicates, resolved against the page's base URL (the first <base href>,
// else page). Only http and https URLs are kept; each is marked
// cross-origin or not relative to page.
func uiAssets(body []byte, page *url.URL) []uiAsset {
	type raw struct {
		kind, ref string
		integrity bool
	}
	var refs []raw
	base := page
	baseSet := false
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		tag := atom.Lookup(name)
		if !hasAttr || (tag != atom.Script && tag != atom.Link && tag != atom.Base) {
			continue
		}
		attrs := map[string]string{}
		for {
			k, v, more := z.TagAttr()
			if _, dup := attrs[string(k)]; !dup {
				attrs[string(k)] = string(v) // the first of duplicate attributes wins, as in browsers
			}
			if !more {
				break
			}
		}
		switch tag {
		case atom.Base:
			if href, ok := attrs["href"]; ok && !baseSet {
				if u, err := page.Parse(strings.TrimSpace(href)); err == nil {
					base, baseSet = u, true
				}
			}
		case atom.Script:
			src, ok := attrs["src"]
			if ok && strings.TrimSpace(src) != "" && uiRunsScript(attrs["type"]) {
				refs = append(refs, raw{"script", src, strings.TrimSpace(attrs["integrity"]) != ""})
			}
		case atom.Link:
			rel := strings.Fields(strings.ToLower(attrs["rel"]))
			href := strings.TrimSpace(attrs["href"])
			if href != "" && slices.Contains(rel, "stylesheet") && !slices.Contains(rel, "alternate") {
				refs = append(refs, raw{"stylesheet", href, strings.TrimSpace(attrs["integrity"]) != ""})
			}
		}
	}
	var out []uiAsset
	seen := map[string]bool{}
	for _, r := range refs {
		u, err := base.Parse(strings.TrimSpace(r.ref))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		u.Fragment, u.RawFragment = "", ""
		key := r.kind + " " + u.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, uiAsset{kind: r.kind, url: u, integrity: r.integrity, crossOrig: uiOrigin(u) != uiOrigin(page)})
	}
	return out
}

// uiRunsScript reports whether a <script type> makes the browser fetch and
// run its src: no type, a JavaScript MIME type, or "module".
func uiRunsScript(typ string) bool {
	t := strings.ToLower(strings.TrimSpace(typ))
	return t == "" || t == "module" || slices.Contains(uiJavaScriptTypes, uiEssence(t))
}

// uiOrigin returns the origin of u: scheme, lower-case host and port, with
// the default port made explicit.
func uiOrigin(u *url.URL) string {
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	default:
		port = "80"
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// uiShortURL is an asset URL without credentials, query or fragment, for
// listing third-party assets (their queries may carry API keys).
func uiShortURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery = nil, "", false
	return c.String()
}

// uiListURLs lists assets' short URLs, at most uiListedMax of them.
func uiListURLs(assets []uiAsset) string {
	var parts []string
	for i, a := range assets {
		if i == uiListedMax {
			parts = append(parts, fmt.Sprintf("(+%d more)", len(assets)-i))
			break
		}
		parts = append(parts, a.kind+":"+uiShortURL(a.url))
	}
	return strings.Join(parts, " ")
}
