package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestPostgresRetention(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	runRetention(t, storetest.PostgresURL)
}

func BenchmarkPurgeEventsPostgres(b *testing.B) {
	benchPurgeEvents(b, storetest.PostgresURL(b))
}
