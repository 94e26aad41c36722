package siem

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

var decodeNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func decodeOpts() DecodeOptions {
	return DecodeOptions{MaxEvents: 5, MaxBytes: 4096, MaxAge: 7 * 24 * time.Hour, Now: decodeNow}
}

const okEvent = `{"time": "2025-03-01T11:59:00Z", "source": "billing-api", "kind": "auth.failure"}`

func TestDecodeForms(t *testing.T) {
	full := `{"id": "req-1/a", "time": "2025-03-01T12:59:00.123+01:00", "source": "billing-api", "kind": "auth.failure",
		"fingerprint": "user-42", "severity": "High", "attributes": {"user": "u-42", "attempts": 3, "mfa": false, "ratio": -1.5e3}}`
	want := Incoming{
		ClientID: "req-1/a", Time: time.Date(2025, 3, 1, 11, 59, 0, 123000000, time.UTC),
		Source: "billing-api", Kind: "auth.failure", Fingerprint: "user-42", Severity: event.SeverityHigh,
		Attributes: map[string]string{"user": "u-42", "attempts": "3", "mfa": "false", "ratio": "-1.5e3"},
	}
	for _, tc := range []struct {
		name, ctype, body string
		n                 int
	}{
		{"object", "application/json", full, 1},
		{"object with charset", "application/json; charset=utf-8", "\n  " + full + "\n", 1},
		{"array", "application/json", "[" + full + ", " + okEvent + "," + okEvent + "]", 3},
		{"ndjson", "application/x-ndjson", full + "\n" + okEvent + "\n\n" + okEvent + "\n", 3},
		{"ndjson without final newline", "application/x-ndjson", full + "\n" + okEvent, 2},
		{"ndjson alias", "application/ndjson", full, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEvents(strings.NewReader(tc.body), tc.ctype, decodeOpts())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n {
				t.Fatalf("decoded %d events, want %d", len(got), tc.n)
			}
			if g := got[0]; fmt.Sprint(g) != fmt.Sprint(want) || !g.Time.Equal(want.Time) {
				t.Errorf("event 0 = %+v\nwant %+v", g, want)
			}
		})
	}
}

func TestDecodeValidationErrors(t *testing.T) {
	ev := func(fields string) string {
		return `{"time": "2025-03-01T11:59:00Z", "source": "billing-api", "kind": "auth.failure"` + fields + `}`
	}
	without := func(drop string) string {
		parts := map[string]string{"time": `"time": "2025-03-01T11:59:00Z"`, "source": `"source": "a"`, "kind": `"kind": "k"`}
		delete(parts, drop)
		var kept []string
		for _, k := range []string{"time", "source", "kind"} {
			if p, ok := parts[k]; ok {
				kept = append(kept, p)
			}
		}
		return "{" + strings.Join(kept, ", ") + "}"
	}
	long := strings.Repeat("a", 129)
	tests := []struct {
		name, body string
		index      int
		field      string
	}{
		{"not an object", `"auth.failure"`, 0, ""},
		{"array of numbers", `[1]`, 0, ""},
		{"second event bad", `[` + okEvent + `, {"time": "yesterday", "source": "a", "kind": "k"}]`, 1, "time"},
		{"unknown field", ev(`, "message": "hi"`), 0, "message"},
		{"unknown field with odd name", ev(`, "a b": 1`), 0, "(unknown field)"},
		{"missing time", without("time"), 0, "time"},
		{"missing source", without("source"), 0, "source"},
		{"missing kind", without("kind"), 0, "kind"},
		{"time not a string", `{"time": 1700000000, "source": "a", "kind": "k"}`, 0, "time"},
		{"time without zone", `{"time": "2025-03-01T11:59:00", "source": "a", "kind": "k"}`, 0, "time"},
		{"time in the future", `{"time": "2025-03-01T12:06:00Z", "source": "a", "kind": "k"}`, 0, "time"},
		{"time too old", `{"time": "2025-02-21T11:59:00Z", "source": "a", "kind": "k"}`, 0, "time"},
		{"source upper case", `{"time": "2025-03-01T11:59:00Z", "source": "Billing", "kind": "k"}`, 0, "source"},
		{"source leading dot", `{"time": "2025-03-01T11:59:00Z", "source": ".a", "kind": "k"}`, 0, "source"},
		{"source too long", `{"time": "2025-03-01T11:59:00Z", "source": "` + strings.Repeat("a", 65) + `", "kind": "k"}`, 0, "source"},
		{"source empty", `{"time": "2025-03-01T11:59:00Z", "source": "", "kind": "k"}`, 0, "source"},
		{"kind with space", `{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "auth failure"}`, 0, "kind"},
		{"kind null", `{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": null}`, 0, "kind"},
		{"kind reserved: correlation", `{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "correlation.credential_stuffing"}`, 0, "kind"},
		{"kind reserved: monitor", `{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "monitor.check"}`, 0, "kind"},
		{"kind reserved: secopsd", `{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "secopsd.retention.purge"}`, 0, "kind"},
		{"source reserved", `{"time": "2025-03-01T11:59:00Z", "source": "secopsd", "kind": "auth.failure"}`, 0, "source"},
		{"source reserved prefix", `{"time": "2025-03-01T11:59:00Z", "source": "secopsd.api", "kind": "auth.failure"}`, 0, "source"},
		{"id too long", ev(`, "id": "` + long + `"`), 0, "id"},
		{"id empty", ev(`, "id": ""`), 0, "id"},
		{"id with space", ev(`, "id": "a b"`), 0, "id"},
		{"id a number", ev(`, "id": 7`), 0, "id"},
		{"fingerprint too long", ev(`, "fingerprint": "` + long + `"`), 0, "fingerprint"},
		{"severity unknown", ev(`, "severity": "urgent"`), 0, "severity"},
		{"severity unknown name", ev(`, "severity": "unknown"`), 0, "severity"},
		{"attributes not an object", ev(`, "attributes": ["a"]`), 0, "attributes"},
		{"attribute key invalid", ev(`, "attributes": {"a b": "x"}`), 0, "attributes"},
		{"attribute key too long", ev(`, "attributes": {"` + strings.Repeat("k", 65) + `": "x"}`), 0, "attributes"},
		{"attribute value object", ev(`, "attributes": {"user": {"id": 1}}`), 0, "attributes.user"},
		{"attribute value array", ev(`, "attributes": {"roles": ["a"]}`), 0, "attributes.roles"},
		{"attribute value null", ev(`, "attributes": {"user": null}`), 0, "attributes.user"},
		{"attribute value too long", ev(`, "attributes": {"user": "` + strings.Repeat("x", 1025) + `"}`), 0, "attributes.user"},
		{"too many attributes", ev(`, "attributes": {` + manyAttrs(65) + `}`), 0, "attributes"},
		{"duplicate field", ev(`, "kind": "again"`), 0, "kind"},
		{"duplicate attribute", ev(`, "attributes": {"a": 1, "a": 2}`), 0, "attributes.a"},
		{"field name with different case", ev(`, "Kind": "x"`), 0, "Kind"},
		{"attribute value with escapes too long", ev(`, "attributes": {"a": "` + strings.Repeat(`\u0041`, 1025) + `"}`), 0, "attributes.a"},
		{"attribute value invalid utf-8", ev(`, "attributes": {"a": "` + "\xff" + `"}`), 0, "attributes.a"},
		{"malformed json", `{"time": `, 0, ""},
		{"malformed second ndjson line", okEvent + "\n{nope}\n", 1, ""},
		{"trailing garbage", okEvent + ` x`, 1, ""},
		{"empty body", ``, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctype := "application/json"
			if strings.Contains(tc.name, "ndjson") {
				ctype = "application/x-ndjson"
			}
			opts := decodeOpts()
			opts.MaxBytes = 1 << 20
			_, err := DecodeEvents(strings.NewReader(tc.body), ctype, opts)
			var ie *IngestError
			if !errors.As(err, &ie) {
				t.Fatalf("error = %v, want an *IngestError", err)
			}
			if !errors.Is(err, ErrInvalidEvent) || ie.HTTPStatus() != http.StatusBadRequest {
				t.Errorf("error %v: status %d, want 400 and ErrInvalidEvent", err, ie.HTTPStatus())
			}
			if tc.name == "trailing garbage" || tc.name == "empty body" {
				if ie.Expected == "" {
					t.Errorf("%v: no expected form", err)
				}
				return
			}
			if ie.Index == nil || *ie.Index != tc.index || ie.Field != tc.field {
				idx := -1
				if ie.Index != nil {
					idx = *ie.Index
				}
				t.Errorf("error %q names index %d field %q, want index %d field %q", err, idx, ie.Field, tc.index, tc.field)
			}
			if ie.Expected == "" || ie.Message == "" {
				t.Errorf("error %q has no message or expected form", err)
			}
		})
	}
}

func manyAttrs(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"k%d": %d`, i, i))
	}
	return strings.Join(parts, ",")
}

func TestDecodeTrickyJSON(t *testing.T) {
	body := "{ \"attributes\" : { \"q\" : \"a \\\" } , { [ b\" , \"e\":\"\\u00e9\\n\", \"n\":-0.5E+3,\"t\":true } ,\r\n" +
		"\"so\\u0075rce\": \"app\", \"kind\":\"k\",\t\"time\":\"2025-03-01T11:59:00Z\" }"
	got, err := DecodeEvents(strings.NewReader(body), "application/json", decodeOpts())
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := map[string]string{"q": `a " } , { [ b`, "e": "é\n", "n": "-0.5E+3", "t": "true"}
	if g := got[0]; g.Source != "app" || g.Kind != "k" || fmt.Sprint(g.Attributes) != fmt.Sprint(want) {
		t.Errorf("decoded %+v, want attributes %v", g, want)
	}
}

func TestDecodeLimits(t *testing.T) {
	opts := decodeOpts() // 5 events, 4096 bytes
	var six []string
	for range 6 {
		six = append(six, okEvent)
	}
	for _, tc := range []struct {
		name, ctype, body string
	}{
		{"too many in an array", "application/json", "[" + strings.Join(six, ",") + "]"},
		{"too many ndjson lines", "application/x-ndjson", strings.Join(six, "\n")},
		{"too many bytes", "application/json", `{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "k", "attributes": {"x": "` + strings.Repeat("y", 5000) + `"}}`},
		{"too many bytes of white space", "application/json", okEvent + strings.Repeat(" ", 5000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvents(strings.NewReader(tc.body), tc.ctype, opts)
			var ie *IngestError
			if !errors.As(err, &ie) || !errors.Is(err, ErrTooLarge) || ie.HTTPStatus() != http.StatusRequestEntityTooLarge {
				t.Fatalf("error = %v, want 413 ErrTooLarge", err)
			}
			if ie.Expected == "" {
				t.Errorf("no expected limit in %v", err)
			}
		})
	}
	// Exactly at the limits is fine.
	five := "[" + strings.Join(six[:5], ",") + "]"
	opts.MaxBytes = int64(len(five))
	if got, err := DecodeEvents(strings.NewReader(five), "application/json", opts); err != nil || len(got) != 5 {
		t.Errorf("5 events in exactly MaxBytes: %d, %v", len(got), err)
	}
}

func TestDecodeMediaTypes(t *testing.T) {
	for _, ct := range []string{"", "text/plain", "application/xml", "application/json; charset=latin1", "multipart/form-data; boundary=x", "application/json;;"} {
		_, err := DecodeEvents(strings.NewReader(okEvent), ct, decodeOpts())
		var ie *IngestError
		if !errors.As(err, &ie) || !errors.Is(err, ErrUnsupportedMediaType) || ie.HTTPStatus() != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: error = %v, want 415", ct, err)
		}
	}
}

func TestDecodeErrorIsDeterministic(t *testing.T) {
	body := `{"time": "x", "source": "B", "kind": "K", "id": "", "attributes": {"b": [], "a": {}}}`
	first := ""
	for i := range 20 {
		_, err := DecodeEvents(strings.NewReader(body), "application/json", decodeOpts())
		if i == 0 {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("error changed between runs: %q then %q", first, err.Error())
		}
	}
	if !strings.HasPrefix(first, "event 0: time: ") {
		t.Errorf("error %q, want the time (first bad field written) named", first)
	}
}

func TestDecodeErrorsRedactEchoedNames(t *testing.T) {
	m, err := NewMinimizer(MinimizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret := "ghp_" + strings.Repeat("a1B2c3D4e5", 4)[:36]
	opts := decodeOpts()
	opts.Redact = m.RedactString
	for _, body := range []string{
		`{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "k", "` + secret + `": 1}`,
		`{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "k", "attributes": {"` + secret + `": []}}`,
		`{"time": "` + secret + `", "source": "a", "kind": "k"}`,
		`{"time": "2025-03-01T11:59:00Z", "source": "` + secret + `x", "kind": "k"}`,
	} {
		_, err := DecodeEvents(strings.NewReader(body), "application/json", opts)
		if err == nil {
			t.Fatalf("accepted %s", body)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}
