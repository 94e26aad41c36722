package siem

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secopsd/secopsd/internal/event"
)

// Sentinel errors of ingestion, wrapped by every *IngestError; match them
// with errors.Is.
var (
	// ErrInvalidEvent is an event that fails validation (400).
	ErrInvalidEvent = errors.New("invalid event")
	// ErrTooLarge is a request over the byte or event limit (413).
	ErrTooLarge = errors.New("request too large")
	// ErrUnsupportedMediaType is a request that is neither JSON nor NDJSON
	// (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrSaturated is a request refused because the pipeline is full
	// (503 with Retry-After).
	ErrSaturated = errors.New("ingestion pipeline saturated")
	// ErrUnavailable is a request whose events could not be stored (503
	// with Retry-After); none of them is stored.
	ErrUnavailable = errors.New("event store unavailable")
	// ErrClosed is a request that arrived while the pipeline shuts down
	// (503 with Retry-After).
	ErrClosed = errors.New("ingestion pipeline closed")
	// ErrInternal is a failure of secopsd itself, such as a policy that
	// does not evaluate (500).
	ErrInternal = errors.New("internal ingestion error")
)

// IngestError is an ingestion request that secopsd refuses. Its exported
// fields are the JSON body the API answers with, for example
// {"error": "...", "index": 3, "field": "time", "expected": "RFC 3339
// timestamp"}; it never holds a value of the request.
type IngestError struct {
	// Message says what is wrong, for the client.
	Message string `json:"error"`
	// Index is the position of the first bad event in the request (0 is
	// the first); nil when the problem is not about one event.
	Index *int `json:"index,omitempty"`
	// Field is the bad field of that event, such as "time" or
	// "attributes.user"; "" for the event as a whole.
	Field string `json:"field,omitempty"`
	// Expected says what a valid value looks like.
	Expected string `json:"expected,omitempty"`

	status int
	retry  time.Duration
	err    error
}

// Error returns the message, prefixed with the event index and field.
func (e *IngestError) Error() string {
	var b strings.Builder
	if e.Index != nil {
		b.WriteString("event " + strconv.Itoa(*e.Index) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	if e.Expected != "" {
		b.WriteString(" (expected " + e.Expected + ")")
	}
	return b.String()
}

// Unwrap returns the sentinel (ErrInvalidEvent, ErrTooLarge, …).
func (e *IngestError) Unwrap() error { return e.err }

// HTTPStatus is the status code the API answers with.
func (e *IngestError) HTTPStatus() int { return e.status }

// RetryAfter is how long the client should wait before retrying; 0 means
// the request must not be retried as it is.
func (e *IngestError) RetryAfter() time.Duration { return e.retry }

// statusOf maps each sentinel to its HTTP status.
var statusOf = map[error]int{
	ErrInvalidEvent:         http.StatusBadRequest,
	ErrTooLarge:             http.StatusRequestEntityTooLarge,
	ErrUnsupportedMediaType: http.StatusUnsupportedMediaType,
	ErrSaturated:            http.StatusServiceUnavailable,
	ErrUnavailable:          http.StatusServiceUnavailable,
	ErrClosed:               http.StatusServiceUnavailable,
	ErrInternal:             http.StatusInternalServerError,
}

// retryAfter is the Retry-After of the refusals that are worth retrying.
const retryAfter = time.Second

func newIngestError(sentinel error, msg string) *IngestError {
	e := &IngestError{Message: msg, status: statusOf[sentinel], err: sentinel}
	switch sentinel {
	case ErrSaturated, ErrUnavailable, ErrClosed:
		e.retry = retryAfter
	}
	return e
}

// eventError is a validation error of event index at field.
func eventError(index int, field, msg, expected string) *IngestError {
	e := newIngestError(ErrInvalidEvent, msg)
	e.Index, e.Field, e.Expected = &index, field, expected
	return e
}

// Media types accepted by DecodeEvents.
const (
	MediaJSON   = "application/json"
	MediaNDJSON = "application/x-ndjson"
)

// MaxFutureSkew is how far in the future an event's time may be.
const MaxFutureSkew = 5 * time.Minute

// Limits of one event's fields.
const (
	MaxIDLen             = 128
	MaxFingerprintLen    = 128
	MaxNameLen           = 64 // source and kind
	MaxAttributes        = 64
	MaxAttributeKeyLen   = 64
	MaxAttributeValueLen = 1024
)

// Expected forms, quoted by validation errors.
const (
	expectName      = "1 to 64 characters of a-z 0-9 . _ -, starting with a letter or digit, e.g. auth.failure"
	expectTime      = "RFC 3339 timestamp, e.g. 2025-03-01T12:00:00Z"
	expectToken     = "1 to 128 printable ASCII characters without spaces"
	expectSeverity  = "one of info, low, medium, high, critical"
	expectAttrKey   = "keys of 1 to 64 characters of a-z A-Z 0-9 _ . -"
	expectAttrValue = "a string of at most 1024 bytes, a number or a boolean"
	expectFields    = "only the fields id, time, source, kind, fingerprint, severity, attributes"
)

// DecodeOptions are the limits DecodeEvents enforces.
type DecodeOptions struct {
	// MaxEvents is the most events a request may carry (413 beyond).
	MaxEvents int
	// MaxBytes is the largest body (413 beyond).
	MaxBytes int64
	// MaxAge is how old an event's time may be.
	MaxAge time.Duration
	// Now is the reference for MaxAge and MaxFutureSkew.
	Now time.Time
	// Redact, if set, masks secrets in the parts of the request that an
	// error message repeats (field names of unknown fields and attribute
	// keys).
	Redact func(string) string
}

func (o DecodeOptions) redact(s string) string {
	if o.Redact == nil {
		return s
	}
	return o.Redact(s)
}

// eventFields are the fields of an event.
var eventFields = [...]string{"id", "time", "source", "kind", "fingerprint", "severity", "attributes"}

// Incoming is one validated event as a client sent it, before
// minimization. Its strings may still hold secrets.
type Incoming struct {
	// ClientID is the optional id for idempotent retries; "" if none.
	ClientID string
	Time     time.Time
	Source   string
	Kind     string
	// Fingerprint is the client's fingerprint; "" to derive one.
	Fingerprint string
	// Severity is the client's hint, SeverityUnknown when absent.
	Severity event.Severity
	// Attributes holds strings, numbers (their JSON text) and booleans
	// ("true", "false").
	Attributes map[string]string
}

// errBodyTooLarge is returned by limitedReader past its limit.
var errBodyTooLarge = errors.New("body too large")

// limitedReader reads at most n bytes from r and fails with
// errBodyTooLarge if r holds more.
type limitedReader struct {
	r io.Reader
	n int64 // bytes still allowed
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

// DecodeEvents reads one JSON event, a JSON array of events or NDJSON (one
// event per line) from body, streaming, and validates every event. It
// returns the events, or an *IngestError for the first problem: an
// unsupported media type (415), a body or event count over the limits
// (413), or invalid JSON or an invalid event, naming the event's index and
// field (400).
func DecodeEvents(body io.Reader, contentType string, opts DecodeOptions) ([]Incoming, error) {
	ndjson, err := mediaType(contentType)
	if err != nil {
		return nil, err
	}
	lr := &limitedReader{r: body, n: opts.MaxBytes}
	br := bufio.NewReaderSize(lr, 32<<10)
	dec := json.NewDecoder(br)
	d := &decoding{opts: opts, dec: dec}
	array := false
	if !ndjson {
		c, err := firstByte(br)
		if err != nil {
			return nil, d.readError(err)
		}
		array = c == '['
	}
	if array {
		if _, err := dec.Token(); err != nil {
			return nil, d.readError(err)
		}
	}
	for {
		if array && !dec.More() {
			break
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) && !array {
				break
			}
			return nil, d.readError(err)
		}
		if len(d.out) == opts.MaxEvents {
			e := newIngestError(ErrTooLarge, fmt.Sprintf("more than %d events in one request", opts.MaxEvents))
			e.Expected = fmt.Sprintf("at most %d events per request", opts.MaxEvents)
			return nil, e
		}
		in, ierr := parseEvent(raw, len(d.out), opts)
		if ierr != nil {
			return nil, ierr
		}
		d.out = append(d.out, in)
		if !array && !ndjson {
			break
		}
	}
	if array {
		if _, err := dec.Token(); err != nil { // the closing ]
			return nil, d.readError(err)
		}
	}
	// Nothing but white space may follow.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, d.readError(err)
		}
		e := newIngestError(ErrInvalidEvent, "unexpected data after the events")
		e.Expected = "one JSON object, one JSON array of objects, or NDJSON with Content-Type " + MediaNDJSON
		return nil, e
	}
	if len(d.out) == 0 {
		e := newIngestError(ErrInvalidEvent, "the request holds no events")
		e.Expected = "at least one event"
		return nil, e
	}
	return d.out, nil
}

// decoding is the state of one DecodeEvents call.
type decoding struct {
	opts DecodeOptions
	dec  *json.Decoder
	out  []Incoming
}

// readError turns an error of reading or tokenizing the body into an
// *IngestError naming the event being read.
func (d *decoding) readError(err error) error {
	if errors.Is(err, errBodyTooLarge) {
		e := newIngestError(ErrTooLarge, fmt.Sprintf("request body larger than %d bytes", d.opts.MaxBytes))
		e.Expected = fmt.Sprintf("at most %d bytes per request", d.opts.MaxBytes)
		return e
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		msg := "malformed JSON"
		if se != nil {
			msg = "malformed JSON: " + strings.TrimPrefix(se.Error(), "json: ") + " at byte " + strconv.FormatInt(se.Offset, 10)
		} else if !errors.Is(err, io.EOF) || len(d.out) > 0 {
			msg = "malformed JSON: unexpected end of the body"
		} else {
			msg = "the request body is empty"
		}
		return eventError(len(d.out), "", msg, "a JSON object per event")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return eventError(len(d.out), "", "not a JSON object", "a JSON object per event")
	}
	// A failure of the connection: the client will not see the answer.
	e := newIngestError(ErrInvalidEvent, "the request body could not be read")
	e.err = fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	return e
}

// mediaType checks the Content-Type and reports whether it is NDJSON.
func mediaType(contentType string) (bool, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err == nil {
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			err = errors.New("charset")
		}
	}
	if err == nil {
		switch mt {
		case MediaJSON:
			return false, nil
		case MediaNDJSON, "application/ndjson":
			return true, nil
		}
	}
	e := newIngestError(ErrUnsupportedMediaType, "unsupported Content-Type")
	e.Expected = MediaJSON + " (one event or an array) or " + MediaNDJSON + ", UTF-8"
	return false, e
}

// firstByte returns the first byte of br that is not JSON white space,
// without consuming it.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, br.UnreadByte()
	}
}

// parseEvent validates one event's JSON text, which the decoder has
// already checked to be well-formed. Fields are checked in the order they
// are written, so the error names the first bad one.
func parseEvent(raw []byte, index int, opts DecodeOptions) (Incoming, *IngestError) {
	var in Incoming
	t := jsonText{b: raw}
	if t.peek() != '{' {
		return in, eventError(index, "", "an event must be a JSON object", "a JSON object per event")
	}
	t.i++
	var have [len(eventFields)]bool
	for {
		name, ok := t.member()
		if !ok {
			break
		}
		v := t.value()
		f := slices.Index(eventFields[:], name)
		if f < 0 {
			field := "(unknown field)"
			if validAttributeKey(name) {
				field = opts.redact(name)
			}
			return Incoming{}, eventError(index, field, "unknown field", expectFields)
		}
		if have[f] {
			return Incoming{}, eventError(index, name, "field given twice", "each field at most once")
		}
		have[f] = true
		var err *IngestError
		switch name {
		case "id":
			in.ClientID, err = tokenField(index, name, v, MaxIDLen)
		case "fingerprint":
			in.Fingerprint, err = tokenField(index, name, v, MaxFingerprintLen)
		case "time":
			in.Time, err = timeField(index, v, opts)
		case "source":
			in.Source, err = nameField(index, name, v)
		case "kind":
			in.Kind, err = nameField(index, name, v)
		case "severity":
			in.Severity, err = severityField(index, v)
		case "attributes":
			in.Attributes, err = attributesField(index, v, opts)
		}
		if err != nil {
			return Incoming{}, err
		}
	}
	for _, name := range []string{"time", "source", "kind"} {
		if !have[slices.Index(eventFields[:], name)] {
			exp := expectName
			if name == "time" {
				exp = expectTime
			}
			return Incoming{}, eventError(index, name, name+" is required", exp)
		}
	}
	if reservedSource(in.Source) {
		return Incoming{}, eventError(index, "source", "source "+strconv.Quote(in.Source)+" is reserved for secopsd's own events", "a source other than secopsd or secopsd.*")
	}
	if reservedKind(in.Kind) {
		return Incoming{}, eventError(index, "kind", "kind "+strconv.Quote(in.Kind)+" is reserved for events secopsd produces itself", "a kind not starting with "+strings.Join(reservedKindPrefixes[:], ", "))
	}
	return in, nil
}

// reservedKindPrefixes are the kinds only secopsd produces: its monitors'
// results, its correlator's derived events and its own records. A client
// claiming one could open incidents that look like secopsd's own findings.
var reservedKindPrefixes = [...]string{"monitor.", "correlation.", "secopsd."}

// reservedKind reports whether a pushed event's kind is one of secopsd's.
func reservedKind(kind string) bool {
	for _, p := range reservedKindPrefixes {
		if strings.HasPrefix(kind, p) {
			return true
		}
	}
	return false
}

// reservedSource reports whether a pushed event's source claims to be
// secopsd.
func reservedSource(source string) bool {
	return source == "secopsd" || strings.HasPrefix(source, "secopsd.") || strings.HasPrefix(source, "secopsd-") || strings.HasPrefix(source, "secopsd_")
}

// jsonText walks JSON text that encoding/json has already validated, so it
// need not check the syntax again; it only must not run past the end.
type jsonText struct {
	b []byte
	i int
}

// peek skips white space and returns the next byte, 0 at the end.
func (t *jsonText) peek() byte {
	for t.i < len(t.b) {
		switch c := t.b[t.i]; c {
		case ' ', '\t', '\r', '\n':
			t.i++
		default:
			return c
		}
	}
	return 0
}

// member reads the next `"name":` of an object whose opening brace (or
// previous member) has been read; ok is false at the closing brace.
func (t *jsonText) member() (name string, ok bool) {
	if t.peek() == ',' {
		t.i++
	}
	if t.peek() != '"' {
		t.i = min(t.i+1, len(t.b)) // the closing brace
		return "", false
	}
	name, _ = stringValue(t.value())
	if t.peek() == ':' {
		t.i++
	}
	return name, true
}

// value returns the JSON text of the value at the next byte and moves past
// it.
func (t *jsonText) value() []byte {
	t.peek()
	start, depth := t.i, 0
	for t.i < len(t.b) {
		c := t.b[t.i]
		switch {
		case c == '"':
			t.i++
			for t.i < len(t.b) && t.b[t.i] != '"' {
				if t.b[t.i] == '\\' {
					t.i++
				}
				t.i++
			}
			t.i = min(t.i+1, len(t.b))
		case c == '{' || c == '[':
			depth++
			t.i++
		case c == '}' || c == ']':
			if depth == 0 {
				return t.b[start:t.i]
			}
			depth--
			t.i++
		case depth == 0 && (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return t.b[start:t.i]
		default:
			t.i++
		}
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			return t.b[start:t.i]
		}
	}
	return t.b[start:t.i]
}

// stringValue decodes a JSON string; ok is false if v is not one.
func stringValue(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

func tokenField(index int, name string, v []byte, maxLen int) (string, *IngestError) {
	s, ok := stringValue(v)
	if !ok || s == "" || len(s) > maxLen || !printableToken(s) {
		return "", eventError(index, name, "invalid "+name, expectToken)
	}
	return s, nil
}

// printableToken reports whether s is printable ASCII without spaces.
func printableToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func nameField(index int, name string, v []byte) (string, *IngestError) {
	s, ok := stringValue(v)
	if !ok || !validName(s) {
		return "", eventError(index, name, "invalid "+name, expectName)
	}
	return s, nil
}

// validName reports whether s matches [a-z0-9][a-z0-9._-]{0,63}.
func validName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validAttributeKey reports whether s matches [a-zA-Z0-9_.-]{1,64}.
func validAttributeKey(s string) bool {
	if s == "" || len(s) > MaxAttributeKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func timeField(index int, v []byte, opts DecodeOptions) (time.Time, *IngestError) {
	s, ok := stringValue(v)
	if !ok {
		return time.Time{}, eventError(index, "time", "time must be a string", expectTime)
	}
	if len(s) > 64 {
		return time.Time{}, eventError(index, "time", "invalid time", expectTime)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, eventError(index, "time", "invalid time", expectTime)
	}
	if t.After(opts.Now.Add(MaxFutureSkew)) {
		return time.Time{}, eventError(index, "time", "time is in the future",
			"a time at most "+MaxFutureSkew.String()+" ahead of the server's clock")
	}
	if opts.MaxAge > 0 && t.Before(opts.Now.Add(-opts.MaxAge)) {
		return time.Time{}, eventError(index, "time", "time is older than the retention of raw events",
			"a time within the last "+opts.MaxAge.String())
	}
	return t.UTC(), nil
}

func severityField(index int, v []byte) (event.Severity, *IngestError) {
	s, ok := stringValue(v)
	if !ok {
		return 0, eventError(index, "severity", "invalid severity", expectSeverity)
	}
	sev, err := event.ParseSeverity(s)
	if err != nil || len(s) > 16 {
		return 0, eventError(index, "severity", "invalid severity", expectSeverity)
	}
	return sev, nil
}

func attributesField(index int, v []byte, opts DecodeOptions) (map[string]string, *IngestError) {
	t := jsonText{b: v}
	if t.peek() != '{' {
		return nil, eventError(index, "attributes", "attributes must be a JSON object", "an object of "+expectAttrValue)
	}
	t.i++
	out := make(map[string]string, 8)
	for {
		k, ok := t.member()
		if !ok {
			break
		}
		rv := t.value()
		if len(out) == MaxAttributes {
			return nil, eventError(index, "attributes", fmt.Sprintf("more than %d attributes", MaxAttributes),
				fmt.Sprintf("at most %d attributes", MaxAttributes))
		}
		if !validAttributeKey(k) {
			return nil, eventError(index, "attributes", "invalid attribute key", expectAttrKey)
		}
		if _, dup := out[k]; dup {
			return nil, eventError(index, "attributes."+opts.redact(k), "attribute given twice", "each attribute at most once")
		}
		val, ok := attributeValue(rv)
		if !ok {
			return nil, eventError(index, "attributes."+opts.redact(k), "invalid attribute value", expectAttrValue)
		}
		out[k] = val
	}
	return out, nil
}

// attributeValue decodes a string (at most MaxAttributeValueLen bytes of
// valid UTF-8), a number (its JSON text) or a boolean.
func attributeValue(v []byte) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		s, ok := stringValue(v)
		if !ok || len(s) > MaxAttributeValueLen || !utf8.ValidString(s) {
			return "", false
		}
		return s, true
	case c == 't' || c == 'f':
		return string(v), string(v) == "true" || string(v) == "false"
	case c == '-' || (c >= '0' && c <= '9'):
		if len(v) > 64 {
			return "", false
		}
		return string(v), true // json.Unmarshal checked the number's syntax
	}
	return "", false
}
