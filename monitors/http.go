package monitors

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// FindingHTTPUnhealthy is the one finding id of a failed http monitor, so
// that every kind of unhealthiness of one monitor dedupes to one incident.
const FindingHTTPUnhealthy = "http.unhealthy"

const (
	// maxBodyBytes caps how much of a response body is read.
	maxBodyBytes = 1 << 20
	// maxRedirects is how many same-host redirects are followed.
	maxRedirects = 5

	defaultRetryWaitMin = 200 * time.Millisecond
	defaultRetryWaitMax = 2 * time.Second
)

// errUnhealthy marks an attempt whose response was received but did not
// meet the expectations; the attempt's problems say why.
var errUnhealthy = errors.New("unhealthy response")

// redirectError stops the client at a redirect to another host.
type redirectError struct{ host string }

func (e *redirectError) Error() string { return "redirect to other host " + e.host }

// errTooManyRedirects stops the client after maxRedirects redirects.
var errTooManyRedirects = fmt.Errorf("stopped after %d redirects", maxRedirects)

// httpAttempt is what one request of a run saw.
type httpAttempt struct {
	start        time.Time
	latency      time.Duration
	status       int
	bodyBytes    int
	truncated    bool
	redirects    int
	redirectHost string
	// err is a transport, TLS, redirect or body-read error.
	err error
	// problems are the unmet expectations of a received response.
	problems []string
	// title is the finding title for this attempt's first problem.
	title string
	// jsonFailed counts the expect.json conditions the response failed.
	jsonFailed int
}

func (a *httpAttempt) healthy() bool { return a.err == nil && len(a.problems) == 0 }

// describe returns the attempt's problems as one line.
func (a *httpAttempt) describe() string {
	var parts []string
	if a.err != nil {
		parts = append(parts, errorText(a.err))
	}
	parts = append(parts, a.problems...)
	return strings.Join(parts, "; ")
}

// httpRun holds the state of one run of an http monitor.
type httpRun struct {
	m        config.Monitor
	cfg      *config.HTTPMonitor
	env      Env
	target   string
	want     int
	attempts []*httpAttempt
}

func (p *httpRun) current() *httpAttempt {
	if len(p.attempts) == 0 {
		// Only reachable if the library calls back before its request hook.
		p.attempts = append(p.attempts, &httpAttempt{start: p.env.now()})
	}
	return p.attempts[len(p.attempts)-1]
}

// ProbeHTTP checks that an HTTP endpoint answers with the expected status,
// within the latency bound and with the expected body text, retrying failed
// attempts up to the configured number of times within ctx's deadline.
func ProbeHTTP(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) Result {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res := startResult(m, env)
	start := res.Start
	// unhealthy finishes the run as failed with finding FindingHTTPUnhealthy.
	unhealthy := func(title, evidence, remediation string) Result {
		res.Success = false
		res.Duration = env.now().Sub(start)
		res.Findings = []event.Finding{newFinding(m.Name, res.Target, FindingHTTPUnhealthy, event.SeverityHigh, title, evidence, remediation)}
		return res
	}

	cfg := m.HTTP
	if cfg == nil || cfg.URL == "" {
		return configFailure(res, m, env, "http monitor has no url", "missing http.url",
			"Set url in the monitor's configuration.")
	}
	u, err := url.Parse(cfg.URL)
	if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		err = errors.New("want an absolute http or https URL")
	}
	if err != nil {
		// url.Parse errors quote the input, which may carry credentials.
		return configFailure(res, m, env, "http monitor has an invalid url",
			"invalid url: want an absolute http or https URL", "Fix url in the monitor's configuration.")
	}
	res.Target = u.Redacted()
	method := cfg.Method
	if method == "" {
		method = http.MethodGet
	}
	retries := max(cfg.Retries, 0)

	p := &httpRun{m: m, cfg: cfg, env: env, target: res.Target, want: cfg.Expect.Status}
	if p.want == 0 {
		p.want = http.StatusOK
	}

	rt := transport(env)
	defer closeIdle(rt)
	client := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport:     rt,
			CheckRedirect: p.checkRedirect,
		},
		Logger:       retryLogger{logger},
		RetryWaitMin: orDefault(env.RetryWaitMin, defaultRetryWaitMin),
		RetryWaitMax: orDefault(env.RetryWaitMax, defaultRetryWaitMax),
		RetryMax:     retries,
		RequestLogHook: func(_ retryablehttp.Logger, _ *http.Request, _ int) {
			p.attempts = append(p.attempts, &httpAttempt{start: env.now()})
		},
		CheckRetry: p.checkRetry,
		Backoff: func(lo, hi time.Duration, n int, _ *http.Response) time.Duration {
			// Ignore Retry-After: the run's deadline, not the target, bounds us.
			return retryablehttp.DefaultBackoff(lo, hi, n, nil)
		},
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) {
			if resp != nil {
				_ = resp.Body.Close()
			}
			return nil, err
		},
	}

	req, err := retryablehttp.NewRequestWithContext(ctx, method, cfg.URL, nil)
	if err != nil {
		return configFailure(res, m, env, "cannot build the http request", "build request: "+errorText(err),
			"Fix method and url in the monitor's configuration.")
	}
	for k, v := range cfg.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v.Reveal()
			continue
		}
		req.Header.Set(k, v.Reveal())
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", env.userAgent())
	}
	req.SetResponseHandler(p.handleResponse)

	resp, doErr := client.Do(req)
	if resp != nil {
		_ = resp.Body.Close()
	}
	res.Duration = env.now().Sub(start)
	res.Attempts = len(p.attempts)
	res.Details["attempts"] = strconv.Itoa(res.Attempts)

	if len(p.attempts) == 0 {
		msg := errorText(doErr)
		res.Details["error"] = msg
		return unhealthy(fmt.Sprintf("%s: %s %s failed: %s", m.Name, method, res.Target, msg),
			"attempts=0 error="+msg, p.remediation(nil))
	}

	final := p.attempts[len(p.attempts)-1]
	p.recordDetails(res.Details, final)
	if failed := len(p.attempts) - 1; failed > 0 || !final.healthy() {
		// Retries must not hide failure: say what the earlier attempts saw.
		if prev := p.lastFailure(final); prev != nil {
			res.Details["previous_error"] = prev.describe()
		}
	}

	if final.healthy() && doErr == nil {
		res.Success = true
		if n := len(p.attempts) - 1; n > 0 {
			res.Details["failed_attempts"] = strconv.Itoa(n)
			logger.Info("http check passed after retries", "attempts", res.Attempts,
				"previous_error", res.Details["previous_error"])
		}
		return res
	}

	why := final.describe()
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(final.err, ctxErr) {
		// The run's deadline stopped the retries.
		if why != "" {
			why += "; "
		}
		why += "gave up: " + ctxErr.Error()
	}
	if why == "" {
		why = errorText(doErr)
	}
	res.Details["error"] = why
	res.Details["failed_attempts"] = strconv.Itoa(len(p.attempts))
	evidence := p.evidence(final, res.Attempts, why)
	title := final.title
	if title == "" {
		title = fmt.Sprintf("%s: %s %s failed: %s", m.Name, method, res.Target, why)
	}
	logger.Debug("http check failed", "attempts", res.Attempts, "error", why)
	return unhealthy(title, evidence, p.remediation(final))
}

// checkRedirect follows same-host redirects, up to maxRedirects, and stops
// at a redirect to any other host.
func (p *httpRun) checkRedirect(req *http.Request, via []*http.Request) error {
	a := p.current()
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		return &redirectError{host: req.URL.Host}
	}
	if len(via) > maxRedirects {
		return errTooManyRedirects
	}
	a.redirects = len(via)
	return nil
}

// checkRetry records a failed attempt and decides whether to retry it:
// transient failures and unhealthy answers are retried, a run whose context
// is done, a TLS verification failure or a refused redirect are not.
func (p *httpRun) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	a := p.current()
	if err != nil && !errors.Is(err, errUnhealthy) && a.err == nil {
		a.err = err
		a.latency = p.env.now().Sub(a.start)
		if resp != nil {
			a.status = resp.StatusCode
		}
		var re *redirectError
		if errors.As(err, &re) {
			a.redirectHost = re.host
			a.title = fmt.Sprintf("%s: redirect to other host %s from %s", p.m.Name, re.host, p.target)
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	if err == nil {
		return false, nil
	}
	if permanent(err) {
		return false, nil
	}
	return true, nil
}

// permanent reports errors that a retry within the same run cannot fix.
func permanent(err error) bool {
	var (
		re   *redirectError
		cve  *tls.CertificateVerificationError
		uae  x509.UnknownAuthorityError
		he   x509.HostnameError
		cie  x509.CertificateInvalidError
		rhe  tls.RecordHeaderError
		perr *url.Error
	)
	switch {
	case errors.As(err, &re), errors.Is(err, errTooManyRedirects),
		errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie),
		errors.As(err, &rhe):
		return true
	case errors.As(err, &perr) && strings.Contains(perr.Err.Error(), "unsupported protocol scheme"):
		return true
	}
	return false
}

// handleResponse reads the body (capped) and checks a received response
// against the expectations, recording the attempt's problems.
func (p *httpRun) handleResponse(resp *http.Response) error {
	a := p.current()
	body, truncated, readErr := readCapped(resp.Body, maxBodyBytes)
	_ = resp.Body.Close()
	// The library may drain the body before a retry; give it an empty one.
	resp.Body = http.NoBody
	a.latency = p.env.now().Sub(a.start)
	a.status = resp.StatusCode
	a.bodyBytes = len(body)
	a.truncated = truncated
	if readErr != nil {
		a.err = fmt.Errorf("read body: %w", readErr)
		a.title = fmt.Sprintf("%s: reading the response from %s failed: %s", p.m.Name, p.target, errorText(readErr))
		return a.err
	}

	exp := p.cfg.Expect
	if resp.StatusCode != p.want {
		a.problems = append(a.problems, fmt.Sprintf("HTTP %d (want %d)", resp.StatusCode, p.want))
		a.title = fmt.Sprintf("%s: HTTP %d from %s (want %d)", p.m.Name, resp.StatusCode, p.target, p.want)
	}
	if maxLat := exp.MaxLatency.Std(); maxLat > 0 && a.latency > maxLat {
		a.problems = append(a.problems, fmt.Sprintf("latency %s over %s", a.latency.Round(time.Millisecond), maxLat))
		if a.title == "" {
			a.title = fmt.Sprintf("%s: slow response from %s (%s, max %s)", p.m.Name, p.target, a.latency.Round(time.Millisecond), maxLat)
		}
	}
	if exp.BodyContains != "" && !bytes.Contains(body, []byte(exp.BodyContains)) {
		msg := fmt.Sprintf("body lacks %q", exp.BodyContains)
		if truncated {
			msg += fmt.Sprintf(" (in the first %d bytes)", maxBodyBytes)
		}
		a.problems = append(a.problems, msg)
		if a.title == "" {
			a.title = fmt.Sprintf("%s: response from %s lacks %q", p.m.Name, p.target, exp.BodyContains)
		}
	}
	if len(exp.JSON) > 0 {
		jp := checkJSON(body, truncated, exp.JSON)
		a.jsonFailed = len(jp)
		if len(jp) > 0 && a.title == "" {
			a.title = fmt.Sprintf("%s: response from %s fails %s", p.m.Name, p.target, jp[0])
		}
		a.problems = append(a.problems, jp...)
	}
	if len(a.problems) > 0 {
		return errUnhealthy
	}
	return nil
}

// maxJSONShown bounds how much of a JSON value a problem quotes.
const maxJSONShown = 80

// checkJSON evaluates expect.json conditions on a response body and
// returns one problem per failed condition, or a single one if the body is
// not JSON.
func checkJSON(body []byte, truncated bool, conds []config.HTTPJSONCondition) []string {
	doc, err := decodeJSONBody(body)
	if err != nil {
		msg := "body is not JSON: " + err.Error()
		if truncated {
			msg += fmt.Sprintf(" (only the first %d bytes are read)", maxBodyBytes)
		}
		return []string{msg}
	}
	var problems []string
	for _, c := range conds {
		if msg := evalJSONCondition(doc, c); msg != "" {
			problems = append(problems, msg)
		}
	}
	return problems
}

// decodeJSONBody parses body as exactly one JSON value, keeping numbers as
// written (json.Number).
func decodeJSONBody(body []byte) (any, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a UTF-8 BOM
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("the body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the first JSON value")
	}
	return v, nil
}

// evalJSONCondition returns why doc fails c, or "" if it holds.
func evalJSONCondition(doc any, c config.HTTPJSONCondition) string {
	path, err := config.ParseJSONPath(c.Path)
	if err != nil {
		return fmt.Sprintf("json path %s is invalid: %v", webQuote(c.Path), err)
	}
	v, found := lookupJSON(doc, path)
	wantPresent := c.Equals != nil || (c.Exists != nil && *c.Exists)
	switch {
	case !found && wantPresent:
		if c.Equals != nil {
			return fmt.Sprintf("json %s is missing (want %s)", c.Path, webQuote(*c.Equals))
		}
		return fmt.Sprintf("json %s is missing (want it present)", c.Path)
	case found && c.Exists != nil && !*c.Exists:
		return fmt.Sprintf("json %s is present (want it absent): %s", c.Path, showJSON(v))
	case found && c.Equals != nil && !jsonEquals(v, *c.Equals):
		return fmt.Sprintf("json %s is %s (want %s)", c.Path, showJSON(v), webQuote(*c.Equals))
	}
	return ""
}

// lookupJSON follows path from v; false if a step does not resolve.
func lookupJSON(v any, path config.JSONPath) (any, bool) {
	for _, st := range path {
		if st.Index >= 0 {
			arr, ok := v.([]any)
			if !ok || st.Index >= len(arr) {
				return nil, false
			}
			v = arr[st.Index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[st.Key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// jsonText is the canonical text of a decoded JSON value: a string's own
// text, a number as written, true, false, null, or compact JSON with
// sorted keys for an object or array.
func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// jsonEquals reports whether v's canonical text is want; numbers compare
// by value when want is a JSON number too (1.0 equals 1).
func jsonEquals(v any, want string) bool {
	if n, ok := v.(json.Number); ok {
		if a, ok := jsonNumberValue(n.String()); ok {
			if b, ok := jsonNumberValue(want); ok {
				return a.Cmp(b) == 0
			}
		}
	}
	return jsonText(v) == want
}

// jsonNumberValue returns the exact value of a JSON number literal; false
// if s is not one or its exponent is too large to expand cheaply.
func jsonNumberValue(s string) (*big.Rat, bool) {
	if s == "" || len(s) > 400 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) ||
		strings.TrimSpace(s) != s || !json.Valid([]byte(s)) {
		return nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(s[i+1:]); err != nil || e > 400 || e < -400 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// showJSON renders a JSON value for a problem: strings quoted, the rest as
// canonical text, shortened.
func showJSON(v any) string {
	if s, ok := v.(string); ok {
		return webQuote(s)
	}
	return webClip(jsonText(v), maxJSONShown)
}

// webQuote quotes s, shortened to maxJSONShown runes.
func webQuote(s string) string { return strconv.Quote(webClip(s, maxJSONShown)) }

// webClip cuts s to at most n runes, marking the cut with "…".
func webClip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// lastFailure returns the last unhealthy attempt before final, if any.
func (p *httpRun) lastFailure(final *httpAttempt) *httpAttempt {
	for i := len(p.attempts) - 1; i >= 0; i-- {
		if a := p.attempts[i]; a != final && !a.healthy() {
			return a
		}
	}
	return nil
}

// recordDetails puts the non-secret facts of attempt a into d.
func (p *httpRun) recordDetails(d map[string]string, a *httpAttempt) {
	d["method"] = p.methodOr()
	d["expected_status"] = strconv.Itoa(p.want)
	if a.status != 0 {
		d["status_code"] = strconv.Itoa(a.status)
	}
	d["latency_ms"] = strconv.FormatInt(a.latency.Milliseconds(), 10)
	if a.bodyBytes > 0 || a.status != 0 {
		d["body_bytes_read"] = strconv.Itoa(a.bodyBytes)
	}
	if a.truncated {
		d["body_truncated"] = "true"
		d["body_cap_bytes"] = strconv.Itoa(maxBodyBytes)
	}
	if a.redirects > 0 {
		d["redirects"] = strconv.Itoa(a.redirects)
	}
	if a.redirectHost != "" {
		d["redirect_host"] = a.redirectHost
	}
	if n := len(p.cfg.Expect.JSON); n > 0 && a.status != 0 {
		d["json_conditions"] = strconv.Itoa(n)
		d["json_conditions_failed"] = strconv.Itoa(a.jsonFailed)
	}
	if !a.healthy() {
		d["error"] = a.describe()
	}
}

func (p *httpRun) methodOr() string {
	if p.cfg.Method == "" {
		return http.MethodGet
	}
	return p.cfg.Method
}

// evidence is the one-line summary of a failed run.
func (p *httpRun) evidence(a *httpAttempt, attempts int, why string) string {
	var b strings.Builder
	if a.status != 0 {
		fmt.Fprintf(&b, "status=%d ", a.status)
	}
	fmt.Fprintf(&b, "latency=%s attempts=%d", a.latency.Round(time.Millisecond), attempts)
	if a.truncated {
		fmt.Fprintf(&b, " body_truncated_at=%d", maxBodyBytes)
	}
	fmt.Fprintf(&b, " error=%s", why)
	return b.String()
}

// remediation suggests what to do about a failed attempt.
func (p *httpRun) remediation(a *httpAttempt) string {
	if a != nil && a.redirectHost != "" {
		return "The endpoint redirects to another host, which the monitor never follows. " +
			"If the redirect is intended, point the monitor at the final URL; otherwise " +
			"check for a hijacked or misconfigured redirect."
	}
	if a != nil && a.err != nil && permanent(a.err) {
		return "Check the endpoint's TLS certificate (chain, expiry, host name) and redirects."
	}
	return fmt.Sprintf("Check that the service behind %s is up and answers %d quickly with the "+
		"expected body: look at its logs, recent deploys and its dependencies.", p.target, p.want)
}

// readCapped reads up to limit bytes of r and reports whether there was more.
func readCapped(r io.Reader, limit int64) ([]byte, bool, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if int64(len(body)) > limit {
		return body[:limit], true, err
	}
	return body, false, err
}

// errorText renders an error without the url.Error wrapper, whose URL the
// title already shows.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return err.Error()
}

// transport returns the RoundTripper for one run, with TLS verification
// enforced even if a custom transport turned it off.
func transport(env Env) http.RoundTripper {
	rt := baseTransport(env)
	if env.Hosts != nil {
		return &limitedTransport{next: rt, hosts: env.Hosts}
	}
	return rt
}

func baseTransport(env Env) http.RoundTripper {
	if env.Transport == nil {
		return &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 0, // the run's deadline bounds it
			DisableKeepAlives:     true,
			ForceAttemptHTTP2:     true,
		}
	}
	rt := env.Transport()
	if t, ok := rt.(*http.Transport); ok && t.TLSClientConfig != nil && t.TLSClientConfig.InsecureSkipVerify {
		t = t.Clone()
		t.TLSClientConfig.InsecureSkipVerify = false
		return t
	}
	return rt
}

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// retryLogger hands go-retryablehttp's log lines to slog at debug level, so
// that the library never writes to stderr on its own.
type retryLogger struct{ l *slog.Logger }

func (r retryLogger) Error(msg string, kv ...any) { r.l.Debug("retryablehttp: "+msg, kv...) }
func (r retryLogger) Info(msg string, kv ...any)  { r.l.Debug("retryablehttp: "+msg, kv...) }
func (r retryLogger) Debug(msg string, kv ...any) { r.l.Debug("retryablehttp: "+msg, kv...) }
func (r retryLogger) Warn(msg string, kv ...any)  { r.l.Debug("retryablehttp: "+msg, kv...) }

var _ retryablehttp.LeveledLogger = retryLogger{}
