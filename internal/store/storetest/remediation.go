package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// RunRemediation runs the conformance suite of incident.RemediationStore:
// playbook runs, step executions and approval requests. open must return
// a fresh, migrated, empty store each time, as for Run.
func RunRemediation(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RunRoundTrip", testRunRoundTrip},
		{"RunRejectsInvalid", testRunRejectsInvalid},
		{"RunUniqueKey", testRunUniqueKey},
		{"RunConcurrentCreateHasOneWinner", testRunConcurrentCreate},
		{"CountAttemptsExcludesDryRuns", testCountAttempts},
		{"UpdateRun", testUpdateRun},
		{"ClaimRunIsCompareAndSet", testClaimRun},
		{"ConcurrentClaimHasOneWinner", testConcurrentClaim},
		{"RunsListing", testRunsListing},
		{"StepStartFinishUnfinished", testSteps},
		{"StepRejectsInvalid", testStepRejectsInvalid},
		{"ConcurrentFinishHasOneWinner", testConcurrentFinish},
		{"CountBuildsRollingWindow", testCountBuilds},
		{"ApprovalRoundTrip", testApprovalRoundTrip},
		{"ApprovalRejectsInvalid", testApprovalRejectsInvalid},
		{"ApprovalOnePendingPerStep", testApprovalOnePending},
		{"PendingApprovalsDueOrdering", testPendingApprovals},
		{"DecideApproval", testDecideApproval},
		{"DecideByDeadline", testDecideByDeadline},
		{"ConcurrentDecideHasOneWinner", testConcurrentDecide},
		{"RunApprovals", testRunApprovals},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// RunRemediationAcrossStores checks the exactly-once guarantees of
// incident.RemediationStore between stores on one database, as separate
// processes or replicas would hold them: a run is created once, a run is
// claimed once, an approval request is decided once, and the build budget
// one store spends is seen by the others. stores must share one migrated,
// empty database.
func RunRemediationAcrossStores(t *testing.T, stores []store.Store) {
	t.Helper()
	if len(stores) < 2 {
		t.Fatalf("RunRemediationAcrossStores needs at least 2 stores, got %d", len(stores))
	}
	first := stores[0]
	inc := mustCreate(t, first, newIncident("replicas"))
	const racers = 20
	pick := func(i int) store.Store { return stores[i%len(stores)] }

	// Every replica tries to start the same run: one does.
	results := race(racers, func(i int) error {
		_, err := pick(i).CreateRun(t.Context(), newRun(inc.ID, "restart-api", 1))
		return err
	})
	checkOneWinner(t, "CreateRun", results, incident.ErrRunExists)
	runs, err := stores[1].Runs(t.Context(), inc.ID)
	if err != nil || len(runs) != 1 {
		t.Fatalf("after racing CreateRun the replicas see runs %+v (%v), want one", runs, err)
	}
	run := runs[0]

	// Every replica tries to claim the run: one does.
	var (
		mu     sync.Mutex
		claims int
	)
	results = race(racers, func(i int) error {
		ok, err := pick(i).UpdateRun(t.Context(), run.ID, incident.RunRunning, incident.RunWaitingApproval, 1, at(time.Minute))
		if ok {
			mu.Lock()
			claims++
			mu.Unlock()
		}
		return err
	})
	for i, err := range results {
		if err != nil {
			t.Errorf("replica claim %d: %v", i, err)
		}
	}
	if claims != 1 {
		t.Errorf("%d replicas claimed run %d, want exactly 1", claims, run.ID)
	}

	// Every replica decides the same request, half of them approving: one
	// decision is taken and it is the stored one.
	a := mustCreateApproval(t, first, newApproval(run, 1))
	var winner incident.Approval
	results = race(racers, func(i int) error {
		status := incident.ApprovalApproved
		if i%2 == 1 {
			status = incident.ApprovalDenied
		}
		got, err := pick(i).DecideApproval(t.Context(), a.ID, status, incident.DecidedByHuman, fmt.Sprintf("admin-%d", i), "", at(2*time.Minute))
		if err == nil {
			mu.Lock()
			winner = got
			mu.Unlock()
		}
		return err
	})
	checkOneWinner(t, "DecideApproval", results, incident.ErrAlreadyDecided)
	for _, s := range stores {
		got, err := s.GetApproval(t.Context(), a.ID)
		if err != nil || !reflect.DeepEqual(got, winner) {
			t.Errorf("a replica reads approval\n%+v (%v)\nwant the winning decision\n%+v", got, err, winner)
		}
	}

	// Builds recorded through one replica count against the budget of all.
	for i := range 3 {
		mustStartStep(t, pick(i), newStep(run, i, incident.StepBuild, at(time.Duration(i)*time.Second)))
	}
	for i, s := range stores {
		if n, err := s.CountBuildsSince(t.Context(), at(-time.Hour)); err != nil || n != 3 {
			t.Errorf("replica %d counts %d builds (%v), want 3", i, n, err)
		}
	}
}

// race runs fn(0) … fn(n-1) at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// checkOneWinner checks that exactly one of results is nil and every other
// wraps loser.
func checkOneWinner(t *testing.T, what string, results []error, loser error) {
	t.Helper()
	wins := 0
	for i, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("%s racer %d: error %v, want nil or %v", what, i, err, loser)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent %s calls succeeded, want exactly 1", wins, len(results), what)
	}
}

func newRun(incidentID int64, playbook string, attempt int) incident.PlaybookRun {
	return incident.PlaybookRun{
		IncidentID: incidentID,
		Playbook:   playbook,
		Attempt:    attempt,
		Status:     incident.RunRunning,
		Actor:      incident.ActorEngine,
		StartedAt:  t0(),
	}
}

func mustCreateRun(t *testing.T, s store.Store, run incident.PlaybookRun) incident.PlaybookRun {
	t.Helper()
	got, err := s.CreateRun(t.Context(), run)
	if err != nil {
		t.Fatalf("CreateRun(%s attempt %d of incident %d): %v", run.Playbook, run.Attempt, run.IncidentID, err)
	}
	return got
}

// remIncidentRun creates an incident and a first run of it.
func remIncidentRun(t *testing.T, s store.Store, fp string) (incident.Incident, incident.PlaybookRun) {
	t.Helper()
	inc := mustCreate(t, s, newIncident(fp))
	return inc, mustCreateRun(t, s, newRun(inc.ID, "restart-api", 1))
}

func mustGetRun(t *testing.T, s store.Store, id int64) incident.PlaybookRun {
	t.Helper()
	got, err := s.GetRun(t.Context(), id)
	if err != nil {
		t.Fatalf("GetRun(%d): %v", id, err)
	}
	return got
}

func newStep(run incident.PlaybookRun, index int, typ incident.StepType, started time.Time) incident.StepExecution {
	return incident.StepExecution{
		RunID:      run.ID,
		IncidentID: run.IncidentID,
		Index:      index,
		Name:       fmt.Sprintf("%s-%d", typ, index),
		Type:       typ,
		Target:     "deploy.example.org",
		Status:     incident.StepStatusStarted,
		StartedAt:  started,
	}
}

func mustStartStep(t *testing.T, s store.Store, st incident.StepExecution) incident.StepExecution {
	t.Helper()
	got, err := s.StartStep(t.Context(), st)
	if err != nil {
		t.Fatalf("StartStep(%s): %v", st.Name, err)
	}
	return got
}

func newApproval(run incident.PlaybookRun, index int) incident.Approval {
	return incident.Approval{
		IncidentID: run.IncidentID,
		RunID:      run.ID,
		StepIndex:  index,
		StepName:   fmt.Sprintf("step-%d", index),
		Status:     incident.ApprovalPending,
		Approvers:  []string{"alice", "bob"},
		Reasons:    []string{"CRITICAL incident: side-effecting steps need a human"},
		Deadline:   at(incident.DefaultApprovalTimeout),
		OnTimeout:  incident.TimeoutApprove,
		CreatedAt:  t0(),
	}
}

func mustCreateApproval(t *testing.T, s store.Store, a incident.Approval) incident.Approval {
	t.Helper()
	got, err := s.CreateApproval(t.Context(), a)
	if err != nil {
		t.Fatalf("CreateApproval(run %d step %d): %v", a.RunID, a.StepIndex, err)
	}
	return got
}

func tp(t time.Time) *time.Time {
	n := incident.NormalizeTime(t)
	return &n
}

func runIDs(runs []incident.PlaybookRun) []int64 {
	out := []int64{}
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func approvalIDs(as []incident.Approval) []int64 {
	out := []int64{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func testRunRoundTrip(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("run"))
	in := newRun(inc.ID, "restart-api", 1)
	in.Manual, in.Actor, in.NextStep = true, "alice", 2
	in.ID = 999 // assigned by the store
	got := mustCreateRun(t, s, in)
	if got.ID <= 0 || got.ID == 999 {
		t.Fatalf("created run has id %d", got.ID)
	}
	want := in
	want.ID = got.ID
	want.StartedAt = incident.NormalizeTime(t0())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CreateRun returned\n%+v\nwant\n%+v", got, want)
	}
	back := mustGetRun(t, s, got.ID)
	if !reflect.DeepEqual(back, want) {
		t.Errorf("GetRun returned\n%+v\nwant\n%+v", back, want)
	}
	if back.StartedAt.Location() != time.UTC || back.StartedAt.Nanosecond()%1000 != 0 {
		t.Errorf("started_at %v is not UTC at microsecond precision", back.StartedAt)
	}

	// Defaults: no status is running; a terminal status without a
	// finishing time finishes at the start; a dry run may take a negative
	// attempt number.
	def := newRun(inc.ID, "defaults", 1)
	def.Status = ""
	if got := mustCreateRun(t, s, def); got.Status != incident.RunRunning || got.FinishedAt != nil {
		t.Errorf("run without status = %q finished %v, want running and unfinished", got.Status, got.FinishedAt)
	}
	dry := newRun(inc.ID, "defaults", -1)
	dry.DryRun, dry.Status = true, incident.RunDryRun
	got = mustCreateRun(t, s, dry)
	if got.FinishedAt == nil || !got.FinishedAt.Equal(incident.NormalizeTime(t0())) {
		t.Errorf("terminal run created with finished_at %v, want its start %v", got.FinishedAt, t0())
	}
	if back := mustGetRun(t, s, got.ID); !reflect.DeepEqual(back, got) {
		t.Errorf("GetRun(dry run) = %+v, want %+v", back, got)
	}

	if _, err := s.GetRun(t.Context(), got.ID+1000); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("GetRun(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateRun(t.Context(), newRun(inc.ID+1000, "restart-api", 1)); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("CreateRun(unknown incident) error = %v, want ErrNotFound", err)
	}
}

func testRunRejectsInvalid(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("run-invalid"))
	tests := []struct {
		name   string
		change func(r *incident.PlaybookRun)
	}{
		{"no playbook", func(r *incident.PlaybookRun) { r.Playbook = "" }},
		{"attempt 0", func(r *incident.PlaybookRun) { r.Attempt = 0 }},
		{"negative attempt of a real run", func(r *incident.PlaybookRun) { r.Attempt = -1 }},
		{"unknown status", func(r *incident.PlaybookRun) { r.Status = "done" }},
		{"negative next step", func(r *incident.PlaybookRun) { r.NextStep = -1 }},
		{"no start time", func(r *incident.PlaybookRun) { r.StartedAt = time.Time{} }},
		{"running but finished", func(r *incident.PlaybookRun) { r.FinishedAt = tp(at(time.Minute)) }},
	}
	for _, tc := range tests {
		run := newRun(inc.ID, "restart-api", 1)
		tc.change(&run)
		if _, err := s.CreateRun(t.Context(), run); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateRun error = %v, want ErrInvalid", tc.name, err)
		}
	}
	if runs, err := s.Runs(t.Context(), inc.ID); err != nil || len(runs) != 0 {
		t.Errorf("after invalid creates Runs = %v, %v; want none", runIDs(runs), err)
	}
}

func testRunUniqueKey(t *testing.T, s store.Store) {
	inc, first := remIncidentRun(t, s, "unique")
	again := newRun(inc.ID, "restart-api", 1)
	again.Manual, again.StartedAt = true, at(time.Hour)
	if _, err := s.CreateRun(t.Context(), again); !errors.Is(err, incident.ErrRunExists) {
		t.Fatalf("second CreateRun of the same (incident, playbook, attempt) error = %v, want ErrRunExists", err)
	}
	// Even a dry run cannot take the key.
	again.DryRun = true
	if _, err := s.CreateRun(t.Context(), again); !errors.Is(err, incident.ErrRunExists) {
		t.Errorf("dry run with a taken key: error = %v, want ErrRunExists", err)
	}
	if back := mustGetRun(t, s, first.ID); !reflect.DeepEqual(back, first) {
		t.Errorf("the first run changed to %+v, want %+v", back, first)
	}
	// Another attempt, playbook or incident is another run.
	other := mustCreate(t, s, newIncident("unique-other"))
	for _, r := range []incident.PlaybookRun{
		newRun(inc.ID, "restart-api", 2),
		newRun(inc.ID, "fallback-provider", 1),
		newRun(other.ID, "restart-api", 1),
	} {
		mustCreateRun(t, s, r)
	}
	if runs, err := s.Runs(t.Context(), inc.ID); err != nil || len(runs) != 3 {
		t.Errorf("Runs = %v, %v; want 3", runIDs(runs), err)
	}
}

func testRunConcurrentCreate(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("run-race"))
	results := race(20, func(i int) error {
		run := newRun(inc.ID, "restart-api", 1)
		run.Actor = fmt.Sprintf("racer-%d", i)
		_, err := s.CreateRun(t.Context(), run)
		return err
	})
	checkOneWinner(t, "CreateRun", results, incident.ErrRunExists)
	if runs, err := s.Runs(t.Context(), inc.ID); err != nil || len(runs) != 1 {
		t.Errorf("Runs after the race = %v, %v; want exactly one", runIDs(runs), err)
	}
}

func testCountAttempts(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("attempts"))
	other := mustCreate(t, s, newIncident("attempts-other"))
	count := func() int {
		t.Helper()
		n, err := s.CountAttempts(t.Context(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("CountAttempts of an incident without runs = %d, want 0", n)
	}
	failed := newRun(inc.ID, "restart-api", 1)
	failed.Status = incident.RunFailed
	mustCreateRun(t, s, failed)
	mustCreateRun(t, s, newRun(inc.ID, "fallback-provider", 2))
	for i := range 3 {
		dry := newRun(inc.ID, "restart-api", -(i + 1))
		dry.DryRun = true
		mustCreateRun(t, s, dry)
	}
	mustCreateRun(t, s, newRun(other.ID, "restart-api", 1))
	if n := count(); n != 2 {
		t.Errorf("CountAttempts = %d, want 2 (dry runs and other incidents excluded, every playbook and status counted)", n)
	}
	if n, err := s.CountAttempts(t.Context(), inc.ID+1000); err != nil || n != 0 {
		t.Errorf("CountAttempts(unknown incident) = %d, %v; want 0", n, err)
	}
}

func testUpdateRun(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "update")
	ok, err := s.UpdateRun(t.Context(), run.ID, "", incident.RunWaitingApproval, 3, at(time.Minute))
	if err != nil || !ok {
		t.Fatalf("UpdateRun = %v, %v; want true", ok, err)
	}
	got := mustGetRun(t, s, run.ID)
	if got.Status != incident.RunWaitingApproval || got.NextStep != 3 || got.FinishedAt != nil {
		t.Errorf("after UpdateRun(waiting_approval, 3) run = %+v", got)
	}
	ok, err = s.UpdateRun(t.Context(), run.ID, "", incident.RunSucceeded, 4, at(2*time.Minute))
	if err != nil || !ok {
		t.Fatalf("UpdateRun(succeeded) = %v, %v; want true", ok, err)
	}
	got = mustGetRun(t, s, run.ID)
	if got.Status != incident.RunSucceeded || got.NextStep != 4 || got.FinishedAt == nil ||
		!got.FinishedAt.Equal(incident.NormalizeTime(at(2*time.Minute))) || got.FinishedAt.Location() != time.UTC {
		t.Errorf("after UpdateRun(succeeded) run = %+v, want finished at %v", got, at(2*time.Minute))
	}
	// Back to a non-terminal status clears the finishing time.
	if ok, err := s.UpdateRun(t.Context(), run.ID, "", incident.RunRunning, 4, at(3*time.Minute)); err != nil || !ok {
		t.Fatalf("UpdateRun(running) = %v, %v", ok, err)
	}
	if got := mustGetRun(t, s, run.ID); got.FinishedAt != nil {
		t.Errorf("running run has finished_at %v", got.FinishedAt)
	}
	// Unchanged fields stay.
	if got := mustGetRun(t, s, run.ID); got.Playbook != run.Playbook || got.Attempt != run.Attempt ||
		got.IncidentID != run.IncidentID || !got.StartedAt.Equal(run.StartedAt) || got.Actor != run.Actor {
		t.Errorf("UpdateRun changed more than status and next step: %+v, was %+v", got, run)
	}

	for _, from := range []string{"", incident.RunRunning} {
		if ok, err := s.UpdateRun(t.Context(), run.ID+1000, from, incident.RunFailed, 0, at(time.Hour)); ok || !errors.Is(err, incident.ErrNotFound) {
			t.Errorf("UpdateRun(unknown run, from %q) = %v, %v; want false, ErrNotFound", from, ok, err)
		}
	}
	for name, call := range map[string]func() (bool, error){
		"unknown status": func() (bool, error) {
			return s.UpdateRun(t.Context(), run.ID, "", "done", 0, at(time.Hour))
		},
		"unknown from": func() (bool, error) {
			return s.UpdateRun(t.Context(), run.ID, "done", incident.RunFailed, 0, at(time.Hour))
		},
		"negative next step": func() (bool, error) {
			return s.UpdateRun(t.Context(), run.ID, "", incident.RunRunning, -1, at(time.Hour))
		},
		"terminal without time": func() (bool, error) {
			return s.UpdateRun(t.Context(), run.ID, "", incident.RunFailed, 0, time.Time{})
		},
	} {
		if ok, err := call(); ok || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: UpdateRun = %v, %v; want false, ErrInvalid", name, ok, err)
		}
	}
	if got := mustGetRun(t, s, run.ID); got.Status != incident.RunRunning || got.NextStep != 4 {
		t.Errorf("rejected updates changed the run: %+v", got)
	}
}

func testClaimRun(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "claim")
	ok, err := s.UpdateRun(t.Context(), run.ID, incident.RunWaitingApproval, incident.RunRunning, 5, at(time.Minute))
	if err != nil || ok {
		t.Fatalf("claim from waiting_approval of a running run = %v, %v; want false, nil", ok, err)
	}
	if got := mustGetRun(t, s, run.ID); !reflect.DeepEqual(got, run) {
		t.Errorf("a failed claim changed the run: %+v, was %+v", got, run)
	}
	ok, err = s.UpdateRun(t.Context(), run.ID, incident.RunRunning, incident.RunEscalated, 2, at(time.Minute))
	if err != nil || !ok {
		t.Fatalf("claim from running = %v, %v; want true", ok, err)
	}
	got := mustGetRun(t, s, run.ID)
	if got.Status != incident.RunEscalated || got.NextStep != 2 || got.FinishedAt == nil {
		t.Errorf("claimed run = %+v, want escalated at step 2, finished", got)
	}
	// The same claim again loses: the status moved on.
	if ok, err := s.UpdateRun(t.Context(), run.ID, incident.RunRunning, incident.RunEscalated, 2, at(time.Hour)); err != nil || ok {
		t.Errorf("repeated claim = %v, %v; want false, nil", ok, err)
	}
}

func testConcurrentClaim(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "claim-race")
	if ok, err := s.UpdateRun(t.Context(), run.ID, "", incident.RunWaitingApproval, 1, at(time.Minute)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var (
		mu     sync.Mutex
		winner = -1
		wins   int
	)
	results := race(20, func(i int) error {
		ok, err := s.UpdateRun(t.Context(), run.ID, incident.RunWaitingApproval, incident.RunRunning, 10+i, at(2*time.Minute))
		if ok {
			mu.Lock()
			wins++
			winner = i
			mu.Unlock()
		}
		return err
	})
	for i, err := range results {
		if err != nil {
			t.Errorf("claimer %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent claimers won, want exactly 1", wins)
	}
	if got := mustGetRun(t, s, run.ID); got.Status != incident.RunRunning || got.NextStep != 10+winner {
		t.Errorf("claimed run = %+v, want running at the winner's step %d", got, 10+winner)
	}
}

func testRunsListing(t *testing.T, s store.Store) {
	inc := mustCreate(t, s, newIncident("list-runs"))
	other := mustCreate(t, s, newIncident("list-runs-other"))
	mk := func(incID int64, pb string, attempt int, started time.Time, status string) incident.PlaybookRun {
		r := newRun(incID, pb, attempt)
		r.StartedAt, r.Status = started, status
		return mustCreateRun(t, s, r)
	}
	// Inserted out of time order: listings are by start time.
	late := mk(inc.ID, "a", 2, at(2*time.Hour), incident.RunRunning)
	early := mk(inc.ID, "a", 1, at(time.Hour), incident.RunFailed)
	mid := mk(other.ID, "a", 1, at(90*time.Minute), incident.RunRunning)
	waiting := mk(other.ID, "b", 1, at(3*time.Hour), incident.RunWaitingApproval)

	got, err := s.Runs(t.Context(), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []incident.PlaybookRun{early, late}; !reflect.DeepEqual(got, want) {
		t.Errorf("Runs = %+v, want %+v", got, want)
	}
	if got, err := s.Runs(t.Context(), inc.ID+1000); err != nil || got == nil || len(got) != 0 {
		t.Errorf("Runs(unknown incident) = %#v, %v; want an empty list", got, err)
	}
	for status, want := range map[string][]incident.PlaybookRun{
		incident.RunRunning:         {mid, late},
		incident.RunFailed:          {early},
		incident.RunWaitingApproval: {waiting},
		incident.RunSucceeded:       {},
	} {
		got, err := s.RunsByStatus(t.Context(), status)
		if err != nil {
			t.Errorf("RunsByStatus(%s): %v", status, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("RunsByStatus(%s) = %v, want %v", status, runIDs(got), runIDs(want))
		}
	}
	if _, err := s.RunsByStatus(t.Context(), "done"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RunsByStatus(unknown) error = %v, want ErrInvalid", err)
	}
}

func testSteps(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "steps")
	in := newStep(run, 0, incident.StepHTTP, t0())
	in.Idempotent = true
	first := mustStartStep(t, s, in)
	if first.ID <= 0 {
		t.Fatalf("started step has id %d", first.ID)
	}
	want := in
	want.ID = first.ID
	want.StartedAt = incident.NormalizeTime(t0())
	if !reflect.DeepEqual(first, want) {
		t.Errorf("StartStep returned\n%+v\nwant\n%+v", first, want)
	}
	// No incident id: taken from the run.
	noInc := newStep(run, 1, incident.StepExec, at(time.Minute))
	noInc.IncidentID = 0
	second := mustStartStep(t, s, noInc)
	if second.IncidentID != run.IncidentID {
		t.Errorf("step without incident id got incident %d, want the run's %d", second.IncidentID, run.IncidentID)
	}
	// Recorded directly as skipped: finished at its start, not unfinished.
	skipped := newStep(run, 2, incident.StepBuild, at(2*time.Minute))
	skipped.Status = incident.StepStatusSkipped
	if got := mustStartStep(t, s, skipped); got.FinishedAt == nil || !got.FinishedAt.Equal(got.StartedAt) {
		t.Errorf("skipped step recorded with finished_at %v, want its start", got.FinishedAt)
	}

	unfinished, err := s.UnfinishedSteps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if wantU := []incident.StepExecution{want, second}; !reflect.DeepEqual(unfinished, wantU) {
		t.Errorf("UnfinishedSteps =\n%+v\nwant\n%+v", unfinished, wantU)
	}

	if err := s.FinishStep(t.Context(), first.ID, incident.StepStatusSucceeded, at(30*time.Second)); err != nil {
		t.Fatalf("FinishStep: %v", err)
	}
	unfinished, err = s.UnfinishedSteps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(unfinished) != 1 || unfinished[0].ID != second.ID {
		t.Errorf("after finishing step %d UnfinishedSteps = %+v, want only step %d", first.ID, unfinished, second.ID)
	}
	// Finished once: a second finish (another replica's crash recovery)
	// loses and changes nothing.
	if err := s.FinishStep(t.Context(), first.ID, incident.StepStatusInterrupt, at(time.Hour)); !errors.Is(err, store.ErrStepFinished) {
		t.Errorf("second FinishStep error = %v, want ErrStepFinished", err)
	}
	if err := s.FinishStep(t.Context(), second.ID, incident.StepStatusInterrupt, at(time.Hour)); err != nil {
		t.Fatalf("FinishStep(interrupted): %v", err)
	}
	if unfinished, err := s.UnfinishedSteps(t.Context()); err != nil || len(unfinished) != 0 {
		t.Errorf("UnfinishedSteps after finishing all = %+v, %v; want none", unfinished, err)
	}
	if err := s.FinishStep(t.Context(), second.ID+1000, incident.StepStatusFailed, at(time.Hour)); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("FinishStep(unknown) error = %v, want ErrNotFound", err)
	}
	for _, status := range []string{incident.StepStatusStarted, "done", ""} {
		if err := s.FinishStep(t.Context(), second.ID, status, at(time.Hour)); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("FinishStep(%q) error = %v, want ErrInvalid", status, err)
		}
	}
	if err := s.FinishStep(t.Context(), second.ID, incident.StepStatusFailed, time.Time{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("FinishStep without time: error = %v, want ErrInvalid", err)
	}
}

func testStepRejectsInvalid(t *testing.T, s store.Store) {
	inc, run := remIncidentRun(t, s, "step-invalid")
	other := mustCreate(t, s, newIncident("step-invalid-other"))
	tests := []struct {
		name    string
		change  func(st *incident.StepExecution)
		wantErr error
	}{
		{"no run", func(st *incident.StepExecution) { st.RunID = 0 }, store.ErrInvalid},
		{"negative index", func(st *incident.StepExecution) { st.Index = -1 }, store.ErrInvalid},
		{"unknown type", func(st *incident.StepExecution) { st.Type = "reboot" }, store.ErrInvalid},
		{"unknown status", func(st *incident.StepExecution) { st.Status = "done" }, store.ErrInvalid},
		{"no start time", func(st *incident.StepExecution) { st.StartedAt = time.Time{} }, store.ErrInvalid},
		{"started but finished", func(st *incident.StepExecution) { st.FinishedAt = tp(at(time.Minute)) }, store.ErrInvalid},
		{"unknown run", func(st *incident.StepExecution) { st.RunID += 1000 }, incident.ErrNotFound},
		{"unknown run without incident", func(st *incident.StepExecution) { st.RunID, st.IncidentID = st.RunID+1000, 0 }, incident.ErrNotFound},
		{"run of another incident", func(st *incident.StepExecution) { st.IncidentID = other.ID }, incident.ErrNotFound},
	}
	for _, tc := range tests {
		st := newStep(run, 0, incident.StepBuild, t0())
		tc.change(&st)
		if _, err := s.StartStep(t.Context(), st); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: StartStep error = %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	if n, err := s.CountBuildsSince(t.Context(), time.Time{}); err != nil || n != 0 {
		t.Errorf("after rejected steps CountBuildsSince = %d, %v; want 0", n, err)
	}
	if u, err := s.UnfinishedSteps(t.Context()); err != nil || len(u) != 0 {
		t.Errorf("after rejected steps UnfinishedSteps = %+v, %v; want none (incident %d)", u, err, inc.ID)
	}
}

func testConcurrentFinish(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "finish-race")
	st := mustStartStep(t, s, newStep(run, 0, incident.StepExec, t0()))
	results := race(20, func(i int) error {
		status := incident.StepStatusInterrupt
		if i%2 == 0 {
			status = incident.StepStatusSucceeded
		}
		return s.FinishStep(t.Context(), st.ID, status, at(time.Minute))
	})
	checkOneWinner(t, "FinishStep", results, store.ErrStepFinished)
}

func testCountBuilds(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "builds")
	_, otherRun := remIncidentRun(t, s, "builds-other")
	since := at(-incident.BuildWindow)
	count := func(since time.Time) int {
		t.Helper()
		n, err := s.CountBuildsSince(t.Context(), since)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(since); n != 0 {
		t.Fatalf("CountBuildsSince on an empty store = %d", n)
	}
	add := func(r incident.PlaybookRun, typ incident.StepType, started time.Time, status string) {
		t.Helper()
		st := newStep(r, 0, typ, started)
		st.Status = status
		mustStartStep(t, s, st)
	}
	// Counted: builds started at or after since, whatever their outcome,
	// across incidents.
	add(run, incident.StepBuild, since, incident.StepStatusSucceeded) // exactly at since
	add(run, incident.StepBuild, at(-time.Minute), incident.StepStatusFailed)
	add(otherRun, incident.StepBuild, t0(), incident.StepStatusStarted)
	add(otherRun, incident.StepBuild, at(-time.Second), incident.StepStatusInterrupt)
	// Not counted: before the window, skipped or dry runs, other types.
	add(run, incident.StepBuild, since.Add(-time.Microsecond), incident.StepStatusSucceeded)
	add(run, incident.StepBuild, at(-2*time.Minute), incident.StepStatusSkipped)
	add(run, incident.StepBuild, at(-3*time.Minute), incident.StepStatusDryRun)
	add(run, incident.StepHTTP, at(-4*time.Minute), incident.StepStatusSucceeded)
	add(otherRun, incident.StepExec, at(-5*time.Minute), incident.StepStatusStarted)

	if n := count(since); n != 4 {
		t.Errorf("CountBuildsSince(now - 1h) = %d, want 4", n)
	}
	// The boundary is inclusive to the microsecond.
	if n := count(since.Add(time.Microsecond)); n != 3 {
		t.Errorf("CountBuildsSince(one microsecond after a build) = %d, want 3", n)
	}
	if n := count(since.Add(-time.Microsecond)); n != 5 {
		t.Errorf("CountBuildsSince(one microsecond earlier) = %d, want 5", n)
	}
	if n := count(at(time.Second)); n != 0 {
		t.Errorf("CountBuildsSince(the future) = %d, want 0", n)
	}
	// A build started then skipped or turned into a dry run stops
	// counting.
	st := newStep(run, 1, incident.StepBuild, at(-10*time.Second))
	started := mustStartStep(t, s, st)
	if n := count(since); n != 5 {
		t.Errorf("with one more started build CountBuildsSince = %d, want 5", n)
	}
	if err := s.FinishStep(t.Context(), started.ID, incident.StepStatusDryRun, t0()); err != nil {
		t.Fatal(err)
	}
	if n := count(since); n != 4 {
		t.Errorf("after the build became a dry run CountBuildsSince = %d, want 4", n)
	}
}

func testApprovalRoundTrip(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "approval")
	in := newApproval(run, 2)
	in.ID = 999
	got := mustCreateApproval(t, s, in)
	if got.ID <= 0 || got.ID == 999 {
		t.Fatalf("created approval has id %d", got.ID)
	}
	want := in
	want.ID = got.ID
	want.Deadline = incident.NormalizeTime(in.Deadline)
	want.CreatedAt = incident.NormalizeTime(in.CreatedAt)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CreateApproval returned\n%+v\nwant\n%+v", got, want)
	}
	back, err := s.GetApproval(t.Context(), got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("GetApproval returned\n%+v\nwant\n%+v", back, want)
	}
	if back.Deadline.Location() != time.UTC || back.Deadline.Nanosecond()%1000 != 0 {
		t.Errorf("deadline %v is not UTC at microsecond precision", back.Deadline)
	}

	// Defaults: no status is pending; no approvers or reasons are empty
	// lists; no incident id is the run's.
	bare := newApproval(run, 3)
	bare.Status, bare.Approvers, bare.Reasons, bare.IncidentID = "", nil, nil, 0
	got = mustCreateApproval(t, s, bare)
	back, err = s.GetApproval(t.Context(), got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.Status != incident.ApprovalPending || back.IncidentID != run.IncidentID ||
		back.Approvers == nil || len(back.Approvers) != 0 || back.Reasons == nil || len(back.Reasons) != 0 {
		t.Errorf("approval with defaults read back as %+v", back)
	}
	if !reflect.DeepEqual(got, back) {
		t.Errorf("CreateApproval returned\n%+v\nGetApproval\n%+v", got, back)
	}

	if _, err := s.GetApproval(t.Context(), got.ID+1000); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("GetApproval(unknown) error = %v, want ErrNotFound", err)
	}
}

func testApprovalRejectsInvalid(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "approval-invalid")
	other := mustCreate(t, s, newIncident("approval-invalid-other"))
	tests := []struct {
		name    string
		change  func(a *incident.Approval)
		wantErr error
	}{
		{"no run", func(a *incident.Approval) { a.RunID = 0 }, store.ErrInvalid},
		{"negative step index", func(a *incident.Approval) { a.StepIndex = -1 }, store.ErrInvalid},
		{"decided", func(a *incident.Approval) { a.Status = incident.ApprovalApproved }, store.ErrInvalid},
		{"unknown status", func(a *incident.Approval) { a.Status = "maybe" }, store.ErrInvalid},
		{"decision time", func(a *incident.Approval) { a.DecidedAt = tp(t0()) }, store.ErrInvalid},
		{"decided by", func(a *incident.Approval) { a.DecidedBy = incident.DecidedByHuman }, store.ErrInvalid},
		{"actor", func(a *incident.Approval) { a.Actor = "alice" }, store.ErrInvalid},
		{"no timeout action", func(a *incident.Approval) { a.OnTimeout = "" }, store.ErrInvalid},
		{"unknown timeout action", func(a *incident.Approval) { a.OnTimeout = "escalate" }, store.ErrInvalid},
		{"no creation time", func(a *incident.Approval) { a.CreatedAt = time.Time{} }, store.ErrInvalid},
		{"no deadline", func(a *incident.Approval) { a.Deadline = time.Time{} }, store.ErrInvalid},
		{"deadline before creation", func(a *incident.Approval) { a.Deadline = at(-time.Second) }, store.ErrInvalid},
		{"unknown run", func(a *incident.Approval) { a.RunID += 1000 }, incident.ErrNotFound},
		{"unknown run without incident", func(a *incident.Approval) { a.RunID, a.IncidentID = a.RunID+1000, 0 }, incident.ErrNotFound},
		{"run of another incident", func(a *incident.Approval) { a.IncidentID = other.ID }, incident.ErrNotFound},
	}
	for _, tc := range tests {
		a := newApproval(run, 0)
		tc.change(&a)
		if _, err := s.CreateApproval(t.Context(), a); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: CreateApproval error = %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	if p, err := s.PendingApprovals(t.Context(), time.Time{}); err != nil || len(p) != 0 {
		t.Errorf("after rejected requests PendingApprovals = %v, %v; want none", approvalIDs(p), err)
	}
	// A deadline equal to the creation time is allowed (decide at once).
	a := newApproval(run, 0)
	a.Deadline = a.CreatedAt
	mustCreateApproval(t, s, a)
}

func testApprovalOnePending(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "one-pending")
	first := mustCreateApproval(t, s, newApproval(run, 1))
	if _, err := s.CreateApproval(t.Context(), newApproval(run, 1)); !errors.Is(err, store.ErrApprovalPending) {
		t.Fatalf("second pending request for the same step: error = %v, want ErrApprovalPending", err)
	}
	mustCreateApproval(t, s, newApproval(run, 2)) // another step
	if _, err := s.DecideApproval(t.Context(), first.ID, incident.ApprovalDenied, incident.DecidedByHuman, "alice", "", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Decided: the step may be asked about again.
	mustCreateApproval(t, s, newApproval(run, 1))
}

func testPendingApprovals(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "pending")
	_, otherRun := remIncidentRun(t, s, "pending-other")
	mk := func(r incident.PlaybookRun, index int, deadline time.Duration) incident.Approval {
		a := newApproval(r, index)
		a.Deadline = at(deadline)
		return mustCreateApproval(t, s, a)
	}
	// Created out of deadline order.
	late := mk(run, 0, time.Hour)
	early := mk(otherRun, 0, 10*time.Minute)
	mid := mk(run, 1, 30*time.Minute)
	sameAsMid := mk(otherRun, 1, 30*time.Minute) // ties: by id
	decided := mk(run, 2, time.Minute)
	if _, err := s.DecideApproval(t.Context(), decided.ID, incident.ApprovalApproved, incident.DecidedByHuman, "alice", "", at(time.Second)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		due  time.Time
		want []incident.Approval
	}{
		{"every pending one", time.Time{}, []incident.Approval{early, mid, sameAsMid, late}},
		{"none due yet", at(5 * time.Minute), []incident.Approval{}},
		{"due exactly at a deadline", at(10 * time.Minute), []incident.Approval{early}},
		{"just before a deadline", at(30*time.Minute - time.Microsecond), []incident.Approval{early}},
		{"two due at once", at(30 * time.Minute), []incident.Approval{early, mid, sameAsMid}},
		{"all due", at(24 * time.Hour), []incident.Approval{early, mid, sameAsMid, late}},
	}
	for _, tc := range tests {
		got, err := s.PendingApprovals(t.Context(), tc.due)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: PendingApprovals = %v, want %v", tc.name, approvalIDs(got), approvalIDs(tc.want))
		}
	}
}

func testDecideApproval(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "decide")
	a := mustCreateApproval(t, s, newApproval(run, 0))
	when := at(5 * time.Minute)
	got, err := s.DecideApproval(t.Context(), a.ID, incident.ApprovalApproved, incident.DecidedByHuman, "alice", "looks safe", when)
	if err != nil {
		t.Fatalf("DecideApproval: %v", err)
	}
	want := a
	want.Status, want.DecidedAt, want.DecidedBy, want.Actor, want.Comment =
		incident.ApprovalApproved, tp(when), incident.DecidedByHuman, "alice", "looks safe"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecideApproval returned\n%+v\nwant\n%+v", got, want)
	}
	if back, err := s.GetApproval(t.Context(), a.ID); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("GetApproval after the decision =\n%+v (%v)\nwant\n%+v", back, err, want)
	}
	// Once only: a second decision, either way and by anyone, fails and
	// changes nothing.
	for _, c := range []struct{ status, by, actor string }{
		{incident.ApprovalDenied, incident.DecidedByHuman, "bob"},
		{incident.ApprovalApproved, incident.DecidedByHuman, "alice"},
		{incident.ApprovalApproved, incident.DecidedByDeadline, ""},
	} {
		if _, err := s.DecideApproval(t.Context(), a.ID, c.status, c.by, c.actor, "", at(time.Hour)); !errors.Is(err, incident.ErrAlreadyDecided) {
			t.Errorf("decide again (%s by %s): error = %v, want ErrAlreadyDecided", c.status, c.by, err)
		}
	}
	if back, err := s.GetApproval(t.Context(), a.ID); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("GetApproval after repeated decisions =\n%+v (%v)\nwant the first decision\n%+v", back, err, want)
	}
	if p, err := s.PendingApprovals(t.Context(), time.Time{}); err != nil || len(p) != 0 {
		t.Errorf("PendingApprovals after the decision = %v, %v; want none", approvalIDs(p), err)
	}

	if _, err := s.DecideApproval(t.Context(), a.ID+1000, incident.ApprovalDenied, incident.DecidedByHuman, "bob", "", when); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("DecideApproval(unknown) error = %v, want ErrNotFound", err)
	}
	b := mustCreateApproval(t, s, newApproval(run, 1))
	for name, call := range map[string]func() error{
		"unknown status": func() error {
			_, err := s.DecideApproval(t.Context(), b.ID, "maybe", incident.DecidedByHuman, "bob", "", when)
			return err
		},
		"pending": func() error {
			_, err := s.DecideApproval(t.Context(), b.ID, incident.ApprovalPending, incident.DecidedByHuman, "bob", "", when)
			return err
		},
		"unknown decider": func() error {
			_, err := s.DecideApproval(t.Context(), b.ID, incident.ApprovalDenied, "robot", "bob", "", when)
			return err
		},
		"human without actor": func() error {
			_, err := s.DecideApproval(t.Context(), b.ID, incident.ApprovalDenied, incident.DecidedByHuman, "", "", when)
			return err
		},
		"no time": func() error {
			_, err := s.DecideApproval(t.Context(), b.ID, incident.ApprovalDenied, incident.DecidedByHuman, "bob", "", time.Time{})
			return err
		},
	} {
		if err := call(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: DecideApproval error = %v, want ErrInvalid", name, err)
		}
	}
	if back, err := s.GetApproval(t.Context(), b.ID); err != nil || back.Status != incident.ApprovalPending {
		t.Errorf("rejected decisions changed request %d: %+v (%v)", b.ID, back, err)
	}
}

func testDecideByDeadline(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "deadline")
	approveOnTimeout := mustCreateApproval(t, s, newApproval(run, 0))
	denyReq := newApproval(run, 1)
	denyReq.OnTimeout = incident.TimeoutDeny
	denyOnTimeout := mustCreateApproval(t, s, denyReq)
	deadline := approveOnTimeout.Deadline

	// Before the deadline the deadline cannot decide.
	if _, err := s.DecideApproval(t.Context(), approveOnTimeout.ID, incident.ApprovalApproved, incident.DecidedByDeadline, "", "",
		deadline.Add(-time.Microsecond)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("decision by deadline before the deadline: error = %v, want ErrInvalid", err)
	}
	// Only the request's timeout action is taken at the deadline.
	if _, err := s.DecideApproval(t.Context(), approveOnTimeout.ID, incident.ApprovalDenied, incident.DecidedByDeadline, "", "",
		deadline); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("denial by deadline of an approve-on-timeout request: error = %v, want ErrInvalid", err)
	}
	if p, err := s.PendingApprovals(t.Context(), time.Time{}); err != nil || len(p) != 2 {
		t.Fatalf("refused deadline decisions changed requests: pending = %v, %v", approvalIDs(p), err)
	}
	// Exactly at the deadline.
	got, err := s.DecideApproval(t.Context(), approveOnTimeout.ID, incident.ApprovalApproved, incident.DecidedByDeadline, "", "", deadline)
	if err != nil {
		t.Fatalf("decision by deadline at the deadline: %v", err)
	}
	if got.Status != incident.ApprovalApproved || got.DecidedBy != incident.DecidedByDeadline || got.Actor != "" ||
		got.DecidedAt == nil || !got.DecidedAt.Equal(deadline) {
		t.Errorf("decided by deadline = %+v", got)
	}
	// Long after it (the daemon was down), the other request's action.
	got, err = s.DecideApproval(t.Context(), denyOnTimeout.ID, incident.ApprovalDenied, incident.DecidedByDeadline, incident.ActorEngine, "", deadline.Add(48*time.Hour))
	if err != nil {
		t.Fatalf("late decision by deadline: %v", err)
	}
	if got.Status != incident.ApprovalDenied || got.DecidedBy != incident.DecidedByDeadline {
		t.Errorf("late decision by deadline = %+v", got)
	}
	// A human cannot overturn it.
	if _, err := s.DecideApproval(t.Context(), denyOnTimeout.ID, incident.ApprovalApproved, incident.DecidedByHuman, "alice", "", deadline.Add(49*time.Hour)); !errors.Is(err, incident.ErrAlreadyDecided) {
		t.Errorf("human decision after the deadline's: error = %v, want ErrAlreadyDecided", err)
	}
}

func testConcurrentDecide(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "decide-race")
	a := mustCreateApproval(t, s, newApproval(run, 0))
	var (
		mu     sync.Mutex
		winner incident.Approval
	)
	// Humans approving and denying race the deadline.
	results := race(20, func(i int) error {
		var (
			got incident.Approval
			err error
		)
		switch i % 3 {
		case 0:
			got, err = s.DecideApproval(t.Context(), a.ID, incident.ApprovalApproved, incident.DecidedByHuman, fmt.Sprintf("admin-%d", i), "ok", at(time.Hour))
		case 1:
			got, err = s.DecideApproval(t.Context(), a.ID, incident.ApprovalDenied, incident.DecidedByHuman, fmt.Sprintf("admin-%d", i), "no", at(time.Hour))
		default:
			got, err = s.DecideApproval(t.Context(), a.ID, incident.ApprovalApproved, incident.DecidedByDeadline, "", "", at(time.Hour))
		}
		if err == nil {
			mu.Lock()
			winner = got
			mu.Unlock()
		}
		return err
	})
	checkOneWinner(t, "DecideApproval", results, incident.ErrAlreadyDecided)
	back, err := s.GetApproval(t.Context(), a.ID)
	if err != nil || !reflect.DeepEqual(back, winner) {
		t.Errorf("stored decision\n%+v (%v)\nis not the winner's\n%+v", back, err, winner)
	}
}

func testRunApprovals(t *testing.T, s store.Store) {
	_, run := remIncidentRun(t, s, "run-approvals")
	_, other := remIncidentRun(t, s, "run-approvals-other")
	mk := func(r incident.PlaybookRun, index int, created time.Duration) incident.Approval {
		a := newApproval(r, index)
		a.CreatedAt, a.Deadline = at(created), at(created+time.Hour)
		return mustCreateApproval(t, s, a)
	}
	second := mk(run, 1, 2*time.Minute)
	first := mk(run, 0, time.Minute)
	mk(other, 0, 0)
	first, err := s.DecideApproval(t.Context(), first.ID, incident.ApprovalDenied, incident.DecidedByHuman, "alice", "", at(90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.RunApprovals(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []incident.Approval{first, second}; !reflect.DeepEqual(got, want) {
		t.Errorf("RunApprovals =\n%+v\nwant (decided and pending, by creation)\n%+v", got, want)
	}
	if got, err := s.RunApprovals(t.Context(), run.ID+1000); err != nil || got == nil || len(got) != 0 {
		t.Errorf("RunApprovals(unknown run) = %#v, %v; want an empty list", got, err)
	}
}
