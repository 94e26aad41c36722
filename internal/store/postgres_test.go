package store_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestPostgres(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	storetest.Run(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.PostgresURL(t))
	})
}

// TestPostgresReplicas runs two stores on one schema, as two replicas of
// the daemon would: migrating at once and racing on one fingerprint.
func TestPostgresReplicas(t *testing.T) {
	url := storetest.PostgresURL(t)
	stores := make([]store.Store, 2)
	applied := make([]int, 2)
	for i := range stores {
		s, err := store.Open(t.Context(), url, store.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			n, err := s.Migrate(t.Context())
			if err != nil {
				t.Errorf("replica %d: Migrate: %v", i, err)
			}
			applied[i] = n
		})
	}
	wg.Wait()
	if want := migrationCount(t, "postgres"); applied[0]+applied[1] != want {
		t.Fatalf("replicas applied %v migrations, want %d in all", applied, want)
	}
	raceCreate(t, stores, 16)
}

func TestPostgresRejectsTruncate(t *testing.T) {
	s := storetest.OpenURL(t, storetest.PostgresURL(t))
	if _, err := storetest.Exec(t.Context(), s, `TRUNCATE timeline`); err == nil {
		t.Error("TRUNCATE timeline succeeded")
	} else if !strings.Contains(err.Error(), "append-only") {
		t.Errorf("TRUNCATE timeline error = %v, want the append-only guard", err)
	}
}

func BenchmarkCreateAndAppendPostgres(b *testing.B) {
	benchCreateAndAppend(b, storetest.OpenURL(b, storetest.PostgresURL(b)))
}
