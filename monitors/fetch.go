package monitors

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultMaxBody is how much of a response body a probe reads at most.
const DefaultMaxBody = 1 << 20

// DefaultPerHost is how many requests secopsd has in flight to one host at
// once when HostLimiter is not configured otherwise.
const DefaultPerHost = 4

// HostLimiter bounds the requests in flight to each host (host:port), so
// that many monitors of one target never hammer it. The zero value is not
// usable; create it with NewHostLimiter. It is safe for concurrent use.
type HostLimiter struct {
	perHost int
	mu      sync.Mutex
	slots   map[string]*hostSlots
}

type hostSlots struct {
	ch    chan struct{}
	users int // goroutines holding or waiting for a slot
}

// NewHostLimiter returns a limiter allowing perHost requests per host at
// once (DefaultPerHost if perHost < 1).
func NewHostLimiter(perHost int) *HostLimiter {
	if perHost < 1 {
		perHost = DefaultPerHost
	}
	return &HostLimiter{perHost: perHost, slots: map[string]*hostSlots{}}
}

// Acquire waits for a slot for host; the returned function releases it.
func (l *HostLimiter) Acquire(ctx context.Context, host string) (release func(), err error) {
	host = strings.ToLower(host)
	l.mu.Lock()
	s := l.slots[host]
	if s == nil {
		s = &hostSlots{ch: make(chan struct{}, l.perHost)}
		l.slots[host] = s
	}
	s.users++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		s.users--
		if s.users == 0 {
			delete(l.slots, host) // keep the map as small as the hosts in use
		}
		l.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-s.ch; done() }) }, nil
	case <-ctx.Done():
		done()
		return nil, fmt.Errorf("wait for a request slot to %s: %w", host, ctx.Err())
	}
}

// limitedTransport holds a HostLimiter slot from the start of a request
// until its response body is closed.
type limitedTransport struct {
	next  http.RoundTripper
	hosts *HostLimiter
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	release, err := t.hosts.Acquire(req.Context(), req.URL.Host)
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// CloseIdleConnections passes through to the wrapped transport.
func (t *limitedTransport) CloseIdleConnections() { closeIdle(t.next) }

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// fetchRequest is one HTTP request made by a probe.
type fetchRequest struct {
	Method string // default GET
	URL    string
	Header http.Header
	Body   []byte
	// MaxBody caps how much of the body is read (DefaultMaxBody if 0).
	MaxBody int64
	// NoRedirects returns the first response even if it is a redirect;
	// otherwise same-host redirects are followed (up to maxRedirects) and a
	// redirect to another host is never followed but reported.
	NoRedirects bool
}

// fetchResponse is what a probe learns from one request.
type fetchResponse struct {
	URL       *url.URL // the final URL, after same-host redirects
	Status    int
	Header    http.Header
	Body      []byte
	Truncated bool // the body was longer than MaxBody
	Latency   time.Duration
	TLS       *tls.ConnectionState
	// Redirects lists the same-host redirects followed, in order.
	Redirects []string
	// OffHostRedirect is the Location of a redirect to another host that
	// was not followed ("" if none); the response is that redirect.
	OffHostRedirect string
}

// fetch performs one request (no retries) with the probe environment's
// transport, the per-host limit, the User-Agent and a capped body read.
func fetch(ctx context.Context, env Env, fr fetchRequest) (*fetchResponse, error) {
	method := fr.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if fr.Body != nil {
		body = bytes.NewReader(fr.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, fr.URL, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range fr.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", env.userAgent())
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	rt := transport(env)
	defer closeIdle(rt)
	out := &fetchResponse{}
	client := &http.Client{
		Transport: rt,
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			if fr.NoRedirects {
				return http.ErrUseLastResponse
			}
			if !strings.EqualFold(next.URL.Host, via[0].URL.Host) {
				out.OffHostRedirect = next.URL.String()
				return http.ErrUseLastResponse
			}
			if len(via) > maxRedirects {
				return errTooManyRedirects
			}
			out.Redirects = append(out.Redirects, next.URL.String())
			return nil
		},
	}
	start := env.now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := fr.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	b, truncated, err := readCapped(resp.Body, limit)
	out.Latency = env.now().Sub(start)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	out.URL, out.Status, out.Header, out.Body, out.Truncated, out.TLS = resp.Request.URL, resp.StatusCode, resp.Header, b, truncated, resp.TLS
	return out, nil
}
