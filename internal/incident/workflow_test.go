package incident_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// wfEngine returns an engine on f's store and clock, notifying f.notified,
// with the workflow options set by with.
func (f *fixture) wfEngine(t *testing.T, with func(o *incident.Options)) *incident.Engine {
	t.Helper()
	o := incident.Options{Store: f.store, Tierer: f.tierer, Notifier: f.notified, Clock: f.clock}
	if with != nil {
		with(&o)
	}
	e, err := incident.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// openOne opens one high incident through a failing event (no run, so no
// other incident of the monitor counts a pass) and returns it.
func (f *fixture) openOne(t *testing.T, fp string) incident.Incident {
	t.Helper()
	f.clock.Advance(time.Minute)
	if err := f.engine.HandleEvent(context.Background(), failing(fp, event.SeverityHigh)); err != nil {
		t.Fatal(err)
	}
	inc, err := f.store.OpenIncidentByFingerprint(context.Background(), fp)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func payloadOf(t *testing.T, e incident.TimelineEntry) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) notifiedKinds() []string {
	f.notified.mu.Lock()
	defer f.notified.mu.Unlock()
	return append([]string(nil), f.notified.kinds...)
}

func TestHumanWorkflow(t *testing.T) {
	f := newFixture(t, 1)
	f.engine = f.wfEngine(t, nil)
	ctx := context.Background()
	inc := f.openOne(t, "wf")

	f.clock.Advance(time.Minute)
	acked, entry, err := f.engine.Acknowledge(ctx, inc.ID, "cli:alice", "  looking into it  ")
	if err != nil {
		t.Fatalf("Acknowledge: %v", err)
	}
	if acked.Status != incident.StatusAcknowledged || acked.AcknowledgedAt == nil || !acked.AcknowledgedAt.Equal(f.clock.Now()) {
		t.Errorf("acknowledged incident = %+v; want acknowledged at %v", acked, f.clock.Now())
	}
	if entry.Kind != incident.KindAcknowledged || entry.Actor != "cli:alice" {
		t.Errorf("ack entry = %s by %s", entry.Kind, entry.Actor)
	}
	if p := payloadOf(t, entry); p["comment"] != "looking into it" || p["previous_status"] != "open" {
		t.Errorf("ack payload = %v", p)
	}
	firstAck := *acked.AcknowledgedAt

	var te *incident.TransitionError
	if _, _, err := f.engine.Acknowledge(ctx, inc.ID, "cli:bob", ""); !errors.Is(err, incident.ErrInvalidTransition) || !errors.As(err, &te) || te.Status != incident.StatusAcknowledged {
		t.Errorf("second ack = %v; want a TransitionError from acknowledged", err)
	}

	f.clock.Advance(time.Minute)
	resolved, entry, err := f.engine.Resolve(ctx, inc.ID, "api:ops/k1", "rolled back the deploy")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if resolved.Status != incident.StatusResolved || resolved.ResolvedAt == nil || !resolved.ResolvedAt.Equal(f.clock.Now()) {
		t.Errorf("resolved incident = %+v", resolved)
	}
	if p := payloadOf(t, entry); entry.Kind != incident.KindResolved || entry.Actor != "api:ops/k1" || p["manual"] != true || p["comment"] != "rolled back the deploy" {
		t.Errorf("resolve entry = %s by %s %v", entry.Kind, entry.Actor, p)
	}
	for name, act := range map[string]func() error{
		"resolve twice":     func() error { _, _, err := f.engine.Resolve(ctx, inc.ID, "cli:bob", ""); return err },
		"ack when resolved": func() error { _, _, err := f.engine.Acknowledge(ctx, inc.ID, "cli:bob", ""); return err },
	} {
		if err := act(); !errors.Is(err, incident.ErrInvalidTransition) {
			t.Errorf("%s = %v, want ErrInvalidTransition", name, err)
		}
	}

	// Notes are allowed whatever the status, and notify nobody.
	if _, entry, err = f.engine.AddNote(ctx, inc.ID, "cli:alice", "post-mortem: PM-42"); err != nil || entry.Kind != incident.KindNote {
		t.Fatalf("AddNote = %v, %v", entry.Kind, err)
	}

	f.clock.Advance(time.Minute)
	reopened, entry, err := f.engine.Reopen(ctx, inc.ID, "cli:carol", "it is back")
	if err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	if reopened.Status != incident.StatusOpen || reopened.ResolvedAt != nil || reopened.AcknowledgedAt == nil || !reopened.AcknowledgedAt.Equal(firstAck) {
		t.Errorf("reopened incident = %+v; want open, no resolution, first acknowledgement kept", reopened)
	}
	if p := payloadOf(t, entry); entry.Kind != incident.KindReopened || p["resolved_at"] == nil {
		t.Errorf("reopen entry = %s %v", entry.Kind, p)
	}
	if _, _, err := f.engine.Reopen(ctx, inc.ID, "cli:carol", ""); !errors.Is(err, incident.ErrInvalidTransition) {
		t.Errorf("reopening an open incident = %v, want ErrInvalidTransition", err)
	}
	// Acknowledging after a reopening keeps the first acknowledgement time.
	f.clock.Advance(time.Minute)
	if again, _, err := f.engine.Acknowledge(ctx, inc.ID, "cli:carol", ""); err != nil || !again.AcknowledgedAt.Equal(firstAck) {
		t.Errorf("ack after reopen = %+v, %v; want acknowledged_at kept at %v", again.AcknowledgedAt, err, firstAck)
	}

	want := []string{incident.KindOpened, incident.KindAcknowledged, incident.KindResolved, incident.KindNote, incident.KindReopened, incident.KindAcknowledged}
	if got := f.kinds(t, inc.ID); !equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	if got, want := f.notifiedKinds(), []string{incident.KindOpened, incident.KindAcknowledged, incident.KindResolved, incident.KindReopened, incident.KindAcknowledged}; !equal(got, want) {
		t.Errorf("notifications = %v, want %v", got, want)
	}
	rep, err := incident.VerifyAll(ctx, f.store)
	if err != nil || len(rep.Broken) > 0 {
		t.Errorf("VerifyAll = %+v, %v", rep, err)
	}
}

func TestWorkflowUnknownIncident(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	for name, act := range map[string]func() error{
		"ack":     func() error { _, _, err := f.engine.Acknowledge(ctx, 999, "a", ""); return err },
		"resolve": func() error { _, _, err := f.engine.Resolve(ctx, 999, "a", ""); return err },
		"reopen":  func() error { _, _, err := f.engine.Reopen(ctx, 999, "a", ""); return err },
		"note":    func() error { _, _, err := f.engine.AddNote(ctx, 999, "a", "x"); return err },
	} {
		if err := act(); !errors.Is(err, incident.ErrNotFound) {
			t.Errorf("%s of an unknown incident = %v, want ErrNotFound", name, err)
		}
	}
}

// Reopening is refused while another unresolved incident has the same
// fingerprint, naming it; nothing is written.
func TestReopenRefusedWhileFingerprintIsOpenElsewhere(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	old := f.openOne(t, "dup")
	if _, _, err := f.engine.Resolve(ctx, old.ID, "cli:alice", ""); err != nil {
		t.Fatal(err)
	}
	current := f.openOne(t, "dup")
	if current.ID == old.ID {
		t.Fatal("a failure after resolution did not open a new incident")
	}
	_, _, err := f.engine.Reopen(ctx, old.ID, "cli:alice", "")
	var te *incident.TransitionError
	if !errors.Is(err, incident.ErrInvalidTransition) || !errors.Is(err, incident.ErrDuplicateOpen) || !errors.As(err, &te) {
		t.Fatalf("Reopen = %v; want a TransitionError wrapping ErrDuplicateOpen", err)
	}
	if !strings.Contains(err.Error(), "incident "+idText(current.ID)) {
		t.Errorf("error %q does not name incident %d", err, current.ID)
	}
	if got := f.kinds(t, old.ID); len(got) != 2 {
		t.Errorf("refused reopen wrote to the timeline: %v", got)
	}
}

func idText(n int64) string { b, _ := json.Marshal(n); return string(b) }

// Concurrent acknowledgements of one incident (people, replicas): exactly
// one wins, the others are told it is already acknowledged.
func TestConcurrentAcknowledgeHasOneWinner(t *testing.T) {
	f := newFixture(t, 1)
	inc := f.openOne(t, "race")
	engines := []*incident.Engine{f.engine, f.newEngine(t, 1), f.newEngine(t, 1), f.newEngine(t, 1)}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i, e := range engines {
		for j := range 2 {
			wg.Go(func() {
				_, _, err := e.Acknowledge(context.Background(), inc.ID, "cli:user"+idText(int64(i*2+j)), "")
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, incident.ErrInvalidTransition):
					t.Errorf("Acknowledge: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d acknowledgements succeeded, want 1", wins)
	}
	if got := f.kinds(t, inc.ID); countKind(got, incident.KindAcknowledged) != 1 {
		t.Errorf("timeline = %v, want one acknowledgement", got)
	}
}

func countKind(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// fakeSecret looks like a Stripe live key to the test redactor.
const fakeSecret = "sk_live_51HqFAKEFAKEFAKEFAKEFAKE00"

func redactStripe(s string) string { return strings.ReplaceAll(s, fakeSecret, "[REDACTED:stripe]") }

func TestNotesAreBoundedCheckedAndRedacted(t *testing.T) {
	f := newFixture(t, 1)
	f.engine = f.wfEngine(t, func(o *incident.Options) { o.Redact = redactStripe })
	ctx := context.Background()
	inc := f.openOne(t, "notes")

	_, entry, err := f.engine.AddNote(ctx, inc.ID, "cli:alice", "rotated the key "+fakeSecret+"\r\nsee runbook\tRB-7")
	if err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	p := payloadOf(t, entry)
	if p["text"] != "rotated the key [REDACTED:stripe]\nsee runbook\tRB-7" || p["redacted"] != true {
		t.Errorf("note payload = %v", p)
	}
	// So is a comment.
	_, entry, err = f.engine.Acknowledge(ctx, inc.ID, "cli:alice", "key was "+fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	if p := payloadOf(t, entry); p["comment"] != "key was [REDACTED:stripe]" || p["redacted"] != true {
		t.Errorf("ack payload = %v", p)
	}
	tl, _ := f.store.Timeline(ctx, inc.ID)
	for _, e := range tl {
		if strings.Contains(string(e.Payload), fakeSecret) {
			t.Errorf("entry %d (%s) holds the secret: %s", e.Seq, e.Kind, e.Payload)
		}
	}

	bad := map[string]struct{ actor, text, field string }{
		"empty":        {"cli:alice", "   ", "text"},
		"too long":     {"cli:alice", strings.Repeat("x", incident.MaxNoteBytes+1), "text"},
		"escape codes": {"cli:alice", "hi \x1b[31mred", "text"},
		"bad utf-8":    {"cli:alice", "\xff\xfe", "text"},
		"no actor":     {" ", "hello", "actor"},
		"actor ctrl":   {"cli:\nroot", "hello", "actor"},
		"long actor":   {strings.Repeat("a", incident.MaxActorBytes+1), "hello", "actor"},
	}
	before := len(f.kinds(t, inc.ID))
	for name, tc := range bad {
		_, _, err := f.engine.AddNote(ctx, inc.ID, tc.actor, tc.text)
		var ie *incident.InputError
		if !errors.Is(err, incident.ErrInvalidInput) || !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s: AddNote = %v; want an InputError on %s", name, err, tc.field)
		}
	}
	if _, _, err := f.engine.Resolve(ctx, inc.ID, "cli:alice", strings.Repeat("y", incident.MaxCommentBytes+1)); !errors.Is(err, incident.ErrInvalidInput) {
		t.Errorf("Resolve with an oversized comment = %v, want ErrInvalidInput", err)
	}
	if n := len(f.kinds(t, inc.ID)); n != before {
		t.Errorf("refused notes wrote %d entries", n-before)
	}
	// Exactly the limit is fine.
	if _, _, err := f.engine.AddNote(ctx, inc.ID, "cli:alice", strings.Repeat("z", incident.MaxNoteBytes)); err != nil {
		t.Errorf("note of exactly %d bytes: %v", incident.MaxNoteBytes, err)
	}
}
