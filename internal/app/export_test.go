package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// exportIncidents stores n incidents opened a day apart from 2026-01-01,
// each with two entries.
func exportIncidents(t *testing.T, st store.Store, n int) []incident.Incident {
	t.Helper()
	ctx := context.Background()
	var out []incident.Incident
	for i := range n {
		at := time.Date(2026, 1, 1+i, 8, 0, 0, 0, time.UTC)
		inc, err := st.CreateIncident(ctx, incident.Incident{Fingerprint: fmt.Sprint("export-", i), Title: fmt.Sprint("incident ", i),
			Monitor: "api", Severity: event.SeverityHigh, Tier: incident.TierMajor, Status: incident.StatusOpen, OpenedAt: at},
			incident.Entry{Time: at, Actor: incident.ActorEngine, Kind: incident.KindOpened, Payload: map[string]int{"i": i}})
		if err != nil {
			t.Fatal(err)
		}
		inc, _, err = st.MutateIncident(ctx, inc.ID, func(*incident.Incident) ([]incident.Entry, error) {
			return []incident.Entry{{Time: at.Add(time.Minute), Actor: incident.ActorEngine, Kind: incident.KindFailure}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, inc)
	}
	return out
}

// appendingSource appends an entry to an incident just before its
// timeline is read, as a concurrent writer could between the export's
// listing and its read.
type appendingSource struct {
	store.Store
	t    *testing.T
	done map[int64]bool
}

func (s *appendingSource) Timeline(ctx context.Context, id int64) ([]incident.TimelineEntry, error) {
	if !s.done[id] {
		s.done[id] = true
		if _, _, err := s.MutateIncident(ctx, id, func(*incident.Incident) ([]incident.Entry, error) {
			return []incident.Entry{{Time: time.Now(), Actor: "test", Kind: "note.added"}}, nil
		}); err != nil {
			s.t.Fatal(err)
		}
	}
	return s.Store.Timeline(ctx, id)
}

func TestTimelineExporterSQLite(t *testing.T) {
	runTimelineExporter(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"))
}

func TestTimelineExporterPostgres(t *testing.T) {
	runTimelineExporter(t, storetest.PostgresURL(t))
}

func runTimelineExporter(t *testing.T, url string) {
	ctx := context.Background()
	st := storetest.OpenURL(t, url)
	incs := exportIncidents(t, st, 4)
	generated := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	x := app.TimelineExporter{Source: st, Now: func() time.Time { return generated }}

	// A period, oldest first, with its bounds and the injected clock.
	var buf bytes.Buffer
	since, until := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)
	if err := x.ExportPeriod(ctx, since, until, "json", &buf); err != nil {
		t.Fatal(err)
	}
	rep, err := incident.VerifyExport(bytes.NewReader(buf.Bytes()))
	if err != nil || rep.Incidents != 2 || rep.Entries != 4 {
		t.Fatalf("verify: %+v %v\n%s", rep, err, buf.String())
	}
	out := buf.String()
	if !strings.Contains(out, `"generated_at":"2026-06-01T00:00:00Z","since":"2026-01-02T00:00:00Z","until":"2026-01-04T00:00:00Z"`) ||
		strings.Index(out, fmt.Sprintf(`{"id":%d,`, incs[1].ID)) > strings.Index(out, fmt.Sprintf(`{"id":%d,`, incs[2].ID)) ||
		strings.Contains(out, fmt.Sprintf(`{"id":%d,`, incs[0].ID)) || strings.Contains(out, fmt.Sprintf(`{"id":%d,`, incs[3].ID)) {
		t.Errorf("period export:\n%s", out)
	}

	// Too many incidents, an unknown incident, a bad format: an error and
	// not a byte written.
	buf.Reset()
	small := app.TimelineExporter{Source: st, Max: 3}
	if err := small.ExportPeriod(ctx, time.Time{}, time.Time{}, "csv", &buf); !errors.Is(err, incident.ErrExportTooLarge) || buf.Len() != 0 {
		t.Errorf("4 incidents with Max 3: %v, %d bytes", err, buf.Len())
	}
	if err := x.ExportIncident(ctx, 9999, "json", &buf); !errors.Is(err, incident.ErrNotFound) || buf.Len() != 0 {
		t.Errorf("unknown incident: %v, %d bytes", err, buf.Len())
	}
	if err := x.ExportIncident(ctx, incs[0].ID, "xml", &buf); err == nil || buf.Len() != 0 {
		t.Errorf("xml: %v, %d bytes", err, buf.Len())
	}

	// Entries appended while the export runs: each incident is read again
	// and the export still verifies, holding the new entries.
	buf.Reset()
	racing := app.TimelineExporter{Source: &appendingSource{Store: st, t: t, done: map[int64]bool{}}}
	if err := racing.ExportPeriod(ctx, time.Time{}, time.Time{}, "csv", &buf); err != nil {
		t.Fatal(err)
	}
	if rep, err := incident.VerifyExport(&buf); err != nil || rep.Incidents != 4 || rep.Entries != 12 {
		t.Errorf("export with concurrent appends: %+v %v", rep, err)
	}

	// A tampered store gives an export that names the bad entry.
	storetest.TamperTimelinePayload(t, st, incs[2].ID, 1, `{"i":99}`)
	buf.Reset()
	if err := x.ExportIncident(ctx, incs[2].ID, "csv", &buf); err != nil {
		t.Fatal(err)
	}
	if _, err := incident.VerifyExport(&buf); !errors.Is(err, incident.ErrChainBroken) || !strings.Contains(err.Error(), fmt.Sprintf("incident %d, entry 1", incs[2].ID)) {
		t.Errorf("export of a tampered incident: %v", err)
	}
}

// TestExportOverTheDaemonsAPI: the routes are wired, need a key, and serve
// an export that verifies.
func TestExportOverTheDaemonsAPI(t *testing.T) {
	a := uiApp(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"), "", nil, nil)
	incs := exportIncidents(t, a.Store(), 2)
	viewer, ingest := newKey(t, a, auth.RoleViewer), newKey(t, a, auth.RoleIngest)
	base := "http://" + a.Addr()
	for _, tc := range []struct {
		path, token string
		code, n     int
	}{
		{"/api/v1/export?since=2026-01-01&format=csv", viewer.Token, http.StatusOK, 2},
		{fmt.Sprintf("/api/v1/incidents/%d/export", incs[1].ID), viewer.Token, http.StatusOK, 1},
		{"/api/v1/export?since=2026-01-01", "", http.StatusUnauthorized, 0},
		{"/api/v1/export?since=2026-01-01", ingest.Token, http.StatusForbidden, 0},
	} {
		resp, err := authGet(t, base+tc.path, tc.token)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.code)
			continue
		}
		if tc.code != http.StatusOK {
			continue
		}
		if rep, err := incident.VerifyExport(bytes.NewReader(body)); err != nil || rep.Incidents != tc.n {
			t.Errorf("%s: %+v %v", tc.path, rep, err)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
			t.Errorf("%s: Content-Disposition %q", tc.path, resp.Header.Get("Content-Disposition"))
		}
	}
}
