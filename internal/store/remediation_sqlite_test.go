package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestSQLiteRemediation(t *testing.T) {
	storetest.RunRemediation(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.SQLiteURL(t))
	})
}

// TestSQLiteRemediationAcrossHandles races two handles on one database
// file, as two processes sharing it would.
func TestSQLiteRemediationAcrossHandles(t *testing.T) {
	url := storetest.SQLiteURL(t)
	storetest.RunRemediationAcrossStores(t, []store.Store{storetest.OpenURL(t, url), storetest.OpenURL(t, url)})
}

// TestSQLiteRemediationSurvivesReopen records a build, a pending approval
// and an unfinished step, closes the database and opens it again, as a
// restarted daemon would: the budget, the deadline and the interrupted
// step are all still there.
func TestSQLiteRemediationSurvivesReopen(t *testing.T) {
	url := storetest.SQLiteURL(t)
	testRemediationSurvivesReopen(t, storetest.OpenURL(t, url), func() store.Store { return storetest.OpenURL(t, url) })
}

// TestSQLiteCountBuildsUsesIndex checks that the build budget query is
// answered from the (type, started_at) index, not by scanning every step.
func TestSQLiteCountBuildsUsesIndex(t *testing.T) {
	s := storetest.OpenURL(t, storetest.SQLiteURL(t)).(*store.SQLite)
	rs, err := s.DB().QueryContext(t.Context(), `EXPLAIN QUERY PLAN SELECT COUNT(*) FROM step_executions
		WHERE type = $1 AND started_at >= $2 AND status <> $3 AND status <> $4`,
		"build", time.Now().UnixMicro(), incident.StepStatusSkipped, incident.StepStatusDryRun)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var plan []string
	for rs.Next() {
		var id, parent, notused int
		var detail string
		if err := rs.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "COVERING INDEX step_executions_type_started") {
		t.Errorf("CountBuildsSince plan = %q, want a search of the covering index step_executions_type_started", joined)
	}
}

func BenchmarkCountBuildsSinceSQLite(b *testing.B) {
	benchCountBuilds(b, storetest.OpenURL(b, storetest.SQLiteURL(b)))
}
