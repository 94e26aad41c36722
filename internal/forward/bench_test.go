package forward_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func benchBatch(n int) []store.ReceivedEvent {
	out := make([]store.ReceivedEvent, n)
	for i := range out {
		out[i] = store.ReceivedEvent{Event: testEvent(i, "auth.failure", event.SeverityHigh), ReceivedAt: time.Now()}
	}
	return out
}

// BenchmarkEncodeNDJSON measures the webhook's body encoding per event.
func BenchmarkEncodeNDJSON(b *testing.B) {
	batch := benchBatch(500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := forward.EncodeNDJSON(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}

// BenchmarkSyslogSend measures formatting and writing RFC 5424 frames to
// a loopback TCP receiver that discards them, per event.
func BenchmarkSyslogSend(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	out, err := forward.NewSyslog(forward.SyslogOptions{Network: forward.NetworkTCP, Address: ln.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	batch := benchBatch(500)
	b.ReportAllocs()
	for b.Loop() {
		if err := out.Send(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}

// BenchmarkForwardWebhookSQLite measures the whole forwarder: 20,000
// stored events tailed from SQLite, sent in batches of 500 to a loopback
// webhook, the position saved after each batch.
func BenchmarkForwardWebhookSQLite(b *testing.B) {
	benchForward(b, storetest.SQLiteURL(b))
}

// BenchmarkForwardWebhookPostgres is BenchmarkForwardWebhookSQLite on
// PostgreSQL.
func BenchmarkForwardWebhookPostgres(b *testing.B) {
	benchForward(b, storetest.PostgresURL(b))
}

func benchForward(b *testing.B, url string) {
	const n = 20000
	s, err := store.Open(context.Background(), url, store.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = testEvent(i, "auth.failure", event.SeverityHigh)
	}
	for i := 0; i < n; i += 1000 {
		if _, err := s.AppendEvents(context.Background(), evs[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var lines int64
		for _, c := range body {
			if c == '\n' {
				lines++
			}
		}
		got.Add(lines)
	}))
	defer srv.Close()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		got.Store(0)
		out, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL})
		if err != nil {
			b.Fatal(err)
		}
		f, err := forward.New(forward.Options{Name: "bench-" + strconv.Itoa(i), Store: s, Output: out,
			Start: forward.StartOldest, PollInterval: time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		f.Start()
		for got.Load() < n {
			time.Sleep(time.Millisecond)
		}
		if err := f.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
