package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/monitors"
)

// selfAuditMonitor is a headers monitor of urls that holds secopsd to the
// strictest settings: grade A+ and nothing ignored.
func selfAuditMonitor(t *testing.T, urls ...string) config.Monitor {
	t.Helper()
	m, ok := config.DefaultMonitor("headers")
	if !ok {
		t.Fatal("no headers monitor type")
	}
	m.Name = "secopsd-self-audit"
	m.Headers.URLs = urls
	m.Headers.MinGrade = "A+"
	return m
}

func checkNoFindings(t *testing.T, res monitors.Result) {
	t.Helper()
	for _, f := range res.Findings {
		t.Errorf("%s (%s): %s — %s", f.ID, f.Target, f.Title, f.Evidence)
	}
	if !res.Success || res.Details["grade"] != "A+" {
		t.Errorf("self-audit: success %v, details %v", res.Success, res.Details)
	}
}

// TestSelfAudit runs the headers monitor against the real daemon's own
// routes: secopsd must pass its own audit. The daemon serves plain HTTP on
// loopback, so the HSTS checks (https URLs only) do not apply here; see
// TestSelfAuditTLS.
func TestSelfAudit(t *testing.T) {
	cfg, err := config.Parse([]byte(`
listen: 127.0.0.1:0
store:
  url: "sqlite://`+filepath.ToSlash(filepath.Join(t.TempDir(), "self.db"))+`"
policies: ../../policies
`), "selfaudit.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	base := "http://" + a.Addr()
	m := selfAuditMonitor(t,
		base+"/healthz",
		base+"/api/v1/incidents",
		base+"/metrics",
		base+"/no-such-route",
	)
	res := monitors.ProbeHeaders(ctx, m, monitors.Env{}, nil)
	checkNoFindings(t, res)
	if res.Details["status:"+base+"/no-such-route"] != "404" || res.Details["status:"+base+"/healthz"] != "200" {
		t.Errorf("statuses: %v", res.Details)
	}
}

// TestSelfAuditTLS audits the daemon's security headers served over TLS,
// where Strict-Transport-Security must pass as well.
func TestSelfAuditTLS(t *testing.T) {
	srv := httptest.NewTLSServer(api.SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})))
	defer srv.Close()
	m := selfAuditMonitor(t, srv.URL+"/healthz", srv.URL+"/no-such-route")
	env := monitors.Env{Transport: func() http.RoundTripper { return srv.Client().Transport.(*http.Transport).Clone() }}
	res := monitors.ProbeHeaders(context.Background(), m, env, nil)
	checkNoFindings(t, res)
}
