package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
)

// benchGuard returns a viewer route guarded by a fresh Authenticator on st
// (limits off, a fixed clock so that the cache never expires) and a
// request carrying token.
func benchGuard(b *testing.B, st auth.Store, mk []byte, token string, limits auth.Limits) (http.Handler, *http.Request) {
	b.Helper()
	now := time.Now()
	authn, err := auth.New(auth.Options{Store: st, MasterKey: mk, CacheTTL: auth.MaxCacheTTL, Limits: limits, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	h := authn.Require(auth.RoleViewer, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	r := httptest.NewRequest("GET", "/api/v1/incidents", nil)
	r.RemoteAddr = "192.0.2.1:40000"
	r.Header.Set("Authorization", "Bearer "+token)
	return h, r
}

// benchKey creates a viewer key at the production bcrypt cost.
func benchKey(b *testing.B) (auth.Store, []byte, auth.NewKey) {
	b.Helper()
	st := openStore(b)
	mk := masterKey(b, st)
	k, err := auth.CreateKey(context.Background(), st, mk, auth.KeySpec{Role: auth.RoleViewer}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return st, mk, k
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the guard.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkAuthenticateCached is the hot path: a bearer key verified
// before, found by its keyed digest — no bcrypt, no store read.
func BenchmarkAuthenticateCached(b *testing.B) {
	st, mk, k := benchKey(b)
	h, r := benchGuard(b, st, mk, k.Token, auth.Limits{})
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r) // warm the cache
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkAuthenticateCachedLimited is the hot path with the per-key and
// per-address token buckets (limits high enough never to refuse).
func BenchmarkAuthenticateCachedLimited(b *testing.B) {
	st, mk, k := benchKey(b)
	huge := auth.Limit{RPS: 1e12, Burst: 1 << 30}
	h, r := benchGuard(b, st, mk, k.Token, auth.Limits{Read: huge, AuthFailure: huge})
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkAuthenticateCachedParallel is the hot path from all CPUs.
func BenchmarkAuthenticateCachedParallel(b *testing.B) {
	st, mk, k := benchKey(b)
	h, r := benchGuard(b, st, mk, k.Token, auth.Limits{})
	h.ServeHTTP(&discard{h: http.Header{}}, r)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discard{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkAuthenticateCold is a key's first request: a store read and
// one bcrypt comparison at cost 12.
func BenchmarkAuthenticateCold(b *testing.B) {
	st, mk, k := benchKey(b)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		h, r := benchGuard(b, st, mk, k.Token, auth.Limits{})
		w := &discard{h: http.Header{}}
		b.StartTimer()
		h.ServeHTTP(w, r)
	}
}
