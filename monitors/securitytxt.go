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
	"strconv"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Finding ids of the securitytxt monitor.
const (
	// FindingSecurityTxtUnreachable: the request for the file failed (no
	// connection, TLS error, timeout).
	FindingSecurityTxtUnreachable = "securitytxt.unreachable"
	// FindingSecurityTxtMissing: /.well-known/security.txt does not answer
	// 200 with a text file (a 200 HTML page counts as missing).
	FindingSecurityTxtMissing = "securitytxt.missing"
	// FindingSecurityTxtRedirect: the file redirects to another host, which
	// the monitor does not follow.
	FindingSecurityTxtRedirect = "securitytxt.redirect_off_host"
	// FindingSecurityTxtNotHTTPS: the file is served over plain HTTP.
	FindingSecurityTxtNotHTTPS = "securitytxt.not_https"
	// FindingSecurityTxtContentType: the Content-Type is not text/plain.
	FindingSecurityTxtContentType = "securitytxt.content_type"
	// FindingSecurityTxtCharset: text/plain without charset=utf-8.
	FindingSecurityTxtCharset = "securitytxt.charset"
	// FindingSecurityTxtTooLarge: the file is larger than 32 KiB.
	FindingSecurityTxtTooLarge = "securitytxt.too_large"
	// FindingSecurityTxtSyntax: malformed lines (reported with their line
	// numbers), a byte order mark, bad line endings, too many lines.
	FindingSecurityTxtSyntax = "securitytxt.syntax"
	// FindingSecurityTxtContactMissing: no usable Contact field.
	FindingSecurityTxtContactMissing = "securitytxt.contact.missing"
	// FindingSecurityTxtContactInvalid: a Contact is not a URI, or not a
	// mailto:, https: or tel: one.
	FindingSecurityTxtContactInvalid = "securitytxt.contact.invalid"
	// FindingSecurityTxtContactInsecure: a Contact is an http: URI.
	FindingSecurityTxtContactInsecure = "securitytxt.contact.insecure"
	// FindingSecurityTxtExpiresMissing: no Expires field.
	FindingSecurityTxtExpiresMissing = "securitytxt.expires.missing"
	// FindingSecurityTxtExpiresInvalid: Expires is not an RFC 3339
	// date-time, or appears more than once.
	FindingSecurityTxtExpiresInvalid = "securitytxt.expires.invalid"
	// FindingSecurityTxtExpired: the Expires date has passed.
	FindingSecurityTxtExpired = "securitytxt.expires.expired"
	// FindingSecurityTxtExpiresSoon: Expires passes within warn_before.
	FindingSecurityTxtExpiresSoon = "securitytxt.expires.soon"
	// FindingSecurityTxtExpiresTooFar: Expires lies more than max_expiry
	// ahead.
	FindingSecurityTxtExpiresTooFar = "securitytxt.expires.too_far"
	// FindingSecurityTxtFieldInvalid: another field is malformed (URI,
	// https-only URI, language tag) or Preferred-Languages repeats.
	FindingSecurityTxtFieldInvalid = "securitytxt.field.invalid"
	// FindingSecurityTxtCanonicalMismatch: Canonical fields are present but
	// none is the URL the file was fetched from.
	FindingSecurityTxtCanonicalMismatch = "securitytxt.canonical.mismatch"
	// FindingSecurityTxtCanonicalMissing: require_canonical is set and the
	// file has no valid Canonical field.
	FindingSecurityTxtCanonicalMissing = "securitytxt.canonical.missing"
	// FindingSecurityTxtSignatureMissing: require_signature is set and the
	// file is not OpenPGP cleartext-signed.
	FindingSecurityTxtSignatureMissing = "securitytxt.signature.missing"
)

// stxtMaxEvidence bounds the issues listed in one finding's evidence.
const stxtMaxEvidence = 10

// stxtRun holds what all sites of one run share.
type stxtRun struct {
	m   config.Monitor
	cfg *config.SecurityTxtMonitor
	env Env
}

// ProbeSecurityTxt checks the RFC 9116 security.txt of each configured
// site: fetched from /.well-known/security.txt over HTTPS, status 200,
// text/plain; charset=utf-8, and a file that parses with a usable
// Contact, exactly one valid Expires in the future and within max_expiry,
// and valid optional fields. A missing file is looked for at the legacy
// /security.txt too, and the result noted.
func ProbeSecurityTxt(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res := startResult(m, env)
	start := res.Start
	misconfigured := func(msg string) Result { return misconfiguredResult(res, m, env, msg) }
	cfg := m.SecurityTxt
	if cfg == nil || len(cfg.URLs) == 0 {
		return misconfigured("missing securitytxt.urls")
	}
	sites := make([]string, 0, len(cfg.URLs))
	for _, u := range cfg.URLs {
		wk, err := config.SecurityTxtURL(u)
		if err != nil {
			return misconfigured(err.Error())
		}
		sites = append(sites, wk)
	}
	res.Target = strings.Join(sites, ",")

	run := &stxtRun{m: m, cfg: cfg, env: env}
	reports := probeTargets(sites, func(wk string) targetReport { return run.check(ctx, wk) })
	res.addReports(reports, func(i int) string { return strings.TrimSuffix(sites[i], config.SecurityTxtPath) + "/" })
	res.Success = len(res.Findings) == 0
	res.Duration = env.now().Sub(start)
	if !res.Success {
		logger.Debug("securitytxt check failed", "findings", len(res.Findings))
	}
	return res
}

// check fetches and checks the security.txt at wk.
func (r *stxtRun) check(ctx context.Context, wk string) targetReport {
	rep := targetReport{details: map[string]string{}}
	host := wk
	if u, err := url.Parse(wk); err == nil {
		host = u.Host
	}
	add := func(id string, sev event.Severity, title, evidence, remediation string) {
		rep.findings = append(rep.findings, newFinding(r.m.Name, wk, id, sev, r.m.Name+": "+title, evidence, remediation))
	}
	resp, err := fetch(ctx, r.env, fetchRequest{
		URL:     wk,
		Header:  http.Header{"Accept": {"text/plain"}},
		MaxBody: stxtMaxBytes,
	})
	if err != nil {
		msg := errorText(err)
		rep.details["error"] = msg
		add(FindingSecurityTxtUnreachable, event.SeverityMedium,
			"cannot fetch security.txt of "+host, "GET "+wk+" failed: "+msg,
			"Check that the site is up and its TLS certificate is valid; security.txt must be served over HTTPS.")
		return rep
	}
	rep.details["status_code"] = strconv.Itoa(resp.Status)
	if final := resp.URL.String(); final != wk {
		rep.details["final_url"] = final
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		rep.details["content_type"] = ct
	}
	if resp.URL.Scheme != "https" {
		add(FindingSecurityTxtNotHTTPS, event.SeverityMedium,
			"security.txt of "+host+" is served over plain HTTP", "fetched from "+resp.URL.String(),
			"Serve the site, and /.well-known/security.txt, over HTTPS (RFC 9116 section 3), and point the monitor at the https:// URL.")
	}
	if resp.OffHostRedirect != "" {
		rep.details["redirect"] = resp.OffHostRedirect
		rep.inconclusive = true // the file itself was not checked
		add(FindingSecurityTxtRedirect, event.SeverityLow,
			"security.txt of "+host+" redirects to another host",
			fmt.Sprintf("GET %s → HTTP %d Location: %s (not followed)", resp.URL, resp.Status, resp.OffHostRedirect),
			"If the redirect is intended, point the monitor at the site it redirects to; otherwise serve the file on this host.")
		return rep
	}
	if resp.Status != http.StatusOK || stxtLooksLikeHTML(resp) {
		why := fmt.Sprintf("GET %s → HTTP %d", resp.URL, resp.Status)
		if resp.Status == http.StatusOK {
			why += " with an HTML page (a catch-all route?), not a security.txt"
		}
		legacy := r.legacy(ctx, wk)
		if legacy != "" {
			rep.details["legacy_status"] = legacy
			why += "; legacy /security.txt: " + legacy
		}
		add(FindingSecurityTxtMissing, event.SeverityMedium, "no security.txt at "+host, why,
			"Publish an RFC 9116 security.txt at /.well-known/security.txt with at least Contact and Expires (https://securitytxt.org/ generates one).")
		return rep
	}
	rep.details["body_bytes"] = strconv.Itoa(len(resp.Body))
	r.checkContentType(resp.Header.Get("Content-Type"), host, add)
	if resp.Truncated {
		add(FindingSecurityTxtTooLarge, event.SeverityMedium, "security.txt of "+host+" is too large",
			fmt.Sprintf("the file is larger than %d bytes and was not parsed", stxtMaxBytes),
			"Keep security.txt small: contact details, Expires and links, not inline policies or keys.")
		return rep
	}
	now := r.env.now()
	sr := checkSecurityTxt(resp.Body, now, r.cfg.MaxExpiry.Std())
	r.report(&rep, sr, wk, resp.URL.String(), host, now, add)
	return rep
}

// stxtLooksLikeHTML reports a response that is an HTML page rather than a
// text file, as a single-page app's catch-all route returns.
func stxtLooksLikeHTML(resp *fetchResponse) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/html" || mt == "application/xhtml+xml" {
		return true
	}
	head := bytes.ToLower(bytes.TrimLeft(resp.Body[:min(len(resp.Body), 64)], " \t\r\n\ufeff"))
	return bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html"))
}

// legacy looks for the file at the legacy location /security.txt and
// describes what it found ("" if the request failed).
func (r *stxtRun) legacy(ctx context.Context, wk string) string {
	u := strings.TrimSuffix(wk, config.SecurityTxtPath) + "/security.txt"
	resp, err := fetch(ctx, r.env, fetchRequest{URL: u, Header: http.Header{"Accept": {"text/plain"}}, MaxBody: stxtMaxBytes})
	if err != nil {
		return ""
	}
	if resp.Status == http.StatusOK && !stxtLooksLikeHTML(resp) {
		return "HTTP 200 (a file exists at the legacy location; RFC 9116 requires /.well-known/security.txt)"
	}
	return "HTTP " + strconv.Itoa(resp.Status)
}

// checkContentType wants text/plain with charset=utf-8.
func (r *stxtRun) checkContentType(ct, host string, add func(string, event.Severity, string, string, string)) {
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case err != nil || mt != "text/plain":
		got := ct
		if got == "" {
			got = "no Content-Type"
		}
		add(FindingSecurityTxtContentType, event.SeverityMedium, "security.txt of "+host+" is not served as text/plain",
			"Content-Type: "+got,
			`Serve security.txt with "Content-Type: text/plain; charset=utf-8" (RFC 9116 section 3).`)
	case !strings.EqualFold(params["charset"], "utf-8"):
		got := "no charset"
		if cs := params["charset"]; cs != "" {
			got = "charset=" + cs
		}
		add(FindingSecurityTxtCharset, event.SeverityLow, "security.txt of "+host+" is not declared UTF-8",
			"Content-Type: "+ct+" ("+got+")",
			`Serve security.txt with "Content-Type: text/plain; charset=utf-8" (RFC 9116 section 3).`)
	}
}

// report turns a checked file into details and findings. fetched and
// final are the URL requested and the URL after same-host redirects.
func (r *stxtRun) report(rep *targetReport, sr stxtReport, fetched, final, host string, now time.Time, add func(string, event.Severity, string, string, string)) {
	d := rep.details
	d["signed"] = strconv.FormatBool(sr.File.Signed)
	d["fields"] = strconv.Itoa(len(sr.File.Fields))
	d["contacts"] = strconv.Itoa(len(sr.Contact))
	if !sr.ExpiresAt.IsZero() {
		d["expires"] = sr.ExpiresAt.UTC().Format(time.RFC3339)
		d["expires_in_days"] = strconv.Itoa(int(sr.ExpiresAt.Sub(now) / (24 * time.Hour)))
	}
	if len(sr.Notices) > 0 {
		d["unknown_fields"] = strconv.Itoa(len(sr.Notices))
	}
	var recs []string
	for _, i := range sr.Recommendations {
		recs = append(recs, i.Code)
	}
	if len(recs) > 0 {
		d["recommendations"] = strings.Join(recs, ",")
	}

	var syntax, contactBad, contactInsecure, expiresBad, fieldBad []stxtIssue
	for _, i := range sr.Errors {
		switch {
		case i.Code == stxtFileTooLarge:
			add(FindingSecurityTxtTooLarge, event.SeverityMedium, "security.txt of "+host+" is too large", i.Msg,
				"Keep security.txt small: contact details, Expires and links, not inline policies or keys.")
		case i.Field == "":
			syntax = append(syntax, i)
		case i.Code == stxtNoContact, i.Code == stxtNoExpires:
			// reported below
		case i.Code == stxtInsecureContact:
			contactInsecure = append(contactInsecure, i)
		case i.Field == "Contact":
			contactBad = append(contactBad, i)
		case i.Code == stxtExpired:
			add(FindingSecurityTxtExpired, event.SeverityHigh, "security.txt of "+host+" has expired", i.String(),
				"Update Expires (less than a year ahead) and republish the file; researchers must treat an expired file as stale.")
		case i.Field == "Expires":
			expiresBad = append(expiresBad, i)
		default:
			fieldBad = append(fieldBad, i)
		}
	}
	if len(syntax) > 0 {
		add(FindingSecurityTxtSyntax, event.SeverityMedium, fmt.Sprintf("security.txt of %s has %d malformed lines", host, len(syntax)),
			stxtEvidence(syntax),
			`Fix the lines: each is a field "Name: value" (one space after the colon), a comment starting with #, or blank; end lines with LF or CRLF; no byte order mark.`)
	}
	if len(sr.Contact)+len(sr.InsecureContact) == 0 {
		ev := "no Contact field"
		if sr.ContactLines > 0 {
			ev = fmt.Sprintf("none of the %d Contact fields is usable", sr.ContactLines)
		}
		add(FindingSecurityTxtContactMissing, event.SeverityHigh, "security.txt of "+host+" has no usable Contact", ev,
			"Add at least one Contact: mailto:security@…, https://… (a report form) or tel:… (RFC 9116 section 2.5.3).")
	}
	if len(contactBad) > 0 {
		add(FindingSecurityTxtContactInvalid, event.SeverityMedium, "security.txt of "+host+" has an invalid Contact", stxtEvidence(contactBad),
			"Write each Contact as a URI with the scheme mailto:, https: or tel: (for example mailto:security@example.com).")
	}
	if len(contactInsecure) > 0 {
		add(FindingSecurityTxtContactInsecure, event.SeverityLow, "security.txt of "+host+" has an http: Contact", stxtEvidence(contactInsecure),
			"Use an https:// URI for web Contacts, so reports cannot be read or redirected in transit.")
	}
	if sr.ExpiresLine == 0 {
		add(FindingSecurityTxtExpiresMissing, event.SeverityMedium, "security.txt of "+host+" has no Expires", "no Expires field",
			"Add exactly one Expires field with an RFC 3339 date less than a year ahead, such as Expires: 2026-12-31T23:59:59Z.")
	}
	if len(expiresBad) > 0 {
		add(FindingSecurityTxtExpiresInvalid, event.SeverityMedium, "security.txt of "+host+" has an invalid Expires", stxtEvidence(expiresBad),
			"Keep exactly one Expires field with an RFC 3339 date-time such as 2026-12-31T23:59:59Z.")
	}
	if at := sr.ExpiresAt; !at.IsZero() && at.After(now) {
		left := at.Sub(now)
		switch {
		case r.cfg.WarnBefore > 0 && left <= r.cfg.WarnBefore.Std():
			add(FindingSecurityTxtExpiresSoon, event.SeverityMedium,
				fmt.Sprintf("security.txt of %s expires in %d days", host, int(left/(24*time.Hour))),
				fmt.Sprintf("line %d: Expires: %s (warn_before %s)", sr.ExpiresLine, at.UTC().Format(time.RFC3339), r.cfg.WarnBefore),
				"Update Expires and republish the file before it lapses.")
		case r.cfg.MaxExpiry > 0 && left > r.cfg.MaxExpiry.Std():
			add(FindingSecurityTxtExpiresTooFar, event.SeverityLow,
				fmt.Sprintf("security.txt of %s expires more than %s ahead", host, r.cfg.MaxExpiry),
				fmt.Sprintf("line %d: Expires: %s is %d days ahead", sr.ExpiresLine, at.UTC().Format(time.RFC3339), int(left/(24*time.Hour))),
				"Set Expires less than a year ahead (RFC 9116 section 2.5.5) and renew the file regularly, so stale contacts are noticed.")
		}
	}
	if len(fieldBad) > 0 {
		add(FindingSecurityTxtFieldInvalid, event.SeverityLow, "security.txt of "+host+" has invalid fields", stxtEvidence(fieldBad),
			"Fix the fields: web URIs must start with https://, Preferred-Languages is one comma-separated list of RFC 5646 tags and appears once.")
	}
	if len(sr.Canonical) > 0 && !stxtCanonicalMatches(sr.Canonical, fetched, final) {
		add(FindingSecurityTxtCanonicalMismatch, event.SeverityMedium, "security.txt of "+host+" is not canonical here",
			fmt.Sprintf("fetched from %s; Canonical lists %s", fetched, strings.Join(sr.Canonical, ", ")),
			"List every URL the file is served from in a Canonical field, or serve the file only where it claims to live; readers must not trust a file fetched elsewhere (RFC 9116 section 2.5.2).")
	}
	if r.cfg.RequireCanonical && len(sr.Canonical) == 0 {
		add(FindingSecurityTxtCanonicalMissing, event.SeverityMedium, "security.txt of "+host+" has no Canonical field",
			"require_canonical is set and the file has no valid Canonical field",
			"Add Canonical: "+fetched+" to the file.")
	}
	if r.cfg.RequireSignature && !sr.File.Signed {
		add(FindingSecurityTxtSignatureMissing, event.SeverityMedium, "security.txt of "+host+" is not signed",
			"require_signature is set and the file has no OpenPGP cleartext signature",
			"Sign the file with an OpenPGP cleartext signature (gpg --clearsign) and publish the key in an Encryption field.")
	}
}

// stxtEvidence lists issues with their line numbers, at most
// stxtMaxEvidence of them.
func stxtEvidence(issues []stxtIssue) string {
	parts := make([]string, 0, min(len(issues), stxtMaxEvidence)+1)
	for i, is := range issues {
		if i == stxtMaxEvidence {
			parts = append(parts, fmt.Sprintf("… and %d more", len(issues)-stxtMaxEvidence))
			break
		}
		parts = append(parts, is.String())
	}
	return strings.Join(parts, "; ")
}

// stxtCanonicalMatches reports whether one of the Canonical URIs is the
// URL the file was requested from or finally served from, comparing
// scheme and host case-insensitively and ignoring a default port.
func stxtCanonicalMatches(canonical []string, urls ...string) bool {
	norm := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			return s
		}
		host, port := strings.ToLower(u.Hostname()), u.Port()
		scheme := strings.ToLower(u.Scheme)
		if port == "" || scheme == "https" && port == "443" || scheme == "http" && port == "80" {
			port = ""
		}
		if port != "" || strings.Contains(host, ":") {
			host = strings.TrimSuffix(net.JoinHostPort(host, port), ":")
		}
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path
	}
	for _, c := range canonical {
		for _, u := range urls {
			if norm(c) == norm(u) {
				return true
			}
		}
	}
	return false
}
