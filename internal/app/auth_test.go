package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// newKey creates an API key through the running daemon's authenticator
// (and so in its store). bcrypt runs at its minimum cost: the cost-12
// hashing of real keys is covered by the CLI and auth tests.
func newKey(t *testing.T, a interface{ Auth() *auth.Authenticator }, role auth.Role) auth.NewKey {
	t.Helper()
	k, err := a.Auth().CreateKey(context.Background(), auth.KeySpec{Role: role, Name: "test " + string(role), Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("create %s key: %v", role, err)
	}
	return k
}

// authGet GETs url with the bearer token ("" sends none).
func authGet(t *testing.T, url, token string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return http.DefaultClient.Do(req)
}

// signed is one signed request, kept so that it can be replayed verbatim.
type signed struct {
	method, path string
	header       http.Header
	body         []byte
}

// sign prepares a signed request for key k at now with nonce ("" picks a
// random one).
func sign(t *testing.T, k auth.NewKey, method, path string, body []byte, now time.Time, nonce string) signed {
	t.Helper()
	req, err := http.NewRequest(method, "http://placeholder"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.Token)
	if err := auth.SignRequest(req, k.Key.ID, k.SigningSecret, body, now, nonce); err != nil {
		t.Fatal(err)
	}
	return signed{method: method, path: path, header: req.Header, body: body}
}

// send sends s to the daemon at addr and returns the status and body.
func (s signed) send(t *testing.T, addr string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(s.method, "http://"+addr+s.path, bytes.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = s.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a log sink safe for the daemon's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testApp is a daemon started by authApp; stop stops it once.
type testApp struct {
	*app.App
	once sync.Once
}

func (a *testApp) stop(t *testing.T) {
	a.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

// authApp starts a daemon without monitors on storeURL with the extra
// YAML appended to its configuration, logging at debug level into log
// (which may be nil). It is stopped when the test ends, if not before.
func authApp(t *testing.T, storeURL, extra string, log io.Writer) *testApp {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("listen: 127.0.0.1:0\nstore:\n  url: %q\npolicies: ../../policies\n%s", storeURL, extra)), "auth.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	if log == nil {
		log = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), app.Options{Config: cfg, Logger: logger, Version: "test"})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ta := &testApp{App: a}
	t.Cleanup(func() { ta.stop(t) })
	return ta
}

func status(t *testing.T, url, token string) int {
	t.Helper()
	resp, err := authGet(t, url, token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAPIKeysAndRolesEndToEnd(t *testing.T) {
	var log syncBuffer
	a := authApp(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), "", &log)
	base := "http://" + a.Addr()

	viewer, ingest := newKey(t, a, auth.RoleViewer), newKey(t, a, auth.RoleIngest)
	expired, err := a.Auth().CreateKey(context.Background(), auth.KeySpec{Role: auth.RoleViewer, TTL: time.Microsecond, Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"no key", "/api/v1/incidents", "", http.StatusUnauthorized},
		{"viewer", "/api/v1/incidents", viewer.Token, http.StatusOK},
		{"viewer, metrics", "/metrics", viewer.Token, http.StatusOK},
		{"no key, metrics", "/metrics", "", http.StatusUnauthorized},
		{"no key, health", "/healthz", "", http.StatusOK},
		{"no key, readiness", "/readyz", "", http.StatusOK},
		{"ingest on a viewer route", "/api/v1/incidents", ingest.Token, http.StatusForbidden},
		{"expired", "/api/v1/incidents", expired.Token, http.StatusUnauthorized},
		{"wrong secret", "/api/v1/incidents", wrongSecret(viewer.Token), http.StatusUnauthorized},
	} {
		if got := status(t, base+tc.path, tc.token); got != tc.want {
			t.Errorf("%s: GET %s = %d, want %d", tc.name, tc.path, got, tc.want)
		}
	}

	// The failures were recorded as events, without any secret.
	evs := waitEvents(t, a.Store(), auth.KindAuthFailure, 1)
	for _, ev := range evs {
		if ev.Source != auth.EventSource || ev.Attributes["reason"] == "" || ev.Attributes["ip"] == "" {
			t.Errorf("auth.failure event = %+v", ev)
		}
	}
	assertNoSecrets(t, a.Store(), &log, viewer.Token, ingest.Token, expired.Token)
}

// waitEvents polls the store until at least n events of kind are there.
func waitEvents(t *testing.T, st store.Store, kind string, n int) []event.Event {
	t.Helper()
	var evs []event.Event
	eventually(t, 10*time.Second, fmt.Sprintf("%d %s event(s)", n, kind), func() bool {
		var err error
		evs, err = st.ListEvents(context.Background(), store.EventFilter{Kind: kind})
		return err == nil && len(evs) >= n
	})
	return evs
}

// assertNoSecrets fails if any secret appears in the stored events or the
// log.
func assertNoSecrets(t *testing.T, st store.Store, log *syncBuffer, secrets ...string) {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), store.EventFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	all := log.String() + fmt.Sprintf("%+v", evs)
	for _, s := range secrets {
		_, secret, _ := auth.ParseToken(s)
		for _, x := range []string{s, secret} {
			if x != "" && strings.Contains(all, x) {
				t.Error("a secret appears in the events or the log")
			}
		}
	}
}

func TestRevokedKeyStopsWorkingOnARunningDaemon(t *testing.T) {
	a := authApp(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), "auth: {key_cache_ttl: 1s}\n", nil)
	base := "http://" + a.Addr()
	k := newKey(t, a, auth.RoleViewer)
	if got := status(t, base+"/api/v1/incidents", k.Token); got != http.StatusOK {
		t.Fatalf("before revocation: %d", got)
	}
	// The cache is warm now; revoke behind its back, through the store.
	if _, err := a.Store().RevokeAPIKey(context.Background(), k.Key.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	eventually(t, 5*time.Second, "the revoked key to be refused", func() bool {
		return status(t, base+"/api/v1/incidents", k.Token) == http.StatusUnauthorized
	})
	if d := time.Since(revoked); d > 3*time.Second {
		t.Errorf("revocation took %s to apply with key_cache_ttl 1s", d)
	}
}

func TestSignedRequestsAndReplayAcrossRestart(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "s.db")
	a := authApp(t, url, "", nil)
	admin := newKey(t, a, auth.RoleAdmin)
	if admin.SigningSecret == "" || !admin.Key.RequireSignature {
		t.Fatalf("admin key without a signing secret: %+v", admin.Key)
	}

	now := time.Now()
	req := sign(t, admin, "GET", "/api/v1/incidents?status=open", nil, now, "")
	if code, body := req.send(t, a.Addr()); code != http.StatusOK {
		t.Fatalf("signed admin request: %d %s", code, body)
	}
	if code, _ := req.send(t, a.Addr()); code != http.StatusUnauthorized {
		t.Errorf("replayed request: %d, want 401", code)
	}
	// An admin key without a signature is refused.
	if got := status(t, "http://"+a.Addr()+"/api/v1/incidents", admin.Token); got != http.StatusUnauthorized {
		t.Errorf("unsigned admin request: %d, want 401", got)
	}
	for name, s := range map[string]signed{
		"stale timestamp":  sign(t, admin, "GET", "/api/v1/incidents", nil, now.Add(-6*time.Minute), ""),
		"future timestamp": sign(t, admin, "GET", "/api/v1/incidents", nil, now.Add(6*time.Minute), ""),
		"other path": func() signed {
			s := sign(t, admin, "GET", "/api/v1/incidents", nil, now, "")
			s.path += "?status=open"
			return s
		}(),
	} {
		if code, _ := s.send(t, a.Addr()); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}

	// Restart on the same store: the nonce is still spent, the signing
	// secret still valid.
	a.stop(t)
	b := authApp(t, url, "", nil)
	if code, _ := req.send(t, b.Addr()); code != http.StatusUnauthorized {
		t.Errorf("request replayed after a restart: %d, want 401", code)
	}
	if code, body := sign(t, admin, "GET", "/api/v1/incidents", nil, time.Now(), "").send(t, b.Addr()); code != http.StatusOK {
		t.Errorf("fresh signed request after a restart: %d %s", code, body)
	}
}

func TestReplayAcrossReplicasPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	a := authApp(t, url, "", nil)
	b := authApp(t, url, "", nil)
	// A key made through one replica works on the other: the master key
	// is shared through the store.
	admin := newKey(t, a, auth.RoleAdmin)
	req := sign(t, admin, "GET", "/api/v1/incidents", nil, time.Now(), "")
	if code, body := req.send(t, b.Addr()); code != http.StatusOK {
		t.Fatalf("signed request to replica b: %d %s", code, body)
	}
	if code, _ := req.send(t, a.Addr()); code != http.StatusUnauthorized {
		t.Errorf("the same request replayed to replica a: %d, want 401", code)
	}
	if code, _ := req.send(t, b.Addr()); code != http.StatusUnauthorized {
		t.Errorf("the same request replayed to replica b: %d, want 401", code)
	}
}

func TestRateLimitAnswers429AndRecordsTheHit(t *testing.T) {
	var log syncBuffer
	a := authApp(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), "auth:\n  rate_limits:\n    read: {rps: 0.5, burst: 2}\n", &log)
	base := "http://" + a.Addr()
	k := newKey(t, a, auth.RoleViewer)
	var limited *http.Response
	for i := range 6 {
		resp, err := authGet(t, base+"/api/v1/incidents", k.Token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if i < 2 && resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
		}
	}
	if limited == nil {
		t.Fatal("6 requests at once against burst 2: none got 429")
	}
	if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After = %q, want 1 or 2 seconds at 0.5/s", limited.Header.Get("Retry-After"))
	}
	// The 4 hits are recorded with their count, in one event per second
	// at most (they may straddle one flush).
	var evs []event.Event
	eventually(t, 10*time.Second, "4 hits recorded", func() bool {
		evs = waitEvents(t, a.Store(), auth.KindRateLimitHit, 1)
		n := 0
		for _, ev := range evs {
			c, _ := strconv.Atoi(ev.Attributes["count"])
			n += c
		}
		return n == 4
	})
	if len(evs) > 2 {
		t.Errorf("4 hits within a few milliseconds made %d events, want at most 2", len(evs))
	}
	for _, ev := range evs {
		want := map[string]string{"route": "GET /api/v1/incidents", "key_id": k.Key.ID, "ip": "127.0.0.1", "class": "read", "scope": "key", "limit": "0.5/s burst 2"}
		for attr, v := range want {
			if ev.Attributes[attr] != v {
				t.Errorf("ratelimit.hit attribute %s = %q, want %q (event %+v)", attr, ev.Attributes[attr], v, ev)
			}
		}
		if ev.Source != "secopsd" || ev.Severity == event.SeverityUnknown || ev.Fingerprint == "" {
			t.Errorf("ratelimit.hit event not classified or identified: %+v", ev)
		}
	}
	// The address's read budget refills at 0.5/s; then the count shows.
	other := newKey(t, a, auth.RoleViewer)
	var body []byte
	eventually(t, 10*time.Second, "/metrics with a fresh key", func() bool {
		resp, err := authGet(t, base+"/metrics", other.Token)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK
	})
	if !strings.Contains(string(body), `secopsd_api_rate_limited_total{class="read",scope="key"} 4`) {
		t.Errorf("/metrics lacks the rate-limit count:\n%s", body)
	}
	assertNoSecrets(t, a.Store(), &log, k.Token)
}

func TestBruteForceIsThrottledPerAddress(t *testing.T) {
	a := authApp(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), "auth:\n  rate_limits:\n    auth_failure: {rps: 0.1, burst: 3}\n", nil)
	base := "http://" + a.Addr()
	k := newKey(t, a, auth.RoleViewer)
	bad := wrongSecret(k.Token)
	for i := range 3 {
		if got := status(t, base+"/api/v1/incidents", bad); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, got)
		}
	}
	// The address has spent its failures: even a good key waits now.
	resp, err := authGet(t, base+"/api/v1/incidents", k.Token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 3 failures at burst 3: %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	evs := waitEvents(t, a.Store(), auth.KindRateLimitHit, 1)
	if evs[0].Attributes["class"] != "auth_failure" || evs[0].Attributes["scope"] != "ip" || evs[0].Attributes["ip"] != "127.0.0.1" {
		t.Errorf("brute-force hit = %+v", evs[0].Attributes)
	}
}

func TestStartAdvisesCreatingAnAdminKey(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "s.db")
	var log syncBuffer
	a := authApp(t, url, "", &log)
	const advice = "apikey create --role admin"
	if n := strings.Count(log.String(), advice); n != 1 {
		t.Errorf("fresh daemon logged the admin-key advice %d times, want once:\n%s", n, log.String())
	}
	if strings.Contains(log.String(), auth.TokenPrefix) {
		t.Errorf("the log shows a key:\n%s", log.String())
	}
	newKey(t, a, auth.RoleAdmin)
	a.stop(t)
	var log2 syncBuffer
	authApp(t, url, "", &log2)
	if strings.Contains(log2.String(), advice) {
		t.Errorf("daemon with an admin key still advises creating one:\n%s", log2.String())
	}
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
