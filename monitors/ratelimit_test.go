package monitors

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

const (
	rlTestToken = "rl-secret-token-4411"
	rlTestBody  = `{"user":"probe","password":"rl-secret-pw-8d2e"}`
)

// rlServer counts requests and answers the n-th (from 1) with answer.
type rlServer struct {
	count    atomic.Int32
	mu       sync.Mutex
	inFlight int
	maxInFl  int
	bad      atomic.Value // string: why a request was malformed
	answer   func(w http.ResponseWriter, r *http.Request, n int)
}

func (s *rlServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.count.Add(1))
	s.mu.Lock()
	s.inFlight++
	s.maxInFl = max(s.maxInFl, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if r.Header.Get("Authorization") != "Bearer "+rlTestToken {
		s.bad.Store("missing credential")
	}
	if b, _ := io.ReadAll(r.Body); r.Method == http.MethodPost && string(b) != rlTestBody {
		s.bad.Store("wrong body " + string(b))
	}
	s.answer(w, r, n)
}

func newRLServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) (*rlServer, *httptest.Server) {
	t.Helper()
	s := &rlServer{answer: answer}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// rlLimitAt answers 200 until request n, then 429 with headers h.
func rlLimitAt(limit int, h map[string]string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		if n < limit {
			fmt.Fprint(w, "ok")
			return
		}
		for k, v := range h {
			w.Header().Set(k, v)
		}
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}
}

func rlMon(url string, mod func(*config.RateLimitMonitor)) config.Monitor {
	c := &config.RateLimitMonitor{
		URL: url, Method: http.MethodPost,
		Headers:     map[string]config.Secret{"Authorization": "Bearer " + rlTestToken, "Content-Type": "application/json"},
		Body:        rlTestBody,
		MaxRequests: 30, Concurrency: 1,
	}
	if mod != nil {
		mod(c)
	}
	return config.Monitor{Name: "login-limit", Type: "ratelimit", Labels: map[string]string{"team": "sec"}, RateLimit: c}
}

func runRL(t *testing.T, s *rlServer, m config.Monitor) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	logger, logs := webLogger(t)
	r := ProbeRateLimit(ctx, m, testEnv(), logger)
	webNoSecretIn(t, r, rlTestToken, "rl-secret-pw-8d2e")
	webNoSecretInLogs(t, logs, rlTestToken, "rl-secret-pw-8d2e")
	if r.Success != (len(r.Findings) == 0) {
		t.Errorf("Success = %v with %d findings", r.Success, len(r.Findings))
	}
	if s != nil {
		if why := s.bad.Load(); why != nil {
			t.Errorf("malformed burst request: %v", why)
		}
	}
	return r
}

// TestRateLimitCapNeverExceeded proves the hard cap: a server that never
// limits receives exactly max_requests requests, whatever the concurrency.
func TestRateLimitCapNeverExceeded(t *testing.T) {
	for _, tc := range []struct{ max, conc int }{{1, 1}, {30, 1}, {30, 10}, {7, 10}, {config.MaxRateLimitRequests, config.MaxRateLimitConcurrency}} {
		t.Run(fmt.Sprintf("max=%d,concurrency=%d", tc.max, tc.conc), func(t *testing.T) {
			s, srv := newRLServer(t, func(w http.ResponseWriter, r *http.Request, n int) { fmt.Fprint(w, "ok") })
			r := runRL(t, s, rlMon(srv.URL+"/login", func(c *config.RateLimitMonitor) {
				c.MaxRequests, c.Concurrency = tc.max, tc.conc
			}))
			if got := int(s.count.Load()); got != tc.max {
				t.Fatalf("server received %d requests, want exactly max_requests=%d", got, tc.max)
			}
			f := webOnlyFinding(t, r, FindingRateLimitNotEnforced, event.SeverityHigh)
			for _, want := range []string{fmt.Sprintf("%d requests sent, no 429 within %d", tc.max, tc.max), fmt.Sprintf("statuses 200×%d", tc.max), "POST " + srv.URL + "/login"} {
				if !strings.Contains(f.Evidence, want) {
					t.Errorf("evidence %q lacks %q", f.Evidence, want)
				}
			}
			if r.Details["requests_sent"] != fmt.Sprint(tc.max) || r.Attempts != tc.max || r.Details["first_429_at"] != "" {
				t.Errorf("details = %v attempts %d", r.Details, r.Attempts)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.maxInFl > min(tc.conc, tc.max) {
				t.Errorf("%d requests in flight, concurrency is %d", s.maxInFl, tc.conc)
			}
		})
	}
}

func TestRateLimitEnforcedPasses(t *testing.T) {
	tests := map[string]map[string]string{
		"Retry-After seconds":     {"Retry-After": "30"},
		"Retry-After zero":        {"Retry-After": "0"},
		"Retry-After HTTP-date":   {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
		"Retry-After RFC 850":     {"Retry-After": "Wednesday, 21-Oct-15 07:28:00 GMT"},
		"Retry-After asctime":     {"Retry-After": "Wed Oct 21 07:28:00 2015"},
		"RateLimit-Policy only":   {"RateLimit-Policy": `"burst";q=100;w=60`},
		"RateLimit only":          {"RateLimit": `"burst";r=0;t=30`},
		"RateLimit-Reset only":    {"RateLimit-Reset": "30"},
		"X-RateLimit-Reset only":  {"X-RateLimit-Reset": "1700000000"},
		"X-Rate-Limit-Limit only": {"X-Rate-Limit-Limit": "10"},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			s, srv := newRLServer(t, rlLimitAt(6, h))
			r := runRL(t, s, rlMon(srv.URL+"/login", func(c *config.RateLimitMonitor) { c.ExpectLimitWithin = 10 }))
			if !r.Success {
				t.Fatalf("findings %+v details %v", r.Findings, r.Details)
			}
			if got := s.count.Load(); got != 6 {
				t.Errorf("server received %d requests, want 6: the burst stops at the first 429", got)
			}
			if r.Details["first_429_at"] != "6" || r.Details["requests_sent"] != "6" || r.Details["status_histogram"] != "200×5 429×1" {
				t.Errorf("details = %v", r.Details)
			}
			if r.Target != srv.URL+"/login" || r.Labels["team"] != "sec" {
				t.Errorf("target/labels = %q %v", r.Target, r.Labels)
			}
		})
	}
}

func TestRateLimitConcurrentBurstStopsSoonAfter429(t *testing.T) {
	s, srv := newRLServer(t, rlLimitAt(20, map[string]string{"Retry-After": "5"}))
	r := runRL(t, s, rlMon(srv.URL+"/login", func(c *config.RateLimitMonitor) {
		c.MaxRequests, c.Concurrency = 200, 5
	}))
	if !r.Success {
		t.Fatalf("findings %+v", r.Findings)
	}
	// The 429 is the 20th request to arrive; requests already handed out
	// (at most concurrency-1 more) finish, nothing new starts.
	if got := s.count.Load(); got < 20 || got > 20+5-1 {
		t.Errorf("server received %d requests, want 20 to 24", got)
	}
}

func TestRateLimitFindings(t *testing.T) {
	tests := map[string]struct {
		answer func(w http.ResponseWriter, r *http.Request, n int)
		mod    func(*config.RateLimitMonitor)
		id     string
		sev    event.Severity
		has    string
		count  int32 // requests the server must see
	}{
		"429 too late": {
			answer: rlLimitAt(25, map[string]string{"Retry-After": "1"}),
			mod:    func(c *config.RateLimitMonitor) { c.ExpectLimitWithin = 20 },
			id:     FindingRateLimitNotEnforced, sev: event.SeverityHigh, count: 25,
			has: "first 429 at request #25 of 25 sent, want within 20",
		},
		"no 429 within expect_limit_within": {
			answer: rlLimitAt(1000, nil),
			mod:    func(c *config.RateLimitMonitor) { c.ExpectLimitWithin = 10 },
			id:     FindingRateLimitNotEnforced, sev: event.SeverityHigh, count: 30,
			has: "30 requests sent, no 429 within 10",
		},
		"503 instead of 429": {
			answer: func(w http.ResponseWriter, r *http.Request, n int) {
				if n > 10 {
					http.Error(w, "limited", http.StatusServiceUnavailable)
				}
			},
			id: FindingRateLimitNotEnforced, sev: event.SeverityHigh, count: 30,
			has: "statuses 200×10 503×20 (the 503s may be a limiter answering 503",
		},
		"429 without hints": {
			answer: rlLimitAt(3, nil),
			id:     FindingRateLimitNoRetryHint, sev: event.SeverityLow, count: 3,
			has: "the 429 at request #3 has no Retry-After",
		},
		"Retry-After not a number": {
			answer: rlLimitAt(3, map[string]string{"Retry-After": "soon", "X-RateLimit-Limit": "2"}),
			id:     FindingRateLimitRetryAfterInvalid, sev: event.SeverityLow, count: 3,
			has: `has Retry-After "soon", neither delta-seconds nor an HTTP-date`,
		},
		"Retry-After fractional": {
			answer: rlLimitAt(3, map[string]string{"Retry-After": "1.5"}),
			id:     FindingRateLimitRetryAfterInvalid, sev: event.SeverityLow, count: 3,
			has: `Retry-After "1.5"`,
		},
		"Retry-After negative": {
			answer: rlLimitAt(3, map[string]string{"Retry-After": "-1"}),
			id:     FindingRateLimitRetryAfterInvalid, sev: event.SeverityLow, count: 3,
			has: `Retry-After "-1"`,
		},
		"Retry-After ISO date": {
			answer: rlLimitAt(3, map[string]string{"Retry-After": "2015-10-21T07:28:00Z"}),
			id:     FindingRateLimitRetryAfterInvalid, sev: event.SeverityLow, count: 3,
			has: `2015-10-21T07:28:00Z`,
		},
		"connection dropped": {
			answer: func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= 4 {
					return
				}
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			},
			id: FindingRateLimitError, sev: event.SeverityMedium, count: 5,
			has: "request #5 failed",
		},
		"redirects are not followed": {
			answer: func(w http.ResponseWriter, r *http.Request, n int) {
				if r.URL.Path != "/login" {
					panic("redirect followed")
				}
				http.Redirect(w, r, "/login/", http.StatusFound)
			},
			id: FindingRateLimitNotEnforced, sev: event.SeverityHigh, count: 30,
			has: "statuses 302×30",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, srv := newRLServer(t, tc.answer)
			r := runRL(t, s, rlMon(srv.URL+"/login", tc.mod))
			f := webOnlyFinding(t, r, tc.id, tc.sev)
			if !strings.Contains(f.Evidence, tc.has) {
				t.Errorf("evidence %q lacks %q", f.Evidence, tc.has)
			}
			if f.Target != srv.URL+"/login" {
				t.Errorf("target = %q", f.Target)
			}
			if got := s.count.Load(); got != tc.count {
				t.Errorf("server received %d requests, want %d", got, tc.count)
			}
		})
	}
}

func TestRateLimitHeadersSeenInDetails(t *testing.T) {
	s, srv := newRLServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("X-RateLimit-Remaining", fmt.Sprint(3-n))
		rlLimitAt(3, map[string]string{"Retry-After": "7", "RateLimit-Policy": "10;w=1"})(w, r, n)
	})
	r := runRL(t, s, rlMon(srv.URL+"/login", nil))
	if !r.Success {
		t.Fatalf("findings %+v", r.Findings)
	}
	if got := r.Details["rate_limit_headers_seen"]; got != "Ratelimit-Policy, Retry-After, X-Ratelimit-Remaining" {
		t.Errorf("rate_limit_headers_seen = %q", got)
	}
	if r.Details["retry_after"] != "7" {
		t.Errorf("retry_after = %q", r.Details["retry_after"])
	}
}

func TestRateLimitGETWithoutBody(t *testing.T) {
	var sawBody atomic.Bool
	s, srv := newRLServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.ContentLength > 0 || r.Method != http.MethodGet {
			sawBody.Store(true)
		}
		rlLimitAt(2, map[string]string{"Retry-After": "1"})(w, r, n)
	})
	r := runRL(t, s, rlMon(srv.URL+"/api", func(c *config.RateLimitMonitor) { c.Method, c.Body = "", "" }))
	if !r.Success || sawBody.Load() || r.Details["method"] != "GET" {
		t.Errorf("findings %+v details %v body %v", r.Findings, r.Details, sawBody.Load())
	}
}

func TestRateLimitDeadline(t *testing.T) {
	ctx := newWebExpiringCtx(t)
	s, srv := newRLServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 3 {
			return
		}
		ctx.expire()
		<-r.Context().Done()
	})
	r := ProbeRateLimit(ctx, rlMon(srv.URL+"/login", nil), testEnv(), testLogger(t))
	f := webOnlyFinding(t, r, FindingTimeout, event.SeverityHigh)
	if !strings.Contains(f.Evidence, "after 3 of 30 requests, before a 429") {
		t.Errorf("evidence = %q", f.Evidence)
	}
	if got := s.count.Load(); got != 4 {
		t.Errorf("server received %d requests, want 4", got)
	}
}

func TestRateLimitMisconfiguredSendsNothing(t *testing.T) {
	s, srv := newRLServer(t, func(w http.ResponseWriter, r *http.Request, n int) {})
	for _, m := range []config.Monitor{
		{Name: "rl", Type: "ratelimit"},
		rlMon(srv.URL, func(c *config.RateLimitMonitor) { c.MaxRequests = 0 }),
		rlMon(srv.URL, func(c *config.RateLimitMonitor) { c.MaxRequests = config.MaxRateLimitRequests + 1 }),
		rlMon("ftp://x/", nil),
	} {
		webOnlyFinding(t, runRL(t, nil, m), FindingConfig, event.SeverityHigh)
	}
	if s.count.Load() != 0 {
		t.Errorf("server received %d requests", s.count.Load())
	}
}

func TestRateLimitRetryAfterSyntax(t *testing.T) {
	for v, ok := range map[string]bool{
		"0": true, "120": true, " 120 ": true, "Sun, 06 Nov 1994 08:49:37 GMT": true,
		"": false, "1.5": false, "-1": false, "+1": false, "1e3": false, "120s": false, "tomorrow": false,
		"Sun, 06 Nov 1994 08:49:37 PST": false,
	} {
		if got := rlValidRetryAfter(v); got != ok {
			t.Errorf("rlValidRetryAfter(%q) = %v, want %v", v, got, ok)
		}
	}
}
