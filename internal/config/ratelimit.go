package config

import (
	"slices"
	"strings"
)

// Defaults and limits of the ratelimit monitor type.
const (
	// DefaultRateLimitMethod is the request method of a ratelimit monitor.
	DefaultRateLimitMethod = "GET"
	// DefaultRateLimitConcurrency is how many burst requests are in flight
	// at once.
	DefaultRateLimitConcurrency = 1
	// MaxRateLimitRequests bounds RateLimitMonitor.MaxRequests.
	MaxRateLimitRequests = 1000
	// MaxRateLimitConcurrency bounds RateLimitMonitor.Concurrency.
	MaxRateLimitConcurrency = 10
)

// rateLimitMethods are the request methods a ratelimit monitor may use.
var rateLimitMethods = []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}

// RateLimitMonitor is the type-specific configuration of a ratelimit
// monitor, which sends a bounded burst of requests and expects a 429.
type RateLimitMonitor struct {
	// URL is the absolute http or https URL the burst is sent to.
	URL string `yaml:"url"`
	// Method is the request method.
	Method string `yaml:"method"`
	// Headers are sent with every request; values may be credentials.
	Headers map[string]Secret `yaml:"headers"`
	// Body is sent with every request; it may hold credentials (a login
	// form), so it is a Secret. Empty sends no body.
	Body Secret `yaml:"body"`
	// MaxRequests is the hard cap of requests per run: never more are sent.
	MaxRequests int `yaml:"max_requests"`
	// ExpectLimitWithin is how many requests may pass before a 429 is due;
	// 0 means MaxRequests.
	ExpectLimitWithin int `yaml:"expect_limit_within"`
	// Concurrency is how many requests are in flight at once.
	Concurrency int `yaml:"concurrency"`
}

// LimitWithin returns ExpectLimitWithin, or MaxRequests if it is 0.
func (b *RateLimitMonitor) LimitWithin() int {
	if b.ExpectLimitWithin > 0 {
		return b.ExpectLimitWithin
	}
	return b.MaxRequests
}

// defaultRateLimitMonitor returns the defaults of a ratelimit monitor's
// block: GET, one request at a time; max_requests must be set.
func defaultRateLimitMonitor() *RateLimitMonitor {
	return &RateLimitMonitor{Method: DefaultRateLimitMethod, Concurrency: DefaultRateLimitConcurrency}
}

// validate checks a ratelimit monitor's block; path is the monitor's path.
func (b *RateLimitMonitor) validate(c *checker, path string) {
	up := joinPath(path, "url")
	if b.URL == "" {
		c.errorf(up, ErrMissing, "url is required for a ratelimit monitor")
	} else if msg := checkHTTPURL(b.URL); msg != "" {
		c.errorf(up, ErrInvalid, "%s", msg)
	}
	if !slices.Contains(rateLimitMethods, b.Method) {
		c.errorf(joinPath(path, "method"), ErrInvalid, "unsupported method %s (use %s)", quote(b.Method), strings.Join(rateLimitMethods, ", "))
	}
	validateSecretHeaders(c, joinPath(path, "headers"), b.Headers)
	mp := joinPath(path, "max_requests")
	switch n := b.MaxRequests; {
	case n == 0:
		c.errorf(mp, ErrMissing, "max_requests is required: the most requests one run may send (1 to %d)", MaxRateLimitRequests)
	case n < 1 || n > MaxRateLimitRequests:
		c.errorf(mp, ErrInvalid, "max_requests must be between 1 and %d, got %d", MaxRateLimitRequests, n)
	}
	if n := b.ExpectLimitWithin; n < 0 || (b.MaxRequests > 0 && n > b.MaxRequests) {
		c.errorf(joinPath(path, "expect_limit_within"), ErrInvalid, "expect_limit_within must be between 1 and max_requests (%d), or 0 for max_requests; got %d", b.MaxRequests, n)
	}
	if n := b.Concurrency; n < 1 || n > MaxRateLimitConcurrency {
		c.errorf(joinPath(path, "concurrency"), ErrInvalid, "concurrency must be between 1 and %d, got %d", MaxRateLimitConcurrency, n)
	}
}
