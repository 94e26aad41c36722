package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestPostgresRemediation(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	storetest.RunRemediation(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.PostgresURL(t))
	})
}

// TestPostgresRemediationReplicas runs two stores, each with its own
// connection pool, on one schema, as two replicas of the daemon would:
// a run is created once, claimed once and an approval decided once,
// whichever replica asks.
func TestPostgresRemediationReplicas(t *testing.T) {
	url := storetest.PostgresURL(t)
	storetest.RunRemediationAcrossStores(t, []store.Store{storetest.OpenURL(t, url), storetest.OpenURL(t, url)})
}

// TestPostgresRemediationSurvivesReopen is TestSQLiteRemediationSurvivesReopen
// on PostgreSQL: a replica started later sees what an earlier one recorded.
func TestPostgresRemediationSurvivesReopen(t *testing.T) {
	url := storetest.PostgresURL(t)
	testRemediationSurvivesReopen(t, storetest.OpenURL(t, url), func() store.Store { return storetest.OpenURL(t, url) })
}

func BenchmarkCountBuildsSincePostgres(b *testing.B) {
	benchCountBuilds(b, storetest.OpenURL(b, storetest.PostgresURL(b)))
}
