package incident

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Timeline exports let an auditor keep and check incident timelines without
// access to the database: every entry is exported with its sequence number,
// its hash and its predecessor's hash, and every incident with its recorded
// head (last_seq, head_hash), so that VerifyExport can recompute every chain
// with VerifyChain. An export proves that each timeline is internally intact
// and ends at the recorded head; compare a head hash with the live system
// (the UI, `secopsd incidents show`) to anchor an export to the store.
//
// The functions here are pure: they encode to and decode from the readers
// and writers they are given and do no other I/O.

// ExportFormatID names the export document format and its version; it is
// the "format" field of a JSON export.
const ExportFormatID = "secopsd.timeline-export/v1"

// MaxExportIncidents bounds how many incidents one period export holds.
const MaxExportIncidents = 10000

// ErrExportTooLarge is returned when a period export would hold more than
// MaxExportIncidents incidents.
var ErrExportTooLarge = errors.New("export too large: choose a shorter period")

// ErrBadExport is wrapped by every error about an export that cannot be read
// (not JSON or CSV of the expected shape).
var ErrBadExport = errors.New("malformed timeline export")

// ExportFormat is an encoding of an export.
type ExportFormat string

// The export encodings.
const (
	ExportJSON ExportFormat = "json"
	ExportCSV  ExportFormat = "csv"
)

// ParseExportFormat returns the encoding named s ("json" or "csv"; empty
// means JSON).
func ParseExportFormat(s string) (ExportFormat, error) {
	switch strings.ToLower(s) {
	case "", "json":
		return ExportJSON, nil
	case "csv":
		return ExportCSV, nil
	}
	return "", fmt.Errorf("format %q: want json or csv", s)
}

// ContentType is the media type of an export in this encoding.
func (f ExportFormat) ContentType() string {
	if f == ExportCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/json; charset=utf-8"
}

// Export is a set of incidents with their complete timelines, as written by
// WriteJSON and WriteCSV.
type Export struct {
	// Format is ExportFormatID (filled in when empty).
	Format string
	// GeneratedAt is when the export was made.
	GeneratedAt time.Time
	// Since and Until bound the period whose incidents (by opening time)
	// the export holds; zero means unbounded.
	Since, Until time.Time
	// Incidents are the exported incidents, each with its whole timeline.
	Incidents []ExportIncident
}

// ExportIncident is one incident with its whole timeline.
type ExportIncident struct {
	Incident
	Entries []TimelineEntry `json:"entries"`
}

// ParsePeriodBound parses a period bound: a date (YYYY-MM-DD, UTC) or an
// RFC 3339 time. A date given as the end of a period (end true) means the
// end of that day, so that --until 2026-01-31 includes the 31st.
func ParsePeriodBound(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date (YYYY-MM-DD) or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// WriteJSON writes e as one JSON document.
func WriteJSON(w io.Writer, e Export) error { return writeExport(w, ExportJSON, e) }

// WriteCSV writes e as CSV: a header row, then one row per timeline entry.
func WriteCSV(w io.Writer, e Export) error { return writeExport(w, ExportCSV, e) }

func writeExport(w io.Writer, f ExportFormat, e Export) error {
	x, err := NewExportWriter(w, f, e)
	if err != nil {
		return err
	}
	for _, inc := range e.Incidents {
		if err := x.Add(inc); err != nil {
			return err
		}
	}
	return x.Close()
}

// ExportWriter streams an export one incident at a time, so that a large
// export never has to be held in memory. Close completes the document; an
// export whose writer was not closed does not verify.
type ExportWriter struct {
	format ExportFormat
	bw     *bufio.Writer
	csv    *csv.Writer
	n      int
	err    error
	closed bool
}

// csvHeader is the header row of a CSV export.
var csvHeader = []string{"incident_id", "incident_title", "status", "head_hash", "last_seq",
	"seq", "time", "actor", "kind", "payload", "prev_hash", "hash"}

// exportHeader is the metadata of a JSON export.
type exportHeader struct {
	Format      string     `json:"format"`
	GeneratedAt time.Time  `json:"generated_at"`
	Since       *time.Time `json:"since"`
	Until       *time.Time `json:"until"`
}

// NewExportWriter starts an export in format f on w with meta's metadata
// (meta.Incidents is ignored: pass incidents to Add).
func NewExportWriter(w io.Writer, f ExportFormat, meta Export) (*ExportWriter, error) {
	if f != ExportJSON && f != ExportCSV {
		return nil, fmt.Errorf("export format %q: want json or csv", f)
	}
	x := &ExportWriter{format: f, bw: bufio.NewWriterSize(w, 64<<10)}
	if f == ExportCSV {
		x.csv = csv.NewWriter(x.bw)
		x.err = x.csv.Write(csvHeader)
		return x, x.err
	}
	h := exportHeader{Format: meta.Format, GeneratedAt: meta.GeneratedAt.UTC()}
	if h.Format == "" {
		h.Format = ExportFormatID
	}
	if !meta.Since.IsZero() {
		s := meta.Since.UTC()
		h.Since = &s
	}
	if !meta.Until.IsZero() {
		u := meta.Until.UTC()
		h.Until = &u
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode export header: %w", err)
	}
	x.write(b[:len(b)-1])
	x.write([]byte(`,"incidents":[`))
	return x, x.err
}

func (x *ExportWriter) write(b []byte) {
	if x.err == nil {
		_, x.err = x.bw.Write(b)
	}
}

// Add writes one incident with its timeline.
func (x *ExportWriter) Add(inc ExportIncident) error {
	if x.closed {
		return errors.New("export writer is closed")
	}
	if x.err != nil {
		return x.err
	}
	if x.format == ExportCSV {
		for _, e := range inc.Entries {
			row := []string{
				strconv.FormatInt(inc.ID, 10), inc.Title, string(inc.Status), inc.HeadHash,
				strconv.FormatInt(inc.LastSeq, 10), strconv.FormatInt(e.Seq, 10),
				NormalizeTime(e.Time).Format(time.RFC3339Nano), e.Actor, e.Kind,
				string(e.Payload), e.PrevHash, e.Hash,
			}
			for i := range row {
				row[i] = csvEscape(row[i])
			}
			if err := x.csv.Write(row); err != nil {
				x.err = fmt.Errorf("write incident %d: %w", inc.ID, err)
				return x.err
			}
		}
		x.n++
		return nil
	}
	head, err := json.Marshal(inc.Incident)
	if err != nil {
		x.err = fmt.Errorf("encode incident %d: %w", inc.ID, err)
		return x.err
	}
	if x.n > 0 {
		x.write([]byte(","))
	}
	x.write([]byte("\n"))
	x.write(head[:len(head)-1])
	x.write([]byte(`,"entries":[`))
	for i, e := range inc.Entries {
		b, err := json.Marshal(e)
		if err != nil {
			x.err = fmt.Errorf("encode incident %d, entry %d: %w", inc.ID, e.Seq, err)
			return x.err
		}
		if i > 0 {
			x.write([]byte(","))
		}
		x.write([]byte("\n "))
		x.write(b)
	}
	x.write([]byte("]}"))
	x.n++
	return x.err
}

// Close completes the document and flushes it.
func (x *ExportWriter) Close() error {
	if x.closed {
		return x.err
	}
	x.closed = true
	if x.err != nil {
		return x.err
	}
	if x.format == ExportCSV {
		x.csv.Flush()
		if err := x.csv.Error(); err != nil {
			x.err = err
			return err
		}
	} else {
		x.write([]byte("\n]}\n"))
	}
	if x.err == nil {
		x.err = x.bw.Flush()
	}
	return x.err
}

// csvEscape defuses spreadsheet formula injection: a cell that a spreadsheet
// would evaluate (starting with = + - @, a tab or a carriage return) gets a
// leading apostrophe. A cell that already starts with an apostrophe gets one
// too, so that csvUnescape (strip one leading apostrophe) restores every
// cell exactly and verification still recomputes the original hashes.
func csvEscape(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r'", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func csvUnescape(s string) string { return strings.TrimPrefix(s, "'") }

// VerifyExport reads an export in either format (detected from its first
// byte) and recomputes every incident's hash chain with VerifyChain. It
// returns an error wrapping ErrBadExport when the export cannot be read, and
// one wrapping ErrChainBroken when any chain does not verify; the report
// then lists one ChainError per broken incident, naming the first bad entry.
// An incident that appears twice is reported as broken too.
func VerifyExport(r io.Reader) (VerifyReport, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// Skip a byte order mark and leading white space.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	var first byte
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return VerifyReport{}, fmt.Errorf("%w: the file is empty", ErrBadExport)
		}
		if err != nil {
			return VerifyReport{}, fmt.Errorf("read export: %w", err)
		}
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			continue
		}
		first = b
		_ = br.UnreadByte()
		break
	}
	v := &verifier{seen: map[int64]bool{}}
	var err error
	if first == '{' {
		err = v.json(br)
	} else {
		err = v.csv(br)
	}
	if err != nil {
		return v.rep, err
	}
	if n := len(v.rep.Broken); n > 0 {
		first := v.rep.Broken[0]
		return v.rep, fmt.Errorf("%w: %d of %d incident(s) broken; first: incident %d, entry %d: %s",
			ErrChainBroken, n, v.rep.Incidents, first.IncidentID, first.Seq, first.Reason)
	}
	return v.rep, nil
}

type verifier struct {
	rep  VerifyReport
	seen map[int64]bool
}

// check verifies one incident; problem, when set, is reported instead of
// the chain's verdict.
func (v *verifier) check(inc Incident, entries []TimelineEntry, problem *ChainError) {
	v.rep.Incidents++
	v.rep.Entries += len(entries)
	if v.seen[inc.ID] {
		v.rep.Broken = append(v.rep.Broken, &ChainError{IncidentID: inc.ID, Reason: "the incident appears more than once in the export"})
		return
	}
	v.seen[inc.ID] = true
	if problem != nil {
		v.rep.Broken = append(v.rep.Broken, problem)
		return
	}
	if err := VerifyChain(inc, entries); err != nil {
		var ce *ChainError
		if !errors.As(err, &ce) {
			ce = &ChainError{IncidentID: inc.ID, Reason: err.Error()}
		}
		v.rep.Broken = append(v.rep.Broken, ce)
	}
}

func (v *verifier) json(r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: json (offset %d): %s", ErrBadExport, dec.InputOffset(), fmt.Sprintf(format, args...))
	}
	if err := expectDelim(dec, '{'); err != nil {
		return bad("%v", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("%v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return bad("field %q appears twice", key)
		}
		seen[key] = true
		switch key {
		case "format":
			var f string
			if err := dec.Decode(&f); err != nil {
				return bad("format: %v", err)
			}
			if f != ExportFormatID {
				return bad("format %q: want %q", f, ExportFormatID)
			}
		case "generated_at", "since", "until":
			var t *time.Time
			if err := dec.Decode(&t); err != nil {
				return bad("%s: %v", key, err)
			}
		case "incidents":
			if err := expectDelim(dec, '['); err != nil {
				return bad("incidents: %v", err)
			}
			for i := 0; dec.More(); i++ {
				var inc ExportIncident
				if err := dec.Decode(&inc); err != nil {
					return bad("incidents[%d]: %v", i, err)
				}
				v.check(inc.Incident, inc.Entries, nil)
			}
			if err := expectDelim(dec, ']'); err != nil {
				return bad("incidents: %v", err)
			}
		default:
			return bad("unknown field %q", key)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return bad("%v", err)
	}
	if !seen["format"] || !seen["incidents"] {
		return bad("want the fields format and incidents")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the end of the document")
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("found %v where %q was expected", tok, string(want))
	}
	return nil
}

func (v *verifier) csv(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // the header is checked as a whole
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%w: csv: %v", ErrBadExport, err)
	}
	if strings.Join(header, ",") != strings.Join(csvHeader, ",") {
		return fmt.Errorf("%w: csv line 1: header %q, want %q", ErrBadExport, strings.Join(header, ","), strings.Join(csvHeader, ","))
	}
	cr.FieldsPerRecord = len(csvHeader)
	var (
		cur     Incident
		entries []TimelineEntry
		problem *ChainError
		open    bool
	)
	flush := func() {
		if open {
			v.check(cur, entries, problem)
		}
		open, entries, problem = false, nil, nil
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: csv: %v", ErrBadExport, err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = csvUnescape(rec[i])
		}
		ints := make([]int64, 3)
		for i, col := range []int{0, 4, 5} {
			n, err := strconv.ParseInt(rec[col], 10, 64)
			if err != nil {
				return fmt.Errorf("%w: csv line %d: %s %q: want an integer", ErrBadExport, line, csvHeader[col], rec[col])
			}
			ints[i] = n
		}
		t, err := time.Parse(time.RFC3339Nano, rec[6])
		if err != nil {
			return fmt.Errorf("%w: csv line %d: time %q: want an RFC 3339 time", ErrBadExport, line, rec[6])
		}
		inc := Incident{ID: ints[0], Title: rec[1], Status: Status(rec[2]), HeadHash: rec[3], LastSeq: ints[1]}
		e := TimelineEntry{IncidentID: ints[0], Seq: ints[2], Time: t, Actor: rec[7], Kind: rec[8],
			Payload: json.RawMessage(rec[9]), PrevHash: rec[10], Hash: rec[11]}
		if !open || inc.ID != cur.ID {
			flush()
			cur, open = inc, true
		} else if problem == nil && (inc.Title != cur.Title || inc.Status != cur.Status || inc.HeadHash != cur.HeadHash || inc.LastSeq != cur.LastSeq) {
			problem = &ChainError{IncidentID: inc.ID, Seq: e.Seq, Reason: fmt.Sprintf("line %d: incident columns differ from the incident's first row", line)}
		}
		entries = append(entries, e)
	}
	flush()
	return nil
}
