package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The human workflow: people acknowledge, resolve and reopen incidents and
// add notes to them. Each action is one MutateIncident (the row locked, the
// transition decided on the current status, one timeline entry appended
// with the actor), so concurrent actions by people, the engine and other
// replicas never interleave.

// Timeline entry kinds of the human workflow.
const (
	// KindReopened records that a person reopened a resolved incident.
	KindReopened = "incident.reopened"
	// KindNote is a free-text note a person added to the timeline.
	KindNote = "note.added"
)

// Limits of the text people write into the timeline.
const (
	// MaxNoteBytes bounds a note's text (before secrets are redacted).
	MaxNoteBytes = 4096
	// MaxCommentBytes bounds the comment of an acknowledgement,
	// resolution or reopening.
	MaxCommentBytes = 4096
	// MaxActorBytes bounds the name of whoever acts.
	MaxActorBytes = 200
)

// ErrInvalidTransition is wrapped by every TransitionError: the action
// does not apply to the incident in its current status.
var ErrInvalidTransition = errors.New("invalid incident transition")

// ErrInvalidInput is wrapped by every InputError: an argument of a human
// action (actor, comment, note text) is not acceptable.
var ErrInvalidInput = errors.New("invalid input")

// TransitionError says why an action does not apply to an incident. Its
// message is meant for the person who asked.
type TransitionError struct {
	// IncidentID is the incident acted on.
	IncidentID int64
	// Action is what was asked: acknowledge, resolve or reopen.
	Action string
	// Status is the incident's status when the action was refused.
	Status Status
	// Reason explains the refusal.
	Reason string
	// Err is an underlying cause such as ErrDuplicateOpen; may be nil.
	Err error
}

// Error formats the refusal on one line.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s incident %d: %s", e.Action, e.IncidentID, e.Reason)
}

// Unwrap lets errors.Is match ErrInvalidTransition and the cause.
func (e *TransitionError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidTransition, e.Err}
	}
	return []error{ErrInvalidTransition}
}

// InputError names the argument of a human action that is not acceptable
// and why. Its message is meant for the person who asked.
type InputError struct {
	// Field is the argument: actor, comment or text.
	Field string
	// Reason explains what is wrong and what is expected.
	Reason string
}

// Error formats the problem as "field: reason".
func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is match ErrInvalidInput.
func (e *InputError) Unwrap() error { return ErrInvalidInput }

// Acknowledge marks an open incident as being worked on by actor. The
// comment is optional; secrets in it are redacted. Acknowledging an
// acknowledged or resolved incident is a TransitionError.
func (e *Engine) Acknowledge(ctx context.Context, id int64, actor, comment string) (Incident, TimelineEntry, error) {
	return e.humanAction(ctx, id, "acknowledge", actor, comment, func(cur *Incident, now time.Time, payload map[string]any) (Entry, error) {
		switch cur.Status {
		case StatusResolved:
			return Entry{}, &TransitionError{IncidentID: cur.ID, Action: "acknowledge", Status: cur.Status, Reason: "it is resolved (reopen it first)"}
		case StatusAcknowledged:
			return Entry{}, &TransitionError{IncidentID: cur.ID, Action: "acknowledge", Status: cur.Status, Reason: "it is already acknowledged"}
		}
		payload["previous_status"] = string(cur.Status)
		cur.Status = StatusAcknowledged
		if cur.AcknowledgedAt == nil {
			// The first acknowledgement stops the acknowledge SLA clock;
			// later ones (after a reopening) are in the timeline.
			t := NormalizeTime(now)
			cur.AcknowledgedAt = &t
		}
		return Entry{Kind: KindAcknowledged, Payload: payload}, nil
	})
}

// Resolve marks an unresolved incident as resolved by actor. Resolving a
// resolved incident is a TransitionError.
func (e *Engine) Resolve(ctx context.Context, id int64, actor, comment string) (Incident, TimelineEntry, error) {
	inc, entry, err := e.humanAction(ctx, id, "resolve", actor, comment, func(cur *Incident, now time.Time, payload map[string]any) (Entry, error) {
		if cur.Status == StatusResolved {
			return Entry{}, &TransitionError{IncidentID: cur.ID, Action: "resolve", Status: cur.Status, Reason: "it is already resolved"}
		}
		payload["previous_status"] = string(cur.Status)
		payload["manual"] = true
		payload["failures"] = cur.Failures
		payload["reason"] = "resolved by " + strings.TrimSpace(actor)
		cur.Status = StatusResolved
		t := NormalizeTime(now)
		cur.ResolvedAt = &t
		return Entry{Kind: KindResolved, Payload: payload}, nil
	})
	if err == nil && e.observer != nil {
		e.observer.IncidentResolved(inc)
	}
	return inc, entry, err
}

// Reopen makes a resolved incident open again, unless another unresolved
// incident with the same fingerprint exists (the store keeps at most one):
// then it is a TransitionError wrapping ErrDuplicateOpen that names it.
// The first acknowledgement time is kept: the acknowledge SLA clock was
// met then.
func (e *Engine) Reopen(ctx context.Context, id int64, actor, comment string) (Incident, TimelineEntry, error) {
	inc, err := e.store.GetIncident(ctx, id)
	if err != nil {
		return Incident{}, TimelineEntry{}, fmt.Errorf("reopen incident %d: %w", id, err)
	}
	if inc.Status == StatusResolved {
		if other, err := e.store.OpenIncidentByFingerprint(ctx, inc.Fingerprint); err == nil && other.ID != id {
			return Incident{}, TimelineEntry{}, duplicateOpen(id, other.ID)
		}
	}
	updated, entry, err := e.humanAction(ctx, id, "reopen", actor, comment, func(cur *Incident, now time.Time, payload map[string]any) (Entry, error) {
		if cur.Status != StatusResolved {
			return Entry{}, &TransitionError{IncidentID: cur.ID, Action: "reopen", Status: cur.Status, Reason: "it is not resolved (status " + string(cur.Status) + ")"}
		}
		if cur.ResolvedAt != nil {
			payload["resolved_at"] = cur.ResolvedAt.UTC()
		}
		cur.Status = StatusOpen
		cur.ResolvedAt = nil
		cur.RecoveryPasses = 0
		return Entry{Kind: KindReopened, Payload: payload}, nil
	})
	var te *TransitionError
	if errors.Is(err, ErrDuplicateOpen) && !errors.As(err, &te) {
		// Another replica opened one between the check and the update.
		return Incident{}, TimelineEntry{}, duplicateOpen(id, 0)
	}
	return updated, entry, err
}

func duplicateOpen(id, other int64) error {
	reason := "another unresolved incident with the same fingerprint exists"
	if other > 0 {
		reason = fmt.Sprintf("incident %d with the same fingerprint is unresolved (work on that one)", other)
	}
	return &TransitionError{IncidentID: id, Action: "reopen", Status: StatusResolved, Reason: reason, Err: ErrDuplicateOpen}
}

// AddNote appends a note by actor to an incident's timeline, whatever its
// status. The text is required, at most MaxNoteBytes, and its secrets are
// redacted before it is stored.
func (e *Engine) AddNote(ctx context.Context, id int64, actor, text string) (Incident, TimelineEntry, error) {
	actor, err := checkActor(actor)
	if err != nil {
		return Incident{}, TimelineEntry{}, err
	}
	text, redacted, err := e.cleanText("text", text, MaxNoteBytes)
	if err != nil {
		return Incident{}, TimelineEntry{}, err
	}
	if text == "" {
		return Incident{}, TimelineEntry{}, &InputError{Field: "text", Reason: "a note needs some text"}
	}
	now := e.clock.Now()
	payload := map[string]any{"text": text}
	if redacted {
		payload["redacted"] = true
	}
	updated, entries, err := e.store.MutateIncident(ctx, id, func(*Incident) ([]Entry, error) {
		return []Entry{{Time: now, Actor: actor, Kind: KindNote, Payload: payload}}, nil
	})
	if err != nil {
		return Incident{}, TimelineEntry{}, fmt.Errorf("add note to incident %d: %w", id, err)
	}
	e.logger.Info("note added", "incident", id, "actor", actor, "seq", entries[0].Seq)
	return updated, entries[0], nil
}

// humanAction checks actor and comment, applies the transition under the
// row lock and notifies about the entry it appended.
func (e *Engine) humanAction(ctx context.Context, id int64, action, actor, comment string,
	apply func(cur *Incident, now time.Time, payload map[string]any) (Entry, error)) (Incident, TimelineEntry, error) {
	actor, err := checkActor(actor)
	if err != nil {
		return Incident{}, TimelineEntry{}, err
	}
	comment, redacted, err := e.cleanText("comment", comment, MaxCommentBytes)
	if err != nil {
		return Incident{}, TimelineEntry{}, err
	}
	now := e.clock.Now()
	updated, entries, err := e.store.MutateIncident(ctx, id, func(cur *Incident) ([]Entry, error) {
		payload := map[string]any{}
		if comment != "" {
			payload["comment"] = comment
		}
		if redacted {
			payload["redacted"] = true
		}
		en, err := apply(cur, now, payload)
		if err != nil {
			return nil, err
		}
		en.Time, en.Actor = now, actor
		return []Entry{en}, nil
	})
	var te *TransitionError
	if errors.As(err, &te) {
		return Incident{}, TimelineEntry{}, te
	}
	if err != nil {
		return Incident{}, TimelineEntry{}, fmt.Errorf("%s incident %d: %w", action, id, err)
	}
	entry := entries[0]
	e.logger.Info("incident "+entry.Kind[strings.IndexByte(entry.Kind, '.')+1:], "incident", id, "actor", actor, "status", string(updated.Status))
	e.notify(ctx, updated, entry)
	return updated, entry, nil
}

// checkActor returns actor without surrounding space, or an InputError if
// it is empty, too long or holds control characters.
func checkActor(actor string) (string, error) {
	actor = strings.TrimSpace(actor)
	switch {
	case actor == "":
		return "", &InputError{Field: "actor", Reason: "who acts is required"}
	case len(actor) > MaxActorBytes:
		return "", &InputError{Field: "actor", Reason: fmt.Sprintf("longer than %d bytes", MaxActorBytes)}
	case !utf8.ValidString(actor):
		return "", &InputError{Field: "actor", Reason: "not valid UTF-8"}
	case strings.ContainsFunc(actor, unicode.IsControl):
		return "", &InputError{Field: "actor", Reason: "must not contain control characters"}
	}
	return actor, nil
}

// cleanText checks text a person wrote (valid UTF-8, at most maxBytes, no
// control characters but new lines and tabs), trims it and redacts its
// secrets; it reports whether redaction changed anything.
func (e *Engine) cleanText(field, text string, maxBytes int) (string, bool, error) {
	if len(text) > maxBytes {
		return "", false, &InputError{Field: field, Reason: fmt.Sprintf("%d bytes, more than the %d allowed", len(text), maxBytes)}
	}
	if !utf8.ValidString(text) {
		return "", false, &InputError{Field: field, Reason: "not valid UTF-8"}
	}
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	if i := strings.IndexFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }); i >= 0 {
		return "", false, &InputError{Field: field, Reason: fmt.Sprintf("control character %U at byte %d (only new lines and tabs are allowed)", []rune(text[i:])[0], i)}
	}
	if text == "" || e.wf.redact == nil {
		return text, false, nil
	}
	clean := e.wf.redact(text)
	return clean, clean != text, nil
}
