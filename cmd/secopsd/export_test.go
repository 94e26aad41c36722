package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// seedExportIncidents stores three incidents opened on 2026-01-05,
// 2026-02-10 and 2026-03-20, each with three timeline entries (one payload
// starts like a spreadsheet formula), and returns their ids.
func seedExportIncidents(t *testing.T, url string) []int64 {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenURL(t, url)
	defer st.Close()
	var ids []int64
	for i, at := range []time.Time{
		time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC),
	} {
		inc, err := st.CreateIncident(ctx, incident.Incident{Fingerprint: fmt.Sprint("export-", i), Title: "=cmd|' /C calc'!A0",
			Monitor: "api", Severity: event.SeverityHigh, Tier: incident.TierMajor, Status: incident.StatusOpen, OpenedAt: at},
			incident.Entry{Time: at, Actor: incident.ActorEngine, Kind: incident.KindOpened, Payload: map[string]any{"status": 500, "i": i}})
		if err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			if _, _, err := st.MutateIncident(ctx, inc.ID, func(*incident.Incident) ([]incident.Entry, error) {
				return []incident.Entry{{Time: at.Add(time.Duration(j+1) * time.Minute), Actor: "-cli:alice", Kind: incident.KindFailure,
					Payload: map[string]any{"attempt": j + 1, "note": "a, \"quoted\"\nline"}}}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, inc.ID)
	}
	return ids
}

func TestTimelineExportAndVerifySQLite(t *testing.T) {
	runTimelineExport(t, "sqlite://"+filepath.Join(t.TempDir(), "secopsd.db"))
}

func TestTimelineExportAndVerifyPostgres(t *testing.T) {
	runTimelineExport(t, storetest.PostgresURL(t))
}

// runTimelineExport: an export verifies without the database, a one-byte
// change of a payload in the file makes verification exit 1 naming the
// incident and entry, and an export of a tampered store does not verify.
func runTimelineExport(t *testing.T, url string) {
	dir := t.TempDir()
	cfg := eventsConfig(t, dir, "127.0.0.1:0", url)
	ids := seedExportIncidents(t, url)

	for _, format := range []string{"json", "csv"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, "export."+format)
			code, _, errOut := cli(t, "timeline", "export", "--since", "2026-01-01", "--until", "2026-02-28", "--format", format, "--out", out, "--config", cfg)
			if code != 0 {
				t.Fatalf("export: %d %s", code, errOut)
			}
			// Verification needs no configuration and no database.
			code, stdout, errOut := cli(t, "timeline", "verify", "--file", out)
			if code != 0 || !strings.Contains(stdout, "ok: "+out+": 2 incident(s), 6 timeline entries") {
				t.Fatalf("verify: %d %s %s", code, stdout, errOut)
			}

			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			old := `"attempt":2`
			if format == "csv" {
				old = `""attempt"":2`
			}
			if bytes.Count(b, []byte(old)) != 2 {
				t.Fatalf("%q not found twice in\n%s", old, b)
			}
			// Change one byte in the second incident's third entry.
			i := bytes.LastIndex(b, []byte(old)) + len(old) - 1
			b[i] = '3'
			tampered := filepath.Join(dir, "tampered."+format)
			if err := os.WriteFile(tampered, b, 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, errOut = cli(t, "timeline", "verify", "--file", tampered)
			want := fmt.Sprintf("incident %d, entry 3", ids[1])
			if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(stdout, fmt.Sprintf("BROKEN incident %d: timeline entry 3", ids[1])) {
				t.Errorf("verify of a tampered file: %d\nstdout %s\nstderr %s\nwant %q", code, stdout, errOut, want)
			}
		})
	}

	// One incident to stdout; the date of --until includes that day.
	code, stdout, errOut := cli(t, "timeline", "export", "--incident", fmt.Sprint(ids[2]), "--format", "csv", "--config", cfg)
	if code != 0 || strings.Count(stdout, "\n") != 4 || !strings.Contains(stdout, fmt.Sprintf("\n%d,'=cmd|", ids[2])) {
		t.Fatalf("export --incident: %d %s\n%s", code, errOut, stdout)
	}
	code, stdout, _ = cli(t, "timeline", "export", "--since", "2026-03-01", "--until", "2026-03-20", "--config", cfg)
	if code != 0 {
		t.Fatal(code)
	}
	if rep, err := incident.VerifyExport(strings.NewReader(stdout)); err != nil || rep.Incidents != 1 {
		t.Errorf("March export: %+v %v\n%s", rep, err, stdout)
	}

	// A tampered store exports a file that fails verification.
	st := storetest.OpenURL(t, url)
	storetest.TamperTimelinePayload(t, st, ids[0], 2, `{"attempt":1,"note":"nothing happened"}`)
	st.Close()
	out := filepath.Join(dir, "from-tampered-store.json")
	if code, _, errOut := cli(t, "timeline", "export", "--since", "2026-01-01", "--out", out, "--config", cfg); code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	code, _, errOut = cli(t, "timeline", "verify", "--file", out)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("incident %d, entry 2", ids[0])) || !strings.Contains(errOut, "1 of 3 incident(s) broken") {
		t.Errorf("verify of an export of a tampered store: %d %s", code, errOut)
	}
	// The store verification without --file still works.
	if code, _, errOut := cli(t, "timeline", "verify", "--config", cfg); code != 1 || !strings.Contains(errOut, fmt.Sprintf("incident %d, entry 2", ids[0])) {
		t.Errorf("timeline verify of the store: %d %s", code, errOut)
	}
}

func TestTimelineExportUsage(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "secopsd.db")
	cfg := eventsConfig(t, dir, "127.0.0.1:0", url)
	st, err := store.Open(context.Background(), url, store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"timeline"}, 2, "want a subcommand: verify or export"},
		{[]string{"timeline", "sign"}, 2, `unknown subcommand "sign"`},
		{[]string{"timeline", "export", "--config", cfg}, 2, "want --since (or --incident ID)"},
		{[]string{"timeline", "export", "--since", "last week", "--config", cfg}, 2, "--since \"last week\": want a date (YYYY-MM-DD)"},
		{[]string{"timeline", "export", "--since", "2026-02-01", "--until", "2026-01-01", "--config", cfg}, 2, "--until: want a time after --since"},
		{[]string{"timeline", "export", "--since", "2026-01-01", "--format", "xml", "--config", cfg}, 2, `--format: format "xml": want json or csv`},
		{[]string{"timeline", "export", "--incident", "3", "--since", "2026-01-01", "--config", cfg}, 2, "drop --since and --until"},
		{[]string{"timeline", "export", "--incident", "42", "--config", cfg}, 1, "incident 42 not found"},
		{[]string{"timeline", "verify", "--file", filepath.Join(dir, "missing.json")}, 1, "no such file"},
		{[]string{"timeline", "verify", "--file", writeFile(t, dir, "junk.csv", "a,b\n1,2\n")}, 1, "malformed timeline export: csv line 1: header"},
	} {
		code, _, errOut := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: %d %q, want %d with %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
	// A failed export leaves no file behind.
	out := filepath.Join(dir, "never.json")
	if code, _, _ := cli(t, "timeline", "export", "--incident", "42", "--out", out, "--config", cfg); code != 1 {
		t.Fatal(code)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), "never") {
			t.Errorf("a failed export left %s", e.Name())
		}
	}
}
