package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// RunEvents runs the conformance suite of the ingestion side of the event
// log (store.EventLog and ListEvents' paging) against fresh stores from
// open.
func RunEvents(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AppendRoundTrip", testAppendRoundTrip},
		{"AppendIsIdempotent", testAppendIdempotent},
		{"AppendAllOrNothing", testAppendAllOrNothing},
		{"AppendLargeBatch", testAppendLargeBatch},
		{"AppendConcurrent", testAppendConcurrent},
		{"ListEventsSourceAndSeverity", testListEventsSourceSeverity},
		{"ListEventsCursorPaging", testListEventsCursor},
		{"TailEvents", testTailEvents},
		{"UnresolvedFingerprints", testUnresolvedFingerprints},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// ingested returns an event as ingestion stores it: no monitor or outcome.
func ingested(id string, d time.Duration) event.Event {
	return event.Event{
		ID:          id,
		Time:        at(d),
		Source:      "billing-api",
		Kind:        "auth.failure",
		Fingerprint: "fp-" + id,
		Severity:    event.SeverityMedium,
		Category:    "authentication",
		Attributes:  map[string]string{"user": "u-42", "ip": "203.0.113.7"},
	}
}

func mustAppend(t *testing.T, s store.Store, evs []event.Event) []bool {
	t.Helper()
	ins, err := s.AppendEvents(t.Context(), evs)
	if err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	if len(ins) != len(evs) {
		t.Fatalf("AppendEvents returned %d flags for %d events", len(ins), len(evs))
	}
	return ins
}

func listIDs(t *testing.T, s store.Store, f store.EventFilter) []string {
	t.Helper()
	evs, err := s.ListEvents(t.Context(), f)
	if err != nil {
		t.Fatalf("ListEvents(%+v): %v", f, err)
	}
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids
}

func testAppendRoundTrip(t *testing.T, s store.Store) {
	before := time.Now().Add(-time.Second)
	full := sampleEvent("r-full", 0)
	bare := event.Event{ID: "r-bare", Time: at(time.Second), Kind: "app.login"}
	if ins := mustAppend(t, s, []event.Event{full, bare}); !reflect.DeepEqual(ins, []bool{true, true}) {
		t.Errorf("inserted = %v, want both", ins)
	}
	if ins, err := s.AppendEvents(t.Context(), nil); err != nil || len(ins) != 0 {
		t.Errorf("AppendEvents(nil) = %v, %v", ins, err)
	}
	got, err := s.ListEvents(t.Context(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []event.Event{normalizedEvent(bare), normalizedEvent(full)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListEvents =\n%+v\nwant\n%+v", got, want)
	}
	tail, err := s.TailEvents(t.Context(), store.EventCursor{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tail) != 2 {
		t.Fatalf("TailEvents returned %d events, want 2", len(tail))
	}
	for _, ev := range tail {
		if ev.ReceivedAt.Before(before) || ev.ReceivedAt.After(time.Now().Add(time.Second)) || ev.ReceivedAt.Location() != time.UTC {
			t.Errorf("event %s received_at = %v, want the store's clock in UTC", ev.ID, ev.ReceivedAt)
		}
	}
}

func testAppendIdempotent(t *testing.T, s store.Store) {
	a, b, c := ingested("i-a", 0), ingested("i-b", time.Second), ingested("i-c", 2*time.Second)
	if ins := mustAppend(t, s, []event.Event{a, b, a}); !reflect.DeepEqual(ins, []bool{true, true, false}) {
		t.Errorf("batch repeating an id: inserted = %v, want [true true false]", ins)
	}
	changed := b
	changed.Kind = "auth.success" // a retry never overwrites what is stored
	if ins := mustAppend(t, s, []event.Event{c, changed, a}); !reflect.DeepEqual(ins, []bool{true, false, false}) {
		t.Errorf("retried batch: inserted = %v, want [true false false]", ins)
	}
	if ids := listIDs(t, s, store.EventFilter{}); !reflect.DeepEqual(ids, []string{"i-c", "i-b", "i-a"}) {
		t.Errorf("stored %v, want each event once", ids)
	}
	if ids := listIDs(t, s, store.EventFilter{Kind: "auth.success"}); len(ids) != 0 {
		t.Errorf("a retry overwrote a stored event: %v", ids)
	}
}

func testAppendAllOrNothing(t *testing.T, s store.Store) {
	good := ingested("n-good", 0)
	for name, bad := range map[string]event.Event{
		"no id":        {Time: t0(), Kind: "x"},
		"bad severity": func() event.Event { e := ingested("n-bad", 0); e.Severity = 42; return e }(),
	} {
		_, err := s.AppendEvents(t.Context(), []event.Event{good, bad})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: error = %v, want ErrInvalid", name, err)
		}
	}
	if ids := listIDs(t, s, store.EventFilter{}); len(ids) != 0 {
		t.Errorf("failed batches left %v behind", ids)
	}
	// A batch that fails inside the database (here: cancelled) stores
	// nothing either.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.AppendEvents(ctx, []event.Event{good}); err == nil {
		t.Error("AppendEvents with a cancelled context succeeded")
	}
	if ids := listIDs(t, s, store.EventFilter{}); len(ids) != 0 {
		t.Errorf("cancelled batch left %v behind", ids)
	}
}

func testAppendLargeBatch(t *testing.T, s store.Store) {
	const n = 12000 // more than one COPY chunk
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = ingested(fmt.Sprintf("l-%05d", i), time.Duration(i)*time.Millisecond)
	}
	ins := mustAppend(t, s, evs)
	for i, ok := range ins {
		if !ok {
			t.Fatalf("event %d not inserted", i)
		}
	}
	var count int
	after := store.EventCursor{}
	for {
		page, err := s.TailEvents(t.Context(), after, store.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		count += len(page)
		after = page[len(page)-1].Cursor()
	}
	if count != n {
		t.Errorf("tailed %d events, want %d", count, n)
	}
	// The whole batch again: nothing new.
	for i, ok := range mustAppend(t, s, evs) {
		if ok {
			t.Fatalf("event %d inserted twice", i)
		}
	}
}

func testAppendConcurrent(t *testing.T, s store.Store) {
	const writers, per = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			evs := make([]event.Event, per)
			for i := range evs {
				evs[i] = ingested(fmt.Sprintf("c-%d-%03d", w, i), time.Duration(i)*time.Second)
			}
			// Every writer also retries an id of writer 0.
			evs = append(evs, ingested("c-0-000", 0))
			if _, err := s.AppendEvents(t.Context(), evs); err != nil {
				t.Errorf("writer %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	if ids := listIDs(t, s, store.EventFilter{Limit: store.MaxLimit}); len(ids) != writers*per {
		t.Errorf("stored %d events, want %d", len(ids), writers*per)
	}
}

func testListEventsSourceSeverity(t *testing.T, s store.Store) {
	var evs []event.Event
	for i, spec := range []struct {
		source string
		sev    event.Severity
	}{
		{"billing-api", event.SeverityInfo},
		{"billing-api", event.SeverityHigh},
		{"auth-svc", event.SeverityCritical},
		{"auth-svc", event.SeverityLow},
		{"billing-api", event.SeverityMedium},
	} {
		ev := ingested(fmt.Sprintf("s-%d", i), time.Duration(i)*time.Minute)
		ev.Source, ev.Severity = spec.source, spec.sev
		evs = append(evs, ev)
	}
	mustAppend(t, s, evs)
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []string
	}{
		{"source", store.EventFilter{Source: "auth-svc"}, []string{"s-3", "s-2"}},
		{"min severity medium", store.EventFilter{MinSeverity: event.SeverityMedium}, []string{"s-4", "s-2", "s-1"}},
		{"min severity critical", store.EventFilter{MinSeverity: event.SeverityCritical}, []string{"s-2"}},
		{"min severity info", store.EventFilter{MinSeverity: event.SeverityInfo}, []string{"s-4", "s-3", "s-2", "s-1", "s-0"}},
		{"source and severity", store.EventFilter{Source: "billing-api", MinSeverity: event.SeverityHigh}, []string{"s-1"}},
	} {
		if got := listIDs(t, s, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ListEvents = %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := s.ListEvents(t.Context(), store.EventFilter{MinSeverity: 9}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("MinSeverity 9: error = %v, want ErrInvalid", err)
	}
}

func testListEventsCursor(t *testing.T, s store.Store) {
	// 25 events over 10 distinct times, so pages split runs of equal times.
	var evs []event.Event
	for i := range 25 {
		evs = append(evs, ingested(fmt.Sprintf("p-%02d", i), time.Duration(i%10)*time.Second))
	}
	mustAppend(t, s, evs)
	all := listIDs(t, s, store.EventFilter{})
	if len(all) != 25 {
		t.Fatalf("listed %d events, want 25", len(all))
	}
	for _, f := range []store.EventFilter{{}, {Source: "billing-api", Since: at(2 * time.Second)}} {
		var paged []string
		f.Limit = 4
		for range 20 {
			page, err := s.ListEvents(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page {
				paged = append(paged, ev.ID)
			}
			if len(page) < f.Limit {
				break
			}
			last := page[len(page)-1]
			f.Before = &store.EventCursor{Time: last.Time, ID: last.ID}
		}
		want := all
		if !f.Since.IsZero() {
			want = listIDs(t, s, store.EventFilter{Since: f.Since})
		}
		if !slices.Equal(paged, want) {
			t.Errorf("pages of 4 = %v, want %v", paged, want)
		}
	}
}

func testTailEvents(t *testing.T, s store.Store) {
	// Event times run backwards; the tail follows the order of arrival.
	mustAppend(t, s, []event.Event{ingested("t-1", 3*time.Hour), ingested("t-2", 2*time.Hour)})
	first, err := s.TailEvents(t.Context(), store.EventCursor{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 {
		t.Fatalf("TailEvents = %d events, want 2", len(first))
	}
	cursor := first[len(first)-1].Cursor()
	// Received at the same microsecond or later; its id sorts after t-2
	// either way.
	mustAppend(t, s, []event.Event{ingested("t-3", time.Hour)})
	next, err := s.TailEvents(t.Context(), cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(next) != 1 || next[0].ID != "t-3" {
		t.Errorf("TailEvents after the cursor = %+v, want t-3 only", next)
	}
	if more, _ := s.TailEvents(t.Context(), next[0].Cursor(), 0); len(more) != 0 {
		t.Errorf("TailEvents at the end = %d events, want none", len(more))
	}
	if one, _ := s.TailEvents(t.Context(), store.EventCursor{}, 1); len(one) != 1 {
		t.Errorf("TailEvents with limit 1 = %d events", len(one))
	}
}

func testUnresolvedFingerprints(t *testing.T, s store.Store) {
	mustCreate(t, s, newIncident("fp-open"))
	done := mustCreate(t, s, newIncident("fp-done"))
	resolve(t, s, done.ID, at(time.Hour))
	fps := []string{"fp-open", "fp-done", "fp-none"}
	for i := range 1200 { // more than one query's worth of parameters
		fps = append(fps, fmt.Sprintf("fp-x%d", i))
	}
	got, err := s.UnresolvedFingerprints(t.Context(), fps)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]bool{"fp-open": true}) {
		t.Errorf("UnresolvedFingerprints = %v, want only fp-open", got)
	}
	if got, err := s.UnresolvedFingerprints(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("UnresolvedFingerprints(nil) = %v, %v", got, err)
	}
}

// DumpTables returns every row of every table of secopsd's schema in s's
// database as text, one row per line, so that tests can prove something
// was never persisted.
func DumpTables(ctx context.Context, s store.Store) (string, error) {
	var b strings.Builder
	for _, table := range []string{"events", "incidents", "timeline"} {
		if err := dumpTable(ctx, s, table, &b); err != nil {
			return "", fmt.Errorf("dump %s: %w", table, err)
		}
	}
	return b.String(), nil
}

func dumpTable(ctx context.Context, s store.Store, table string, b *strings.Builder) error {
	query := "SELECT * FROM " + table
	switch db := s.(type) {
	case *store.SQLite:
		rs, err := db.DB().QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rs.Close()
		cols, err := rs.Columns()
		if err != nil {
			return err
		}
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				return err
			}
			writeRow(b, table, vals)
		}
		return rs.Err()
	case *store.Postgres:
		rs, err := db.Pool().Query(ctx, query)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			vals, err := rs.Values()
			if err != nil {
				return err
			}
			writeRow(b, table, vals)
		}
		return rs.Err()
	default:
		return fmt.Errorf("storetest: no raw SQL access to a %T", s)
	}
}

func writeRow(b *strings.Builder, table string, vals []any) {
	b.WriteString(table)
	for _, v := range vals {
		b.WriteByte('\t')
		switch x := v.(type) {
		case []byte:
			b.Write(x)
		case sql.RawBytes:
			b.Write(x)
		default:
			fmt.Fprint(b, x)
		}
	}
	b.WriteByte('\n')
}

// OpenIncident is a convenience for tests elsewhere: it creates an open
// incident with fingerprint fp in s.
func OpenIncident(t testing.TB, s store.Store, fp string) incident.Incident {
	t.Helper()
	inc, err := s.CreateIncident(t.Context(), incident.Incident{Fingerprint: fp, Title: "test incident " + fp},
		incident.Entry{Time: time.Now(), Actor: incident.ActorEngine, Kind: incident.KindOpened})
	if err != nil {
		t.Fatalf("create incident %s: %v", fp, err)
	}
	return inc
}
