package api

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// EventIngester stores the events of one ingestion request durably: it
// returns only once they are stored (how many, and how many of those had
// been stored before), or an error. An error that implements HTTPError
// chooses the answer; its JSON encoding is the response body.
type EventIngester interface {
	IngestEvents(ctx context.Context, contentType string, body io.Reader) (accepted, duplicates int, err error)
}

// HTTPError is an error that knows the API's answer to it: a status code,
// a Retry-After (0 for none), and a body that is its JSON encoding.
type HTTPError interface {
	error
	HTTPStatus() int
	RetryAfter() time.Duration
}

// EventReader lists stored events for GET /api/v1/events.
type EventReader interface {
	QueryEvents(ctx context.Context, q EventQuery) ([]event.Event, error)
}

// EventQuery selects a page of events, newest first.
type EventQuery struct {
	Since, Until time.Time // at or after Since, before Until; zero: no bound
	MinSeverity  event.Severity
	Source, Kind string
	Limit        int
	// After continues a listing after the last event of a page: nil for
	// the first page.
	After *EventCursor
}

// EventCursor is the position of an event in the newest-first listing.
type EventCursor struct {
	Time time.Time
	ID   string
}

// EventPage is the body of GET /api/v1/events.
type EventPage struct {
	Events []event.Event `json:"events"`
	// NextCursor continues the listing (pass it as cursor); empty when
	// this page is the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Limits of GET /api/v1/events.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// cursorPrefix versions the opaque cursor format.
const cursorPrefix = "v1:"

// EncodeCursor returns the opaque cursor of the position c.
func EncodeCursor(c EventCursor) string {
	raw := cursorPrefix + strconv.FormatInt(c.Time.UnixMicro(), 10) + ":" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor parses a cursor made by EncodeCursor.
func DecodeCursor(s string) (EventCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 512 {
		return EventCursor{}, errors.New("not a cursor of this API")
	}
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return EventCursor{}, errors.New("not a cursor of this API")
	}
	us, id, ok := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" || n <= math.MinInt64/2 {
		return EventCursor{}, errors.New("not a cursor of this API")
	}
	return EventCursor{Time: time.UnixMicro(n).UTC(), ID: id}, nil
}

// ingestEvents serves POST /api/v1/events: one JSON event, a JSON array of
// events or NDJSON. It answers 202 with {"accepted": N, "duplicates": M}
// once every event is durable, and otherwise stores nothing.
func (h *handler) ingestEvents(w http.ResponseWriter, r *http.Request) {
	accepted, dups, err := h.opts.Ingest.IngestEvents(r.Context(), r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		h.ingestError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"accepted": accepted, "duplicates": dups})
}

func (h *handler) ingestError(w http.ResponseWriter, r *http.Request, err error) {
	var he HTTPError
	switch {
	case errors.As(err, &he):
		if d := he.RetryAfter(); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		}
		if he.HTTPStatus() >= 500 {
			h.logger.Warn("ingestion refused", "status", he.HTTPStatus(), "err", err)
		}
		writeJSON(w, he.HTTPStatus(), he)
	case r.Context().Err() != nil:
		// The client is gone; nobody reads this answer.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		h.internalError(w, "ingest events", err)
	}
}

// listEvents serves GET /api/v1/events?since=&until=&severity=&source=&kind=&limit=&cursor=.
func (h *handler) listEvents(w http.ResponseWriter, r *http.Request) {
	q, field, msg := parseEventQuery(r)
	if field != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": field + ": " + msg, "param": field})
		return
	}
	evs, err := h.opts.Events.QueryEvents(r.Context(), q)
	if err != nil {
		h.internalError(w, "list events", err)
		return
	}
	page := EventPage{Events: evs}
	if page.Events == nil {
		page.Events = []event.Event{}
	}
	if len(evs) == q.Limit && len(evs) > 0 {
		last := evs[len(evs)-1]
		page.NextCursor = EncodeCursor(EventCursor{Time: last.Time, ID: last.ID})
	}
	writeJSON(w, http.StatusOK, page)
}

// parseEventQuery reads the query parameters of GET /api/v1/events; on a
// bad one it returns the parameter's name and what is wrong.
func parseEventQuery(r *http.Request) (q EventQuery, field, msg string) {
	v := r.URL.Query()
	for name := range v {
		switch name {
		case "since", "until", "severity", "source", "kind", "limit", "cursor":
			if len(v[name]) > 1 {
				return q, name, "given more than once"
			}
		default:
			return q, "query", "unknown parameter (want since, until, severity, source, kind, limit, cursor)"
		}
	}
	parseTime := func(name string) (time.Time, bool) {
		s := v.Get(name)
		if s == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	var ok bool
	if q.Since, ok = parseTime("since"); !ok {
		return q, "since", "want an RFC 3339 time such as 2025-03-01T12:00:00Z"
	}
	if q.Until, ok = parseTime("until"); !ok {
		return q, "until", "want an RFC 3339 time such as 2025-03-01T12:00:00Z"
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, "until", "must be after since"
	}
	if s := v.Get("severity"); s != "" {
		sev, err := event.ParseSeverity(s)
		if err != nil {
			return q, "severity", "want one of info, low, medium, high, critical (the least severity listed)"
		}
		q.MinSeverity = sev
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"source", &q.Source}, {"kind", &q.Kind}} {
		s := v.Get(p.name)
		if len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return q, p.name, "want at most 64 printable characters"
		}
		*p.dst = s
	}
	q.Limit = DefaultEventLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxEventLimit {
			return q, "limit", "want an integer from 1 to " + strconv.Itoa(MaxEventLimit)
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		c, err := DecodeCursor(s)
		if err != nil {
			return q, "cursor", "not a cursor returned by this API as next_cursor"
		}
		q.After = &c
	}
	return q, "", ""
}
