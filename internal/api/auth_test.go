package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/store"
)

// allowAll lets every request through: the handler tests of this package
// test the handlers; the guard's wiring is tested below with the real
// authenticator.
type allowAll struct{}

func (allowAll) Require(_ auth.Role, h http.Handler) http.Handler { return h }

// guarded is an API served with the real authenticator on a real store.
type guarded struct {
	srv   *httptest.Server
	authn *auth.Authenticator
}

func newGuarded(t *testing.T, opts api.Options) *guarded {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk, err := auth.LoadMasterKey(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	limits := auth.DefaultLimits()
	limits.AuthFailure = auth.Limit{} // this test fails on purpose, often
	authn, err := auth.New(auth.Options{Store: st, MasterKey: mk, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	opts.Incidents, opts.Ready, opts.Auth = st, st.Ping, authn
	h, err := api.NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &guarded{srv: srv, authn: authn}
}

// key creates a key of role (cheap bcrypt: this tests wiring, not hashing).
func (g *guarded) key(t *testing.T, role auth.Role) auth.NewKey {
	t.Helper()
	k, err := g.authn.CreateKey(context.Background(), auth.KeySpec{Role: role, Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// do sends a request with k's credentials (signed when k has a signing
// secret; none when k is nil) and returns the status and body.
func (g *guarded) do(t *testing.T, method, path string, k *auth.NewKey) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k != nil {
		req.Header.Set("Authorization", "Bearer "+k.Token)
		if k.SigningSecret != "" {
			if err := auth.SignRequest(req, k.Key.ID, k.SigningSecret, nil, time.Now(), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// apiRoutes are requests under /api/: the routes that exist (and those
// the ingestion API adds), wrong methods, and paths that match nothing.
var apiRoutes = [][2]string{
	{"GET", "/api/v1/incidents"},
	{"GET", "/api/v1/incidents?status=open"},
	{"GET", "/api/v1/incidents/1"},
	{"GET", "/api/v1/incidents/abc"},
	{"POST", "/api/v1/incidents"},
	{"DELETE", "/api/v1/incidents/1"},
	{"GET", "/api/v1/events"},
	{"POST", "/api/v1/events"},
	{"GET", "/api/v1/nope"},
	{"GET", "/api/"},
	{"PUT", "/api/v2/anything/at/all"},
}

func TestEveryAPIRouteNeedsAKey(t *testing.T) {
	g := newGuarded(t, api.Options{})
	for _, rt := range apiRoutes {
		code, hdr, body := g.do(t, rt[0], rt[1], nil)
		if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s without a key: %d (WWW-Authenticate %q), want 401 with a Bearer challenge", rt[0], rt[1], code, hdr.Get("WWW-Authenticate"))
		}
		if hdr.Get("Content-Security-Policy") == "" || !strings.Contains(body, "unauthorized") {
			t.Errorf("%s %s: security headers or JSON error missing: %q", rt[0], rt[1], body)
		}
	}
}

func TestIncidentRoutesNeedViewer(t *testing.T) {
	g := newGuarded(t, api.Options{})
	viewer, admin, ingest := g.key(t, auth.RoleViewer), g.key(t, auth.RoleAdmin), g.key(t, auth.RoleIngest)
	for _, tc := range []struct {
		key  *auth.NewKey
		path string
		want int
	}{
		{&viewer, "/api/v1/incidents", http.StatusOK},
		{&viewer, "/api/v1/incidents/999", http.StatusNotFound},
		{&admin, "/api/v1/incidents", http.StatusOK},
		{&ingest, "/api/v1/incidents", http.StatusForbidden},
		{&ingest, "/api/v1/incidents/1", http.StatusForbidden},
		{&viewer, "/api/v1/nope", http.StatusNotFound},
	} {
		if code, _, body := g.do(t, "GET", tc.path, tc.key); code != tc.want {
			t.Errorf("GET %s as %s: %d %s, want %d", tc.path, tc.key.Key.Role, code, body, tc.want)
		}
	}
	// A wrong method on a known path says nothing more than 404 either.
	if code, _, _ := g.do(t, "POST", "/api/v1/incidents", &viewer); code != http.StatusNotFound {
		t.Errorf("POST /api/v1/incidents as viewer: %d, want 404", code)
	}
}

func TestProbesAndMetricsPublicOrProtected(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "secopsd_up 1\n") })
	for _, tc := range []struct {
		name                         string
		protectHealth, publicMetrics bool
		health, metrics              int // status without a key
	}{
		{"defaults", false, false, http.StatusOK, http.StatusUnauthorized},
		{"all public", false, true, http.StatusOK, http.StatusOK},
		{"all protected", true, false, http.StatusUnauthorized, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuarded(t, api.Options{Metrics: metrics, ProtectHealth: tc.protectHealth, PublicMetrics: tc.publicMetrics})
			for _, p := range []string{"/healthz", "/readyz"} {
				if code, _, _ := g.do(t, "GET", p, nil); code != tc.health {
					t.Errorf("GET %s without a key: %d, want %d", p, code, tc.health)
				}
			}
			if code, _, _ := g.do(t, "GET", "/metrics", nil); code != tc.metrics {
				t.Errorf("GET /metrics without a key: %d, want %d", code, tc.metrics)
			}
			viewer, ingest := g.key(t, auth.RoleViewer), g.key(t, auth.RoleIngest)
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if code, _, _ := g.do(t, "GET", p, &viewer); code != http.StatusOK {
					t.Errorf("GET %s with a viewer key: %d, want 200", p, code)
				}
			}
			if tc.metrics == http.StatusUnauthorized {
				if code, _, _ := g.do(t, "GET", "/metrics", &ingest); code != http.StatusForbidden {
					t.Errorf("GET /metrics with an ingest key: %d, want 403", code)
				}
			}
		})
	}
}

func TestNewHandlerRequiresAuth(t *testing.T) {
	_, err := api.NewHandler(api.Options{Incidents: nopIncidents{}, Ready: func(context.Context) error { return nil }})
	if err == nil || !strings.Contains(err.Error(), "Auth") {
		t.Errorf("NewHandler without Auth: %v, want an error naming Auth", err)
	}
}

// nopIncidents stands in for a store that is never read.
type nopIncidents struct{ api.IncidentReader }
