package auth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
)

// TestNonceTTLOption: a configured nonce retention longer than the
// minimum keeps a nonce spent for that long; a shorter one than the
// timestamp window is refused.
func TestNonceTTLOption(t *testing.T) {
	const ttl = 15 * time.Minute
	f := newFixture(t, func(o *auth.Options) { o.NonceTTL = ttl })
	k := f.key(t, auth.KeySpec{Role: auth.RoleIngest, Signed: true})
	body := []byte(`{"kind":"deploy"}`)
	const nonce = "nonce-ttl-0123456789abcdef"
	if res := f.do(t, "POST", "/ingest", k.Token, body, f.signer(t, k, nonce)); res.code != http.StatusOK {
		t.Fatalf("first use: %d", res.code)
	}
	// Past the default TTL but within the configured one: still a replay
	// (re-signed with a fresh timestamp, so only the nonce refuses it).
	f.clock.Add(auth.NonceTTL)
	if res := f.do(t, "POST", "/ingest", k.Token, body, f.signer(t, k, nonce)); res.code != http.StatusUnauthorized {
		t.Errorf("nonce reused after %s of a %s retention: %d, want 401", auth.NonceTTL, ttl, res.code)
	}
	f.clock.Add(ttl - auth.NonceTTL)
	if res := f.do(t, "POST", "/ingest", k.Token, body, f.signer(t, k, nonce)); res.code != http.StatusOK {
		t.Errorf("nonce reused after the %s retention: %d, want 200", ttl, res.code)
	}

	st := openStore(t)
	if _, err := auth.New(auth.Options{Store: st, MasterKey: masterKey(t, st), NonceTTL: auth.NonceTTL - time.Second}); err == nil {
		t.Error("a nonce retention shorter than the timestamp window was accepted")
	}
}
