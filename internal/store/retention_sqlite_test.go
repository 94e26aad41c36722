package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestSQLiteRetention(t *testing.T) {
	runRetention(t, storetest.SQLiteURL)
}

func BenchmarkPurgeEventsSQLite(b *testing.B) {
	benchPurgeEvents(b, storetest.SQLiteURL(b))
}
