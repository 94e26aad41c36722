package monitors

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Finding ids of the ratelimit monitor.
const (
	// FindingRateLimitNotEnforced is a burst that got no 429 within
	// expect_limit_within requests (high).
	FindingRateLimitNotEnforced = "ratelimit.not_enforced"
	// FindingRateLimitNoRetryHint is a 429 without Retry-After and without
	// any RateLimit or X-RateLimit header (low).
	FindingRateLimitNoRetryHint = "ratelimit.no_retry_hint"
	// FindingRateLimitRetryAfterInvalid is a 429 whose Retry-After is
	// neither delta-seconds nor an HTTP-date (low).
	FindingRateLimitRetryAfterInvalid = "ratelimit.retry_after_invalid"
	// FindingRateLimitError is a burst stopped by a failed request, so
	// enforcement is unverified (medium).
	FindingRateLimitError = "ratelimit.error"
)

// rlMaxBody is how much of each burst response is read.
const rlMaxBody = 4096

// rlHintHeaders are the headers, besides Retry-After, that tell a client
// when it may retry (draft-ietf-httpapi-ratelimit-headers and its
// predecessors); X-RateLimit-* and X-Rate-Limit-* count by prefix.
var rlHintHeaders = []string{"Ratelimit", "Ratelimit-Policy", "Ratelimit-Reset", "Ratelimit-Limit", "Ratelimit-Remaining"}

// rlBurst is the shared state of one burst.
type rlBurst struct {
	mu       sync.Mutex
	max      int
	issued   int // requests started; never more than max
	stop     bool
	hist     map[int]int // status → responses
	first429 int         // request number of the earliest 429, 0 if none
	limited  http.Header // headers of that 429
	errAt    int         // request number of the earliest failed request
	err      error
	seen     map[string]bool // rate-limit header names seen on any response
}

// ProbeRateLimit sends a burst of at most max_requests requests, stopping
// at the first 429, and checks that the limit is enforced in time and that
// the 429 tells the client when to retry.
func ProbeRateLimit(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res := startResult(m, env)
	add := func(id string, sev event.Severity, title, evidence, remediation string) {
		res.Findings = append(res.Findings, newFinding(m.Name, res.Target, id, sev, m.Name+": "+title, evidence, remediation))
	}
	cfg := m.RateLimit
	var u *url.URL
	if cfg != nil {
		u, _ = url.Parse(cfg.URL)
	}
	switch {
	case u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return misconfiguredResult(res, m, env, "invalid or missing url: want an absolute http or https URL")
	case cfg.MaxRequests < 1 || cfg.MaxRequests > config.MaxRateLimitRequests:
		return misconfiguredResult(res, m, env, fmt.Sprintf("max_requests must be between 1 and %d", config.MaxRateLimitRequests))
	}
	res.Target = u.Redacted()
	method := cfg.Method
	if method == "" {
		method = http.MethodGet
	}
	within := min(max(cfg.LimitWithin(), 1), cfg.MaxRequests)
	workers := min(max(cfg.Concurrency, 1), config.MaxRateLimitConcurrency, cfg.MaxRequests)
	header := http.Header{}
	for k, v := range cfg.Headers {
		header.Set(k, v.Reveal())
	}
	var body []byte
	if b := cfg.Body.Reveal(); b != "" {
		body = []byte(b)
	}

	b := &rlBurst{max: cfg.MaxRequests, hist: map[int]int{}, seen: map[string]bool{}}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				n, ok := b.next(ctx)
				if !ok {
					return
				}
				resp, err := fetch(ctx, env, fetchRequest{Method: method, URL: cfg.URL, Header: header.Clone(),
					Body: body, MaxBody: rlMaxBody, NoRedirects: true})
				b.record(ctx, n, resp, err)
			}
		})
	}
	wg.Wait()

	responses := 0
	for _, c := range b.hist {
		responses += c
	}
	hist := rlHistogram(b.hist)
	res.Attempts = b.issued
	res.Details["method"] = method
	res.Details["requests_sent"] = strconv.Itoa(b.issued)
	res.Details["responses"] = strconv.Itoa(responses)
	res.Details["max_requests"] = strconv.Itoa(cfg.MaxRequests)
	res.Details["expect_limit_within"] = strconv.Itoa(within)
	res.Details["concurrency"] = strconv.Itoa(workers)
	res.Details["status_histogram"] = hist
	if b.first429 > 0 {
		res.Details["first_429_at"] = strconv.Itoa(b.first429)
	}
	if len(b.seen) > 0 {
		res.Details["rate_limit_headers_seen"] = strings.Join(slices.Sorted(maps.Keys(b.seen)), ", ")
	}
	burst := fmt.Sprintf("%s %s, concurrency %d", method, res.Target, workers)

	switch {
	case b.first429 > within:
		add(FindingRateLimitNotEnforced, event.SeverityHigh,
			fmt.Sprintf("rate limit on %s kicks in late: first 429 at request #%d (want within %d)", res.Target, b.first429, within),
			fmt.Sprintf("%s: first 429 at request #%d of %d sent, want within %d; statuses %s", burst, b.first429, b.issued, within, hist),
			rlRemediation)
	case b.first429 == 0 && responses >= within:
		add(FindingRateLimitNotEnforced, event.SeverityHigh,
			fmt.Sprintf("no rate limit on %s: %d requests without a 429", res.Target, responses),
			fmt.Sprintf("%s: %d requests sent, no 429 within %d; statuses %s%s", burst, b.issued, within, hist, rl503Note(b.hist)),
			rlRemediation)
	case b.first429 == 0 && b.err != nil:
		msg := errorText(b.err)
		res.Details["error"] = msg
		add(FindingRateLimitError, event.SeverityMedium,
			fmt.Sprintf("burst to %s stopped: request #%d failed: %s", res.Target, b.errAt, msg),
			fmt.Sprintf("%s: request #%d failed (%s) after %d responses without a 429; statuses %s", burst, b.errAt, msg, responses, hist),
			"The burst could not finish, so enforcement is unverified. If the limiter drops or resets connections "+
				"instead of answering 429, clients cannot tell a limit from an outage: answer 429 with Retry-After.")
	case b.first429 == 0:
		f := webStopped(m.Name, res.Target, ctx.Err(), fmt.Sprintf("after %d of %d requests, before a 429", responses, cfg.MaxRequests))
		res.Details["error"] = f.Evidence
		res.Findings = append(res.Findings, f)
	}
	if b.first429 > 0 {
		rlJudgeHints(b.limited, burst, b.first429, res.Details, add)
	}
	logger.Debug("ratelimit burst done", "requests", b.issued, "first_429", b.first429, "statuses", hist)
	return res.finish(env)
}

// rlRemediation is the remediation of a missing or late rate limit.
const rlRemediation = "Enforce a rate limit on this endpoint (per client IP and per account for login, sign-up, " +
	"password reset and expensive API calls) that answers 429 Too Many Requests with Retry-After, at the edge " +
	"(reverse proxy, WAF, API gateway) or in the application. Without one it is open to credential stuffing, " +
	"enumeration and resource exhaustion."

// next hands out the number of the next request, or false when the burst
// is over: max reached, a 429 or a failure seen, or ctx done.
func (b *rlBurst) next(ctx context.Context) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop || b.issued >= b.max || ctx.Err() != nil {
		return 0, false
	}
	b.issued++
	return b.issued, true
}

// record notes the outcome of request n.
func (b *rlBurst) record(ctx context.Context, n int, resp *fetchResponse, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.stop = true
		if ctx.Err() == nil && (b.errAt == 0 || n < b.errAt) {
			b.errAt, b.err = n, err
		}
		return
	}
	b.hist[resp.Status]++
	for name := range resp.Header {
		if rlIsHintHeader(name) || name == "Retry-After" {
			b.seen[name] = true
		}
	}
	if resp.Status == http.StatusTooManyRequests {
		b.stop = true
		if b.first429 == 0 || n < b.first429 {
			b.first429, b.limited = n, resp.Header
		}
	}
}

// rlJudgeHints checks that a 429 tells the client when to retry.
func rlJudgeHints(h http.Header, burst string, at int, details map[string]string, add func(id string, sev event.Severity, title, evidence, remediation string)) {
	var hints []string
	for name := range h {
		if rlIsHintHeader(name) {
			hints = append(hints, name)
		}
	}
	slices.Sort(hints)
	ra, hasRA := h["Retry-After"]
	switch {
	case hasRA && !rlValidRetryAfter(ra[0]):
		v := webClip(ra[0], 64)
		details["retry_after"] = v
		add(FindingRateLimitRetryAfterInvalid, event.SeverityLow,
			fmt.Sprintf("429 with an invalid Retry-After %s", webQuote(ra[0])),
			fmt.Sprintf("%s: the 429 at request #%d has Retry-After %s, neither delta-seconds nor an HTTP-date", burst, at, webQuote(ra[0])),
			"Send Retry-After as a number of seconds (Retry-After: 30) or an HTTP-date (RFC 9110 §10.2.3); "+
				"clients ignore any other form and retry at once.")
	case hasRA:
		details["retry_after"] = webClip(ra[0], 64)
	case len(hints) == 0:
		add(FindingRateLimitNoRetryHint, event.SeverityLow, "429 without Retry-After or RateLimit headers",
			fmt.Sprintf("%s: the 429 at request #%d has no Retry-After, RateLimit, RateLimit-Policy, RateLimit-Reset or X-RateLimit-* header", burst, at),
			"Add Retry-After (seconds) to 429 responses, and optionally RateLimit/RateLimit-Policy, so that "+
				"well-behaved clients back off instead of retrying in a loop.")
	}
}

// rlIsHintHeader reports whether a canonical header name is a rate-limit
// header other than Retry-After.
func rlIsHintHeader(name string) bool {
	return slices.Contains(rlHintHeaders, name) ||
		strings.HasPrefix(name, "X-Ratelimit-") || strings.HasPrefix(name, "X-Rate-Limit-")
}

// rlValidRetryAfter reports whether v is a Retry-After value: delta-seconds
// (one or more digits) or an HTTP-date.
func rlValidRetryAfter(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	if strings.Trim(v, "0123456789") == "" {
		return true
	}
	_, err := http.ParseTime(v)
	return err == nil
}

// rlHistogram renders status counts as "200×37 429×1", by status.
func rlHistogram(hist map[int]int) string {
	if len(hist) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(hist))
	for _, s := range slices.Sorted(maps.Keys(hist)) {
		parts = append(parts, fmt.Sprintf("%d×%d", s, hist[s]))
	}
	return strings.Join(parts, " ")
}

// rl503Note explains 503s in a burst without a 429: nginx's limit_req
// answers 503 unless told otherwise.
func rl503Note(hist map[int]int) string {
	if hist[http.StatusServiceUnavailable] == 0 {
		return ""
	}
	return " (the 503s may be a limiter answering 503 instead of 429, as nginx limit_req does unless limit_req_status 429 is set)"
}
