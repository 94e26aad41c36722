// Package monitors runs secopsd's scheduled checks. Each monitor type is one
// probe function in its own file, listed in the explicit map returned by
// Probers; the Scheduler runs every configured monitor on its cron schedule
// with a per-run timeout, no overlapping runs and a global concurrency bound,
// and hands each Result to a sink that turns it into events.
package monitors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// EventKind is the Kind of every event derived from a monitor Result.
const EventKind = "monitor.check"

// EventSource is the Source of every event derived from a monitor Result.
const EventSource = "monitor"

// Finding ids shared by all monitor types, raised by the scheduler or by a
// probe that cannot run at all.
const (
	// FindingPanic is raised when a probe panics.
	FindingPanic = "monitor.panic"
	// FindingTimeout is raised when a probe overruns its timeout without
	// reporting a failure of its own.
	FindingTimeout = "monitor.timeout"
	// FindingFailed is raised when a probe reports failure without a finding.
	FindingFailed = "monitor.failed"
	// FindingConfig is raised when a monitor's type-specific configuration is
	// missing or unusable at run time.
	FindingConfig = "monitor.config"
	// FindingCancelled is raised when a run is cancelled before it finished
	// (by the caller or by a forced shutdown).
	FindingCancelled = "monitor.cancelled"
)

// Result is the outcome of one run of one monitor.
type Result struct {
	// Monitor is the monitor's configured name.
	Monitor string
	// Type is the monitor type, such as "http".
	Type string
	// Target is what was checked (for http, the URL without credentials).
	Target string
	// Start is when the run started.
	Start time.Time
	// Duration is how long the run took.
	Duration time.Duration
	// Success reports whether the target is healthy.
	Success bool
	// Findings are the problems found; a failed run has at least one.
	Findings []event.Finding
	// Attempts is how many requests were made (1 + retries used).
	Attempts int
	// Details holds non-secret facts about the run (status code, latency_ms,
	// error text, ...). Never put a configured secret here.
	Details map[string]string
	// Labels are the monitor's configured labels.
	Labels map[string]string
	// Skipped reports that the run did not happen because the previous run
	// of the same monitor was still in progress.
	Skipped bool
	// Inconclusive is set by a probe that could not check all it covers
	// (see Conclusive).
	Inconclusive bool
}

// ProbeFunc runs one check of monitor m. It must honour ctx's deadline and
// report every problem as a Finding on a Result with Success false.
type ProbeFunc func(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result

// Env carries the dependencies shared by all probes.
type Env struct {
	// Transport returns the HTTP RoundTripper for one run; its idle
	// connections are closed when the run ends, and TLS verification is
	// forced back on if it was turned off. Nil gives a fresh transport per
	// run, with TLS verification and no keep-alives, so that every run
	// really connects.
	Transport func() http.RoundTripper
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// UserAgent is sent by HTTP probes; empty means UserAgent("dev").
	UserAgent string
	// RetryWaitMin and RetryWaitMax bound the backoff between retries of one
	// run; zero means 200ms and 2s. The run's deadline bounds them too.
	RetryWaitMin, RetryWaitMax time.Duration
	// Hosts bounds the requests in flight to one host across all monitors;
	// nil means no bound.
	Hosts *HostLimiter
}

// UserAgent returns the User-Agent secopsd sends, "secopsd/<version>".
func UserAgent(version string) string { return "secopsd/" + version }

func (e Env) now() time.Time {
	if e.Clock != nil {
		return e.Clock()
	}
	return time.Now()
}

func (e Env) userAgent() string {
	if e.UserAgent != "" {
		return e.UserAgent
	}
	return UserAgent("dev")
}

// Probers returns the probe function of every monitor type, by type name.
func Probers() map[string]ProbeFunc {
	return map[string]ProbeFunc{
		"http":             ProbeHTTP,
		"headers":          ProbeHeaders,
		"tls":              ProbeTLS,
		"securitytxt":      ProbeSecurityTxt,
		"postgres_rls":     ProbePostgresRLS,
		"postgres_cascade": ProbePostgresCascade,
		"access":           ProbeAccess,
		"ui":               ProbeUI,
		"ratelimit":        ProbeRateLimit,
		"secrets":          ProbeSecrets,
	}
}

// Conclusive reports whether the run checked everything it covers, so that
// a finding missing from it means the problem is gone. A run is not
// conclusive when the probe said so (Inconclusive), or when it panicked,
// timed out, was cancelled, was misconfigured or could not reach a target
// (a finding whose id ends in ".unreachable").
func (r Result) Conclusive() bool {
	if r.Inconclusive || (!r.Success && len(r.Findings) == 0) {
		return false
	}
	for _, f := range r.Findings {
		switch f.ID {
		case FindingPanic, FindingTimeout, FindingCancelled, FindingFailed, FindingConfig:
			return false
		}
		if strings.HasSuffix(f.ID, ".unreachable") {
			return false
		}
	}
	return true
}

// startResult returns the Result a probe of m fills in: named, typed,
// labelled and started now.
func startResult(m config.Monitor, env Env) Result {
	return Result{
		Monitor: m.Name,
		Type:    m.Type,
		Start:   env.now(),
		Details: map[string]string{},
		Labels:  maps.Clone(m.Labels),
	}
}

// misconfiguredResult finishes res as a failed run whose monitor
// configuration cannot be used (finding FindingConfig), explaining msg.
func misconfiguredResult(res Result, m config.Monitor, env Env, msg string) Result {
	return configFailure(res, m, env, m.Type+" monitor is misconfigured", msg,
		"Fix the monitor's configuration (see configs/example.yaml).")
}

// configFailure finishes res as a failed run whose monitor configuration
// cannot be used (see setConfigFailure).
func configFailure(res Result, m config.Monitor, env Env, what, msg, remediation string) Result {
	res.setConfigFailure(m, what, msg, remediation)
	return res.finish(env)
}

// setConfigFailure records that the configuration of monitor m cannot be
// used: the run's one finding, FindingConfig (high), is titled
// "<monitor>: <what>" with msg as evidence (and as Details["error"]) and
// remediation, the fix.
func (r *Result) setConfigFailure(m config.Monitor, what, msg, remediation string) {
	r.Details["error"] = msg
	r.Findings = []event.Finding{newFinding(m.Name, r.Target, FindingConfig, event.SeverityHigh,
		m.Name+": "+what, msg, remediation)}
}

// finish ends the run now: it sets Duration, and Success from whether
// there are findings.
func (r Result) finish(env Env) Result {
	r.Duration = env.now().Sub(r.Start)
	r.Success = len(r.Findings) == 0
	return r
}

// targetReport is what a probe found on one of its monitor's targets.
type targetReport struct {
	findings     []event.Finding
	details      map[string]string
	inconclusive bool
}

// probeTargets runs probe on every target concurrently and returns the
// reports in the order of targets.
func probeTargets[T any](targets []T, probe func(T) targetReport) []targetReport {
	reports := make([]targetReport, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { reports[i] = probe(t) })
	}
	wg.Wait()
	return reports
}

// addReports adds the findings, details and inconclusiveness of reports to
// r. When there are several reports, the details of report i are keyed
// prefix(i)+key so that they stay apart.
func (r *Result) addReports(reports []targetReport, prefix func(i int) string) {
	for i, rep := range reports {
		r.Findings = append(r.Findings, rep.findings...)
		r.Inconclusive = r.Inconclusive || rep.inconclusive
		p := ""
		if len(reports) > 1 {
			p = prefix(i)
		}
		for k, v := range rep.details {
			r.Details[p+k] = v
		}
	}
}

// newFinding builds a finding whose fingerprint is stable for monitor,
// target and finding id.
func newFinding(monitor, target, id string, sev event.Severity, title, evidence, remediation string) event.Finding {
	return event.Finding{
		ID:          id,
		Severity:    sev,
		Title:       title,
		Evidence:    evidence,
		Remediation: remediation,
		Target:      target,
		Fingerprint: event.Fingerprint(monitor, target, id),
	}
}

// Events turns the result into events: one failing event per finding of a
// failed run, or a single passing event. now stamps the events.
func (r Result) Events(now time.Time) []event.Event {
	base := func() map[string]string {
		attrs := make(map[string]string, len(r.Labels)+len(r.Details)+8)
		maps.Copy(attrs, r.Labels)
		maps.Copy(attrs, r.Details)
		attrs["monitor_type"] = r.Type
		attrs["target"] = r.Target
		attrs["duration_ms"] = strconv.FormatInt(r.Duration.Milliseconds(), 10)
		if r.Attempts > 0 {
			attrs["attempts"] = strconv.Itoa(r.Attempts)
		}
		return attrs
	}
	if r.Success {
		return []event.Event{{
			ID:          newEventID(),
			Time:        now,
			Source:      EventSource,
			Monitor:     r.Monitor,
			Kind:        EventKind,
			Outcome:     event.OutcomePass,
			Fingerprint: event.Fingerprint(r.Monitor, "pass"),
			Title:       r.Monitor + ": check passed",
			Attributes:  base(),
		}}
	}
	findings := r.Findings
	if len(findings) == 0 {
		findings = []event.Finding{failedFinding(r)}
	}
	events := make([]event.Event, 0, len(findings))
	for _, f := range findings {
		attrs := base()
		if f.Target != "" {
			attrs["target"] = f.Target
		}
		attrs["finding_id"] = f.ID
		attrs["finding_severity"] = f.Severity.String()
		attrs["evidence"] = f.Evidence
		if f.Remediation != "" {
			attrs["remediation"] = f.Remediation
		}
		fp := f.Fingerprint
		if fp == "" {
			fp = event.Fingerprint(r.Monitor, r.Target, f.ID)
		}
		events = append(events, event.Event{
			ID:          newEventID(),
			Time:        now,
			Source:      EventSource,
			Monitor:     r.Monitor,
			Kind:        EventKind,
			Outcome:     event.OutcomeFail,
			Fingerprint: fp,
			Title:       f.Title,
			Attributes:  attrs,
		})
	}
	return events
}

// failedFinding stands in for the finding a failed probe did not give.
func failedFinding(r Result) event.Finding {
	evidence := r.Details["error"]
	if evidence == "" {
		evidence = "the probe reported failure without a finding"
	}
	return newFinding(r.Monitor, r.Target, FindingFailed, event.SeverityHigh,
		r.Monitor+": check failed", evidence,
		"Look at the monitor's logs; the probe gave no finding.")
}

// newEventID returns a random 128-bit identifier in hex.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	return hex.EncodeToString(b[:])
}
