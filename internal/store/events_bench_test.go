package store_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// benchAppend writes batches of 1000 ingested-looking events and reports
// rows/s: the store's share of the ingestion path. Event times increase
// across batches, as they do in a live stream (a benchmark that reused the
// same times would measure random inserts into the time index instead).
func benchAppend(b *testing.B, s store.Store) {
	const batch = 1000
	now := time.Now().UTC().Add(-time.Hour)
	var seq uint64
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		evs := make([]event.Event, batch)
		for i := range evs {
			seq++
			var id [16]byte
			binary.BigEndian.PutUint64(id[:8], uint64(now.UnixMicro())+seq)
			binary.BigEndian.PutUint64(id[8:], seq*0x9e3779b97f4a7c15)
			evs[i] = event.Event{
				ID: hex.EncodeToString(id[:]), Time: now.Add(time.Duration(seq) * time.Microsecond),
				Source: "checkout-api", Kind: "auth.failure", Fingerprint: event.Fingerprint("checkout-api", "auth.failure"),
				Severity: event.SeverityMedium, Category: "authentication",
				Attributes: map[string]string{"user": fmt.Sprintf("u-%d", i%500), "ip": "203.0.113.7", "route": "/api/v2/orders", "status": "401"},
			}
		}
		if _, err := s.AppendEvents(b.Context(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*batch)/1000, "cpu-µs/row")
}

// cpuTime is the CPU time the process has used (user and system): on a
// shared machine a steadier figure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAppendEventsSQLite(b *testing.B) {
	benchAppend(b, storetest.OpenURL(b, storetest.SQLiteURL(b)))
}

func BenchmarkAppendEventsPostgres(b *testing.B) {
	benchAppend(b, storetest.OpenURL(b, storetest.PostgresURL(b)))
}
