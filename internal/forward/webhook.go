package forward

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/secopsd/secopsd/internal/store"
)

// Headers of a webhook request.
const (
	// NDJSONContentType is the Content-Type of a batch: one JSON event
	// per line.
	NDJSONContentType = "application/x-ndjson"
	// SignatureHeader carries the batch's signature when a signing
	// secret is configured: "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>" keyed with the secret>" (see VerifySignature).
	SignatureHeader = "X-Secopsd-Signature"
	// IdempotencyHeader carries a digest of the batch's event ids: a batch
	// sent again after a failure carries the same key, so a receiver may
	// drop the repeat.
	IdempotencyHeader = "Idempotency-Key"
)

// DefaultWebhookTimeout bounds one webhook request when
// WebhookOptions.Timeout is 0.
const DefaultWebhookTimeout = 10 * time.Second

// maxErrorBody is how much of a refusing answer's body an error quotes.
const maxErrorBody = 200

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	// URL is the absolute http or https URL batches are POSTed to. It is
	// never shown whole: errors name only its scheme and host.
	URL string
	// Headers are added to every request; their values are treated as
	// secrets.
	Headers map[string]string
	// SigningSecret, when not empty, signs every request (SignatureHeader).
	SigningSecret string
	// Timeout bounds one request; 0 means DefaultWebhookTimeout.
	Timeout time.Duration
	// RootCAs are the CAs trusted for an https URL; nil means the
	// system's.
	RootCAs *x509.CertPool
	// UserAgent is sent as User-Agent; empty means "secopsd".
	UserAgent string
	// Client replaces the HTTP client built from Timeout and RootCAs (for
	// tests against an httptest TLS server). Redirects are never followed
	// either way.
	Client *http.Client
	// Now tells the time of signatures and of Retry-After dates; nil
	// means time.Now.
	Now func() time.Time
}

// Webhook is an Output that POSTs each batch as NDJSON: the JSON form of
// each stored event (store.ReceivedEvent) on its own line. A 2xx answer
// accepts the batch; 408, 429 and 5xx answers and network errors are
// retried (Retry-After is honoured); any other answer, redirects
// included, is a permanent refusal.
type Webhook struct {
	url       *url.URL
	display   string
	headers   http.Header
	secret    []byte
	client    *http.Client
	userAgent string
	now       func() time.Time
	// scrub removes every configured secret from messages, in case a
	// receiver or an error echoes one.
	scrub *strings.Replacer
}

var _ Output = (*Webhook)(nil)

// NewWebhook checks opts and returns a webhook output.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(opts.URL)
	switch {
	case err != nil:
		// The URL is not quoted: it may hold a token.
		return nil, errors.New("webhook: url is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("webhook: url must start with http:// or https://")
	case u.Hostname() == "":
		return nil, errors.New("webhook: url has no host")
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultWebhookTimeout
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("webhook: timeout %s is negative", opts.Timeout)
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "secopsd"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &Webhook{
		url:       u,
		display:   u.Scheme + "://" + u.Host,
		headers:   http.Header{},
		secret:    []byte(opts.SigningSecret),
		userAgent: opts.UserAgent,
		now:       opts.Now,
	}
	var secrets []string
	addSecret := func(s string) {
		if len(s) >= 4 { // shorter values would mangle ordinary text
			secrets = append(secrets, s, "<redacted>")
		}
	}
	for name, value := range opts.Headers {
		if !validHeaderName(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("webhook: header %q has an invalid name or value", name)
		}
		w.headers.Set(name, value)
		addSecret(value)
	}
	addSecret(opts.SigningSecret)
	addSecret(opts.URL)
	if u.User != nil {
		addSecret(u.User.String())
	}
	if u.RawQuery != "" {
		addSecret(u.RawQuery)
	}
	if u.Path != "" && u.Path != "/" {
		addSecret(u.Path)
	}
	w.scrub = strings.NewReplacer(secrets...)

	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if opts.Client != nil {
		c := *opts.Client
		c.CheckRedirect = noRedirect
		if c.Timeout == 0 {
			c.Timeout = opts.Timeout
		}
		w.client = &c
	} else {
		w.client = &http.Client{
			Timeout:       opts.Timeout,
			CheckRedirect: noRedirect,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
				TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs},
				TLSHandshakeTimeout:   opts.Timeout,
				ResponseHeaderTimeout: opts.Timeout,
				ForceAttemptHTTP2:     true,
				MaxIdleConns:          4,
				MaxIdleConnsPerHost:   2,
				IdleConnTimeout:       90 * time.Second,
			},
		}
	}
	return w, nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Send POSTs batch as one NDJSON request and classifies the answer.
func (w *Webhook) Send(ctx context.Context, batch []store.ReceivedEvent) error {
	body, err := EncodeNDJSON(batch)
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("webhook %s: %w", w.display, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("webhook %s: build request: %s", w.display, w.scrub.Replace(err.Error()))}
	}
	for name, values := range w.headers {
		req.Header[name] = values
	}
	req.Header.Set("Content-Type", NDJSONContentType)
	req.Header.Set("User-Agent", w.userAgent)
	req.Header.Set(IdempotencyHeader, BatchKey(batch))
	if len(w.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.secret, w.now(), body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &DeliveryError{Err: &scrubbedError{
			msg:   fmt.Sprintf("webhook %s: %s", w.display, w.scrub.Replace(err.Error())),
			cause: err,
		}}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4*maxErrorBody))
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	msg := fmt.Sprintf("webhook %s answered %d %s", w.display, code, http.StatusText(code))
	if snippet := w.snippet(head); snippet != "" {
		msg += ": " + snippet
	}
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &DeliveryError{Err: errors.New(msg), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), w.now())}
	case code >= 300 && code <= 399:
		return &DeliveryError{Permanent: true, Err: errors.New(msg + " (redirects are not followed: configure the final URL)")}
	default:
		return &DeliveryError{Permanent: true, Err: errors.New(msg)}
	}
}

// snippet returns the start of a refusing answer's body on one line,
// without control characters or configured secrets.
func (w *Webhook) snippet(body []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(body), " "))
	s = strings.Join(strings.Fields(w.scrub.Replace(s)), " ")
	if r := []rune(s); len(r) > maxErrorBody {
		s = string(r[:maxErrorBody]) + "…"
	}
	return s
}

// String names the webhook by the scheme and host of its URL only, so
// that printing it never shows a credential.
func (w *Webhook) String() string { return "webhook " + w.display }

// GoString is String, for %#v.
func (w *Webhook) GoString() string { return w.String() }

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// scrubbedError is an error whose message had secrets removed; the cause
// stays available to errors.Is.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// retryAfter parses a Retry-After value, seconds or an HTTP date, into a
// wait from now; 0 when absent, malformed or past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// EncodeNDJSON encodes batch as NDJSON: each event's JSON form followed by
// a newline.
func EncodeNDJSON(batch []store.ReceivedEvent) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range batch {
		// Encode appends the newline.
		if err := enc.Encode(&batch[i]); err != nil {
			return nil, fmt.Errorf("encode event %q: %w", batch[i].ID, err)
		}
	}
	return buf.Bytes(), nil
}

// BatchKey returns the idempotency key of a batch: a digest of its event
// ids, in order.
func BatchKey(batch []store.ReceivedEvent) string {
	h := sha256.New()
	for i := range batch {
		fmt.Fprintf(h, "%d:%s|", len(batch[i].ID), batch[i].ID)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Sign returns the SignatureHeader value for body sent at now:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret []byte, now time.Time, body []byte) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signature(secret, ts, body))
}

func signature(secret []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Errors of VerifySignature.
var (
	// ErrSignatureMalformed is a signature header that does not parse.
	ErrSignatureMalformed = errors.New("malformed signature header")
	// ErrSignatureExpired is a signature whose timestamp is further from
	// now than the tolerance.
	ErrSignatureExpired = errors.New("signature timestamp outside the tolerance")
	// ErrSignatureMismatch is a signature that does not match the body.
	ErrSignatureMismatch = errors.New("signature does not match")
)

// VerifySignature checks a SignatureHeader value against body the way a
// receiver should: the timestamp within tolerance of now (replays of old
// requests are refused) and one of the v1 signatures equal, in constant
// time, to HMAC-SHA256(secret, "<t>.<body>").
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var (
		ts   string
		sigs [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrSignatureMalformed
			}
			sigs = append(sigs, b)
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrSignatureMalformed
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	want := signature(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
