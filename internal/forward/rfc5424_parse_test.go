package forward

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
)

// This file is a strict RFC 5424 / RFC 6587 reader for the tests, written
// from the RFCs' ABNF and independent of the writer: tests parse what the
// syslog output sends with it. Exported names are for package
// forward_test.

// ParsedSyslog is one parsed RFC 5424 message.
type ParsedSyslog struct {
	Pri                                         int
	Version                                     string
	Timestamp, Hostname, AppName, ProcID, MsgID string
	// SD holds the structured-data elements in order.
	SD []ParsedSD
	// Msg is the MSG part, nil when absent.
	Msg []byte
}

// ParsedSD is one SD-ELEMENT.
type ParsedSD struct {
	ID     string
	Params [][2]string // name, unescaped value
}

// Param returns the value of the parameter name, and whether it is there.
func (e ParsedSD) Param(name string) (string, bool) {
	for _, p := range e.Params {
		if p[0] == name {
			return p[1], true
		}
	}
	return "", false
}

// ReadFrame reads one octet-counted frame (RFC 6587 §3.4.1): MSG-LEN SP
// SYSLOG-MSG.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	digits, err := r.ReadString(' ')
	if err != nil {
		return nil, err
	}
	digits = strings.TrimSuffix(digits, " ")
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || digits[0] == '0' {
		return nil, fmt.Errorf("bad MSG-LEN %q", digits)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, fmt.Errorf("frame of %d bytes: %w", n, err)
	}
	return msg, nil
}

// ParseSyslog parses an RFC 5424 SYSLOG-MSG strictly.
func ParseSyslog(b []byte) (ParsedSyslog, error) {
	var m ParsedSyslog
	p := &sysParser{b: b}
	if !p.eat('<') {
		return m, errors.New("no <PRI>")
	}
	pri := p.until('>')
	if !p.eat('>') || len(pri) == 0 || len(pri) > 3 || (len(pri) > 1 && pri[0] == '0') {
		return m, fmt.Errorf("bad PRI %q", pri)
	}
	var err error
	if m.Pri, err = strconv.Atoi(pri); err != nil || m.Pri > 191 {
		return m, fmt.Errorf("bad PRI %q", pri)
	}
	fields := make([]string, 6)
	limits := []int{2, 48 + 1000, 255, 48, 128, 32} // VERSION checked below; TIMESTAMP checked by parse
	for i := range fields {
		fields[i] = p.until(' ')
		if !p.eat(' ') {
			return m, fmt.Errorf("header field %d not followed by SP", i)
		}
		if fields[i] == "" || len(fields[i]) > limits[i] {
			return m, fmt.Errorf("header field %d %q empty or too long", i, fields[i])
		}
		for _, c := range []byte(fields[i]) {
			if c < 33 || c > 126 {
				return m, fmt.Errorf("header field %d %q is not PRINTUSASCII", i, fields[i])
			}
		}
	}
	m.Version, m.Timestamp, m.Hostname, m.AppName, m.ProcID, m.MsgID = fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
	if m.Version != "1" {
		return m, fmt.Errorf("version %q", m.Version)
	}
	if m.Timestamp != "-" {
		if _, err := time.Parse(time.RFC3339Nano, m.Timestamp); err != nil {
			return m, fmt.Errorf("timestamp %q: %w", m.Timestamp, err)
		}
	}
	if p.eat('-') {
		// NILVALUE structured data.
	} else {
		for p.peek() == '[' {
			e, err := p.element()
			if err != nil {
				return m, err
			}
			m.SD = append(m.SD, e)
		}
		if len(m.SD) == 0 {
			return m, errors.New("no STRUCTURED-DATA")
		}
	}
	if p.done() {
		return m, nil
	}
	if !p.eat(' ') {
		return m, fmt.Errorf("junk after STRUCTURED-DATA at %d", p.i)
	}
	m.Msg = b[p.i:]
	return m, nil
}

type sysParser struct {
	b []byte
	i int
}

func (p *sysParser) done() bool { return p.i >= len(p.b) }

func (p *sysParser) peek() byte {
	if p.done() {
		return 0
	}
	return p.b[p.i]
}

func (p *sysParser) eat(c byte) bool {
	if p.peek() == c && !p.done() {
		p.i++
		return true
	}
	return false
}

func (p *sysParser) until(c byte) string {
	start := p.i
	for !p.done() && p.b[p.i] != c {
		p.i++
	}
	return string(p.b[start:p.i])
}

// sdName reads an SD-NAME: 1 to 32 PRINTUSASCII except '=', SP, ']' and '"'.
func (p *sysParser) sdName() (string, error) {
	start := p.i
	for !p.done() {
		c := p.b[p.i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			break
		}
		p.i++
	}
	if n := p.i - start; n < 1 || n > 32 {
		return "", fmt.Errorf("bad SD-NAME at %d", start)
	}
	return string(p.b[start:p.i]), nil
}

func (p *sysParser) element() (ParsedSD, error) {
	var e ParsedSD
	p.eat('[')
	id, err := p.sdName()
	if err != nil {
		return e, err
	}
	e.ID = id
	for {
		if p.eat(']') {
			return e, nil
		}
		if !p.eat(' ') {
			return e, fmt.Errorf("SD-ELEMENT %s: expected SP or ] at %d", id, p.i)
		}
		name, err := p.sdName()
		if err != nil {
			return e, err
		}
		if !p.eat('=') || !p.eat('"') {
			return e, fmt.Errorf("SD-PARAM %s: expected =\"", name)
		}
		var v []byte
		for {
			if p.done() {
				return e, fmt.Errorf("SD-PARAM %s: unterminated value", name)
			}
			c := p.b[p.i]
			p.i++
			if c == '"' {
				break
			}
			if c == ']' {
				// An unescaped ] may not appear in a value.
				return e, fmt.Errorf("SD-PARAM %s: unescaped ]", name)
			}
			if c == '\\' && !p.done() {
				if n := p.b[p.i]; n == '"' || n == '\\' || n == ']' {
					v = append(v, n)
					p.i++
					continue
				}
			}
			v = append(v, c)
		}
		if !utf8.Valid(v) {
			return e, fmt.Errorf("SD-PARAM %s: value is not UTF-8", name)
		}
		e.Params = append(e.Params, [2]string{name, string(v)})
	}
}

// FuzzSyslogSD formats events with arbitrary field values, parses the
// message strictly and checks that every value round-trips: in the
// structured data (escaped per RFC 5424 §6.3.3) and in the JSON MSG.
func FuzzSyslogSD(f *testing.F) {
	f.Add("title with \"quotes\" ] and \\ back", "billing-api", "auth.failure", "user", "u-\"]\\", "authentication")
	f.Add("", "", "", "k", "", "")
	f.Add("\xff\xfe invalid", "src]", "kind with spaces and ünïcode", "emoji", "🙂 \u2028", "]]]")
	f.Add("\\\\\"\"]]", "\x00\n\r\t", "-", "a", "\\]", "\"")
	h := &header{facility: 10, hostname: "host", appName: "secopsd", procID: "42"}
	f.Fuzz(func(t *testing.T, title, source, kind, attrKey, attrVal, category string) {
		ev := store.ReceivedEvent{
			Event: event.Event{
				ID: "ev-1", Time: time.Unix(1700000000, 123456000).UTC(), Source: source, Kind: kind,
				Title: title, Severity: event.SeverityHigh, Category: category, Fingerprint: "fp",
				Attributes: map[string]string{attrKey: attrVal},
			},
			ReceivedAt: time.Unix(1700000001, 0).UTC(),
		}
		msg, err := h.appendMessage(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		frame := appendFrame(nil, msg)
		got, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("frame does not round-trip: %v", err)
		}
		m, err := ParseSyslog(msg)
		if err != nil {
			t.Fatalf("parse %q: %v", msg, err)
		}
		if m.Pri != 10*8+3 || m.MsgID != headerField(kind, maxMsgID) {
			t.Errorf("PRI %d, MSGID %q", m.Pri, m.MsgID)
		}
		if len(m.SD) != 1 || m.SD[0].ID != SDID {
			t.Fatalf("SD %+v", m.SD)
		}
		valid := func(s string) string { // each invalid byte becomes U+FFFD, as encoding/json does
			var b strings.Builder
			for i, r := range s {
				if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
					b.WriteString("\uFFFD")
					continue
				}
				b.WriteRune(r)
			}
			return b.String()
		}
		for name, want := range map[string]string{"title": title, "source": source, "kind": kind, "category": category} {
			v, ok := m.SD[0].Param(name)
			if want == "" {
				if ok {
					t.Errorf("empty %s sent as %q", name, v)
				}
				continue
			}
			if !ok || v != valid(want) {
				t.Errorf("%s = %q, %v; want %q", name, v, ok, valid(want))
			}
		}
		for _, c := range m.Msg {
			if c >= utf8.RuneSelf {
				t.Fatalf("MSG is not ASCII: %q", m.Msg)
			}
		}
		var back store.ReceivedEvent
		if err := json.Unmarshal(m.Msg, &back); err != nil {
			t.Fatalf("MSG %q is not JSON: %v", m.Msg, err)
		}
		want := ev
		want.Title, want.Source, want.Kind, want.Category = valid(title), valid(source), valid(kind), valid(category)
		want.Attributes = map[string]string{valid(attrKey): valid(attrVal)}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("MSG decodes to\n%+v\nwant\n%+v", back, want)
		}
	})
}

func TestSyslogGoldenMessage(t *testing.T) {
	h := &header{facility: 10, hostname: "siem-host", appName: "secopsd", procID: "4242"}
	ev := store.ReceivedEvent{
		Event: event.Event{
			ID: "e1", Time: time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC), Source: "billing-api",
			Kind: "auth.failure", Title: `bad "login" [x] \ y`, Severity: event.SeverityCritical,
			Fingerprint: "fp1", Attributes: map[string]string{"city": "Zürich"},
		},
		ReceivedAt: time.Date(2025, 6, 1, 12, 0, 1, 0, time.UTC),
	}
	msg, err := h.appendMessage(nil, &ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `<82>1 2025-06-01T12:00:00.123456Z siem-host secopsd 4242 auth.failure ` +
		`[secopsd@32473 id="e1" time="2025-06-01T12:00:00.123456Z" received_at="2025-06-01T12:00:01.000000Z" ` +
		`source="billing-api" kind="auth.failure" severity="critical" fingerprint="fp1" title="bad \"login\" [x\] \\ y" open_incident="false"] ` +
		`{"id":"e1","time":"2025-06-01T12:00:00.123456789Z","source":"billing-api","kind":"auth.failure","fingerprint":"fp1",` +
		`"title":"bad \"login\" [x] \\ y","severity":"critical","open_incident":false,"attributes":{"city":"Z\u00fcrich"},` +
		`"received_at":"2025-06-01T12:00:01Z"}`
	if string(msg) != want {
		t.Errorf("message\n got %s\nwant %s", msg, want)
	}
	if got := string(appendFrame(nil, []byte("<14>1 - - - - - -"))); got != "17 <14>1 - - - - - -" {
		t.Errorf("frame %q", got)
	}
}

func TestSyslogSeverityMapping(t *testing.T) {
	for sev, want := range map[event.Severity]int{
		event.SeverityCritical: 2, event.SeverityHigh: 3, event.SeverityMedium: 4,
		event.SeverityLow: 5, event.SeverityInfo: 6, event.SeverityUnknown: 5,
	} {
		if got := SyslogSeverity(sev); got != want {
			t.Errorf("%s → %d, want %d", sev, got, want)
		}
	}
}

func TestHeaderField(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 32, "-"},
		{"auth.failure", 32, "auth.failure"},
		{"with space", 32, "with_space"},
		{"ünï", 32, "__n__"},
		{strings.Repeat("k", 40), 32, strings.Repeat("k", 32)},
		{"tab\there", 32, "tab_here"},
		{"printable!#$%&'()*+,-./:;<=>?@[\\]", 48, "printable!#$%&'()*+,-./:;<=>?@[\\]"},
	} {
		if got := headerField(tc.in, tc.n); got != tc.want {
			t.Errorf("headerField(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 30 * time.Second
	prev := time.Duration(0)
	for n := 1; n <= 200; n++ {
		top := backoff(n, lo, hi, 1)
		bottom := backoff(n, lo, hi, 0)
		if top < prev || top > hi || bottom < lo || bottom > top || (top > lo && bottom != max(lo, top/2)) {
			t.Fatalf("n=%d: backoff in [%s, %s], previous top %s", n, bottom, top, prev)
		}
		prev = top
	}
	if got := backoff(1, lo, hi, 1); got != lo {
		t.Errorf("first backoff %s, want %s", got, lo)
	}
	if got := backoff(200, lo, hi, 1); got != hi {
		t.Errorf("backoff after many failures %s, want the cap %s", got, hi)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"-3":                            0,
		"soon":                          0,
		"Sun, 01 Jun 2025 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Jun 2025 11:59:00 GMT": 0,
		"99999999999":                   0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}
