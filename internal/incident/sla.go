package incident

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// SLA clocks: every unresolved incident runs up to three clocks from the
// time it opened — acknowledge (stopped by the first acknowledgement or
// the resolution), resolve, and, for personal-data breaches, the 72-hour
// breach-notification clock (both stopped by the resolution). Their
// deadlines are recorded in the incident.opened entry (its "sla" key) and,
// as an sla.clock entry, whenever they change (the severity was raised,
// the policy changed). A clock that passes its deadline is recorded once (sla.breached)
// and escalated: the notifier is told, even while a silence is in force,
// because a silence quiets failures, not missed deadlines.

// Timeline entry kinds and actor of SLA clocks.
const (
	// KindSLAClock records an incident's SLA deadlines when they differ
	// from the ones recorded at its opening or last.
	KindSLAClock = "sla.clock"
	// KindSLABreached records that an SLA clock passed its deadline;
	// written once per clock and incident.
	KindSLABreached = "sla.breached"
	// ActorSLA writes the SLA entries.
	ActorSLA = "secopsd/sla"
)

// The SLA clocks.
const (
	// SLAAcknowledge runs until the incident is first acknowledged.
	SLAAcknowledge = "acknowledge"
	// SLAResolve runs until the incident is resolved.
	SLAResolve = "resolve"
	// SLABreachNotification runs until a personal-data breach incident is
	// resolved (the data protection authority must be notified within 72
	// hours of becoming aware of a breach, GDPR art. 33).
	SLABreachNotification = "breach_notification"
)

// CategoryPersonalDataBreach is the incident category of personal-data
// breaches, which runs the breach-notification clock by default.
const CategoryPersonalDataBreach = "personal-data-breach"

// SLAPeriod is how long an SLA clock runs: a duration, or whole business
// days (Monday to Friday in the policy's time zone). The zero period means
// no clock.
type SLAPeriod struct {
	Duration     time.Duration
	BusinessDays int
}

// IsZero reports whether the period runs no clock.
func (p SLAPeriod) IsZero() bool { return p.Duration <= 0 && p.BusinessDays <= 0 }

// String formats the period as configured: "2bd", "7d", "72h", "90m".
func (p SLAPeriod) String() string {
	switch d := p.Duration; {
	case p.BusinessDays > 0:
		return strconv.Itoa(p.BusinessDays) + "bd"
	case d <= 0:
		return "none"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	default:
		return d.String()
	}
}

// After returns the deadline of a clock of this period started at from.
func (p SLAPeriod) After(from time.Time, loc *time.Location) time.Time {
	if p.BusinessDays > 0 {
		return AddBusinessDays(from, p.BusinessDays, loc)
	}
	return from.Add(p.Duration)
}

// AddBusinessDays returns the time n business days (Monday to Friday in
// loc; nil means UTC) after t, at the same wall-clock time: Friday 15:00
// plus one is Monday 15:00. A start on a weekend counts from the
// following Monday at 00:00. Public holidays are not known.
func AddBusinessDays(t time.Time, n int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	if isWeekend(lt) {
		for isWeekend(lt) {
			lt = lt.AddDate(0, 0, 1)
		}
		lt = time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	}
	for range n {
		lt = lt.AddDate(0, 0, 1)
		for isWeekend(lt) {
			lt = lt.AddDate(0, 0, 1)
		}
	}
	return lt
}

func isWeekend(t time.Time) bool {
	return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday
}

// SLAPolicy says which clocks run for an incident and how long.
type SLAPolicy struct {
	// Location is the time zone of business days; nil means UTC.
	Location *time.Location
	// Acknowledge and Resolve give the period of the acknowledge and
	// resolve clocks per severity; a missing or zero period runs no clock.
	Acknowledge map[event.Severity]SLAPeriod
	Resolve     map[event.Severity]SLAPeriod
	// BreachNotification is the period of the breach-notification clock
	// of incidents in one of BreachCategories.
	BreachNotification SLAPeriod
	BreachCategories   []string
}

// DefaultSLAPolicy returns the defaults, after a common public disclosure
// policy: acknowledge within 2 business days (severity low and up),
// resolve critical incidents within 7 days and high ones within 30, and
// notify personal-data breaches within 72 hours; business days in UTC.
func DefaultSLAPolicy() *SLAPolicy {
	ack := SLAPeriod{BusinessDays: 2}
	return &SLAPolicy{
		Location: time.UTC,
		Acknowledge: map[event.Severity]SLAPeriod{
			event.SeverityCritical: ack, event.SeverityHigh: ack, event.SeverityMedium: ack, event.SeverityLow: ack,
		},
		Resolve: map[event.Severity]SLAPeriod{
			event.SeverityCritical: {Duration: 7 * 24 * time.Hour},
			event.SeverityHigh:     {Duration: 30 * 24 * time.Hour},
		},
		BreachNotification: SLAPeriod{Duration: 72 * time.Hour},
		BreachCategories:   []string{CategoryPersonalDataBreach},
	}
}

// SLADeadline is one clock of an incident and when it runs out.
type SLADeadline struct {
	Clock    string    `json:"clock"`
	Within   string    `json:"within"`
	Deadline time.Time `json:"deadline"`
}

func (p *SLAPolicy) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// Deadlines returns the clocks that run for inc, with their deadlines
// counted from its opening, in the order acknowledge, resolve,
// breach_notification. Whether a clock already stopped is not considered.
func (p *SLAPolicy) Deadlines(inc Incident) []SLADeadline {
	out := []SLADeadline{}
	add := func(clock string, per SLAPeriod) {
		if per.IsZero() {
			return
		}
		out = append(out, SLADeadline{Clock: clock, Within: per.String(), Deadline: NormalizeTime(per.After(inc.OpenedAt, p.location()))})
	}
	add(SLAAcknowledge, p.Acknowledge[inc.Severity])
	add(SLAResolve, p.Resolve[inc.Severity])
	for _, c := range p.BreachCategories {
		if c == inc.Category {
			add(SLABreachNotification, p.BreachNotification)
			break
		}
	}
	return out
}

// slaStopped reports whether clock no longer runs for inc.
func slaStopped(clock string, inc Incident) bool {
	if inc.Status == StatusResolved {
		return true
	}
	return clock == SLAAcknowledge && inc.AcknowledgedAt != nil
}

// slaSignature identifies a set of deadlines, to tell whether the recorded
// ones are current.
func slaSignature(dls []SLADeadline) string {
	parts := make([]string, len(dls))
	for i, d := range dls {
		parts[i] = d.Clock + "=" + d.Deadline.UTC().Format(time.RFC3339Nano)
	}
	return strings.Join(parts, ";")
}

// slaClockEntries returns an sla.clock entry if the incident's deadlines
// are not the ones last recorded.
func (e *Engine) slaClockEntries(m *marks, inc Incident, now time.Time) []Entry {
	if e.wf.sla == nil {
		return nil
	}
	dls := e.wf.sla.Deadlines(inc)
	if slaSignature(dls) == m.slaSig {
		return nil
	}
	reason := "deadlines changed (severity, category or SLA policy)"
	if m.slaSig == "" {
		reason = "first SLA evaluation of this incident"
	}
	return []Entry{{Time: now, Actor: ActorSLA, Kind: KindSLAClock, Payload: map[string]any{
		"clocks":    dls,
		"severity":  inc.Severity.String(),
		"category":  inc.Category,
		"opened_at": inc.OpenedAt.UTC(),
		"timezone":  e.wf.sla.location().String(),
		"reason":    reason,
	}}}
}

// slaBreachEntries returns an sla.breached entry for every clock of inc
// that is past its deadline, still running and not recorded as breached.
func (e *Engine) slaBreachEntries(m *marks, inc Incident, now time.Time) []Entry {
	if e.wf.sla == nil {
		return nil
	}
	var out []Entry
	for _, d := range e.wf.sla.Deadlines(inc) {
		if slaStopped(d.Clock, inc) || now.Before(d.Deadline) || m.breached[d.Clock] {
			continue
		}
		overdue := now.Sub(d.Deadline).Truncate(time.Second)
		out = append(out, Entry{Time: now, Actor: ActorSLA, Kind: KindSLABreached, Payload: map[string]any{
			"clock":           d.Clock,
			"within":          d.Within,
			"deadline":        d.Deadline.UTC(),
			"overdue_by":      overdue.String(),
			"overdue_seconds": int64(overdue / time.Second),
			"severity":        inc.Severity.String(),
			"status":          string(inc.Status),
			"escalated":       true,
			"reason":          fmt.Sprintf("the %s clock (%s from opening) ran out at %s", d.Clock, d.Within, d.Deadline.UTC().Format(time.RFC3339)),
		}})
	}
	return out
}

// CheckSLAs checks the SLA clocks of every unresolved incident at now: it
// records deadlines that are not recorded yet (or changed), and records and
// escalates each clock past its deadline, exactly once per clock and
// incident across restarts and replicas. It returns how many breaches it
// recorded. The app calls it every minute; without Options.SLA it does
// nothing.
func (e *Engine) CheckSLAs(ctx context.Context, now time.Time) (int, error) {
	if e.wf.sla == nil {
		return 0, nil
	}
	incs, err := e.unresolved(ctx)
	if err != nil {
		return 0, fmt.Errorf("check SLAs: %w", err)
	}
	breaches := 0
	var errs []error
	keep := make(map[int64]bool, len(incs))
	for _, inc := range incs {
		keep[inc.ID] = true
		m, err := e.loadMarks(ctx, inc.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(e.slaClockEntries(m, inc, now)) == 0 && len(e.slaBreachEntries(m, inc, now)) == 0 {
			continue
		}
		updated, appended, err := e.appendMarked(ctx, inc.ID, func(m *marks, cur Incident) []Entry {
			return append(e.slaClockEntries(m, cur, now), e.slaBreachEntries(m, cur, now)...)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("check SLAs of incident %d: %w", inc.ID, err))
			continue
		}
		for _, en := range appended {
			if en.Kind != KindSLABreached {
				continue
			}
			breaches++
			e.logger.Warn("SLA breached", "incident", updated.ID, "title", updated.Title, "payload", string(en.Payload))
			e.escalateSLA(ctx, updated, en)
		}
	}
	e.keepMarks(keep)
	return breaches, errors.Join(errs...)
}

// escalateSLA tells the notifier about an SLA breach, silences or not.
func (e *Engine) escalateSLA(ctx context.Context, inc Incident, entry TimelineEntry) {
	if e.wf.notifier == nil {
		return
	}
	if _, err := e.wf.notifier.Notify(ctx, Notification{Incident: inc, Entry: entry}); err != nil {
		e.logger.Warn("escalation failed", "incident", inc.ID, "kind", entry.Kind, "err", err)
	}
}
