package config

import (
	"fmt"
	"slices"
	"strings"
)

// Defaults and limits of the access monitor type.
const (
	// DefaultAccessMethod is the request method of an access endpoint that
	// sets none.
	DefaultAccessMethod = "GET"
	// MaxAccessEndpoints bounds AccessMonitor.Endpoints.
	MaxAccessEndpoints = 100
)

// DefaultAccessExpectStatus returns the statuses a protected endpoint is
// expected to answer without (enough) credentials: 401 and 403.
func DefaultAccessExpectStatus() []int { return []int{401, 403} }

// accessMethods are the request methods an access endpoint may use.
var accessMethods = []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"}

// AccessMonitor is the type-specific configuration of an access monitor,
// which checks that protected endpoints refuse requests without
// credentials, and admin endpoints refuse a low-privilege credential.
type AccessMonitor struct {
	// Endpoints are the protected endpoints to check.
	Endpoints []AccessEndpoint `yaml:"endpoints"`
	// LowPrivilegeHeaders are sent to admin endpoints to prove that an
	// authenticated user without admin rights is refused (for example a
	// viewer's Authorization header); the values are credentials.
	LowPrivilegeHeaders map[string]Secret `yaml:"low_privilege_headers"`
	// ExpectStatus are the statuses that count as refused (401, 403).
	ExpectStatus []int `yaml:"expect_status"`
	// AllowLoginRedirect accepts a redirect to a login page on the same
	// host as a refusal.
	AllowLoginRedirect bool `yaml:"allow_login_redirect"`
}

// AccessEndpoint is one protected endpoint of an access monitor.
type AccessEndpoint struct {
	// URL is the absolute http or https URL of the endpoint.
	URL string `yaml:"url"`
	// Method is the request method; empty means DefaultAccessMethod. The
	// request never has a body.
	Method string `yaml:"method"`
	// Admin also checks the endpoint with LowPrivilegeHeaders.
	Admin bool `yaml:"admin"`
}

// RequestMethod returns the endpoint's method, DefaultAccessMethod if unset.
func (e AccessEndpoint) RequestMethod() string {
	if e.Method == "" {
		return DefaultAccessMethod
	}
	return e.Method
}

// defaultAccessMonitor returns the defaults of an access monitor's block:
// expect 401 or 403, login redirects allowed.
func defaultAccessMonitor() *AccessMonitor {
	return &AccessMonitor{ExpectStatus: DefaultAccessExpectStatus(), AllowLoginRedirect: true}
}

// validate checks an access monitor's block; path is the monitor's path.
func (b *AccessMonitor) validate(c *checker, path string) {
	ep := joinPath(path, "endpoints")
	switch n := len(b.Endpoints); {
	case n == 0:
		c.errorf(ep, ErrMissing, "an access monitor needs at least one endpoint")
	case n > MaxAccessEndpoints:
		c.errorf(ep, ErrInvalid, "at most %d endpoints, got %d", MaxAccessEndpoints, n)
	}
	seen := map[string]int{}
	admins := 0
	for i, e := range b.Endpoints {
		p := fmt.Sprintf("%s[%d]", ep, i)
		if e.URL == "" {
			c.errorf(joinPath(p, "url"), ErrMissing, "url is required for an endpoint")
		} else if msg := checkHTTPURL(e.URL); msg != "" {
			c.errorf(joinPath(p, "url"), ErrInvalid, "%s", msg)
		}
		if e.Method != "" && !slices.Contains(accessMethods, e.Method) {
			c.errorf(joinPath(p, "method"), ErrInvalid, "unsupported method %s (use %s)", quote(e.Method), strings.Join(accessMethods, ", "))
		}
		key := e.RequestMethod() + " " + e.URL
		if first, dup := seen[key]; dup && e.URL != "" {
			c.errorf(p, ErrInvalid, "endpoint repeats %s[%d] (same method and url)", ep, first)
		} else {
			seen[key] = i
		}
		if e.Admin {
			admins++
		}
	}
	hp := joinPath(path, "low_privilege_headers")
	switch {
	case admins > 0 && len(b.LowPrivilegeHeaders) == 0:
		c.errorf(hp, ErrMissing, "low_privilege_headers are required when an endpoint has admin: true (the credential of a user who must be refused)")
	case admins == 0 && len(b.LowPrivilegeHeaders) > 0:
		c.errorf(hp, ErrInvalid, "low_privilege_headers are unused: no endpoint has admin: true")
	}
	validateSecretHeaders(c, hp, b.LowPrivilegeHeaders)
	for name, v := range b.LowPrivilegeHeaders {
		if v.Reveal() == "" {
			c.errorf(mapKeyPath(hp, name), ErrInvalid, "empty credential")
		}
	}
	sp := joinPath(path, "expect_status")
	if len(b.ExpectStatus) == 0 {
		c.errorf(sp, ErrInvalid, "expect_status must list at least one status (default [401, 403])")
	}
	for i, s := range b.ExpectStatus {
		if s < 400 || s > 499 {
			c.errorf(fmt.Sprintf("%s[%d]", sp, i), ErrInvalid, "expect_status must be refusals between 400 and 499, got %d", s)
		}
	}
}
