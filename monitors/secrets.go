package monitors

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/secretscan"
)

// Finding ids of the secrets monitor. Each leaked secret is reported as
// FindingSecretsPrefix + the id of the rule that found it, such as
// "secrets.aws-access-key-id", with the rule's severity.
const (
	// FindingSecretsPrefix starts the id of every leaked-secret finding.
	FindingSecretsPrefix = "secrets."
	// FindingSecretsFetchFailed is raised (low) for a URL that could not be
	// fetched and so was not scanned.
	FindingSecretsFetchFailed = "secrets.fetch_failed"
)

// maxSecretsFindingsPerURL caps the findings of one URL, keeping the most
// severe; a page full of keys needs rotating whatever their number.
const maxSecretsFindingsPerURL = 50

// ProbeSecrets fetches each configured URL and scans the response's
// headers and body for leaked credentials with the secretscan rules. Each
// distinct secret at each place (a header, or the body) is one finding,
// "secrets.<rule-id>" with the rule's severity, whose evidence names the
// place and the secret's fingerprint but never the secret. A Set-Cookie
// header is scanned only for vendor credentials: session tokens that the
// server issues to the monitor are not leaks.
func ProbeSecrets(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res := startResult(m, env)
	start := res.Start
	cfg := m.Secrets
	if cfg == nil || len(cfg.URLs) == 0 {
		return configFailure(res, m, env, "secrets monitor has no urls", "missing secrets.urls",
			"Set urls in the monitor's configuration.")
	}

	run := &secretsRun{m: m, cfg: cfg, logger: logger}
	run.scanner = run.newScanner(res.Details)
	run.header = make(http.Header, len(cfg.Headers))
	for k, v := range cfg.Headers {
		run.header.Set(k, v.Reveal())
	}
	maxBody := cfg.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}

	var scanned, failed, truncated, bytesScanned int
	var firstErr string
	for i, raw := range cfg.URLs {
		target, ok := redactURL(raw)
		if i == 0 {
			res.Target = target
			if n := len(cfg.URLs) - 1; n > 0 {
				res.Target += fmt.Sprintf(" (+%d more)", n)
			}
		}
		if !ok {
			msg := "invalid url: want an absolute http or https URL"
			firstErr = cmp.Or(firstErr, msg)
			failed++
			res.Findings = append(res.Findings, newFinding(m.Name, target, FindingConfig, event.SeverityHigh,
				m.Name+": secrets monitor has an invalid url", msg, "Fix urls in the monitor's configuration."))
			continue
		}
		if err := ctx.Err(); err != nil {
			// The run's deadline passed: say which URLs went unscanned.
			failed++
			firstErr = cmp.Or(firstErr, "gave up: "+err.Error())
			res.Findings = append(res.Findings, run.fetchFailed(target, "not fetched: "+err.Error()))
			continue
		}
		res.Attempts++
		resp, err := fetch(ctx, env, fetchRequest{URL: raw, Header: run.header.Clone(), MaxBody: maxBody})
		if err != nil {
			msg := errorText(err)
			failed++
			firstErr = cmp.Or(firstErr, target+": "+msg)
			logger.Warn("secrets: fetch failed", "url", target, "error", msg)
			res.Findings = append(res.Findings, run.fetchFailed(target, msg))
			continue
		}
		scanned++
		bytesScanned += len(resp.Body)
		if resp.Truncated {
			truncated++
		}
		found := run.scan(target, resp)
		logger.Debug("secrets: scanned", "url", target, "status", resp.Status,
			"body_bytes", len(resp.Body), "body_truncated", resp.Truncated, "findings", len(found))
		res.Findings = append(res.Findings, found...)
	}

	res.Duration = env.now().Sub(start)
	d := res.Details
	d["urls"] = strconv.Itoa(len(cfg.URLs))
	d["urls_scanned"] = strconv.Itoa(scanned)
	d["bytes_scanned"] = strconv.Itoa(bytesScanned)
	d["secrets_found"] = strconv.Itoa(run.found)
	if run.ignored > 0 {
		d["secrets_ignored"] = strconv.Itoa(run.ignored)
	}
	if run.capped > 0 {
		d["findings_capped"] = strconv.Itoa(run.capped)
	}
	if failed > 0 {
		d["urls_failed"] = strconv.Itoa(failed)
		d["error"] = firstErr
	}
	if truncated > 0 {
		d["body_truncated_urls"] = strconv.Itoa(truncated)
		d["body_cap_bytes"] = strconv.FormatInt(maxBody, 10)
	}
	res.Success = len(res.Findings) == 0
	return res
}

// secretsRun holds the state of one run of a secrets monitor.
type secretsRun struct {
	m       config.Monitor
	cfg     *config.SecretsMonitor
	logger  *slog.Logger
	scanner *secretscan.Scanner
	header  http.Header
	// found counts the secret findings; ignored the occurrences dropped by
	// ignore_rules or ignore_fingerprints; capped the findings over the
	// per-URL cap.
	found, ignored, capped int
}

// newScanner returns a scanner of the default rules, noting the ids of
// ignore_rules that name no rule in details. Ignored rules still take part
// in scanning, so that a secret they find is dropped rather than reported
// by a lower-priority rule (a GitHub token as a generic secret).
func (r *secretsRun) newScanner(details map[string]string) *secretscan.Scanner {
	s := secretscan.NewScanner(secretscan.DefaultRules())
	var unknown []string
	for _, id := range r.cfg.IgnoreRules {
		if _, ok := s.Rule(id); !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		details["ignore_rules_unknown"] = strings.Join(unknown, ",")
		r.logger.Warn("secrets: ignore_rules names unknown rules", "rules", unknown)
	}
	return s
}

// sighting is one distinct secret at one place of one response.
type sighting struct {
	rule     string
	severity secretscan.Severity
	secretFP string
	// place is "body" or "header <Name>"; line is the body line of the
	// first occurrence (0 for a header); count counts the occurrences.
	place string
	line  int
	count int
}

// sessionRule reports the rules not applied to Set-Cookie: a cookie the
// server sets for the monitor is a token issued to it, not a leak.
func sessionRule(id string) bool {
	return id == secretscan.RuleGenericSecret || id == secretscan.RuleJWT
}

// scan returns the findings of one response.
func (r *secretsRun) scan(target string, resp *fetchResponse) []event.Finding {
	var seen []*sighting
	byKey := map[[3]string]*sighting{}
	add := func(place string, line int, mt secretscan.Match) {
		if slices.Contains(r.cfg.IgnoreRules, mt.RuleID) || slices.Contains(r.cfg.IgnoreFingerprints, mt.Fingerprint) {
			r.ignored++
			return
		}
		key := [3]string{place, mt.RuleID, mt.Fingerprint}
		if s := byKey[key]; s != nil {
			s.count++
			return
		}
		s := &sighting{rule: mt.RuleID, severity: mt.Severity, secretFP: mt.Fingerprint, place: place, line: line, count: 1}
		byKey[key] = s
		seen = append(seen, s)
	}
	for _, name := range slices.Sorted(maps.Keys(resp.Header)) {
		for _, v := range resp.Header[name] {
			// Scanned as "Name: value", so that the generic rule sees the
			// header name as the key of an assignment.
			for _, mt := range r.scanner.Scan([]byte(name + ": " + v)) {
				if name == "Set-Cookie" && sessionRule(mt.RuleID) {
					continue
				}
				add("header "+name, 0, mt)
			}
		}
	}
	for _, mt := range r.scanner.Scan(resp.Body) {
		add("body", mt.Line, mt)
	}
	if len(seen) > maxSecretsFindingsPerURL {
		slices.SortStableFunc(seen, func(a, b *sighting) int {
			return cmp.Compare(severityOf(b.severity), severityOf(a.severity))
		})
		r.capped += len(seen) - maxSecretsFindingsPerURL
		seen = seen[:maxSecretsFindingsPerURL]
	}
	findings := make([]event.Finding, 0, len(seen))
	for _, s := range seen {
		findings = append(findings, r.finding(target, resp.Status, s))
	}
	r.found += len(findings)
	return findings
}

// finding describes one sighting without the secret: the place, the rule
// and the secret's fingerprint. Its fingerprint is stable for the same
// secret at the same place of the same URL, wherever the body line.
func (r *secretsRun) finding(target string, status int, s *sighting) event.Finding {
	id := FindingSecretsPrefix + s.rule
	desc := s.rule
	if rule, ok := r.scanner.Rule(s.rule); ok {
		desc = rule.Description
	}
	where, location := "response body", "body line "+strconv.Itoa(s.line)
	if s.place != "body" {
		where, location = strings.TrimPrefix(s.place, "header ")+" response header", s.place
	}
	evidence := fmt.Sprintf("%s (HTTP %d): rule %s, secret fingerprint %s", location, status, s.rule, s.secretFP)
	if s.count > 1 {
		evidence += fmt.Sprintf(", %d occurrences", s.count)
	}
	title := fmt.Sprintf("%s: %s exposed in the %s of %s", r.m.Name, desc, where, target)
	f := newFinding(r.m.Name, target, id, severityOf(s.severity), title, evidence, secretsRemediation(s))
	f.Fingerprint = event.Fingerprint(r.m.Name, target, id, s.place, s.secretFP)
	return f
}

// fetchFailed is the finding for a URL that could not be scanned.
func (r *secretsRun) fetchFailed(target, why string) event.Finding {
	return newFinding(r.m.Name, target, FindingSecretsFetchFailed, event.SeverityLow,
		fmt.Sprintf("%s: could not scan %s for leaked secrets: %s", r.m.Name, target, why),
		"error="+why,
		"Check that the URL is right and reachable from secopsd; until it is, leaks there go unnoticed.")
}

// secretsRemediation says what to do about a leaked secret.
func secretsRemediation(s *sighting) string {
	if s.severity == secretscan.SeverityLow || s.severity == secretscan.SeverityInfo {
		return "This kind of credential is often public by design (browser API keys, test-mode keys, " +
			"anonymous tokens). If it is meant to be public, restrict it at the provider (allowed " +
			"referrers, APIs, quotas) and add its fingerprint " + s.secretFP + " to ignore_fingerprints; " +
			"otherwise revoke and rotate it, and remove it from the response."
	}
	return "Revoke and rotate this credential now: treat it as compromised since it was first served. " +
		"Then remove it from the response (look for server-side environment variables inlined into " +
		"front-end bundles or source maps, debug headers and error pages) and check the provider's " +
		"audit logs for its use."
}

// severityOf maps a rule severity to an event severity (high if unknown).
func severityOf(s secretscan.Severity) event.Severity {
	sev, err := event.ParseSeverity(string(s))
	if err != nil {
		return event.SeverityHigh
	}
	return sev
}

// redactURL returns raw without its password, and whether it is an
// absolute http or https URL with a host.
func redactURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)", false
	}
	return u.Redacted(), (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
