package forward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
)

// SDID is the SD-ID of the structured-data element that carries an
// event's fields: "secopsd" at private enterprise number 32473, the number
// RFC 5612 reserves for documentation.
const SDID = "secopsd@32473"

// Syslog severities (RFC 5424 §6.2.1) that events map to.
const (
	SyslogCritical = 2
	SyslogError    = 3
	SyslogWarning  = 4
	SyslogNotice   = 5
	SyslogInfo     = 6
)

// SyslogSeverity maps an event severity to a syslog severity: critical →
// crit (2), high → err (3), medium → warning (4), low → notice (5), info
// → info (6); an unclassified event is a notice (5).
func SyslogSeverity(s event.Severity) int {
	switch s {
	case event.SeverityCritical:
		return SyslogCritical
	case event.SeverityHigh:
		return SyslogError
	case event.SeverityMedium:
		return SyslogWarning
	case event.SeverityInfo:
		return SyslogInfo
	default:
		return SyslogNotice
	}
}

// syslogTime is RFC 5424's TIMESTAMP: RFC 3339 in UTC with microseconds
// (TIME-SECFRAC allows at most six digits).
const syslogTime = "2006-01-02T15:04:05.000000Z07:00"

// RFC 5424 header field lengths.
const (
	maxHostname = 255
	maxAppName  = 48
	maxProcID   = 128
	maxMsgID    = 32
)

// headerField returns s as an RFC 5424 header field: printable US-ASCII
// without spaces (anything else becomes "_"), at most n bytes, "-" (the
// nil value) when empty.
func headerField(s string, n int) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

// sdParam is one SD-PARAM.
type sdParam struct{ name, value string }

// eventParams returns the SD-PARAMs of ev, leaving out empty values
// except the id.
func eventParams(ev *store.ReceivedEvent) []sdParam {
	ps := []sdParam{{"id", ev.ID}}
	add := func(name, value string) {
		if value != "" {
			ps = append(ps, sdParam{name, value})
		}
	}
	if !ev.Time.IsZero() {
		add("time", ev.Time.UTC().Format(syslogTime))
	}
	if !ev.ReceivedAt.IsZero() {
		add("received_at", ev.ReceivedAt.UTC().Format(syslogTime))
	}
	add("source", ev.Source)
	add("monitor", ev.Monitor)
	add("kind", ev.Kind)
	add("outcome", string(ev.Outcome))
	add("severity", ev.Severity.String())
	add("category", ev.Category)
	add("fingerprint", ev.Fingerprint)
	add("title", ev.Title)
	add("open_incident", strconv.FormatBool(ev.OpenIncident))
	add("correlation_id", ev.CorrelationID)
	return ps
}

// appendSDValue appends s as the inside of a PARAM-VALUE: valid UTF-8
// (each invalid byte becomes U+FFFD, as in the JSON MSG) with '"', '\'
// and ']' escaped by a backslash (RFC 5424 §6.3.3).
func appendSDValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == ']':
			dst = append(dst, '\\', c)
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// header is the part of an RFC 5424 message that is the same for every
// event of an output.
type header struct {
	facility int
	hostname string
	appName  string
	procID   string
}

// appendMessage appends the RFC 5424 message of ev:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [secopsd@32473 …] MSG
//
// with PRI = facility×8 + SyslogSeverity, TIMESTAMP the event's time,
// MSGID its kind and MSG its JSON form (as the webhook sends it) in plain
// ASCII (characters beyond it are \u escapes), so that no BOM is needed.
func (h *header) appendMessage(dst []byte, ev *store.ReceivedEvent) ([]byte, error) {
	body, err := asciiJSON(ev)
	if err != nil {
		return nil, err
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(h.facility*8+SyslogSeverity(ev.Severity)), 10)
	dst = append(dst, ">1 "...)
	if ev.Time.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = ev.Time.UTC().AppendFormat(dst, syslogTime)
	}
	dst = append(dst, ' ')
	dst = append(dst, h.hostname...)
	dst = append(dst, ' ')
	dst = append(dst, h.appName...)
	dst = append(dst, ' ')
	dst = append(dst, h.procID...)
	dst = append(dst, ' ')
	dst = append(dst, headerField(ev.Kind, maxMsgID)...)
	dst = append(dst, " ["+SDID...)
	for _, p := range eventParams(ev) {
		dst = append(dst, ' ')
		dst = append(dst, p.name...)
		dst = append(dst, '=', '"')
		dst = appendSDValue(dst, p.value)
		dst = append(dst, '"')
	}
	dst = append(dst, "] "...)
	return append(dst, body...), nil
}

// appendFrame appends msg with octet-counting framing (RFC 6587 §3.4.1):
// its length in bytes, a space, the message.
func appendFrame(dst, msg []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(msg)), 10)
	dst = append(dst, ' ')
	return append(dst, msg...)
}

// asciiJSON returns the JSON form of ev with every character beyond
// US-ASCII written as a \u escape (a surrogate pair beyond U+FFFF); JSON
// decoders read it back unchanged.
func asciiJSON(ev *store.ReceivedEvent) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode event %q: %w", ev.ID, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return b, nil
	}
	out := make([]byte, 0, len(b)+len(b)/4)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			// json.Encoder writes valid UTF-8 only, so r is never
			// a RuneError standing for a bad byte.
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out, nil
}
