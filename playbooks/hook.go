package playbooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/secopsd/secopsd/internal/incident"
)

// runHook runs an http or build step: it resolves the URL, headers and
// signing key from the environment, renders the body, and sends the
// request with retries, signing every attempt afresh.
func (e *Executor) runHook(ctx context.Context, spec StepSpec, data TemplateData) outcome {
	var res outcome
	rawURL, fromEnv, err := expandEnv(spec.URL, e.opts.LookupEnv)
	res.secrets = append(res.secrets, fromEnv...)
	if err != nil {
		res.err = "url: " + err.Error()
		return res
	}
	if msg := urlProblem(rawURL); msg != "" {
		if len(fromEnv) > 0 {
			msg += " (after expanding the environment variables it references)"
		}
		res.err = "url: " + msg
		return res
	}
	headers := http.Header{}
	for _, name := range sortedKeys(spec.Headers) {
		v, used, err := expandEnv(spec.Headers[name], e.opts.LookupEnv)
		res.secrets = append(res.secrets, used...)
		if err != nil {
			res.err = "headers." + name + ": " + err.Error()
			return res
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			res.err = "headers." + name + ": the value from the environment is not one line"
			return res
		}
		headers.Set(name, v)
	}
	var key []byte
	if spec.Sign != nil {
		v, ok := e.opts.LookupEnv(spec.Sign.SecretEnv)
		switch {
		case !ok:
			res.err = fmt.Sprintf("sign.secret_env: environment variable %s is not set", spec.Sign.SecretEnv)
			return res
		case v == "":
			res.err = fmt.Sprintf("sign.secret_env: environment variable %s is empty", spec.Sign.SecretEnv)
			return res
		}
		res.secrets = append(res.secrets, v)
		key = []byte(v)
	}
	var body []byte
	if spec.body != nil {
		s, err := render(spec.body, data)
		if err != nil {
			res.err = "body: " + err.Error()
			return res
		}
		body = []byte(s)
	} else if spec.Method != http.MethodGet {
		body, _ = json.Marshal(data)
	}

	u, _ := url.Parse(rawURL)
	if len(fromEnv) > 0 {
		// A URL from the environment may carry a token in its path or
		// query; keep their parts out of what a careless receiver echoes.
		res.secrets = append(res.secrets, u.RawQuery, u.EscapedPath(), u.Path)
		for _, vs := range u.Query() {
			res.secrets = append(res.secrets, vs...)
		}
	}
	res.detail = map[string]any{"method": spec.Method, "host": u.Host}
	if spec.Type == incident.StepBuild {
		res.detail["build"] = true
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, spec.Method, rawURL, body)
	if err != nil {
		res.err = "build request: " + errorText(err)
		return res
	}
	req.Header = headers
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", e.opts.UserAgent)
	}
	sign := func(r *http.Request) error {
		if key != nil {
			r.Header.Set(spec.Sign.Header, Sign(key, body, e.opts.Now()))
		}
		return nil
	}
	_ = sign(req.Request)

	attempts := 0
	start := e.opts.Now()
	client := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: e.rt,
			// A hook that redirects is answered as it is: following it
			// would send the signed request somewhere unreviewed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		RetryWaitMin:   e.opts.RetryWaitMin,
		RetryWaitMax:   e.opts.RetryWaitMax,
		RetryMax:       spec.Retries,
		RequestLogHook: func(retryablehttp.Logger, *http.Request, int) { attempts++ },
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if err != nil {
				return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
			}
			if expected(spec.ExpectStatus, resp.StatusCode) {
				return false, nil
			}
			return resp.StatusCode == http.StatusTooManyRequests ||
				(resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented), nil
		},
		Backoff:      retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: sign,
	}
	resp, err := client.Do(req)
	res.detail["attempts"] = attempts
	if err != nil {
		if resp != nil {
			_ = resp.Body.Close()
		}
		if ctx.Err() != nil {
			res.err = fmt.Sprintf("%s %s: %s (%d attempts)", spec.Method, u.Host, stopped(ctx, e.opts.Now().Sub(start)), attempts)
			return res
		}
		res.err = fmt.Sprintf("%s %s: %s", spec.Method, u.Host, errorText(err))
		return res
	}
	defer resp.Body.Close()
	got, readErr := io.ReadAll(io.LimitReader(resp.Body, captureLimit))
	res.detail["status_code"] = resp.StatusCode
	res.output = string(bytes.TrimSpace(got))
	if !expected(spec.ExpectStatus, resp.StatusCode) {
		res.err = fmt.Sprintf("%s %s answered %d, want %s", spec.Method, u.Host, resp.StatusCode, describeExpected(spec.ExpectStatus))
		return res
	}
	if readErr != nil && ctx.Err() == nil {
		res.detail["read_error"] = errorText(readErr)
	}
	res.ok = true
	return res
}

// expected reports whether code is an acceptable status: one listed, or any
// 2xx when none is.
func expected(want []int, code int) bool {
	if len(want) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(want, code)
}

// describeExpected says which statuses are acceptable.
func describeExpected(want []int) string {
	if len(want) == 0 {
		return "2xx"
	}
	s := make([]string, len(want))
	for i, c := range want {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " or ")
}

// errorText describes a request error without the URL that net/http and
// go-retryablehttp put in their messages: it may carry a token.
func errorText(err error) string {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	// go-retryablehttp's "METHOD URL giving up after N attempt(s): cause".
	if i := strings.Index(msg, " giving up after "); i >= 0 {
		msg = msg[i+1:]
	}
	return msg
}
