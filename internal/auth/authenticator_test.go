package auth_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts the reads of key rows.
type countingStore struct {
	auth.Store
	reads atomic.Int32
}

func (s *countingStore) GetAPIKey(ctx context.Context, id string) (auth.Key, error) {
	s.reads.Add(1)
	return s.Store.GetAPIKey(ctx, id)
}

// memRecorder keeps the recorded events.
type memRecorder struct {
	mu  sync.Mutex
	evs []event.Event
}

func (r *memRecorder) Record(_ context.Context, evs ...event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, evs...)
	return nil
}

func (r *memRecorder) events() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.evs...)
}

// fixture is an Authenticator on a real SQLite store behind a real HTTP
// server on loopback, with a settable clock. Its handler echoes the
// principal and the body it received.
type fixture struct {
	st    *countingStore
	clock *clock
	rec   *memRecorder
	authn *auth.Authenticator
	srv   *httptest.Server
}

// principalEcho is what the guarded handler answers.
type principalEcho struct {
	auth.Principal
	Body string `json:"body"`
}

func newFixture(t *testing.T, mutate func(*auth.Options)) *fixture {
	t.Helper()
	st := &countingStore{Store: openStore(t)}
	f := &fixture{st: st, clock: newClock(), rec: &memRecorder{}}
	opts := auth.Options{
		Store:     st,
		MasterKey: masterKey(t, st),
		Limits:    auth.Limits{AuthFailure: auth.Limit{RPS: 1, Burst: 100}},
		CacheTTL:  5 * time.Second,
		Recorder:  f.rec,
		Now:       f.clock.Now,
	}
	if mutate != nil {
		mutate(&opts)
	}
	authn, err := auth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.authn = authn
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			t.Error("guarded handler ran without a principal")
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(principalEcho{Principal: p, Body: string(body)})
	})
	mux := http.NewServeMux()
	mux.Handle("GET /view", authn.Require(auth.RoleViewer, echo))
	mux.Handle("POST /ingest", authn.Require(auth.RoleIngest, echo))
	mux.Handle("POST /admin", authn.Require(auth.RoleAdmin, echo))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) key(t *testing.T, spec auth.KeySpec) auth.NewKey {
	t.Helper()
	spec.Cost = bcrypt.MinCost
	k, err := auth.CreateKey(context.Background(), f.st, masterKeyOf(t, f), spec, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func masterKeyOf(t *testing.T, f *fixture) []byte { return masterKey(t, f.st) }

// result is one answer of the fixture's server.
type result struct {
	code   int
	header http.Header
	body   string
	echo   principalEcho
}

// do sends method path with token ("" none) and, when sig is set, signs
// it with that key at the fixture's time.
func (f *fixture) do(t *testing.T, method, path, token string, body []byte, sign func(*http.Request, []byte)) result {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sign != nil {
		sign(req, body)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := result{code: resp.StatusCode, header: resp.Header, body: string(b)}
	if res.code == http.StatusOK {
		if err := json.Unmarshal(b, &res.echo); err != nil {
			t.Fatalf("echo: %v: %s", err, b)
		}
	}
	return res
}

// signer signs with k at the fixture's time and the given nonce ("" for a
// random one).
func (f *fixture) signer(t *testing.T, k auth.NewKey, nonce string) func(*http.Request, []byte) {
	return func(req *http.Request, body []byte) {
		if err := auth.SignRequest(req, k.Key.ID, k.SigningSecret, body, f.clock.Now(), nonce); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRefusedKeysGetOneGeneric401(t *testing.T) {
	f := newFixture(t, nil)
	good := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	expired := f.key(t, auth.KeySpec{Role: auth.RoleViewer, TTL: time.Hour})
	revoked := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	if _, err := f.st.RevokeAPIKey(context.Background(), revoked.Key.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Hour)
	_, goodSecret, _ := auth.ParseToken(good.Token)
	cases := map[string]func(*http.Request){
		"missing":    func(*http.Request) {},
		"not bearer": func(r *http.Request) { r.Header.Set("Authorization", "Basic "+good.Token) },
		"malformed":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer secopsd_nope") },
		"two headers": func(r *http.Request) {
			r.Header["Authorization"] = []string{"Bearer " + good.Token, "Bearer " + good.Token}
		},
		"unknown key": func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+auth.FormatToken("zzzzzzzzzzzz", goodSecret))
		},
		"wrong secret":   func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+wrongSecret(good.Token)) },
		"expired":        func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+expired.Token) },
		"revoked":        func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+revoked.Token) },
		"in the query":   func(r *http.Request) { r.URL.RawQuery = "token=" + good.Token },
		"lower-case ok?": func(r *http.Request) { r.Header.Set("Authorization", "bearer "+good.Token) },
	}
	var firstBody string
	for name, set := range cases {
		req, _ := http.NewRequest("GET", f.srv.URL+"/view", nil)
		set(req)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if name == "lower-case ok?" {
			// The scheme is case-insensitive (RFC 9110).
			if resp.StatusCode != http.StatusOK {
				t.Errorf("bearer in lower case: %d", resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="secopsd"` {
			t.Errorf("%s: %d, WWW-Authenticate %q; want 401 with a Bearer challenge", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if firstBody == "" {
			firstBody = string(b)
		} else if string(b) != firstBody {
			t.Errorf("%s: body %q differs from %q: refusals must not tell which check failed", name, b, firstBody)
		}
	}
	if res := f.do(t, "GET", "/view", good.Token, nil, nil); res.code != http.StatusOK || res.echo.KeyID != good.Key.ID || res.echo.Role != auth.RoleViewer {
		t.Errorf("good key: %d %+v", res.code, res.echo)
	}

	// Every failure is recorded once, aggregated, with its reason and no
	// secret.
	if err := f.authn.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, ev := range f.rec.events() {
		if ev.Kind != auth.KindAuthFailure {
			t.Errorf("unexpected event %+v", ev)
		}
		n := 0
		_ = json.Unmarshal([]byte(ev.Attributes["count"]), &n)
		reasons[ev.Attributes["reason"]] += n
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), goodSecret) || strings.Contains(string(b), expired.Token) {
			t.Errorf("event carries a secret: %s", b)
		}
	}
	for reason, n := range map[string]int{
		auth.ReasonMissing: 2, auth.ReasonMalformed: 3, auth.ReasonUnknownKey: 1,
		auth.ReasonBadSecret: 1, auth.ReasonExpired: 1, auth.ReasonRevoked: 1,
	} {
		if reasons[reason] != n {
			t.Errorf("recorded %d failures for %s, want %d (all: %v)", reasons[reason], reason, n, reasons)
		}
	}
}

func TestWrongRoleIs403(t *testing.T) {
	f := newFixture(t, nil)
	viewer := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	ingest := f.key(t, auth.KeySpec{Role: auth.RoleIngest})
	admin := f.key(t, auth.KeySpec{Role: auth.RoleAdmin})
	for _, tc := range []struct {
		key    auth.NewKey
		method string
		path   string
		want   int
	}{
		{viewer, "POST", "/ingest", http.StatusForbidden},
		{viewer, "POST", "/admin", http.StatusForbidden},
		{ingest, "GET", "/view", http.StatusForbidden},
		{ingest, "POST", "/admin", http.StatusForbidden},
		{ingest, "POST", "/ingest", http.StatusOK},
		{viewer, "GET", "/view", http.StatusOK},
		{admin, "GET", "/view", http.StatusOK},
		{admin, "POST", "/ingest", http.StatusOK},
		{admin, "POST", "/admin", http.StatusOK},
	} {
		var sign func(*http.Request, []byte)
		if tc.key.SigningSecret != "" {
			sign = f.signer(t, tc.key, "")
		}
		if res := f.do(t, tc.method, tc.path, tc.key.Token, nil, sign); res.code != tc.want {
			t.Errorf("%s key, %s %s: %d %s, want %d", tc.key.Key.Role, tc.method, tc.path, res.code, res.body, tc.want)
		}
	}
}

func TestWarmCacheHonoursExpiryAndRevocation(t *testing.T) {
	f := newFixture(t, nil) // CacheTTL 5s
	k := f.key(t, auth.KeySpec{Role: auth.RoleViewer, TTL: time.Minute})
	if res := f.do(t, "GET", "/view", k.Token, nil, nil); res.code != http.StatusOK {
		t.Fatalf("first request: %d", res.code)
	}
	reads := f.st.reads.Load()
	for range 20 {
		if res := f.do(t, "GET", "/view", k.Token, nil, nil); res.code != http.StatusOK {
			t.Fatalf("cached request: %d", res.code)
		}
	}
	if got := f.st.reads.Load(); got != reads {
		t.Errorf("20 requests within the cache TTL read the key %d more times, want 0", got-reads)
	}

	// Revocation behind the cache's back applies once the TTL has passed.
	if _, err := f.st.RevokeAPIKey(context.Background(), k.Key.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(4 * time.Second)
	if res := f.do(t, "GET", "/view", k.Token, nil, nil); res.code != http.StatusOK {
		t.Errorf("within the cache TTL: %d (the bound is the TTL, not instant)", res.code)
	}
	f.clock.Add(time.Second)
	if res := f.do(t, "GET", "/view", k.Token, nil, nil); res.code != http.StatusUnauthorized {
		t.Errorf("revoked key after the cache TTL: %d, want 401", res.code)
	}

	// Expiry is checked on every request, cached or not.
	k2 := f.key(t, auth.KeySpec{Role: auth.RoleViewer, TTL: time.Minute})
	if res := f.do(t, "GET", "/view", k2.Token, nil, nil); res.code != http.StatusOK {
		t.Fatal(res.code)
	}
	f.clock.Add(time.Minute)
	if res := f.do(t, "GET", "/view", k2.Token, nil, nil); res.code != http.StatusUnauthorized {
		t.Errorf("expired key with a warm cache: %d, want 401", res.code)
	}
}

func TestCacheTTLZeroReadsEveryRequest(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) { o.CacheTTL = 0 })
	k := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	f.do(t, "GET", "/view", k.Token, nil, nil)
	if _, err := f.st.RevokeAPIKey(context.Background(), k.Key.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if res := f.do(t, "GET", "/view", k.Token, nil, nil); res.code != http.StatusUnauthorized {
		t.Errorf("revoked key with CacheTTL 0: %d, want 401 at once", res.code)
	}
}

func TestSignedRequests(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) { o.MaxSignedBody = 64 })
	k := f.key(t, auth.KeySpec{Role: auth.RoleIngest, Signed: true})
	plain := f.key(t, auth.KeySpec{Role: auth.RoleIngest})
	body := []byte(`{"kind":"auth.failure"}`)

	res := f.do(t, "POST", "/ingest", k.Token, body, f.signer(t, k, ""))
	if res.code != http.StatusOK || !res.echo.Signed || res.echo.Body != string(body) {
		t.Fatalf("signed request: %d %+v (the handler must get the body back)", res.code, res.echo)
	}
	if res := f.do(t, "POST", "/ingest", k.Token, body, nil); res.code != http.StatusUnauthorized {
		t.Errorf("unsigned request of a signing key: %d, want 401", res.code)
	}

	fixedNonce := "fixed-nonce-0123456789"
	if res := f.do(t, "POST", "/ingest", k.Token, body, f.signer(t, k, fixedNonce)); res.code != http.StatusOK {
		t.Fatalf("first use of a nonce: %d", res.code)
	}
	if res := f.do(t, "POST", "/ingest", k.Token, body, f.signer(t, k, fixedNonce)); res.code != http.StatusUnauthorized {
		t.Errorf("replayed nonce: %d, want 401", res.code)
	}

	tamper := map[string]func(*http.Request, []byte){
		"body changed after signing": func(r *http.Request, b []byte) {
			f.signer(t, k, "")(r, b)
			r.Body = io.NopCloser(strings.NewReader(`{"kind":"auth.success"}`))
		},
		"signature of another key": func(r *http.Request, b []byte) {
			f.signer(t, k, "")(r, b)
			other := f.key(t, auth.KeySpec{Role: auth.RoleIngest, Signed: true})
			r.Header.Set(auth.HeaderSignature, auth.Sign(mustHex(t, other.SigningSecret), r.Method, r.URL.RequestURI(),
				r.Header.Get(auth.HeaderTimestamp), r.Header.Get(auth.HeaderNonce), b))
		},
		"key header of another key": func(r *http.Request, b []byte) {
			f.signer(t, k, "")(r, b)
			r.Header.Set(auth.HeaderKey, plain.Key.ID)
		},
		"stale timestamp": func(r *http.Request, b []byte) {
			if err := auth.SignRequest(r, k.Key.ID, k.SigningSecret, b, f.clock.Now().Add(-auth.MaxClockSkew-time.Second), ""); err != nil {
				t.Fatal(err)
			}
		},
		"future timestamp": func(r *http.Request, b []byte) {
			if err := auth.SignRequest(r, k.Key.ID, k.SigningSecret, b, f.clock.Now().Add(auth.MaxClockSkew+time.Second), ""); err != nil {
				t.Fatal(err)
			}
		},
		"upper-case hex": func(r *http.Request, b []byte) {
			f.signer(t, k, "")(r, b)
			r.Header.Set(auth.HeaderSignature, strings.ToUpper(r.Header.Get(auth.HeaderSignature)))
		},
	}
	for name, sign := range tamper {
		if res := f.do(t, "POST", "/ingest", k.Token, body, sign); res.code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, res.code)
		}
	}
	// Within the window, an old timestamp is fine.
	at := func(r *http.Request, b []byte) {
		if err := auth.SignRequest(r, k.Key.ID, k.SigningSecret, b, f.clock.Now().Add(-auth.MaxClockSkew+time.Second), ""); err != nil {
			t.Fatal(err)
		}
	}
	if res := f.do(t, "POST", "/ingest", k.Token, body, at); res.code != http.StatusOK {
		t.Errorf("timestamp 4m59s old: %d, want 200", res.code)
	}

	// A key that need not sign may: then its signature is checked too.
	if res := f.do(t, "POST", "/ingest", plain.Token, body, f.signer(t, k, "")); res.code != http.StatusUnauthorized {
		t.Errorf("unsigned-key request with a wrong signature: %d, want 401", res.code)
	}
	if res := f.do(t, "POST", "/ingest", plain.Token, body, nil); res.code != http.StatusOK || res.echo.Signed {
		t.Errorf("plain key without signature: %d signed=%v", res.code, res.echo.Signed)
	}

	big := bytes.Repeat([]byte("x"), 65)
	if res := f.do(t, "POST", "/ingest", k.Token, big, f.signer(t, k, "")); res.code != http.StatusRequestEntityTooLarge {
		t.Errorf("signed body over the cap: %d, want 413", res.code)
	}

	// After the nonce window the nonce may be reused (with a new timestamp).
	f.clock.Add(auth.NonceTTL)
	if res := f.do(t, "POST", "/ingest", k.Token, body, f.signer(t, k, fixedNonce)); res.code != http.StatusOK {
		t.Errorf("nonce reused after NonceTTL: %d, want 200", res.code)
	}
}

func TestRateLimits(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) {
		o.Limits.Read = auth.Limit{RPS: 1, Burst: 2}
		o.Limits.Ingest = auth.Limit{RPS: 10, Burst: 3}
	})
	a := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	b := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	ing := f.key(t, auth.KeySpec{Role: auth.RoleIngest})
	for i := range 2 {
		if res := f.do(t, "GET", "/view", a.Token, nil, nil); res.code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i, res.code)
		}
	}
	res := f.do(t, "GET", "/view", a.Token, nil, nil)
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") != "1" {
		t.Fatalf("over the key's burst: %d, Retry-After %q; want 429 and 1", res.code, res.header.Get("Retry-After"))
	}
	// The address (the same loopback for both keys) has spent its read
	// budget too: key b is limited by the per-address bucket.
	if res := f.do(t, "GET", "/view", b.Token, nil, nil); res.code != http.StatusTooManyRequests {
		t.Errorf("another key from the same address: %d, want 429", res.code)
	}
	// Another class has its own buckets.
	if res := f.do(t, "POST", "/ingest", ing.Token, nil, nil); res.code != http.StatusOK {
		t.Errorf("ingest after reads were limited: %d", res.code)
	}
	f.clock.Add(time.Second)
	if res := f.do(t, "GET", "/view", a.Token, nil, nil); res.code != http.StatusOK {
		t.Errorf("after a refill: %d", res.code)
	}

	if err := f.authn.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var hits []event.Event
	for _, ev := range f.rec.events() {
		if ev.Kind == auth.KindRateLimitHit {
			hits = append(hits, ev)
		}
	}
	if len(hits) != 2 {
		t.Fatalf("recorded %d ratelimit.hit events, want 2 (key a, address for key b): %+v", len(hits), hits)
	}
	for _, ev := range hits {
		at := ev.Attributes
		if at["route"] != "GET /view" || at["class"] != "read" || at["limit"] != "1/s burst 2" || at["count"] != "1" || at["ip"] != "127.0.0.1" || ev.Source != "secopsd" {
			t.Errorf("ratelimit.hit = %+v", ev)
		}
		switch at["scope"] {
		case "key":
			if at["key_id"] != a.Key.ID {
				t.Errorf("key-scope hit names key %q, want %q", at["key_id"], a.Key.ID)
			}
		case "ip":
			if at["key_id"] != b.Key.ID {
				t.Errorf("ip-scope hit names key %q, want %q", at["key_id"], b.Key.ID)
			}
		default:
			t.Errorf("hit scope %q", at["scope"])
		}
	}
}

func TestRateLimitHitsAreAggregated(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) { o.Limits.Read = auth.Limit{RPS: 1, Burst: 1} })
	k := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	f.do(t, "GET", "/view", k.Token, nil, nil)
	for range 50 {
		if res := f.do(t, "GET", "/view", k.Token, nil, nil); res.code != http.StatusTooManyRequests {
			t.Fatalf("flood: %d", res.code)
		}
	}
	if err := f.authn.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := f.rec.events()
	if len(evs) != 1 || evs[0].Attributes["count"] != "50" {
		t.Fatalf("a flood of 50 hits made %d events (%+v), want 1 with count 50", len(evs), evs)
	}
}

func TestBruteForceIsLimitedBeforeCredentialsAreChecked(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) { o.Limits.AuthFailure = auth.Limit{RPS: 0.5, Burst: 3} })
	k := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	bad := wrongSecret(k.Token)
	for range 3 {
		if res := f.do(t, "GET", "/view", bad, nil, nil); res.code != http.StatusUnauthorized {
			t.Fatalf("failure within the burst: %d", res.code)
		}
	}
	reads := f.st.reads.Load()
	res := f.do(t, "GET", "/view", bad, nil, nil)
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") != "2" {
		t.Errorf("4th failure: %d, Retry-After %q; want 429 and 2", res.code, res.header.Get("Retry-After"))
	}
	if f.st.reads.Load() != reads {
		t.Error("a throttled address still made the store (and bcrypt) work")
	}
	f.clock.Add(2 * time.Second)
	if res := f.do(t, "GET", "/view", k.Token, nil, nil); res.code != http.StatusOK {
		t.Errorf("good key after the refill: %d", res.code)
	}
}

func TestTrustedProxies(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) {
		o.Limits.AuthFailure = auth.Limit{RPS: 0.001, Burst: 1}
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	send := func(xff string) int {
		req, _ := http.NewRequest("GET", f.srv.URL+"/view", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Each client behind the proxy has its own failure budget of 1.
	for _, xff := range []string{"203.0.113.1", "203.0.113.2", "198.51.100.7, 203.0.113.3", "2001:db8:1:2::1"} {
		if got := send(xff); got != http.StatusUnauthorized {
			t.Errorf("first failure of %s: %d, want 401", xff, got)
		}
	}
	if got := send("203.0.113.1"); got != http.StatusTooManyRequests {
		t.Errorf("second failure of 203.0.113.1: %d, want 429", got)
	}
	// An IPv6 client's neighbours in its /64 share its budget.
	if got := send("2001:db8:1:2::99"); got != http.StatusTooManyRequests {
		t.Errorf("same /64: %d, want 429", got)
	}
	// The right-most untrusted hop counts, not what the client claims.
	if got := send("203.0.113.1, 127.0.0.5"); got != http.StatusTooManyRequests {
		t.Errorf("client behind two proxies: %d, want 429", got)
	}
	if got := send("203.0.113.9, 203.0.113.3"); got != http.StatusTooManyRequests {
		t.Errorf("spoofed left-most hop: %d, want 429 (203.0.113.3 is the client)", got)
	}
}

func TestUntrustedPeerCannotForgeItsAddress(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) { o.Limits.AuthFailure = auth.Limit{RPS: 0.001, Burst: 1} })
	for i, xff := range []string{"", "203.0.113.1"} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/view", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := []int{401, 429}[i]; resp.StatusCode != want {
			t.Errorf("request %d (X-Forwarded-For %q): %d, want %d", i, xff, resp.StatusCode, want)
		}
	}
}

func TestStoreFailureIs503(t *testing.T) {
	st := openStore(t)
	mk := masterKey(t, st)
	k, err := auth.CreateKey(context.Background(), st, mk, auth.KeySpec{Role: auth.RoleViewer, Cost: bcrypt.MinCost}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Options{Store: st, MasterKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	h := authn.Require(auth.RoleViewer, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") }))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+k.Token)
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "sql") {
		t.Errorf("store down: %d %q, want 503 without internals", w.Code, w.Body.String())
	}
}

func TestStartStopRecordsPending(t *testing.T) {
	f := newFixture(t, func(o *auth.Options) { o.FlushInterval = time.Hour })
	f.authn.Start()
	f.do(t, "GET", "/view", "", nil, nil)
	if err := f.authn.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if evs := f.rec.events(); len(evs) != 1 || evs[0].Kind != auth.KindAuthFailure {
		t.Errorf("after Stop: %+v, want the pending auth.failure recorded", evs)
	}
	if err := f.authn.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestLastUseIsRecorded(t *testing.T) {
	f := newFixture(t, nil)
	k := f.key(t, auth.KeySpec{Role: auth.RoleViewer})
	f.do(t, "GET", "/view", k.Token, nil, nil)
	if err := f.authn.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.GetAPIKey(context.Background(), k.Key.ID)
	if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("last use = %v, %v; want %v", got.LastUsedAt, err, f.clock.Now())
	}
}

func TestOptionsAreValidated(t *testing.T) {
	st := openStore(t)
	for name, o := range map[string]auth.Options{
		"no store":      {MasterKey: make([]byte, 32)},
		"short master":  {Store: st, MasterKey: []byte("x")},
		"long cache":    {Store: st, MasterKey: make([]byte, 32), CacheTTL: time.Minute},
		"burst 0 limit": {Store: st, MasterKey: make([]byte, 32), Limits: auth.Limits{Read: auth.Limit{RPS: 1}}},
	} {
		if _, err := auth.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrongSecret returns token with the first character of its secret
// changed: same key id, wrong secret.
func wrongSecret(token string) string {
	i := len(auth.TokenPrefix) + auth.KeyIDLen + 1
	c := byte('b')
	if token[i] == c {
		c = 'c'
	}
	return token[:i] + string(c) + token[i+1:]
}
