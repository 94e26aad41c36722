package auth

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestLimiterSetStaysBounded(t *testing.T) {
	s := newLimiterSet(100)
	now := time.Unix(1000, 0)
	l := Limit{RPS: 1, Burst: 2}
	for i := range 10_000 {
		s.take(l, now, "ip|"+strconv.Itoa(i))
		if s.len() > 100 {
			t.Fatalf("after %d subjects the set holds %d buckets, cap 100", i+1, s.len())
		}
	}
	// Full buckets are dropped by a sweep: they behave like new ones.
	s2 := newLimiterSet(1000)
	for i := range 50 {
		s2.take(l, now, "a|"+strconv.Itoa(i))
	}
	s2.take(l, now.Add(sweepEvery), "late")
	if n := s2.len(); n != 1 {
		t.Errorf("after a sweep %d buckets remain, want only the new one", n)
	}
}

func TestLimiterRetryAfter(t *testing.T) {
	s := newLimiterSet(0)
	now := time.Unix(1000, 0)
	l := Limit{RPS: 0.25, Burst: 1}
	if i, _ := s.take(l, now, "k"); i != -1 {
		t.Fatal("first take refused")
	}
	i, d := s.take(l, now.Add(time.Second), "k")
	if i != 0 || d != 3*time.Second || retryAfter(d) != "3" {
		t.Errorf("take on an empty bucket = %d, %s (%s); want refused, 3s", i, d, retryAfter(d))
	}
	if retryAfter(time.Millisecond) != "1" || retryAfter(1500*time.Millisecond) != "2" {
		t.Error("Retry-After must round up to whole seconds, at least 1")
	}
	if i, _ := s.take(Limit{}, now, "u"); i != -1 {
		t.Error("an unlimited class refused")
	}
	// A request refused by its second bucket spends nothing from the first.
	l2 := Limit{RPS: 1, Burst: 1}
	if i, _ := s.take(l2, now, "key|a", "ip|x"); i != -1 {
		t.Fatal("fresh buckets refused")
	}
	if i, _ := s.take(l2, now, "key|b", "ip|x"); i != 1 {
		t.Fatalf("second key from a spent address: refused at %d, want 1 (the address)", i)
	}
	if ex, _ := s.exhausted("key|b", l2, now); ex {
		t.Error("the refused request spent key b's token")
	}
}

func TestHitLogStaysBounded(t *testing.T) {
	l := newHitLog()
	now := time.Unix(1000, 0)
	for i := range maxPending + 500 {
		l.add(hit{kind: KindAuthFailure, route: "GET /x", attrs: map[string]string{"ip": fmt.Sprint("10.0.", i/256, ".", i%256), "reason": ReasonMissing}}, now)
	}
	evs, _ := l.take(now, true)
	if len(evs) != maxPending+1 {
		t.Fatalf("%d events, want %d plus one overflow", len(evs), maxPending)
	}
	total := 0
	for _, ev := range evs {
		n, _ := strconv.Atoi(ev.Attributes["count"])
		total += n
	}
	if total != maxPending+500 {
		t.Errorf("counts add up to %d, want %d: no hit may go uncounted", total, maxPending+500)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.5", "192.0.2.1"}, // untrusted peer
		{"10.1.2.3:5000", "203.0.113.5", "203.0.113.5"},
		{"10.1.2.3:5000", "203.0.113.5, 10.9.9.9", "203.0.113.5"},
		{"10.1.2.3:5000", "garbage", "10.1.2.3"},
		{"10.1.2.3:5000", "", "10.1.2.3"},
		{"[2001:db8::1]:443", "", "2001:db8::/64"},
		{"[::ffff:192.0.2.1]:443", "", "192.0.2.1"},
		{"nonsense", "", "unknown"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := addrKey(clientAddr(r, trusted)); got != tc.want {
			t.Errorf("client of %s / %q = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestKeyCacheStaysBounded(t *testing.T) {
	c := newKeyCache(100)
	now := time.Unix(1000, 0)
	for i := range 1000 {
		c.put(c.digest(strconv.Itoa(i)), &cacheEntry{}, now)
		if c.len() > 100 {
			t.Fatalf("after %d tokens the cache holds %d entries, cap 100", i+1, c.len())
		}
	}
	if a1, a2 := c.digest("a"), c.digest("a"); a1 != a2 || a1 == c.digest("b") {
		t.Error("digests are not a function of the token")
	}
	if newKeyCache(1).digest("a") == c.digest("a") {
		t.Error("two caches share their digest key")
	}
}
