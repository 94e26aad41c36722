package ui

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// FieldError names the query parameter that is not acceptable and says
// what is expected; its message is shown on the page.
type FieldError struct {
	Field string
	Msg   string
}

// Error formats the problem as "field: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// dateLayout is the form of the since and until parameters.
const dateLayout = "2006-01-02"

// maxTextParam bounds free-text parameters (monitor, source, kind).
const maxTextParam = 200

// IncidentQuery is the parsed query of the incident list. Until is
// exclusive: the day after the until date.
type IncidentQuery struct {
	Status   incident.Status
	Severity event.Severity
	// HasSeverity is set when Severity filters (unknown is a severity).
	HasSeverity bool
	Tier        incident.Tier
	Monitor     string
	Since       time.Time
	Until       time.Time
	// Before pages: only incidents with a smaller id.
	Before int64
}

// ParseIncidentQuery reads the incident list's parameters: status,
// severity, tier, monitor, since and until (YYYY-MM-DD, both inclusive,
// UTC) and before (an incident id). Empty parameters do not filter.
func ParseIncidentQuery(v url.Values) (IncidentQuery, error) {
	var q IncidentQuery
	if err := onlyParams(v, "status", "severity", "tier", "monitor", "since", "until", "before"); err != nil {
		return q, err
	}
	if s := v.Get("status"); s != "" {
		q.Status = incident.Status(s)
		if !q.Status.Valid() {
			return q, &FieldError{"status", "want open, acknowledged or resolved"}
		}
	}
	if s := v.Get("severity"); s != "" {
		sev, err := event.ParseSeverity(s)
		if err != nil {
			return q, &FieldError{"severity", "want info, low, medium, high or critical"}
		}
		q.Severity, q.HasSeverity = sev, true
	}
	if s := v.Get("tier"); s != "" {
		q.Tier = incident.Tier(strings.ToUpper(s))
		if !q.Tier.Valid() {
			return q, &FieldError{"tier", "want MINOR, MAJOR or CRITICAL"}
		}
	}
	var err error
	if q.Monitor, err = textParam(v, "monitor"); err != nil {
		return q, err
	}
	if q.Since, q.Until, err = dateRange(v); err != nil {
		return q, err
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return q, &FieldError{"before", "want a positive incident id"}
		}
		q.Before = n
	}
	return q, nil
}

// Values returns the query's parameters without before, for links that
// keep the filters.
func (q IncidentQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("status", string(q.Status))
	if q.HasSeverity {
		set("severity", q.Severity.String())
	}
	set("tier", string(q.Tier))
	set("monitor", q.Monitor)
	if !q.Since.IsZero() {
		set("since", q.Since.Format(dateLayout))
	}
	if !q.Until.IsZero() {
		set("until", q.Until.AddDate(0, 0, -1).Format(dateLayout))
	}
	return v
}

// EventSearch is the parsed query of the events search.
type EventSearch struct {
	Kind, Source string
	MinSeverity  event.Severity
	// Severity is the severity parameter as given ("" for none).
	Severity     string
	Since, Until time.Time
	BeforeTime   time.Time
	BeforeID     string
}

// ParseEventSearch reads the events search's parameters: kind, source,
// severity (the least shown), since and until (YYYY-MM-DD, inclusive,
// UTC) and before (a paging cursor from the previous page).
func ParseEventSearch(v url.Values) (EventSearch, error) {
	var q EventSearch
	if err := onlyParams(v, "kind", "source", "severity", "since", "until", "before"); err != nil {
		return q, err
	}
	var err error
	if q.Kind, err = textParam(v, "kind"); err != nil {
		return q, err
	}
	if q.Source, err = textParam(v, "source"); err != nil {
		return q, err
	}
	if s := v.Get("severity"); s != "" {
		sev, err := event.ParseSeverity(s)
		if err != nil {
			return q, &FieldError{"severity", "want info, low, medium, high or critical"}
		}
		q.MinSeverity, q.Severity = sev, sev.String()
	}
	if q.Since, q.Until, err = dateRange(v); err != nil {
		return q, err
	}
	if s := v.Get("before"); s != "" {
		at, id, ok := strings.Cut(s, "~")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil || id == "" || len(id) > maxTextParam || !utf8.ValidString(id) {
			return q, &FieldError{"before", "not a cursor of this page (follow the next-page link)"}
		}
		q.BeforeTime, q.BeforeID = time.UnixMicro(n).UTC(), id
	}
	return q, nil
}

// Values returns the search's parameters without before.
func (q EventSearch) Values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"kind": q.Kind, "source": q.Source, "severity": q.Severity} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(dateLayout))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.AddDate(0, 0, -1).Format(dateLayout))
	}
	return v
}

// eventCursor is the before parameter that continues after ev.
func eventCursor(ev event.Event) string {
	return strconv.FormatInt(ev.Time.UnixMicro(), 10) + "~" + ev.ID
}

// onlyParams refuses parameters other than names and repeated ones.
func onlyParams(v url.Values, names ...string) error {
	for k, vals := range v {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return &FieldError{"query", fmt.Sprintf("unknown parameter %q (want %s)", clip(k), strings.Join(names, ", "))}
		}
		if len(vals) > 1 {
			return &FieldError{k, "given more than once"}
		}
	}
	return nil
}

// textParam returns a free-text parameter, trimmed and bounded.
func textParam(v url.Values, name string) (string, error) {
	s := strings.TrimSpace(v.Get(name))
	switch {
	case len(s) > maxTextParam:
		return "", &FieldError{name, fmt.Sprintf("at most %d bytes", maxTextParam)}
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", &FieldError{name, "contains control characters or invalid UTF-8"}
	}
	return s, nil
}

// dateRange parses since and until (inclusive days, UTC) and returns
// [since, day after until).
func dateRange(v url.Values) (since, until time.Time, err error) {
	parse := func(name string) (time.Time, error) {
		s := strings.TrimSpace(v.Get(name))
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(dateLayout, s)
		if err != nil || t.Year() < 1970 || t.Year() > 9998 {
			return time.Time{}, &FieldError{name, "want a date as YYYY-MM-DD"}
		}
		return t, nil
	}
	if since, err = parse("since"); err != nil {
		return
	}
	if until, err = parse("until"); err != nil {
		return
	}
	if !until.IsZero() {
		if !since.IsZero() && until.Before(since) {
			return since, until, &FieldError{"until", "must not be before since"}
		}
		until = until.AddDate(0, 0, 1)
	}
	return since, until, nil
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	return strings.ToValidUTF8(s[:40], "") + "…"
}
