package storetest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// RunSlack runs the conformance suite of store.SlackOutbox. open must
// return a fresh, migrated, empty store each time, as for Run.
func RunSlack(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SlackEnqueueIsIdempotent", testSlackEnqueueIdempotent},
		{"SlackEnqueueRejectsInvalid", testSlackEnqueueInvalid},
		{"SlackDueHeadOfLinePerIncident", testSlackDueHeadOfLine},
		{"SlackClaimRetrySent", testSlackClaimRetrySent},
		{"SlackDigestRowsDoNotBlock", testSlackDigest},
		{"SlackThreadsAndApprovals", testSlackThreads},
		{"SlackConcurrentEnqueueOneRow", testSlackConcurrentEnqueue},
		{"SlackClaimIsCompareAndSet", testSlackClaimCAS},
		{"SlackClaimIsAllOrNone", testSlackClaimAllOrNone},
		{"SlackConcurrentClaimOneWinner", func(t *testing.T, s store.Store) { SlackClaimRace(t, s) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// lease is how long the suite's claims hold their rows.
const lease = time.Minute

// claimRows claims the rows of ids as read now, and fails the test unless
// it took them; it returns the claim's token.
func claimRows(t *testing.T, s store.Store, incidentID int64, ids []int64, batch string, now time.Time) string {
	t.Helper()
	rows, err := s.SlackOutboxRows(t.Context(), incidentID)
	if err != nil {
		t.Fatal(err)
	}
	c := store.SlackClaim{Batch: batch, Token: rand.Text(), Now: now, Until: now.Add(lease)}
	for _, id := range ids {
		for _, r := range rows {
			if r.ID == id {
				c.Rows = append(c.Rows, store.SlackClaimRow{ID: r.ID, Token: r.ClaimToken})
			}
		}
	}
	ok, err := s.ClaimSlack(t.Context(), c)
	if err != nil || !ok {
		t.Fatalf("ClaimSlack(%v) = %v, %v; want true", ids, ok, err)
	}
	return c.Token
}

func slackRow(incident, seq int64) store.SlackOutboxRow {
	return store.SlackOutboxRow{IncidentID: incident, Seq: seq, Kind: "incident.opened", Channel: "#sec-alerts",
		Mention: "here", CreatedAt: at(time.Duration(seq) * time.Second)}
}

func mustEnqueue(t *testing.T, s store.Store, r store.SlackOutboxRow) {
	t.Helper()
	ok, err := s.EnqueueSlack(t.Context(), r)
	if err != nil || !ok {
		t.Fatalf("EnqueueSlack(%d/%d) = %v, %v", r.IncidentID, r.Seq, ok, err)
	}
}

func dueKeys(t *testing.T, s store.Store, now time.Time) [][2]int64 {
	t.Helper()
	rows, err := s.DueSlack(t.Context(), now, 100)
	if err != nil {
		t.Fatalf("DueSlack: %v", err)
	}
	out := [][2]int64{}
	for _, r := range rows {
		out = append(out, [2]int64{r.IncidentID, r.Seq})
	}
	return out
}

func testSlackEnqueueIdempotent(t *testing.T, s store.Store) {
	mustEnqueue(t, s, slackRow(1, 1))
	again, err := s.EnqueueSlack(t.Context(), slackRow(1, 1))
	if err != nil || again {
		t.Fatalf("second EnqueueSlack = %v, %v; want false, nil", again, err)
	}
	rows, err := s.SlackOutboxRows(t.Context(), 1)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows = %+v, %v", rows, err)
	}
	r := rows[0]
	if r.Status != store.SlackPending || r.Attempts != 0 || r.Channel != "#sec-alerts" || r.Mention != "here" ||
		r.Kind != "incident.opened" || !r.CreatedAt.Equal(incident.NormalizeTime(at(time.Second))) || !r.NextAttemptAt.Equal(r.CreatedAt) || r.SentAt != nil {
		t.Errorf("row = %+v", r)
	}
}

func testSlackEnqueueInvalid(t *testing.T, s store.Store) {
	for name, r := range map[string]store.SlackOutboxRow{
		"no incident":  {Seq: 1, Kind: "k", Channel: "c", CreatedAt: at(0)},
		"no seq":       {IncidentID: 1, Kind: "k", Channel: "c", CreatedAt: at(0)},
		"no channel":   {IncidentID: 1, Seq: 1, Kind: "k", CreatedAt: at(0)},
		"no time":      {IncidentID: 1, Seq: 1, Kind: "k", Channel: "c"},
		"negative dig": {IncidentID: 1, Seq: 1, Kind: "k", Channel: "c", CreatedAt: at(0), Digest: -time.Second},
	} {
		if _, err := s.EnqueueSlack(t.Context(), r); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if err := s.RetrySlack(t.Context(), []int64{1}, "tok", store.SlackSent, at(0), ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RetrySlack(sent) = %v, want ErrInvalid", err)
	}
	if err := s.RetrySlack(t.Context(), []int64{1}, "", store.SlackPending, at(0), ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RetrySlack(no token) = %v, want ErrInvalid", err)
	}
	for name, c := range map[string]store.SlackClaim{
		"no rows":        {Token: "t", Now: at(0), Until: at(time.Minute)},
		"no token":       {Rows: []store.SlackClaimRow{{ID: 1}}, Now: at(0), Until: at(time.Minute)},
		"no time":        {Rows: []store.SlackClaimRow{{ID: 1}}, Token: "t", Until: at(time.Minute)},
		"lease in past":  {Rows: []store.SlackClaimRow{{ID: 1}}, Token: "t", Now: at(time.Minute), Until: at(0)},
		"lease is empty": {Rows: []store.SlackClaimRow{{ID: 1}}, Token: "t", Now: at(0), Until: at(0)},
	} {
		if ok, err := s.ClaimSlack(t.Context(), c); ok || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ClaimSlack(%s) = %v, %v; want ErrInvalid", name, ok, err)
		}
	}
	if err := s.MarkSlackSent(t.Context(), store.SlackDelivery{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("MarkSlackSent(empty) = %v, want ErrInvalid", err)
	}
}

// A row that is not due (or failed and waits) holds back the later rows of
// its incident, never those of another incident.
func testSlackDueHeadOfLine(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, r := range []store.SlackOutboxRow{slackRow(1, 3), slackRow(1, 1), slackRow(2, 1), slackRow(2, 2)} {
		mustEnqueue(t, s, r)
	}
	now := at(time.Hour)
	if got := dueKeys(t, s, now); !equalSlackKeys(got, [][2]int64{{1, 1}, {2, 1}}) {
		t.Fatalf("due = %v, want heads 1/1 and 2/1", got)
	}
	rows, _ := s.SlackOutboxRows(ctx, 1)
	head := rows[0].ID
	tok := claimRows(t, s, 1, []int64{head}, "", now)
	if err := s.RetrySlack(ctx, []int64{head}, tok, store.SlackPending, now.Add(time.Minute), "channel_not_found"); err != nil {
		t.Fatal(err)
	}
	if got := dueKeys(t, s, now); !equalSlackKeys(got, [][2]int64{{2, 1}}) {
		t.Fatalf("due while 1/1 waits = %v, want only 2/1", got)
	}
	if got := dueKeys(t, s, now.Add(time.Minute)); !equalSlackKeys(got, [][2]int64{{1, 1}, {2, 1}}) {
		t.Fatalf("due after the wait = %v", got)
	}
	if got := dueKeys(t, s, at(0)); len(got) != 0 {
		t.Errorf("due before creation = %v", got)
	}
	rows, _ = s.SlackOutboxRows(ctx, 1)
	if rows[0].Attempts != 1 || rows[0].LastError != "channel_not_found" || rows[0].Status != store.SlackPending {
		t.Errorf("failed row = %+v", rows[0])
	}
}

func testSlackClaimRetrySent(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustEnqueue(t, s, slackRow(7, 1))
	mustEnqueue(t, s, slackRow(7, 2))
	rows, _ := s.SlackOutboxRows(ctx, 7)
	id1, id2 := rows[0].ID, rows[1].ID
	now := at(time.Minute)
	tok := claimRows(t, s, 7, []int64{id1}, "", now)
	rows, _ = s.SlackOutboxRows(ctx, 7)
	if rows[0].Status != store.SlackSending || rows[0].Attempts != 1 || rows[0].ClaimToken != tok ||
		!rows[0].NextAttemptAt.Equal(incident.NormalizeTime(now.Add(lease))) {
		t.Fatalf("claimed row = %+v", rows[0])
	}
	// A claimed row is due to no one during its lease, nor is its
	// incident's next row; once the lease ends it is due again (to be
	// looked up).
	if got := dueKeys(t, s, now.Add(lease-time.Millisecond)); len(got) != 0 {
		t.Fatalf("due during the lease = %v", got)
	}
	if got := dueKeys(t, s, now.Add(lease)); !equalSlackKeys(got, [][2]int64{{7, 1}}) {
		t.Fatalf("due after the lease = %v", got)
	}
	thread := &store.SlackThread{IncidentID: 7, Route: "#sec-alerts", Channel: "C1", RootTS: "1700000000.000100"}
	if err := s.MarkSlackSent(ctx, store.SlackDelivery{IDs: []int64{id1}, Channel: "C1", TS: "1700000000.000100", At: now, Thread: thread}); err != nil {
		t.Fatal(err)
	}
	if got := dueKeys(t, s, now); !equalSlackKeys(got, [][2]int64{{7, 2}}) {
		t.Fatalf("due after sending 7/1 = %v, want 7/2", got)
	}
	rows, _ = s.SlackOutboxRows(ctx, 7)
	if r := rows[0]; r.Status != store.SlackSent || r.TS != "1700000000.000100" || r.SentAt == nil || !r.SentAt.Equal(incident.NormalizeTime(now)) {
		t.Errorf("sent row = %+v", r)
	}
	// Sent rows are not claimed or retried again.
	if ok, err := s.ClaimSlack(ctx, store.SlackClaim{Rows: []store.SlackClaimRow{{ID: id1, Token: tok}}, Token: "again",
		Now: now.Add(time.Hour), Until: now.Add(2 * time.Hour)}); ok || err != nil {
		t.Fatalf("claim of a sent row = %v, %v", ok, err)
	}
	if err := s.RetrySlack(ctx, []int64{id1}, tok, store.SlackPending, now, "x"); err != nil {
		t.Fatal(err)
	}
	rows, _ = s.SlackOutboxRows(ctx, 7)
	if rows[0].Status != store.SlackSent || rows[0].Attempts != 1 {
		t.Errorf("sent row changed: %+v", rows[0])
	}
	_ = id2
}

func testSlackDigest(t *testing.T, s store.Store) {
	ctx := t.Context()
	period := 10 * time.Minute
	for seq := int64(1); seq <= 3; seq++ {
		r := slackRow(3, seq)
		r.Digest = period
		r.NextAttemptAt = at(period)
		mustEnqueue(t, s, r)
	}
	if got := dueKeys(t, s, at(time.Minute)); len(got) != 0 {
		t.Fatalf("digest rows due before the period ends: %v", got)
	}
	// All digest rows are due together: they do not wait for each other.
	got := dueKeys(t, s, at(period))
	if !equalSlackKeys(got, [][2]int64{{3, 1}, {3, 2}, {3, 3}}) {
		t.Fatalf("due = %v", got)
	}
	rows, _ := s.SlackOutboxRows(ctx, 3)
	if rows[0].Digest != period {
		t.Errorf("digest = %v", rows[0].Digest)
	}
	ids := []int64{rows[0].ID, rows[1].ID, rows[2].ID}
	claimRows(t, s, 3, ids, "d1", at(period))
	rows, _ = s.SlackOutboxRows(ctx, 3)
	for _, r := range rows {
		if r.Batch != "d1" || r.Status != store.SlackSending {
			t.Errorf("claimed digest row = %+v", r)
		}
	}
	if err := s.MarkSlackSent(ctx, store.SlackDelivery{IDs: ids, Channel: "C9", TS: "1.2", At: at(period)}); err != nil {
		t.Fatal(err)
	}
	if got := dueKeys(t, s, at(time.Hour)); len(got) != 0 {
		t.Errorf("due after sending = %v", got)
	}
}

func testSlackThreads(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, ok, err := s.GetSlackThread(ctx, 5); ok || err != nil {
		t.Fatalf("thread before posting: %v, %v", ok, err)
	}
	if _, ok, err := s.SlackChannelID(ctx, "#sec-critical"); ok || err != nil {
		t.Fatalf("channel before posting: %v, %v", ok, err)
	}
	mustEnqueue(t, s, slackRow(5, 1))
	mustEnqueue(t, s, slackRow(5, 2))
	rows, _ := s.SlackOutboxRows(ctx, 5)
	th := store.SlackThread{IncidentID: 5, Route: "#sec-critical", Channel: "C42", RootTS: "100.1"}
	if err := s.MarkSlackSent(ctx, store.SlackDelivery{IDs: []int64{rows[0].ID}, Channel: "C42", TS: "100.1", At: at(0), Thread: &th}); err != nil {
		t.Fatal(err)
	}
	// A second root (a lost race) does not replace the first.
	other := store.SlackThread{IncidentID: 5, Route: "#sec-critical", Channel: "C42", RootTS: "200.2"}
	appr := &store.SlackApprovalMessage{ApprovalID: 9, IncidentID: 5, Channel: "C42", TS: "300.3"}
	if err := s.MarkSlackSent(ctx, store.SlackDelivery{IDs: []int64{rows[1].ID}, Channel: "C42", TS: "300.3", At: at(time.Second), Thread: &other, Approval: appr}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSlackThread(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSlackThread(ctx, store.SlackThread{IncidentID: 6, Route: "C7", Channel: "C7", RootTS: "400.4"}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.GetSlackThread(ctx, 6); err != nil || !ok || got.RootTS != "400.4" {
		t.Errorf("saved thread = %+v, %v, %v", got, ok, err)
	}
	if err := s.SaveSlackThread(ctx, store.SlackThread{IncidentID: 6}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SaveSlackThread(empty) = %v", err)
	}
	got, ok, err := s.GetSlackThread(ctx, 5)
	if err != nil || !ok || got != th {
		t.Errorf("thread = %+v, %v, %v; want %+v", got, ok, err, th)
	}
	id, ok, err := s.SlackChannelID(ctx, "#sec-critical")
	if err != nil || !ok || id != "C42" {
		t.Errorf("channel id = %q, %v, %v", id, ok, err)
	}
	m, ok, err := s.GetSlackApprovalMessage(ctx, 9)
	if err != nil || !ok || m != *appr {
		t.Errorf("approval message = %+v, %v, %v", m, ok, err)
	}
	if _, ok, err := s.GetSlackApprovalMessage(ctx, 10); ok || err != nil {
		t.Errorf("unknown approval message: %v, %v", ok, err)
	}
}

func testSlackConcurrentEnqueue(t *testing.T, s store.Store) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted int
	)
	for range 8 {
		wg.Go(func() {
			ok, err := s.EnqueueSlack(t.Context(), slackRow(11, 1))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				inserted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if inserted != 1 {
		t.Errorf("%d concurrent enqueues inserted, want 1", inserted)
	}
}

func equalSlackKeys(a, b [][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A claim takes a row only if the row still carries the token its claimer
// read and is due: a second claim, a stale claim after a re-claim, and a
// retry by an owner that lost its row all change nothing.
func testSlackClaimCAS(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustEnqueue(t, s, slackRow(12, 1))
	rows, _ := s.SlackOutboxRows(ctx, 12)
	id := rows[0].ID
	now := at(time.Hour)
	claim := func(seen, tok string, now time.Time) bool {
		t.Helper()
		ok, err := s.ClaimSlack(ctx, store.SlackClaim{Rows: []store.SlackClaimRow{{ID: id, Token: seen}}, Token: tok,
			Now: now, Until: now.Add(lease)})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("", "a", now) {
		t.Fatal("first claim lost")
	}
	if claim("", "b", now) {
		t.Fatal("a second claim with the token read before the first won")
	}
	if claim("a", "b", now.Add(lease-time.Millisecond)) {
		t.Fatal("a claim during the lease won")
	}
	// The lease ends: the row is taken over once, by a claimer that read
	// it after the first claim.
	if claim("", "b", now.Add(lease)) {
		t.Fatal("a claim with a stale token won after the lease")
	}
	if !claim("a", "b", now.Add(lease)) {
		t.Fatal("re-claim after the lease lost")
	}
	// The first owner's late failure does not touch the re-claimed row.
	if err := s.RetrySlack(ctx, []int64{id}, "a", store.SlackPending, now, "late"); err != nil {
		t.Fatal(err)
	}
	rows, _ = s.SlackOutboxRows(ctx, 12)
	r := rows[0]
	if r.Status != store.SlackSending || r.ClaimToken != "b" || r.Attempts != 2 || r.LastError != "" ||
		!r.NextAttemptAt.Equal(incident.NormalizeTime(now.Add(2*lease))) {
		t.Fatalf("row after a stale retry = %+v", r)
	}
	// The owner's own retry applies, and keeps its token for the next
	// claimer to read.
	if err := s.RetrySlack(ctx, []int64{id}, "b", store.SlackPending, now.Add(lease+time.Second), "network"); err != nil {
		t.Fatal(err)
	}
	rows, _ = s.SlackOutboxRows(ctx, 12)
	if r := rows[0]; r.Status != store.SlackPending || r.ClaimToken != "b" || r.LastError != "network" {
		t.Fatalf("row after its owner's retry = %+v", r)
	}
	if !claim("b", "c", now.Add(lease+time.Second)) {
		t.Fatal("claim after the owner's retry lost")
	}
}

// A digest claim takes all its rows or none.
func testSlackClaimAllOrNone(t *testing.T, s store.Store) {
	ctx := t.Context()
	for seq := int64(1); seq <= 2; seq++ {
		r := slackRow(13, seq)
		r.Digest = time.Minute
		mustEnqueue(t, s, r)
	}
	rows, _ := s.SlackOutboxRows(ctx, 13)
	now := at(time.Hour)
	claimRows(t, s, 13, []int64{rows[1].ID}, "d-other", now)
	ok, err := s.ClaimSlack(ctx, store.SlackClaim{Rows: []store.SlackClaimRow{{ID: rows[0].ID}, {ID: rows[1].ID}},
		Batch: "d-mine", Token: "mine", Now: now, Until: now.Add(lease)})
	if ok || err != nil {
		t.Fatalf("claim of a partly taken batch = %v, %v; want false", ok, err)
	}
	after, _ := s.SlackOutboxRows(ctx, 13)
	if r := after[0]; r.Status != store.SlackPending || r.Attempts != 0 || r.ClaimToken != "" || r.Batch != "" {
		t.Errorf("free row of a failed claim changed: %+v", r)
	}
	if r := after[1]; r.Batch != "d-other" || r.Attempts != 1 {
		t.Errorf("taken row changed: %+v", r)
	}
}

// SlackClaimRace enqueues rows and has 20 goroutines claim each at once
// through stores (in turn: several stores are several connection pools,
// or daemons, on one database); exactly one claim of each row must win.
func SlackClaimRace(t *testing.T, stores ...store.Store) {
	for incidentID := int64(100); incidentID < 110; incidentID++ {
		slackClaimRace(t, incidentID, stores)
	}
}

func slackClaimRace(t *testing.T, incidentID int64, stores []store.Store) {
	ctx := t.Context()
	s := stores[0]
	mustEnqueue(t, s, slackRow(incidentID, 1))
	rows, err := s.SlackOutboxRows(ctx, incidentID)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows = %+v, %v", rows, err)
	}
	id, now := rows[0].ID, at(time.Hour)
	const claimers = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		start   = make(chan struct{})
	)
	for i := range claimers {
		wg.Go(func() {
			tok := fmt.Sprintf("claimer-%d", i)
			<-start
			ok, err := stores[i%len(stores)].ClaimSlack(ctx, store.SlackClaim{Rows: []store.SlackClaimRow{{ID: id}},
				Token: tok, Now: now, Until: now.Add(lease)})
			if err != nil {
				t.Errorf("%s: %v", tok, err)
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, tok)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("incident %d: %d of %d concurrent claims won (%v), want exactly 1", incidentID, len(winners), claimers, winners)
	}
	rows, _ = s.SlackOutboxRows(ctx, incidentID)
	if r := rows[0]; r.ClaimToken != winners[0] || r.Attempts != 1 || r.Status != store.SlackSending {
		t.Errorf("row = %+v, want claimed once by %s", r, winners[0])
	}
}
