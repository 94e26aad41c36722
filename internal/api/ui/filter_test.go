package ui

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

func TestParseIncidentQuery(t *testing.T) {
	q, err := ParseIncidentQuery(url.Values{"status": {"open"}, "severity": {"high"}, "tier": {"major"},
		"monitor": {" api "}, "since": {"2026-01-02"}, "until": {"2026-01-31"}, "before": {"42"}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Status != incident.StatusOpen || !q.HasSeverity || q.Severity != event.SeverityHigh || q.Tier != incident.TierMajor ||
		q.Monitor != "api" || !q.Since.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) ||
		!q.Until.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) || q.Before != 42 {
		t.Errorf("query = %+v", q)
	}
	if got := q.Values().Encode(); got != "monitor=api&severity=high&since=2026-01-02&status=open&tier=MAJOR&until=2026-01-31" {
		t.Errorf("Values = %s", got)
	}
	for raw, field := range map[string]string{
		"status=closed": "status", "severity=urgent": "severity", "tier=HUGE": "tier", "since=2026-13-01": "since",
		"until=yesterday": "until", "since=2026-02-02&until=2026-02-01": "until", "before=0": "before", "before=x": "before",
		"status=open&status=resolved": "status", "colour=red": "query", "monitor=a%00b": "monitor",
	} {
		v, _ := url.ParseQuery(raw)
		_, err := ParseIncidentQuery(v)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: err = %v, want a FieldError on %s", raw, err, field)
		}
	}
}

func TestParseEventSearch(t *testing.T) {
	q, err := ParseEventSearch(url.Values{"kind": {"ui.signin"}, "severity": {"medium"}, "before": {"1700000000000000~abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Kind != "ui.signin" || q.MinSeverity != event.SeverityMedium || q.BeforeID != "abc" || q.BeforeTime.UnixMicro() != 1700000000000000 {
		t.Errorf("search = %+v", q)
	}
	if c := eventCursor(event.Event{ID: "abc", Time: q.BeforeTime}); c != "1700000000000000~abc" {
		t.Errorf("cursor = %s", c)
	}
	for _, raw := range []string{"before=abc", "before=12~", "severity=x", "source=" + string(make([]byte, 300))} {
		v, _ := url.ParseQuery(raw)
		if _, err := ParseEventSearch(v); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
}

// FuzzParseQueries: any query string parses or fails with a FieldError,
// never panics, and what parses round-trips through Values.
func FuzzParseQueries(f *testing.F) {
	for _, s := range []string{"", "status=open&severity=high&tier=MINOR&monitor=api&since=2026-01-01&until=2026-02-01&before=9",
		"since=2026-02-30", "before=-1", "kind=a&source=b&before=1~x", "%zz", "monitor=%ff", "until=9999-12-31"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		var fe *FieldError
		if q, err := ParseIncidentQuery(v); err != nil {
			if !errors.As(err, &fe) {
				t.Fatalf("incident query %q: %v is not a FieldError", raw, err)
			}
		} else {
			again, err := ParseIncidentQuery(q.Values())
			if err != nil || again.Status != q.Status || again.Severity != q.Severity || again.Tier != q.Tier ||
				again.Monitor != q.Monitor || !again.Since.Equal(q.Since) || !again.Until.Equal(q.Until) {
				t.Fatalf("round trip of %q: %+v != %+v (%v)", raw, again, q, err)
			}
		}
		if q, err := ParseEventSearch(v); err != nil {
			if !errors.As(err, &fe) {
				t.Fatalf("event search %q: %v is not a FieldError", raw, err)
			}
		} else if _, err := ParseEventSearch(q.Values()); err != nil {
			t.Fatalf("round trip of %q: %v", raw, err)
		}
	})
}
