package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// storeExporter is a plain exporter over a real store (the daemon's own,
// internal/app.TimelineExporter, is tested in internal/app): these tests
// are about the routes.
type storeExporter struct{ st store.Store }

func (s storeExporter) write(ctx context.Context, incs []incident.Incident, format string, w io.Writer, e incident.Export) error {
	f, err := incident.ParseExportFormat(format)
	if err != nil {
		return err
	}
	for _, inc := range incs {
		tl, err := s.st.Timeline(ctx, inc.ID)
		if err != nil {
			return err
		}
		e.Incidents = append(e.Incidents, incident.ExportIncident{Incident: inc, Entries: tl})
	}
	if f == incident.ExportCSV {
		return incident.WriteCSV(w, e)
	}
	return incident.WriteJSON(w, e)
}

func (s storeExporter) ExportIncident(ctx context.Context, id int64, format string, w io.Writer) error {
	inc, err := s.st.GetIncident(ctx, id)
	if err != nil {
		return err
	}
	return s.write(ctx, []incident.Incident{inc}, format, w, incident.Export{})
}

func (s storeExporter) ExportPeriod(ctx context.Context, since, until time.Time, format string, w io.Writer) error {
	incs, err := s.st.ListIncidents(ctx, incident.Filter{Since: since, Until: until})
	if err != nil {
		return err
	}
	return s.write(ctx, incs, format, w, incident.Export{Since: since, Until: until})
}

// failingExporter fails in the ways a real one can: before writing (err)
// or after some bytes (midway).
type failingExporter struct {
	err    error
	midway bool
}

func (f failingExporter) ExportIncident(ctx context.Context, _ int64, _ string, w io.Writer) error {
	return f.ExportPeriod(ctx, time.Time{}, time.Time{}, "", w)
}

func (f failingExporter) ExportPeriod(_ context.Context, _, _ time.Time, _ string, w io.Writer) error {
	if f.midway {
		_, _ = w.Write(bytes.Repeat([]byte(`{"format":"x","incidents":[`), 100))
	}
	return f.err
}

func exportServer(t *testing.T, ex func(store.Store) api.Exporter) (*httptest.Server, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i, day := range []int{1, 15, 31} {
		at := time.Date(2026, 1, day, 12, 0, 0, 0, time.UTC)
		inc, err := st.CreateIncident(ctx, incident.Incident{Fingerprint: fmt.Sprint("fp", i), Title: "=1+1", Monitor: "api",
			Severity: event.SeverityHigh, Tier: incident.TierMajor, Status: incident.StatusOpen, OpenedAt: at},
			incident.Entry{Time: at, Actor: "test", Kind: incident.KindOpened, Payload: map[string]int{"i": i}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.MutateIncident(ctx, inc.ID, func(*incident.Incident) ([]incident.Entry, error) {
			return []incident.Entry{{Time: at.Add(time.Minute), Actor: "test", Kind: incident.KindFailure, Payload: map[string]string{"status": "500"}}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := api.NewHandler(api.Options{Incidents: st, Ready: st.Ping, Auth: allowAll{}, Exports: ex(st)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st
}

func download(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp, b
}

func TestExportRoutes(t *testing.T) {
	srv, _ := exportServer(t, func(st store.Store) api.Exporter { return storeExporter{st} })
	for _, tc := range []struct {
		path, ctype, filename string
		incidents             int
	}{
		{"/api/v1/incidents/2/export", "application/json", "secopsd-incident-2-timeline.json", 1},
		{"/api/v1/incidents/2/export?format=csv", "text/csv", "secopsd-incident-2-timeline.csv", 1},
		{"/api/v1/export?since=2026-01-01", "application/json", "secopsd-timeline-20260101.json", 3},
		{"/api/v1/export?since=2026-01-01&until=2026-01-15&format=csv", "text/csv", "secopsd-timeline-20260101-20260116.csv", 2},
		{"/api/v1/export?since=2026-01-15T12:00:01Z&until=2026-01-31T12:00:00Z&format=json", "application/json", "secopsd-timeline-20260115-20260131.json", 0},
		{"/api/v1/export?since=2026-02-01", "application/json", "secopsd-timeline-20260201.json", 0},
	} {
		resp, body := download(t, srv.URL+tc.path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, body)
			continue
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) ||
			resp.Header.Get("Content-Disposition") != `attachment; filename="`+tc.filename+`"` ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", tc.path, resp.Header)
		}
		rep, err := incident.VerifyExport(bytes.NewReader(body))
		if err != nil || rep.Incidents != tc.incidents || rep.Entries != 2*tc.incidents {
			t.Errorf("%s: verify %+v %v\n%s", tc.path, rep, err, body)
		}
	}
}

func TestExportRoutesBadRequests(t *testing.T) {
	srv, _ := exportServer(t, func(st store.Store) api.Exporter { return storeExporter{st} })
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/api/v1/incidents/abc/export", http.StatusBadRequest, "id: want a positive integer"},
		{"/api/v1/incidents/0/export", http.StatusBadRequest, "id: want a positive integer"},
		{"/api/v1/incidents/2/export?format=xml", http.StatusBadRequest, `format \"xml\": want json or csv`},
		{"/api/v1/incidents/99/export", http.StatusNotFound, "incident 99 not found"},
		{"/api/v1/export", http.StatusBadRequest, "since: required"},
		{"/api/v1/export?since=yesterday", http.StatusBadRequest, "since: \\\"yesterday\\\": want a date (YYYY-MM-DD)"},
		{"/api/v1/export?since=2026-01-01&until=01/02/2026", http.StatusBadRequest, "until: "},
		{"/api/v1/export?since=2026-01-02&until=2026-01-01", http.StatusBadRequest, "until: want a time after since"},
		{"/api/v1/export?since=2026-01-01&format=pdf", http.StatusBadRequest, `format \"pdf\"`},
	} {
		code, body := get(t, srv.URL+tc.path, nil)
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %s, want %d with %q", tc.path, code, body, tc.code, tc.msg)
		}
	}
}

func TestExportRoutesFailures(t *testing.T) {
	srv, _ := exportServer(t, func(store.Store) api.Exporter {
		return failingExporter{err: fmt.Errorf("more than 10000: %w", incident.ErrExportTooLarge)}
	})
	if code, body := get(t, srv.URL+"/api/v1/export?since=2020-01-01", nil); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "shorter period") {
		t.Errorf("too large: %d %s", code, body)
	}
	srv, _ = exportServer(t, func(store.Store) api.Exporter {
		return failingExporter{err: errors.New("disk on fire at /var/lib/secret")}
	})
	if code, body := get(t, srv.URL+"/api/v1/incidents/1/export", nil); code != http.StatusInternalServerError || strings.Contains(body, "secret") {
		t.Errorf("store error: %d %s", code, body)
	}
	// A failure after the first byte aborts the download: the client sees
	// an error, never a clean end of a shorter export.
	srv, _ = exportServer(t, func(store.Store) api.Exporter {
		return failingExporter{err: errors.New("connection lost"), midway: true}
	})
	for _, path := range []string{"/api/v1/export?since=2020-01-01", "/api/v1/incidents/1/export"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("%s: a failed export downloaded cleanly", path)
		}
	}
}

func TestExportRoutesNeedViewer(t *testing.T) {
	g := newGuarded(t, api.Options{Exports: failingExporter{err: incident.ErrNotFound}})
	viewer, admin, ingest := g.key(t, auth.RoleViewer), g.key(t, auth.RoleAdmin), g.key(t, auth.RoleIngest)
	for _, path := range []string{"/api/v1/incidents/1/export", "/api/v1/export?since=2026-01-01"} {
		for _, tc := range []struct {
			key  *auth.NewKey
			want int
		}{{nil, http.StatusUnauthorized}, {&ingest, http.StatusForbidden}, {&viewer, http.StatusNotFound}, {&admin, http.StatusNotFound}} {
			if code, _, body := g.do(t, "GET", path, tc.key); code != tc.want {
				t.Errorf("GET %s with %v: %d %s, want %d", path, tc.key != nil, code, body, tc.want)
			}
		}
	}
}
