package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// remIncident creates an incident for the remediation tests.
func remIncident(t testing.TB, s store.Store, fp string, opened time.Time) incident.Incident {
	t.Helper()
	inc, err := s.CreateIncident(t.Context(), incident.Incident{
		Fingerprint: fp, Title: "checkout API down", Monitor: "checkout", Category: "availability",
		Severity: event.SeverityHigh, Tier: incident.TierMinor, OpenedAt: opened,
	}, incident.Entry{Time: opened, Actor: incident.ActorEngine, Kind: incident.KindOpened})
	if err != nil {
		t.Fatalf("CreateIncident(%s): %v", fp, err)
	}
	return inc
}

// testRemediationSurvivesReopen records remediation state through first,
// closes it and checks that the store reopen returns (a restarted daemon,
// or another replica) sees all of it and keeps enforcing it.
func testRemediationSurvivesReopen(t *testing.T, first store.Store, reopen func() store.Store) {
	ctx := t.Context()
	now := time.Date(2025, 6, 2, 10, 0, 0, 0, time.UTC)
	inc := remIncident(t, first, "reopen", now.Add(-2*time.Hour))
	run, err := first.CreateRun(ctx, incident.PlaybookRun{IncidentID: inc.ID, Playbook: "redeploy", Attempt: 1,
		Status: incident.RunRunning, StartedAt: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var lastBuild incident.StepExecution
	for i := range incident.MaxBuildsPerHour {
		lastBuild, err = first.StartStep(ctx, incident.StepExecution{RunID: run.ID, IncidentID: inc.ID, Index: i,
			Name: "build", Type: incident.StepBuild, StartedAt: now.Add(-time.Duration(50-10*i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if i < incident.MaxBuildsPerHour-1 {
			if err := first.FinishStep(ctx, lastBuild.ID, incident.StepStatusSucceeded, lastBuild.StartedAt.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, err := first.CreateApproval(ctx, incident.Approval{RunID: run.ID, StepIndex: 5, StepName: "restart",
		Deadline: now.Add(-time.Minute), OnTimeout: incident.TimeoutDeny, CreatedAt: now.Add(-31 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	s := reopen()
	if n, err := s.CountBuildsSince(ctx, now.Add(-incident.BuildWindow)); err != nil || n != incident.MaxBuildsPerHour {
		t.Errorf("after reopening CountBuildsSince = %d, %v; want the %d builds of the last hour", n, err, incident.MaxBuildsPerHour)
	}
	if n, err := s.CountAttempts(ctx, inc.ID); err != nil || n != 1 {
		t.Errorf("after reopening CountAttempts = %d, %v; want 1", n, err)
	}
	if _, err := s.CreateRun(ctx, incident.PlaybookRun{IncidentID: inc.ID, Playbook: "redeploy", Attempt: 1,
		StartedAt: now}); !errors.Is(err, incident.ErrRunExists) {
		t.Errorf("after reopening CreateRun of the same run: error = %v, want ErrRunExists", err)
	}
	if steps, err := s.UnfinishedSteps(ctx); err != nil || len(steps) != 1 || steps[0].ID != lastBuild.ID {
		t.Errorf("after reopening UnfinishedSteps = %+v, %v; want the build step %d left started", steps, err, lastBuild.ID)
	}
	due, err := s.PendingApprovals(ctx, now)
	if err != nil || len(due) != 1 || due[0].ID != a.ID {
		t.Fatalf("after reopening PendingApprovals(now) = %+v, %v; want the request whose deadline passed while down", due, err)
	}
	if _, err := s.DecideApproval(ctx, a.ID, incident.ApprovalDenied, incident.DecidedByDeadline, incident.ActorEngine, "", now); err != nil {
		t.Errorf("timeout action after reopening: %v", err)
	}
	if _, err := s.DecideApproval(ctx, a.ID, incident.ApprovalDenied, incident.DecidedByDeadline, incident.ActorEngine, "", now); !errors.Is(err, incident.ErrAlreadyDecided) {
		t.Errorf("timeout action taken twice: error = %v, want ErrAlreadyDecided", err)
	}
}

// Figures of the build-budget benchmark: benchSteps step executions,
// started benchSpacing apart up to now (about 30 days of history), one in
// five a build.
const (
	benchSteps   = 100_000
	benchRuns    = 100
	benchSpacing = 26 * time.Second
)

var benchTypes = []incident.StepType{incident.StepHTTP, incident.StepExec, incident.StepBuild, incident.StepVerify, incident.StepNotify}

var benchStatuses = []string{incident.StepStatusSucceeded, incident.StepStatusFailed, incident.StepStatusSkipped,
	incident.StepStatusDryRun, incident.StepStatusSucceeded, incident.StepStatusInterrupt, incident.StepStatusSucceeded}

// benchCountBuilds measures CountBuildsSince, asked before every build
// step, on a store holding benchSteps step executions.
func benchCountBuilds(b *testing.B, s store.Store) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	want := seedSteps(b, s, now)
	since := now.Add(-incident.BuildWindow)
	b.ResetTimer()
	for b.Loop() {
		n, err := s.CountBuildsSince(b.Context(), since)
		if err != nil {
			b.Fatal(err)
		}
		if n != want {
			b.Fatalf("CountBuildsSince = %d, want %d", n, want)
		}
	}
	b.ReportMetric(benchSteps, "step-rows")
}

// seedSteps inserts benchSteps step executions (over benchRuns runs) in
// one transaction, behind the store's back for speed, and returns how many
// count against the build budget at now.
func seedSteps(b *testing.B, s store.Store, now time.Time) int {
	b.Helper()
	ctx := b.Context()
	runs := make([]incident.PlaybookRun, benchRuns)
	for i := range runs {
		inc := remIncident(b, s, "bench-"+string(rune('a'+i%26))+string(rune('a'+i/26)), now.Add(-31*24*time.Hour))
		run, err := s.CreateRun(ctx, incident.PlaybookRun{IncidentID: inc.ID, Playbook: "redeploy", Attempt: 1,
			Status: incident.RunSucceeded, StartedAt: inc.OpenedAt})
		if err != nil {
			b.Fatal(err)
		}
		runs[i] = run
	}
	type stepRow struct {
		run, inc, index int64
		typ, status     string
		started         time.Time
	}
	rows := make([]stepRow, benchSteps)
	want := 0
	for i := range rows {
		run := runs[i%benchRuns]
		r := stepRow{run: run.ID, inc: run.IncidentID, index: int64(i / benchRuns),
			typ: string(benchTypes[i%len(benchTypes)]), status: benchStatuses[i%len(benchStatuses)],
			started: now.Add(-time.Duration(i) * benchSpacing)}
		if r.typ == string(incident.StepBuild) && !r.started.Before(now.Add(-incident.BuildWindow)) &&
			r.status != incident.StepStatusSkipped && r.status != incident.StepStatusDryRun {
			want++
		}
		rows[i] = r
	}
	switch db := s.(type) {
	case *store.SQLite:
		tx, err := db.DB().BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		st, err := tx.PrepareContext(ctx, `INSERT INTO step_executions (run_id, incident_id, step_index, name, type,
			status, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = st.Close() }()
		for _, r := range rows {
			if _, err := st.ExecContext(ctx, r.run, r.inc, r.index, r.typ, r.typ, r.status, r.started.UnixMicro()); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if _, err := db.DB().ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	case *store.Postgres:
		src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			return []any{r.run, r.inc, r.index, r.typ, r.typ, r.status, r.started, r.started}, nil
		})
		if _, err := db.Pool().CopyFrom(ctx, pgx.Identifier{"step_executions"},
			[]string{"run_id", "incident_id", "step_index", "name", "type", "status", "started_at", "finished_at"}, src); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Pool().Exec(ctx, `VACUUM ANALYZE step_executions`); err != nil {
			b.Fatal(err)
		}
	default:
		b.Fatalf("no raw access to a %T", s)
	}
	if want == 0 {
		b.Fatal("the seeded history has no build in the last hour")
	}
	return want
}
