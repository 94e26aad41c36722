package siem_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
	"github.com/secopsd/secopsd/policies"
)

// The ingestion benchmarks send batches of benchBatch events from
// benchClients concurrent clients to the real API handler on loopback,
// over the real pipeline (validate, minimize, classify, group commit) and
// a real store, and report events/s and the 99th percentile of request
// latency.
const (
	benchBatch   = 1000
	benchClients = 4
)

// passAll is a guard that lets every request through: authentication is
// benchmarked with the auth package.
type passAll struct{}

func (passAll) Require(_ auth.Role, h http.Handler) http.Handler { return h }

// ingester adapts the pipeline to the API, as the daemon does.
type ingester struct{ p *siem.Pipeline }

func (i ingester) IngestEvents(ctx context.Context, ct string, body io.Reader) (int, int, error) {
	rc, err := i.p.Ingest(ctx, ct, body)
	return rc.Accepted, rc.Duplicates, err
}

// benchBody returns an NDJSON body of n realistic application events,
// the k-th body of a stream: event times increase from body to body, as in
// a live stream (reusing times would measure random inserts into the time
// index instead).
func benchBody(n, k int, base time.Time) []byte {
	var b bytes.Buffer
	b.Grow(n * 260)
	kinds := []string{"auth.failure", "auth.success", "ratelimit.hit", "admin.denied", "schema.violation", "deploy"}
	for i := range n {
		at := base.Add(time.Duration(k*n+i) * time.Microsecond)
		fmt.Fprintf(&b, `{"time": %q, "source": "checkout-api", "kind": %q, "attributes": {"user": "u-%d", "ip": "203.0.%d.%d", "route": "/api/v2/orders/%d", "status": %d, "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}}`+"\n",
			at.Format(time.RFC3339Nano), kinds[(i+k)%len(kinds)],
			(i*7+k)%5000, (i/250)%256, i%250, i, 200+((i+k)%4)*100)
	}
	return b.Bytes()
}

// runIngestBench drives handler h with b.N requests of batch events and
// reports events/s and the 99th percentile of request latency. With rate 0
// benchClients clients send as fast as they can (the throughput ceiling;
// latency is then mostly queueing behind each other); with a rate in
// events/s the requests are sent on a fixed schedule (open loop, up to 32
// in flight), which measures latency at that load.
func runIngestBench(b *testing.B, h http.Handler, batch int, rate float64) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	// One body per request, made before the clock starts (up to a cap;
	// beyond it bodies repeat).
	base := time.Now().UTC().Add(-time.Hour)
	bodies := make([][]byte, min(b.N, 256))
	for i := range bodies {
		bodies[i] = benchBody(batch, i, base)
	}
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 32
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
	)
	send := func(n int64) {
		t0 := time.Now()
		resp, err := client.Post(srv.URL+"/api/v1/events", "application/x-ndjson", bytes.NewReader(bodies[n%int64(len(bodies))]))
		if err != nil {
			failed.Add(1)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			failed.Add(1)
			return
		}
		d := time.Since(t0)
		mu.Lock()
		latencies = append(latencies, d)
		mu.Unlock()
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	if rate == 0 {
		var next atomic.Int64
		for range benchClients {
			wg.Go(func() {
				for n := next.Add(1) - 1; n < int64(b.N); n = next.Add(1) - 1 {
					send(n)
				}
			})
		}
	} else {
		interval := time.Duration(float64(batch) / rate * float64(time.Second))
		inFlight := make(chan struct{}, 32)
		for n := range int64(b.N) {
			if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
				time.Sleep(d) // the load schedule, not a wait for behaviour
			}
			inFlight <- struct{}{}
			wg.Go(func() {
				defer func() { <-inFlight }()
				send(n)
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
	slices.Sort(latencies)
	p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // the per-request time is not the figure of interest
}

// ingestTargetRate is the throughput target of the issue, at which p99
// latency must stay under 100 ms.
const ingestTargetRate = 25000

// pipelineHandler is the API over a real pipeline on st.
func pipelineHandler(b *testing.B, st store.Store) http.Handler {
	p := newPipeline(b, st, func(o *siem.PipelineOptions) {
		o.BatchInterval = 20 * time.Millisecond
		o.BatchMaxRows = 1000
		o.QueueSize = 64
	})
	h, err := api.NewHandler(api.Options{Incidents: st, Ready: st.Ping, Auth: passAll{}, Ingest: ingester{p}})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkIngestSQLite: "max" is the throughput ceiling, "paced-25k" the
// latency at the target rate.
func BenchmarkIngestSQLite(b *testing.B) {
	b.Run("max", func(b *testing.B) {
		st := storetest.OpenURL(b, storetest.SQLiteURL(b))
		runIngestBench(b, pipelineHandler(b, st), benchBatch, 0)
	})
	b.Run("paced-25k", func(b *testing.B) {
		st := storetest.OpenURL(b, storetest.SQLiteURL(b))
		runIngestBench(b, pipelineHandler(b, st), benchBatch, ingestTargetRate)
	})
}

// BenchmarkIngestPostgres is BenchmarkIngestSQLite on PostgreSQL.
func BenchmarkIngestPostgres(b *testing.B) {
	b.Run("max", func(b *testing.B) {
		st := storetest.OpenURL(b, storetest.PostgresURL(b))
		runIngestBench(b, pipelineHandler(b, st), benchBatch, 0)
	})
	b.Run("paced-25k", func(b *testing.B) {
		st := storetest.OpenURL(b, storetest.PostgresURL(b))
		runIngestBench(b, pipelineHandler(b, st), benchBatch, ingestTargetRate)
	})
}

// naiveHandler is the baseline: the same decoding and validation, then for
// every event a policy compiled and evaluated from scratch and one INSERT
// in its own transaction.
type naiveHandler struct {
	st      store.Store
	modules []func(*rego.Rego)
}

func newNaiveHandler(b *testing.B, st store.Store) *naiveHandler {
	names, err := fs.Glob(policies.FS, "*.rego")
	if err != nil {
		b.Fatal(err)
	}
	h := &naiveHandler{st: st}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.rego") {
			continue
		}
		src, err := fs.ReadFile(policies.FS, n)
		if err != nil {
			b.Fatal(err)
		}
		h.modules = append(h.modules, rego.Module(n, string(src)))
	}
	return h
}

func (h *naiveHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ins, err := siem.DecodeEvents(r.Body, r.Header.Get("Content-Type"), siem.DecodeOptions{
		MaxEvents: 1000, MaxBytes: 1 << 20, MaxAge: 7 * 24 * time.Hour, Now: time.Now(),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for i, in := range ins {
		attrs := map[string]any{}
		for k, v := range in.Attributes {
			attrs[k] = v
		}
		opts := append([]func(*rego.Rego){
			rego.Query(siem.ClassifyRule),
			rego.Input(map[string]any{"kind": in.Kind, "source": in.Source, "monitor": "", "outcome": "",
				"fingerprint": "", "title": "", "attributes": attrs}),
		}, h.modules...)
		rs, err := rego.New(opts...).Eval(r.Context())
		if err != nil || len(rs) != 1 {
			http.Error(w, fmt.Sprint("classify: ", err), http.StatusInternalServerError)
			return
		}
		d := rs[0].Expressions[0].Value.(map[string]any)
		sev, _ := event.ParseSeverity(d["severity"].(string))
		ev := event.Event{ID: fmt.Sprintf("%d-%d-%d", time.Now().UnixNano(), i, len(ins)), Time: in.Time, Source: in.Source,
			Kind: in.Kind, Fingerprint: event.Fingerprint(in.Source, in.Kind), Severity: sev,
			Category: d["category"].(string), OpenIncident: d["open_incident"].(bool), Attributes: in.Attributes}
		if err := h.st.InsertEvents(r.Context(), []event.Event{ev}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// BenchmarkIngestNaive is the baseline on SQLite, with batches of 100
// events (it is that slow).
func BenchmarkIngestNaive(b *testing.B) {
	st := storetest.OpenURL(b, storetest.SQLiteURL(b))
	runIngestBench(b, newNaiveHandler(b, st), 100, 0)
}

// BenchmarkIngestNaivePostgres is the baseline on PostgreSQL.
func BenchmarkIngestNaivePostgres(b *testing.B) {
	st := storetest.OpenURL(b, storetest.PostgresURL(b))
	runIngestBench(b, newNaiveHandler(b, st), 100, 0)
}
