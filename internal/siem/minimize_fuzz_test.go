package siem

import (
	"maps"
	"strings"
	"testing"

	"github.com/secopsd/secopsd/internal/event"
)

// FuzzMinimizePrefilter checks that the one-scan prefilter of Minimize
// never changes its result: minimizing with it and without it (every
// string scanned alone) gives the same event.
func FuzzMinimizePrefilter(f *testing.F) {
	for _, seed := range [][4]string{
		{"billing-api", "auth.failure", "user", "u-1"},
		{"app", "k", "detail", "password=Xk29dLq81mZp0Rt7"},
		{"app", "k", "route", "/api/v2/orders?api_key=Xk29dLq81mZp0Rt7Wv3"},
		{"-----BEGIN PRIVATE KEY-----", "k", "x", strings.Repeat("QUJD", 20) + "\n-----END PRIVATE KEY-----"},
		{"app", "token", "Authorization", "Bearer abc.def"},
		{"app", "k", "AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2ln"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	fast, err := NewMinimizer(MinimizerOptions{})
	if err != nil {
		f.Fatal(err)
	}
	slow := *fast
	slow.perField = true
	f.Fuzz(func(t *testing.T, source, kind, key, value string) {
		mk := func() event.Event {
			return event.Event{Source: source, Kind: kind, Title: value + key, Attributes: map[string]string{key: value, "v2": kind + value, "k3": source}}
		}
		a, b := mk(), mk()
		da, ra := fast.Minimize(&a)
		db, rb := slow.Minimize(&b)
		if da != db || ra != rb || a.Source != b.Source || a.Kind != b.Kind || a.Title != b.Title || !maps.Equal(a.Attributes, b.Attributes) {
			t.Fatalf("prefiltered %+v (%d, %d)\nper field   %+v (%d, %d)", a, da, ra, b, db, rb)
		}
	})
}
