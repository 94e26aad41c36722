package auth

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: RPS requests per second on average, bursts of
// up to Burst. An RPS of 0 means no limit.
type Limit struct {
	RPS   float64
	Burst int
}

// Unlimited reports whether the limit lets everything through.
func (l Limit) Unlimited() bool { return l.RPS <= 0 }

// String describes the limit for events and messages, e.g. "20/s burst 40".
func (l Limit) String() string {
	if l.Unlimited() {
		return "unlimited"
	}
	return strconv.FormatFloat(l.RPS, 'g', -1, 64) + "/s burst " + strconv.Itoa(l.Burst)
}

// Limits are the rate limits of each route class. Each class's limit
// applies to every key and, separately, to every source IP address.
type Limits struct {
	// Ingest applies to routes that require the ingest role.
	Ingest Limit
	// Read applies to routes that require the viewer role.
	Read Limit
	// Admin applies to routes that require the admin role.
	Admin Limit
	// AuthFailure bounds failed authentications per source IP (brute
	// force); once exhausted every request from the address gets 429
	// until the bucket refills.
	AuthFailure Limit
}

// DefaultLimits returns the rate limits used when none are configured.
func DefaultLimits() Limits {
	return Limits{
		Ingest:      Limit{RPS: 100, Burst: 200},
		Read:        Limit{RPS: 20, Burst: 40},
		Admin:       Limit{RPS: 5, Burst: 10},
		AuthFailure: Limit{RPS: 1, Burst: 5},
	}
}

// forClass returns the limit of a route class.
func (l Limits) forClass(class string) Limit {
	switch class {
	case ClassIngest:
		return l.Ingest
	case ClassRead:
		return l.Read
	case ClassAdmin:
		return l.Admin
	default:
		return l.AuthFailure
	}
}

// Bounds of a limiterSet.
const (
	// defaultMaxLimiters bounds the buckets kept in memory.
	defaultMaxLimiters = 100_000
	// sweepEvery is how often full (idle) buckets are dropped.
	sweepEvery = time.Minute
)

// limiterSet holds one token bucket per subject (a class and a key id or
// address). A bucket that has refilled completely behaves exactly like a
// new one, so sweeping drops those; if the set is still full, arbitrary
// buckets go, which at worst grants their subjects a fresh burst. Memory
// therefore stays bounded whatever the number of clients.
type limiterSet struct {
	mu        sync.Mutex
	m         map[string]*rate.Limiter
	max       int
	lastSweep time.Time
}

func newLimiterSet(max int) *limiterSet {
	if max <= 0 {
		max = defaultMaxLimiters
	}
	return &limiterSet{m: make(map[string]*rate.Limiter), max: max}
}

// take spends one token from the bucket of each subject under limit l,
// or none at all: when a bucket is empty it gives back what it took and
// returns that subject's index with the time until its bucket holds a
// token. It returns -1 when every bucket paid.
func (s *limiterSet) take(l Limit, now time.Time, subjects ...string) (int, time.Duration) {
	if l.Unlimited() {
		return -1, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := make([]*rate.Reservation, 0, len(subjects))
	for i, subj := range subjects {
		r := s.get(subj, l, now).ReserveN(now, 1)
		if d := r.DelayFrom(now); !r.OK() || d > 0 {
			r.CancelAt(now)
			for _, t := range taken {
				t.CancelAt(now)
			}
			if !r.OK() {
				d = time.Duration(float64(time.Second) / l.RPS)
			}
			return i, d
		}
		taken = append(taken, r)
	}
	return -1, 0
}

// exhausted reports, without spending, whether subject's bucket is empty,
// and if so how long until it holds a token.
func (s *limiterSet) exhausted(subject string, l Limit, now time.Time) (bool, time.Duration) {
	if l.Unlimited() {
		return false, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lim, ok := s.m[subject]
	if !ok || lim.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, wait(lim, l, now)
}

// wait returns how long until lim holds one token.
func wait(lim *rate.Limiter, l Limit, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / l.RPS * float64(time.Second)))
}

// get returns subject's bucket, creating it (and making room) if need be.
// The caller holds s.mu.
func (s *limiterSet) get(subject string, l Limit, now time.Time) *rate.Limiter {
	if lim, ok := s.m[subject]; ok {
		return lim
	}
	if now.Sub(s.lastSweep) >= sweepEvery || len(s.m) >= s.max {
		s.sweep(now)
	}
	lim := rate.NewLimiter(rate.Limit(l.RPS), l.Burst) // starts full
	s.m[subject] = lim
	return lim
}

// sweep drops full buckets, then arbitrary ones until a tenth of the
// capacity is free. The caller holds s.mu.
func (s *limiterSet) sweep(now time.Time) {
	s.lastSweep = now
	for k, lim := range s.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(s.m, k)
		}
	}
	for k := range s.m {
		if len(s.m) < s.max-s.max/10 {
			break
		}
		delete(s.m, k)
	}
}

// len reports how many buckets are kept.
func (s *limiterSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// retryAfter renders a wait as a Retry-After value: whole seconds, rounded
// up, at least 1.
func retryAfter(d time.Duration) string {
	secs := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(secs, 1), 10)
}
