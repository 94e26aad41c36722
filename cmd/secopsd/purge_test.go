package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// purgeTier is a Tierer for seeding incidents: always MINOR.
type purgeTier struct{}

func (purgeTier) Tier(context.Context, incident.TierInput) (incident.Tier, error) {
	return incident.TierMinor, nil
}

// seedOldIncident stores n events received eight days ago, opens an
// incident from them through the incident engine (its timeline refers to
// each event) and stores one recent event. It returns the incident.
func seedOldIncident(t *testing.T, url string, n int) incident.Incident {
	t.Helper()
	ctx := context.Background()
	old := time.Now().Add(-8 * 24 * time.Hour)
	st, err := store.Open(ctx, url, store.Options{Migrate: true, Now: func() time.Time { return old }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := incident.New(incident.Options{Store: st, Tierer: purgeTier{}, Clock: incident.ClockFunc(func() time.Time { return old })})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ev := event.Event{ID: fmt.Sprintf("old-%d", i), Time: old, Source: "shop", Kind: "secret.leaked",
			Fingerprint: "fp-purge", Severity: event.SeverityCritical, OpenIncident: true}
		if _, err := st.AppendEvents(ctx, []event.Event{ev}); err != nil {
			t.Fatal(err)
		}
		if err := eng.HandleEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	inc, err := st.OpenIncidentByFingerprint(ctx, "fp-purge")
	if err != nil {
		t.Fatal(err)
	}
	recent, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer recent.Close()
	if _, err := recent.AppendEvents(ctx, []event.Event{{ID: "recent", Time: time.Now(), Source: "shop", Kind: "deploy"}}); err != nil {
		t.Fatal(err)
	}
	return inc
}

func TestPurgeCommandSQLite(t *testing.T) {
	runPurgeCommand(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"))
}

func TestPurgeCommandPostgres(t *testing.T) {
	runPurgeCommand(t, storetest.PostgresURL(t))
}

// runPurgeCommand: `secopsd purge --dry-run` counts and changes nothing;
// `secopsd purge` deletes the events past their retention, records the
// purge (purge log and event), and the incident whose timeline referred
// to the deleted events stays readable with every hash chain intact.
func runPurgeCommand(t *testing.T, url string) {
	dir := t.TempDir()
	cfg := eventsConfig(t, dir, "127.0.0.1:0", url)
	inc := seedOldIncident(t, url, 3)

	code, out, errOut := cli(t, "purge", "--dry-run", "--config", cfg)
	if code != 0 {
		t.Fatalf("purge --dry-run: %d %s", code, errOut)
	}
	if !strings.Contains(out, "dry run: nothing was deleted") || !strings.Contains(out, "WOULD DELETE") {
		t.Errorf("dry run output:\n%s", out)
	}
	if code, out, _ := cli(t, "events", "list", "--json", "--config", cfg); code != 0 || strings.Count(out, `"id"`) != 4 {
		t.Fatalf("after a dry run the events are not all there (%d):\n%s", code, out)
	}

	code, out, errOut = cli(t, "purge", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("purge: %d %s", code, errOut)
	}
	var rep retention.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("purge --json: %v\n%s", err, out)
	}
	var events retention.Result
	for _, r := range rep.Results {
		if r.DataType == retention.DataEvents {
			events = r
		}
	}
	if rep.DryRun || !strings.HasPrefix(rep.Actor, "cli") || events.Deleted != 3 || events.RecordID == 0 || events.Retention != "7d" {
		t.Fatalf("report = %+v", rep)
	}

	code, out, errOut = cli(t, "timeline", "verify", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ok: 1 incident(s)") {
		t.Fatalf("timeline verify after the purge: %d %s %s", code, out, errOut)
	}
	code, out, _ = cli(t, "incidents", "show", fmt.Sprint(inc.ID), "--config", cfg)
	if code != 0 || !strings.Contains(out, "Hash chain: intact") {
		t.Fatalf("incidents show after the purge: %d\n%s", code, out)
	}
	code, out, _ = cli(t, "events", "list", "--json", "--config", cfg)
	if code != 0 || strings.Contains(out, `"old-`) || !strings.Contains(out, `"recent"`) || !strings.Contains(out, retention.EventKind) {
		t.Fatalf("events after the purge (%d):\n%s", code, out)
	}

	// A second purge deletes nothing and is still recorded.
	code, out, errOut = cli(t, "purge", "--config", cfg)
	if code != 0 || !strings.Contains(out, "DATA TYPE") {
		t.Fatalf("second purge: %d %s %s", code, out, errOut)
	}
	st := storetest.OpenURL(t, url)
	recs, err := st.ListPurges(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].DataType != retention.DataEvents || recs[0].Deleted != 0 || recs[1].Deleted != 3 || !strings.HasPrefix(recs[1].Actor, "cli") {
		t.Errorf("purge log = %+v", recs)
	}
}

func TestPurgeCommandUsage(t *testing.T) {
	if code, _, errOut := cli(t, "purge", "now"); code != 2 || !strings.Contains(errOut, `unexpected argument "now"`) {
		t.Errorf("purge now: %d %q", code, errOut)
	}
	if code, _, errOut := cli(t, "purge", "--config", filepath.Join(t.TempDir(), "missing.yaml")); code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("purge with a missing config: %d %q, want one line", code, errOut)
	}
}
