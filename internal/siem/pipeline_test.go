package siem_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
	"github.com/secopsd/secopsd/policies"
)

// backends runs fn against a fresh SQLite store and a fresh PostgreSQL
// store (skipped locally, failing in CI, without a server).
func backends(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, storetest.OpenURL(t, storetest.SQLiteURL(t)))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, storetest.OpenURL(t, storetest.PostgresURL(t)))
	})
}

// testPolicies writes the default policies plus a rule that makes kind
// test.breach open an incident, and returns their directory.
func testPolicies(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	names, err := fs.Glob(policies.FS, "*.rego")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.rego") {
			continue
		}
		b, err := fs.ReadFile(policies.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := `package secopsd.classify

decision := {
	"severity": "high",
	"category": "test",
	"open_incident": true,
	"reason": "test breach",
} if input.kind == "test.breach"
`
	if err := os.WriteFile(filepath.Join(dir, "zz_ingest_test_rule.rego"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newClassifier(t testing.TB, dir string) *siem.Classifier {
	t.Helper()
	c, err := siem.NewClassifier(context.Background(), siem.ClassifierOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newPipeline returns a running pipeline on st, closed when the test ends.
func newPipeline(t testing.TB, es siem.EventStore, mod func(o *siem.PipelineOptions)) *siem.Pipeline {
	t.Helper()
	opts := siem.PipelineOptions{
		Store:         es,
		Classifier:    newClassifier(t, ""),
		BatchInterval: 2 * time.Millisecond,
	}
	if mod != nil {
		mod(&opts)
	}
	p, err := siem.NewPipeline(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close pipeline: %v", err)
		}
	})
	return p
}

func nowRFC3339() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// evJSON returns one event as JSON with extra fields appended.
func evJSON(kind, extra string) string {
	return `{"time": "` + nowRFC3339() + `", "source": "billing-api", "kind": "` + kind + `"` + extra + `}`
}

func ingest(t testing.TB, p *siem.Pipeline, body string) (siem.Receipt, error) {
	t.Helper()
	return p.Ingest(context.Background(), "application/json", strings.NewReader(body))
}

func allEvents(t testing.TB, st store.Store) []event.Event {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), store.EventFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestPipelineStoresClassifiedMinimizedEvents(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		p := newPipeline(t, st, func(o *siem.PipelineOptions) {
			o.FingerprintAttributes = []string{"user"}
		})
		body := "[" + evJSON("auth.failure", `, "id": "r1-a", "severity": "high", "attributes": {"user": "u-1", "password": "hunter2", "attempts": 3}`) +
			"," + evJSON("auth.failure", `, "id": "r1-b", "fingerprint": "client-fp", "attributes": {"user": "u-2"}`) +
			"," + evJSON("deploy", `, "attributes": {"version": "1.2.3"}`) + "]"
		rc, err := ingest(t, p, body)
		if err != nil {
			t.Fatal(err)
		}
		if rc != (siem.Receipt{Accepted: 3}) {
			t.Errorf("receipt = %+v, want 3 accepted", rc)
		}
		evs := allEvents(t, st)
		if len(evs) != 3 {
			t.Fatalf("stored %d events, want 3", len(evs))
		}
		byKindUser := map[string]event.Event{}
		for _, ev := range evs {
			byKindUser[ev.Kind+"/"+ev.Attributes["user"]] = ev
			if ev.Severity == event.SeverityUnknown || ev.Category == "" {
				t.Errorf("event %s not classified: %+v", ev.ID, ev)
			}
			if ev.Source != "billing-api" || ev.Time.IsZero() || len(ev.ID) != 32 {
				t.Errorf("event %+v: source, time or id wrong", ev)
			}
		}
		a := byKindUser["auth.failure/u-1"]
		if _, ok := a.Attributes["password"]; ok {
			t.Errorf("password attribute stored: %v", a.Attributes)
		}
		if a.Attributes[siem.AttrMinimizedDropped] != "1" || a.Attributes[siem.AttrSeverityHint] != "high" || a.Attributes["attempts"] != "3" {
			t.Errorf("attributes %v, want password dropped, severity hint and attempts kept", a.Attributes)
		}
		if want := event.Fingerprint("ingest", "billing-api", "auth.failure", "user=u-1"); a.Fingerprint != want {
			t.Errorf("default fingerprint %s, want %s (source, kind, configured attributes)", a.Fingerprint, want)
		}
		if b := byKindUser["auth.failure/u-2"]; b.Fingerprint == "client-fp" || b.Fingerprint != event.Fingerprint("ingest.fingerprint", "billing-api", "client-fp") {
			t.Errorf("client fingerprint stored as %q, want it namespaced by source", b.Fingerprint)
		}

		// A retry of the same request stores nothing twice; the event
		// without an id cannot be recognised and is stored again.
		rc, err = ingest(t, p, body)
		if err != nil {
			t.Fatal(err)
		}
		if rc != (siem.Receipt{Accepted: 3, Duplicates: 2}) {
			t.Errorf("retry receipt = %+v, want 3 accepted, 2 duplicates", rc)
		}
		if n := len(allEvents(t, st)); n != 4 {
			t.Errorf("after the retry %d events stored, want 4", n)
		}
		// The same client id from another source is another event.
		if rc, err := ingest(t, p, strings.Replace(evJSON("auth.failure", `, "id": "r1-a"`), "billing-api", "auth-svc", 1)); err != nil || rc.Duplicates != 0 {
			t.Errorf("same id from another source: %+v, %v; want a new event", rc, err)
		}
	})
}

func TestPipelineInvalidRequestStoresNothing(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		p := newPipeline(t, st, nil)
		var lines []string
		for i := range 10 {
			lines = append(lines, evJSON("auth.failure", fmt.Sprintf(`, "id": "ok-%d"`, i)))
		}
		lines[7] = evJSON("auth.failure", `, "attributes": {"user": ["x"]}`)
		_, err := p.Ingest(t.Context(), "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")))
		var ie *siem.IngestError
		if !errors.As(err, &ie) || ie.HTTPStatus() != 400 || ie.Index == nil || *ie.Index != 7 || ie.Field != "attributes.user" {
			t.Fatalf("error = %v, want 400 naming event 7, attributes.user", err)
		}
		if evs := allEvents(t, st); len(evs) != 0 {
			t.Errorf("%d events of the invalid request stored", len(evs))
		}
	})
}

// TestSecretInEveryFieldIsNeverPersisted sends each sample credential in
// every field of an event and proves, by reading the raw tables, that it is
// stored nowhere (and never logged).
func TestSecretInEveryFieldIsNeverPersisted(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		var logs bytes.Buffer
		var logMu sync.Mutex
		logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		p := newPipeline(t, st, func(o *siem.PipelineOptions) {
			o.Logger = logger
			o.FingerprintAttributes = []string{"user", "detail"}
		})
		accepted := 0
		for _, s := range secretSamples() {
			q := jsonString(s.secret)
			fields := map[string]string{
				"id":              `, "id": ` + q,
				"fingerprint":     `, "fingerprint": ` + q,
				"attribute value": `, "attributes": {"detail": ` + q + `}`,
				"attribute text":  `, "attributes": {"detail": ` + jsonString("upstream said "+s.secret+" twice") + `}`,
				"attribute key":   `, "attributes": {` + q + `: "x"}`,
				"content key":     `, "attributes": {"session_token": ` + q + `}`,
				"unknown field":   `, ` + q + `: 1`,
				"severity":        `, "severity": ` + q,
			}
			for name, extra := range fields {
				_, err := ingest(t, p, evJSON("auth.failure", extra))
				if err == nil {
					accepted++
				} else if strings.Contains(err.Error(), s.secret) {
					t.Errorf("%s in %s: error repeats it: %v", s.rule, name, err)
				}
			}
			for _, field := range []string{"source", "kind", "time"} {
				body := strings.Replace(evJSON("auth.failure", ""), `"`+field+`": "`, `"`+field+`": `+q+`, "x-`+field+`": "`, 1)
				body = strings.Replace(body, `, "x-`+field+`": "`+map[string]string{"source": "billing-api", "kind": "auth.failure"}[field]+`"`, "", 1)
				if field == "time" {
					body = `{"time": ` + q + `, "source": "a", "kind": "k"}`
				}
				if _, err := ingest(t, p, body); err == nil {
					accepted++
				}
			}
		}
		if accepted < 20 {
			t.Fatalf("only %d of the requests were accepted; the test proves little", accepted)
		}
		dump, err := storetest.DumpTables(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(dump, "[REDACTED:") {
			t.Errorf("no redaction marker stored; dump:\n%s", dump)
		}
		logMu.Lock()
		logged := logs.String()
		logMu.Unlock()
		for _, s := range secretSamples() {
			tail := s.secret[len(s.secret)-16:] // also catches a partly redacted secret
			if strings.Contains(dump, s.secret) || strings.Contains(dump, tail) {
				t.Errorf("%s persisted:\n%s", s.rule, grepLines(dump, tail))
			}
			if strings.Contains(logged, tail) {
				t.Errorf("%s logged:\n%s", s.rule, grepLines(logged, tail))
			}
		}
	})
}

// TestSecretInSourceAndKind covers the names that only take lower-case
// credentials.
func TestSecretInSourceAndKind(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		p := newPipeline(t, st, nil)
		for _, s := range secretSamples() {
			if !strings.HasSuffix(s.rule, "-lower") && s.rule != "stripe-secret-key" && s.rule != "slack-token" {
				continue
			}
			body := `[{"time": "` + nowRFC3339() + `", "source": "` + s.secret + `", "kind": "auth.failure"},` +
				`{"time": "` + nowRFC3339() + `", "source": "app", "kind": "` + s.secret + `"}]`
			if _, err := ingest(t, p, body); err != nil {
				t.Fatalf("%s: %v", s.rule, err)
			}
		}
		dump, err := storetest.DumpTables(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secretSamples() {
			if tail := s.secret[len(s.secret)-16:]; strings.Contains(dump, tail) {
				t.Errorf("%s persisted:\n%s", s.rule, grepLines(dump, tail))
			}
		}
		if n := strings.Count(dump, "[REDACTED:"); n < 6 {
			t.Errorf("%d redaction markers stored, want at least 6", n)
		}
	})
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteString(`\` + string(r))
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func grepLines(s, needle string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, needle) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// gatedStore wraps a real store: AppendEvents waits for the gate to open
// and counts its calls and batch sizes.
type gatedStore struct {
	siem.EventStore
	gate    chan struct{}
	entered chan struct{} // receives once per AppendEvents call
	calls   atomic.Int64
	mu      sync.Mutex
	sizes   []int
	fail    atomic.Bool
}

func newGatedStore(st siem.EventStore, open bool) *gatedStore {
	g := &gatedStore{EventStore: st, gate: make(chan struct{}), entered: make(chan struct{}, 1024)}
	if open {
		close(g.gate)
	}
	return g
}

func (g *gatedStore) AppendEvents(ctx context.Context, evs []event.Event) ([]bool, error) {
	g.calls.Add(1)
	g.mu.Lock()
	g.sizes = append(g.sizes, len(evs))
	g.mu.Unlock()
	g.entered <- struct{}{}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if g.fail.Load() {
		return nil, errors.New("disk full")
	}
	return g.EventStore.AppendEvents(ctx, evs)
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

func TestPipelineSaturationRefusesAndLosesNothing(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		gs := newGatedStore(st, false)
		p := newPipeline(t, gs, func(o *siem.PipelineOptions) { o.QueueSize = 2; o.BatchMaxRows = 1 })
		type outcome struct {
			rc  siem.Receipt
			err error
		}
		results := make(chan outcome, 2)
		for i := range 2 {
			go func() {
				rc, err := ingest(t, p, evJSON("auth.failure", fmt.Sprintf(`, "id": "sat-%d"`, i)))
				results <- outcome{rc, err}
			}()
		}
		<-gs.entered // the writer holds one request
		waitFor(t, "both slots taken", func() bool { return p.Stats().InFlight == 2 })
		// The next requests are refused at once.
		for range 3 {
			_, err := ingest(t, p, evJSON("auth.failure", `, "id": "sat-refused"`))
			var refused *siem.IngestError
			if !errors.As(err, &refused) || !errors.Is(err, siem.ErrSaturated) {
				t.Fatalf("request to a full pipeline: %v, want ErrSaturated", err)
			}
			if refused.HTTPStatus() != 503 || refused.RetryAfter() != time.Second {
				t.Errorf("refusal: status %d, Retry-After %s; want 503, 1s", refused.HTTPStatus(), refused.RetryAfter())
			}
		}
		close(gs.gate)
		for range 2 {
			if o := <-results; o.err != nil || o.rc.Accepted != 1 {
				t.Errorf("accepted request: %+v, %v", o.rc, o.err)
			}
		}
		var ids []string
		for _, ev := range allEvents(t, st) {
			ids = append(ids, ev.ID)
		}
		want := []string{event.Fingerprint("ingest.id", "billing-api", "sat-0"), event.Fingerprint("ingest.id", "billing-api", "sat-1")}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("stored %v, want exactly the two accepted events", ids)
		}
	})
}

func TestPipelineBatchesRequests(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		gs := newGatedStore(st, true)
		p := newPipeline(t, gs, func(o *siem.PipelineOptions) {
			o.BatchMaxRows = 50
			o.BatchInterval = 50 * time.Millisecond
			o.QueueSize = 64
		})
		const clients, per = 40, 5
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				var evs []string
				for i := range per {
					evs = append(evs, evJSON("auth.failure", fmt.Sprintf(`, "id": "b-%d-%d"`, c, i)))
				}
				if rc, err := ingest(t, p, "["+strings.Join(evs, ",")+"]"); err != nil || rc.Accepted != per {
					t.Errorf("client %d: %+v, %v", c, rc, err)
				}
			})
		}
		wg.Wait()
		if n := len(allEvents(t, st)); n != clients*per {
			t.Errorf("stored %d events, want %d", n, clients*per)
		}
		gs.mu.Lock()
		defer gs.mu.Unlock()
		if len(gs.sizes) >= clients {
			t.Errorf("%d writes for %d requests: no group commit", len(gs.sizes), clients)
		}
		for _, n := range gs.sizes {
			if n > 50 {
				t.Errorf("a batch of %d events exceeds batch_max_rows 50", n)
			}
		}
	})
}

func TestPipelineCancelledWhileQueued(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	gs := newGatedStore(st, false)
	p := newPipeline(t, gs, func(o *siem.PipelineOptions) { o.BatchMaxRows = 1 })
	first := make(chan error, 1)
	go func() {
		_, err := ingest(t, p, evJSON("auth.failure", `, "id": "c-first"`))
		first <- err
	}()
	<-gs.entered // the writer is blocked on the first request
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() {
		_, err := p.Ingest(ctx, "application/json", strings.NewReader(evJSON("auth.failure", `, "id": "c-second"`)))
		queued <- err
	}()
	waitFor(t, "the second request in the pipeline", func() bool { return p.Stats().InFlight == 2 })
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want context.Canceled", err)
	}
	close(gs.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The client retries; every event is stored once.
	if _, err := ingest(t, p, evJSON("auth.failure", `, "id": "c-second"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest(t, p, evJSON("auth.failure", `, "id": "c-first"`)); err != nil {
		t.Fatal(err)
	}
	if n := len(allEvents(t, st)); n != 2 {
		t.Errorf("stored %d events, want 2", n)
	}
}

func TestPipelineStoreFailureRefusesRequest(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	gs := newGatedStore(st, true)
	gs.fail.Store(true)
	p := newPipeline(t, gs, nil)
	_, err := ingest(t, p, evJSON("auth.failure", ""))
	var ie *siem.IngestError
	if !errors.As(err, &ie) || !errors.Is(err, siem.ErrUnavailable) || ie.HTTPStatus() != 503 || ie.RetryAfter() == 0 {
		t.Fatalf("error = %v, want 503 ErrUnavailable with Retry-After", err)
	}
	if strings.Contains(ie.Message, "disk full") {
		t.Errorf("internal error leaked to the client: %q", ie.Message)
	}
	if n := len(allEvents(t, st)); n != 0 {
		t.Errorf("%d events stored", n)
	}
}

func TestPipelineHandsEventsToIncidentEngine(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		cls := newClassifier(t, testPolicies(t))
		eng, err := incident.New(incident.Options{Store: st, Tierer: cls})
		if err != nil {
			t.Fatal(err)
		}
		p := newPipeline(t, st, func(o *siem.PipelineOptions) {
			o.Classifier = cls
			o.Incidents = eng
		})
		// A breach opens an incident; the same fingerprint later extends it
		// even though its kind does not open incidents.
		body := "[" + evJSON("test.breach", `, "fingerprint": "db-1"`) + "," + evJSON("deploy", `, "fingerprint": "db-1"`) + "]"
		if _, err := ingest(t, p, body); err != nil {
			t.Fatal(err)
		}
		if _, err := ingest(t, p, evJSON("deploy", `, "fingerprint": "db-1"`)); err != nil {
			t.Fatal(err)
		}
		if _, err := ingest(t, p, evJSON("deploy", `, "fingerprint": "other"`)); err != nil {
			t.Fatal(err)
		}
		fp := event.Fingerprint("ingest.fingerprint", "billing-api", "db-1")
		deadline := time.Now().Add(20 * time.Second)
		for {
			inc, err := st.OpenIncidentByFingerprint(t.Context(), fp)
			if err == nil && inc.Failures == 3 {
				if inc.Severity != event.SeverityHigh || inc.Title != "test.breach" {
					t.Errorf("incident %+v", inc)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("incident for the breach: %+v, %v; want one with 3 failures", inc, err)
			}
			time.Sleep(10 * time.Millisecond) // polling with a deadline
		}
		incs, err := st.ListIncidents(t.Context(), incident.Filter{})
		if err != nil || len(incs) != 1 {
			t.Errorf("incidents = %d, %v; want only the breach's", len(incs), err)
		}
	})
}

// countingCorrelator derives one event per batch that holds a kind.
type countingCorrelator struct {
	mu   sync.Mutex
	seen []string
}

func (c *countingCorrelator) Observe(_ context.Context, evs []event.Event) ([]event.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event.Event
	for _, ev := range evs {
		c.seen = append(c.seen, ev.ID)
		if ev.Kind == "auth.failure" && ev.Attributes["user"] == "victim" {
			out = append(out, event.Event{Source: "secopsd", Kind: "credential.stuffing",
				Attributes: map[string]string{"user": "victim", "note": "must be dropped"}})
		}
	}
	return out, nil
}

func TestPipelineCorrelatorDerivesStoredEvents(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	corr := &countingCorrelator{}
	p := newPipeline(t, st, func(o *siem.PipelineOptions) { o.Correlator = corr })
	body := "[" + evJSON("auth.failure", `, "id": "k1", "attributes": {"user": "victim"}`) + "," + evJSON("deploy", `, "id": "k2"`) + "]"
	for range 2 { // the retry's duplicates are not observed again
		if _, err := ingest(t, p, body); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := st.ListEvents(t.Context(), store.EventFilter{Kind: "credential.stuffing"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 {
			d := evs[0]
			if d.Severity == event.SeverityUnknown || d.ID == "" || d.Fingerprint == "" || d.Attributes["note"] != "" {
				t.Errorf("derived event not classified, identified or minimized: %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("derived events: %d, want 1", len(evs))
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	corr.mu.Lock()
	defer corr.mu.Unlock()
	if len(corr.seen) != 2 {
		t.Errorf("correlator observed %d events, want each of the 2 once", len(corr.seen))
	}
}

func TestPipelineSubmit(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	p := newPipeline(t, st, nil)
	ev := event.Event{Time: time.Now(), Source: "secopsd", Kind: "ratelimit.hit",
		Attributes: map[string]string{"route": "/api/v1/events", "authorization": "Bearer x"}}
	rc, err := p.Submit(t.Context(), []event.Event{ev})
	if err != nil || rc.Accepted != 1 {
		t.Fatalf("Submit = %+v, %v", rc, err)
	}
	if _, ok := ev.Attributes["authorization"]; !ok {
		t.Error("Submit changed the caller's attributes")
	}
	got := allEvents(t, st)
	if len(got) != 1 || got[0].Attributes["route"] != "/api/v1/events" || got[0].Attributes["authorization"] != "" || got[0].ID == "" {
		t.Errorf("stored %+v", got)
	}
	if _, err := p.Submit(t.Context(), []event.Event{{Source: "x", Kind: "y"}}); err == nil {
		t.Error("Submit accepted an event without a time")
	}
}

func TestPipelineClose(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	gs := newGatedStore(st, false)
	p, err := siem.NewPipeline(siem.PipelineOptions{Store: gs, Classifier: newClassifier(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ingest(t, p, evJSON("auth.failure", ""))
		done <- err
	}()
	<-gs.entered
	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()
	// New requests are refused while Close waits for the one in flight.
	waitFor(t, "Close to begin", func() bool { return p.Stats().Closed })
	if _, err := ingest(t, p, evJSON("auth.failure", "")); !errors.Is(err, siem.ErrClosed) {
		t.Fatalf("request during Close: %v, want ErrClosed", err)
	}
	close(gs.gate)
	if err := <-done; err != nil {
		t.Errorf("request in flight during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := len(allEvents(t, st)); n != 1 {
		t.Errorf("stored %d events, want the one in flight", n)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
