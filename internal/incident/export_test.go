package incident_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// sealedIncident builds an incident with n sealed timeline entries, as a
// store would hold it.
func sealedIncident(id int64, title string, n int, payload func(i int) string) incident.ExportIncident {
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	inc := incident.Incident{ID: id, Fingerprint: fmt.Sprintf("fp-%d", id), Title: title, Monitor: "api",
		Severity: event.SeverityHigh, Tier: incident.TierMajor, Status: incident.StatusOpen, OpenedAt: base}
	var entries []incident.TimelineEntry
	for i := range n {
		e := incident.TimelineEntry{IncidentID: id, Time: base.Add(time.Duration(i) * time.Minute),
			Actor: "secopsd/engine", Kind: incident.KindFailure, Payload: json.RawMessage(payload(i))}
		var prev *incident.TimelineEntry
		if i > 0 {
			prev = &entries[i-1]
		}
		incident.Seal(prev, &e)
		entries = append(entries, e)
	}
	inc.LastSeq, inc.HeadHash = entries[n-1].Seq, entries[n-1].Hash
	return incident.ExportIncident{Incident: inc, Entries: entries}
}

func sampleExport() incident.Export {
	return incident.Export{
		GeneratedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		Since:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Incidents: []incident.ExportIncident{
			sealedIncident(1, "api down", 3, func(i int) string { return fmt.Sprintf(`{"attempt":%d,"status":500}`, i) }),
			sealedIncident(2, "tls expiring", 4, func(i int) string { return fmt.Sprintf(`{"days_left":%d}`, 7-i) }),
			sealedIncident(3, "headers", 2, func(i int) string { return `{"note":"a \"quoted\", comma"}` }),
		},
	}
}

func write(t *testing.T, f incident.ExportFormat, e incident.Export) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if f == incident.ExportCSV {
		err = incident.WriteCSV(&buf, e)
	} else {
		err = incident.WriteJSON(&buf, e)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var formats = []incident.ExportFormat{incident.ExportJSON, incident.ExportCSV}

func TestExportRoundTripVerifies(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			b := write(t, f, sampleExport())
			rep, err := incident.VerifyExport(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("verify: %v\n%s", err, b)
			}
			if rep.Incidents != 3 || rep.Entries != 9 || len(rep.Broken) != 0 {
				t.Fatalf("report = %+v", rep)
			}
		})
	}
}

func TestExportJSONDocument(t *testing.T) {
	b := write(t, incident.ExportJSON, sampleExport())
	var doc struct {
		Format      string                    `json:"format"`
		GeneratedAt time.Time                 `json:"generated_at"`
		Since       *time.Time                `json:"since"`
		Until       *time.Time                `json:"until"`
		Incidents   []incident.ExportIncident `json:"incidents"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, b)
	}
	if doc.Format != incident.ExportFormatID || doc.Since == nil || !doc.Since.Equal(sampleExport().Since) || doc.Until != nil ||
		!doc.GeneratedAt.Equal(sampleExport().GeneratedAt) {
		t.Errorf("header = %+v", doc)
	}
	want := sampleExport().Incidents
	if len(doc.Incidents) != len(want) {
		t.Fatalf("%d incidents", len(doc.Incidents))
	}
	for i, got := range doc.Incidents {
		w := want[i]
		if got.ID != w.ID || got.Title != w.Title || got.HeadHash != w.HeadHash || got.LastSeq != w.LastSeq ||
			got.Severity != w.Severity || got.Tier != w.Tier || !got.OpenedAt.Equal(w.OpenedAt) || len(got.Entries) != len(w.Entries) {
			t.Errorf("incident %d = %+v", i, got)
			continue
		}
		for j, e := range got.Entries {
			if e.Seq != w.Entries[j].Seq || e.Hash != w.Entries[j].Hash || e.PrevHash != w.Entries[j].PrevHash ||
				string(e.Payload) != string(w.Entries[j].Payload) || !e.Time.Equal(w.Entries[j].Time) {
				t.Errorf("incident %d entry %d = %+v", w.ID, j, e)
			}
		}
	}
}

func TestExportCSVRows(t *testing.T) {
	b := write(t, incident.ExportCSV, sampleExport())
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := "incident_id,incident_title,status,head_hash,last_seq,seq,time,actor,kind,payload,prev_hash,hash"
	if strings.Join(rows[0], ",") != want {
		t.Errorf("header = %q", rows[0])
	}
	if len(rows) != 1+9 {
		t.Fatalf("%d rows, want a header and one per entry", len(rows))
	}
	inc := sampleExport().Incidents[1]
	r := rows[4] // incident 2, seq 1
	if r[0] != "2" || r[1] != "tls expiring" || r[2] != "open" || r[3] != inc.HeadHash || r[4] != "4" || r[5] != "1" ||
		r[6] != "2026-01-02T03:04:05.123456Z" || r[9] != `{"days_left":7}` || r[10] != "" || r[11] != inc.Entries[0].Hash {
		t.Errorf("row = %q", r)
	}
}

// TestExportCSVDefusesFormulas: cells a spreadsheet would evaluate start
// with an apostrophe, and verification undoes it (actor and kind are part
// of the hash).
func TestExportCSVDefusesFormulas(t *testing.T) {
	inc := sealedIncident(7, "=HYPERLINK(\"http://evil\",\"x\")", 1, func(int) string { return `-1` })
	for _, c := range []struct{ actor, kind string }{{"+cmd|' /C calc'!A0", "@SUM(1)"}, {"'quoted", "\tkind"}, {"-x", "\rk"}} {
		e := incident.TimelineEntry{IncidentID: 7, Time: inc.Entries[0].Time, Actor: c.actor, Kind: c.kind, Payload: json.RawMessage(`{}`)}
		incident.Seal(&inc.Entries[len(inc.Entries)-1], &e)
		inc.Entries = append(inc.Entries, e)
	}
	last := inc.Entries[len(inc.Entries)-1]
	inc.LastSeq, inc.HeadHash = last.Seq, last.Hash
	b := write(t, incident.ExportCSV, incident.Export{Incidents: []incident.ExportIncident{inc}})
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %d cell %q would be evaluated by a spreadsheet", i, cell)
			}
		}
	}
	if rows[1][1] != `'=HYPERLINK("http://evil","x")` || rows[1][9] != "'-1" || rows[3][7] != "''quoted" {
		t.Errorf("rows = %q", rows)
	}
	if rep, err := incident.VerifyExport(bytes.NewReader(b)); err != nil || rep.Entries != 4 {
		t.Fatalf("verify: %+v %v\n%s", rep, err, b)
	}
}

// tamper changes an export in one way an attacker (or an accident) might.
type tamper struct {
	name       string
	fn         func(e *incident.Export)
	incident   int64
	seq        int64
	reasonPart string
}

var tampers = []tamper{
	{"changed payload", func(e *incident.Export) {
		e.Incidents[1].Entries[1].Payload = json.RawMessage(`{"days_left":60}`)
	}, 2, 2, "entry was modified"},
	{"changed actor", func(e *incident.Export) { e.Incidents[0].Entries[0].Actor = "someone else" }, 1, 1, "entry was modified"},
	{"changed time", func(e *incident.Export) {
		e.Incidents[0].Entries[2].Time = e.Incidents[0].Entries[2].Time.Add(time.Microsecond)
	}, 1, 3, "entry was modified"},
	{"removed entry", func(e *incident.Export) {
		es := e.Incidents[1].Entries
		e.Incidents[1].Entries = append(es[:1:1], es[2:]...)
	}, 2, 3, "entry missing or inserted"},
	{"reordered entries", func(e *incident.Export) {
		es := e.Incidents[1].Entries
		es[1], es[2] = es[2], es[1]
	}, 2, 3, "entry missing or inserted"},
	{"inserted entry", func(e *incident.Export) {
		es := e.Incidents[0].Entries
		extra := es[1]
		extra.Kind = "note.added"
		e.Incidents[0].Entries = append(es[:2:2], append([]incident.TimelineEntry{extra}, es[2:]...)...)
	}, 1, 2, "entry missing or inserted"},
	{"truncated tail", func(e *incident.Export) {
		e.Incidents[1].Entries = e.Incidents[1].Entries[:3]
	}, 2, 4, "entries removed or head modified"},
	{"changed head", func(e *incident.Export) { e.Incidents[2].HeadHash = strings.Repeat("0", 64) }, 3, 2, "entries removed or head modified"},
	{"duplicated incident", func(e *incident.Export) {
		e.Incidents = append(e.Incidents, e.Incidents[0])
	}, 1, 0, "more than once"},
}

func TestVerifyExportDetectsTampering(t *testing.T) {
	for _, f := range formats {
		for _, tc := range tampers {
			t.Run(string(f)+"/"+tc.name, func(t *testing.T) {
				e := sampleExport()
				tc.fn(&e)
				b := write(t, f, e)
				rep, err := incident.VerifyExport(bytes.NewReader(b))
				if !errors.Is(err, incident.ErrChainBroken) {
					t.Fatalf("err = %v, want ErrChainBroken\n%s", err, b)
				}
				if len(rep.Broken) != 1 {
					t.Fatalf("broken = %v", rep.Broken)
				}
				ce := rep.Broken[0]
				if ce.IncidentID != tc.incident || ce.Seq != tc.seq || !strings.Contains(ce.Reason, tc.reasonPart) {
					t.Errorf("broken = %v, want incident %d entry %d (%s)", ce, tc.incident, tc.seq, tc.reasonPart)
				}
				want := fmt.Sprintf("incident %d, entry %d", tc.incident, tc.seq)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			})
		}
	}
}

// TestVerifyExportDetectsByteTampering edits one byte of a payload in the
// written file, as an editor would.
func TestVerifyExportDetectsByteTampering(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			b := write(t, f, sampleExport())
			old := []byte(`days_left":6`)
			if f == incident.ExportCSV {
				old = []byte(`days_left"":6`)
			}
			if bytes.Count(b, old) != 1 {
				t.Fatalf("payload not found once in\n%s", b)
			}
			b = bytes.Replace(b, old, bytes.Replace(old, []byte("6"), []byte("9"), 1), 1)
			_, err := incident.VerifyExport(bytes.NewReader(b))
			if !errors.Is(err, incident.ErrChainBroken) || !strings.Contains(err.Error(), "incident 2, entry 2") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestVerifyExportCSVSplitIncident(t *testing.T) {
	b := write(t, incident.ExportCSV, sampleExport())
	lines := strings.SplitAfter(string(b), "\n")
	// Move incident 1's last row after incident 2's rows.
	moved := append(append(append([]string{}, lines[:3]...), lines[4:8]...), lines[3])
	moved = append(moved, lines[8:]...)
	rep, err := incident.VerifyExport(strings.NewReader(strings.Join(moved, "")))
	if !errors.Is(err, incident.ErrChainBroken) || len(rep.Broken) != 2 || rep.Broken[0].IncidentID != 1 || rep.Broken[1].IncidentID != 1 ||
		!strings.Contains(rep.Broken[1].Reason, "more than once") {
		t.Fatalf("err = %v, broken = %v", err, rep.Broken)
	}
	// A row whose incident columns disagree with the incident's first row.
	lines2 := strings.SplitAfter(string(b), "\n")
	lines2[2] = strings.Replace(lines2[2], "api down", "api up", 1)
	rep, err = incident.VerifyExport(strings.NewReader(strings.Join(lines2, "")))
	if !errors.Is(err, incident.ErrChainBroken) || len(rep.Broken) != 1 || !strings.Contains(rep.Broken[0].Reason, "line 3") {
		t.Fatalf("err = %v, broken = %v", err, rep.Broken)
	}
}

func TestVerifyExportMalformed(t *testing.T) {
	good := write(t, incident.ExportJSON, sampleExport())
	for name, in := range map[string]string{
		"empty":           "",
		"blank":           " \n\t",
		"truncated json":  string(good[:len(good)/2]),
		"unclosed json":   strings.TrimSuffix(string(good), "\n]}\n"),
		"other format":    strings.Replace(string(good), incident.ExportFormatID, "something/v9", 1),
		"unknown field":   strings.Replace(string(good), `"generated_at"`, `"extra":1,"generated_at"`, 1),
		"unknown entry":   strings.Replace(string(good), `"seq":1,`, `"seq":1,"x":2,`, 1),
		"no incidents":    `{"format":"` + incident.ExportFormatID + `"}`,
		"trailing data":   string(good) + "{}",
		"duplicate field": `{"format":"` + incident.ExportFormatID + `","incidents":[],"incidents":[]}`,
		"csv header":      "id,title\n1,x\n",
		"csv columns":     strings.Join([]string{"incident_id,incident_title,status,head_hash,last_seq,seq,time,actor,kind,payload,prev_hash,hash", "1,x"}, "\n"),
		"csv bad id":      "incident_id,incident_title,status,head_hash,last_seq,seq,time,actor,kind,payload,prev_hash,hash\nx,t,open,h,1,1,2026-01-01T00:00:00Z,a,k,{},,h\n",
		"csv bad time":    "incident_id,incident_title,status,head_hash,last_seq,seq,time,actor,kind,payload,prev_hash,hash\n1,t,open,h,1,1,yesterday,a,k,{},,h\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := incident.VerifyExport(strings.NewReader(in))
			if !errors.Is(err, incident.ErrBadExport) {
				t.Fatalf("err = %v, want ErrBadExport", err)
			}
		})
	}
	_, err := incident.VerifyExport(strings.NewReader("incident_id,incident_title,status,head_hash,last_seq,seq,time,actor,kind,payload,prev_hash,hash\nx,t,open,h,1,1,2026-01-01T00:00:00Z,a,k,{},,h\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "incident_id") {
		t.Errorf("error does not name the line and column: %v", err)
	}
}

func TestVerifyExportAcceptsBOMAndEmptyExport(t *testing.T) {
	for _, f := range formats {
		b := append([]byte("\xef\xbb\xbf"), write(t, f, incident.Export{})...)
		rep, err := incident.VerifyExport(bytes.NewReader(b))
		if err != nil || rep.Incidents != 0 {
			t.Errorf("%s: %+v %v", f, rep, err)
		}
	}
}

func TestParsePeriodBound(t *testing.T) {
	day := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	if got, err := incident.ParsePeriodBound("2026-01-31", false); err != nil || !got.Equal(day) {
		t.Errorf("since = %v %v", got, err)
	}
	if got, err := incident.ParsePeriodBound("2026-01-31", true); err != nil || !got.Equal(day.AddDate(0, 0, 1)) {
		t.Errorf("until = %v %v", got, err)
	}
	if got, err := incident.ParsePeriodBound("2026-01-31T10:00:00+02:00", true); err != nil || !got.Equal(day.Add(8*time.Hour)) {
		t.Errorf("rfc3339 = %v %v", got, err)
	}
	if _, err := incident.ParsePeriodBound("31/01/2026", false); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("bad bound: %v", err)
	}
	if f, err := incident.ParseExportFormat("CSV"); err != nil || f != incident.ExportCSV {
		t.Errorf("format = %v %v", f, err)
	}
	if _, err := incident.ParseExportFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
}

func FuzzVerifyExport(f *testing.F) {
	var j, c bytes.Buffer
	_ = incident.WriteJSON(&j, sampleExport())
	_ = incident.WriteCSV(&c, sampleExport())
	f.Add(j.Bytes())
	f.Add(c.Bytes())
	f.Add([]byte(""))
	f.Add([]byte(`{"format":"secopsd.timeline-export/v1","incidents":[{"id":1,"entries":[{"seq":1,"payload":null}]}]}`))
	f.Add([]byte("incident_id,incident_title,status,head_hash,last_seq,seq,time,actor,kind,payload,prev_hash,hash\n1,'=x,open,h,1,1,2026-01-01T00:00:00Z,a,k,\"{\"\"a\"\":1}\",,h\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := incident.VerifyExport(bytes.NewReader(b))
		if err == nil && len(rep.Broken) != 0 {
			t.Fatalf("no error but broken chains: %v", rep.Broken)
		}
		if err != nil && !errors.Is(err, incident.ErrBadExport) && !errors.Is(err, incident.ErrChainBroken) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func BenchmarkVerifyExport(b *testing.B) {
	e := incident.Export{}
	for i := range 100 {
		e.Incidents = append(e.Incidents, sealedIncident(int64(i+1), "incident", 20, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) }))
	}
	for _, f := range formats {
		var buf bytes.Buffer
		if f == incident.ExportCSV {
			_ = incident.WriteCSV(&buf, e)
		} else {
			_ = incident.WriteJSON(&buf, e)
		}
		b.Run(string(f), func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				if _, err := incident.VerifyExport(bytes.NewReader(buf.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
