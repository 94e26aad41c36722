package incident

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// EvidenceSource is what the local diagnoser reads: recent events related
// to an incident and the other unresolved incidents.
type EvidenceSource interface {
	// RelatedEvents returns at most limit events since the time, of the
	// incident's fingerprint or monitor, newest first.
	RelatedEvents(ctx context.Context, inc Incident, since time.Time, limit int) ([]event.Event, error)
	// ListIncidents lists incidents (Store's method).
	ListIncidents(ctx context.Context, f Filter) ([]Incident, error)
}

// LocalDiagnoser is the deterministic diagnoser: it correlates a MAJOR
// incident with its recent events and the other failing monitors, and
// ranks the matching playbooks, putting those that already failed on this
// incident last. The same inputs always give the same diagnosis.
type LocalDiagnoser struct {
	Evidence EvidenceSource
	Runs     RemediationStore
	// Window is how far back events are considered (default 1h).
	Window time.Duration
	Clock  Clock
}

var _ Diagnoser = (*LocalDiagnoser)(nil)

// Diagnose implements Diagnoser.
func (d *LocalDiagnoser) Diagnose(ctx context.Context, inc Incident, candidates []Playbook) (Diagnosis, error) {
	window := d.Window
	if window <= 0 {
		window = time.Hour
	}
	now := time.Now()
	if d.Clock != nil {
		now = d.Clock.Now()
	}
	out := Diagnosis{Diagnoser: "local"}

	evs, err := d.Evidence.RelatedEvents(ctx, inc, now.Add(-window), 500)
	if err != nil {
		return out, fmt.Errorf("diagnose incident %d: related events: %w", inc.ID, err)
	}
	kinds := map[string]int{}
	failing := 0
	for _, ev := range evs {
		kinds[ev.Kind]++
		if ev.Outcome == event.OutcomeFail {
			failing++
		}
	}
	kindNames := make([]string, 0, len(kinds))
	for k := range kinds {
		kindNames = append(kindNames, k)
	}
	sort.Slice(kindNames, func(i, j int) bool {
		if kinds[kindNames[i]] != kinds[kindNames[j]] {
			return kinds[kindNames[i]] > kinds[kindNames[j]]
		}
		return kindNames[i] < kindNames[j]
	})
	for _, k := range kindNames {
		out.Evidence = append(out.Evidence, fmt.Sprintf("%d %s event(s) in the last %s", kinds[k], k, window))
	}

	open, err := d.Evidence.ListIncidents(ctx, Filter{Status: StatusOpen, Limit: 100})
	if err != nil {
		return out, fmt.Errorf("diagnose incident %d: open incidents: %w", inc.ID, err)
	}
	var others []string
	for _, o := range open {
		if o.ID != inc.ID && o.Monitor != "" && !contains(others, o.Monitor) {
			others = append(others, o.Monitor)
		}
	}
	sort.Strings(others)
	if len(others) > 0 {
		out.Evidence = append(out.Evidence, "other failing monitors: "+strings.Join(others, ", "))
	}

	failed := map[string]int{}
	if d.Runs != nil {
		runs, err := d.Runs.Runs(ctx, inc.ID)
		if err != nil {
			return out, fmt.Errorf("diagnose incident %d: runs: %w", inc.ID, err)
		}
		for _, r := range runs {
			if !r.DryRun && r.Status != RunSucceeded {
				failed[r.Playbook]++
			}
		}
	}
	ranked := make([]Playbook, len(candidates))
	copy(ranked, candidates)
	sort.SliceStable(ranked, func(i, j int) bool { return failed[ranked[i].Name] < failed[ranked[j].Name] })
	for _, p := range ranked {
		out.Candidates = append(out.Candidates, p.Name)
		if n := failed[p.Name]; n > 0 {
			out.Evidence = append(out.Evidence, fmt.Sprintf("playbook %s already failed %d time(s) on this incident", p.Name, n))
		}
	}

	scope := "isolated"
	if len(others) > 0 {
		scope = fmt.Sprintf("alongside %d other failing monitor(s), which suggests a shared cause", len(others))
	}
	best := "no playbook"
	if len(out.Candidates) > 0 {
		best = "playbook " + out.Candidates[0]
	}
	out.Summary = fmt.Sprintf("%s: %d related event(s) (%d failing) in the last %s, %s; trying %s first",
		inc.Title, len(evs), failing, window, scope, best)
	return out, nil
}
