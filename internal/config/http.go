package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Defaults and limits of the http monitor type.
const (
	// DefaultHTTPMethod is the request method of an http monitor.
	DefaultHTTPMethod = "GET"
	// DefaultHTTPStatus is the status code an http monitor expects.
	DefaultHTTPStatus = 200
	// MaxHTTPRetries bounds HTTPMonitor.Retries.
	MaxHTTPRetries = 10
)

// httpMethods are the request methods an http monitor may use.
var httpMethods = []string{"GET", "HEAD", "POST"}

// defaultHTTP returns the defaults of an http monitor's block: GET,
// expect status 200, no latency bound, no retries.
func defaultHTTP() *HTTPMonitor {
	return &HTTPMonitor{
		Method: DefaultHTTPMethod,
		Expect: HTTPExpect{Status: DefaultHTTPStatus},
	}
}

// validate checks an http monitor's block; path is the monitor's path, as
// the block's keys sit beside the common ones.
func (h *HTTPMonitor) validate(c *checker, path string) {
	up := joinPath(path, "url")
	if h.URL == "" {
		c.errorf(up, ErrMissing, "url is required for an http monitor")
	} else if msg := checkHTTPURL(h.URL); msg != "" {
		c.errorf(up, ErrInvalid, "%s", msg)
	}
	if !slices.Contains(httpMethods, h.Method) {
		c.errorf(joinPath(path, "method"), ErrInvalid, "unsupported method %s (use %s)", quote(h.Method), strings.Join(httpMethods, ", "))
	}
	for name, value := range h.Headers {
		hp := mapKeyPath(joinPath(path, "headers"), name)
		if !isToken(name) {
			c.errorf(hp, ErrInvalid, "invalid header name %s", quote(name))
		}
		if strings.ContainsAny(value.Reveal(), "\r\n\x00") {
			// Never print the value: it may be a credential.
			c.errorf(hp, ErrInvalid, "header value contains a line break or NUL")
		}
	}
	if s := h.Expect.Status; s < 100 || s > 599 {
		c.errorf(joinPath(path, "expect.status"), ErrInvalid, "status must be between 100 and 599, got %d", s)
	}
	if h.Expect.MaxLatency < 0 {
		c.errorf(joinPath(path, "expect.max_latency"), ErrInvalid, "max_latency must not be negative")
	}
	if h.Retries < 0 || h.Retries > MaxHTTPRetries {
		c.errorf(joinPath(path, "retries"), ErrInvalid, "retries must be between 0 and %d, got %d", MaxHTTPRetries, h.Retries)
	}
}

// checkHTTPURL returns why u is not an absolute http or https URL with a
// host, or "". It prints u only with any password removed.
func checkHTTPURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "url is not a valid URL"
	}
	switch {
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Sprintf("url %s must start with http:// or https://", quote(p.Redacted()))
	case p.Host == "" || p.Hostname() == "":
		return fmt.Sprintf("url %s has no host", quote(p.Redacted()))
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110), as a header name
// must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
