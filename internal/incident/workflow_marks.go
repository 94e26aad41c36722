package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Some timeline entries must be written once per incident and reason: an
// SLA breach once per clock, a suppressed notification once per silence.
// The timeline is the record of what was written, so the decision is taken
// from it, under the incident's row lock: the engine reads an incident's
// timeline once into marks (cached per incident), and appends only inside a
// MutateIncident that finds the incident's head where the marks end. If
// another replica (or goroutine) appended meanwhile, the marks are read
// again and the decision retaken, so no replica writes such an entry twice.

// workflow is the engine's state for the human workflow, silences and SLA
// clocks.
type workflow struct {
	silences Silencer
	redact   func(string) string
	sla      *SLAPolicy
	// notifier is the notifier as given, which silences do not suppress.
	notifier Notifier

	mu    sync.Mutex
	marks map[int64]*marks
}

// initWorkflow sets up the workflow state from opts and makes the engine's
// notifications go through the silences.
func (e *Engine) initWorkflow(opts Options) {
	e.wf = &workflow{
		silences: opts.Silences,
		redact:   opts.Redact,
		sla:      opts.SLA,
		notifier: opts.Notifier,
		marks:    map[int64]*marks{},
	}
	if e.notifier != nil && opts.Silences != nil {
		e.notifier = silencingNotifier{e: e, next: e.notifier}
	}
}

// marks is what an incident's timeline says about the once-only entries.
type marks struct {
	// seq is the sequence number of the last entry the marks include.
	seq int64
	// slaSig is the signature of the last recorded SLA deadlines.
	slaSig string
	// breached holds the SLA clocks whose breach is recorded.
	breached map[string]bool
	// suppressed holds the silences a suppression was recorded for;
	// pending those recorded since notifications last resumed.
	suppressed map[string]bool
	pending    map[string]bool
}

func newMarks(seq int64) *marks {
	return &marks{seq: seq, breached: map[string]bool{}, suppressed: map[string]bool{}, pending: map[string]bool{}}
}

func (m *marks) clone() *marks {
	c := newMarks(m.seq)
	c.slaSig = m.slaSig
	for k := range m.breached {
		c.breached[k] = true
	}
	for k := range m.suppressed {
		c.suppressed[k] = true
	}
	for k := range m.pending {
		c.pending[k] = true
	}
	return c
}

// apply updates m with one entry of the timeline.
func (m *marks) apply(en TimelineEntry) {
	m.seq = en.Seq
	switch en.Kind {
	case KindOpened:
		var p struct {
			SLA *struct {
				Clocks []SLADeadline `json:"clocks"`
			} `json:"sla"`
		}
		if json.Unmarshal(en.Payload, &p) == nil && p.SLA != nil {
			m.slaSig = slaSignature(p.SLA.Clocks)
		}
	case KindSLAClock:
		var p struct {
			Clocks []SLADeadline `json:"clocks"`
		}
		if json.Unmarshal(en.Payload, &p) == nil {
			m.slaSig = slaSignature(p.Clocks)
		}
	case KindSLABreached:
		var p struct {
			Clock string `json:"clock"`
		}
		if json.Unmarshal(en.Payload, &p) == nil && p.Clock != "" {
			m.breached[p.Clock] = true
		}
	case KindNotifySuppressed:
		var p struct {
			Silences []string `json:"silences"`
		}
		if json.Unmarshal(en.Payload, &p) == nil {
			for _, s := range p.Silences {
				m.suppressed[s] = true
				m.pending[s] = true
			}
		}
	case KindNotifyResumed:
		clear(m.pending)
	}
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loadMarks returns a copy of the incident's marks, read from its
// timeline unless cached.
func (e *Engine) loadMarks(ctx context.Context, id int64) (*marks, error) {
	e.wf.mu.Lock()
	m, ok := e.wf.marks[id]
	e.wf.mu.Unlock()
	if ok {
		return m.clone(), nil
	}
	tl, err := e.store.Timeline(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read timeline of incident %d: %w", id, err)
	}
	m = newMarks(0)
	for _, en := range tl {
		m.apply(en)
	}
	e.saveMarks(id, m)
	return m.clone(), nil
}

func (e *Engine) saveMarks(id int64, m *marks) {
	e.wf.mu.Lock()
	defer e.wf.mu.Unlock()
	if cur, ok := e.wf.marks[id]; ok && cur.seq > m.seq {
		return
	}
	e.wf.marks[id] = m
}

func (e *Engine) forgetMarks(id int64) {
	e.wf.mu.Lock()
	delete(e.wf.marks, id)
	e.wf.mu.Unlock()
}

// keepMarks drops the cached marks of incidents not in keep.
func (e *Engine) keepMarks(keep map[int64]bool) {
	e.wf.mu.Lock()
	defer e.wf.mu.Unlock()
	for id := range e.wf.marks {
		if !keep[id] {
			delete(e.wf.marks, id)
		}
	}
}

// errStaleMarks aborts a MutateIncident whose marks missed an entry.
var errStaleMarks = errors.New("timeline changed since it was read")

// markAttempts bounds the re-reads of a timeline that keeps changing.
const markAttempts = 5

// appendMarked appends the entries decide returns for the incident's
// current marks and row, deciding under the row lock with marks that
// include every entry of the timeline. decide must not do I/O; it may
// return nothing.
func (e *Engine) appendMarked(ctx context.Context, id int64, decide func(m *marks, cur Incident) []Entry) (Incident, []TimelineEntry, error) {
	for range markAttempts {
		m, err := e.loadMarks(ctx, id)
		if err != nil {
			return Incident{}, nil, err
		}
		updated, appended, err := e.store.MutateIncident(ctx, id, func(cur *Incident) ([]Entry, error) {
			if cur.LastSeq != m.seq {
				return nil, errStaleMarks
			}
			return decide(m, *cur), nil
		})
		if errors.Is(err, errStaleMarks) {
			e.forgetMarks(id)
			continue
		}
		if err != nil {
			return Incident{}, nil, err
		}
		for _, en := range appended {
			m.apply(en)
		}
		m.seq = updated.LastSeq
		e.saveMarks(id, m)
		return updated, appended, nil
	}
	return Incident{}, nil, fmt.Errorf("incident %d: timeline kept changing while deciding (%d attempts)", id, markAttempts)
}

// slaAtOpening adds the SLA deadlines of an incident about to be opened
// to its incident.opened payload, so that they are recorded atomically
// with the opening.
func (e *Engine) slaAtOpening(payload map[string]any, inc Incident) {
	if e.wf.sla == nil {
		return
	}
	inc.OpenedAt = NormalizeTime(inc.OpenedAt)
	payload["sla"] = map[string]any{
		"clocks":   e.wf.sla.Deadlines(inc),
		"timezone": e.wf.sla.location().String(),
	}
}
