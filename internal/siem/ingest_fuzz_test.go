package siem

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeEvents checks that the decoder never panics, that every event
// it accepts satisfies the validation rules, and that every rejection is an
// *IngestError that says what was expected (naming the event and field
// when one event is at fault).
func FuzzDecodeEvents(f *testing.F) {
	for _, seed := range []string{
		okEvent,
		"[" + okEvent + "," + okEvent + "]",
		okEvent + "\n" + okEvent,
		`{"id": "a", "time": "2025-03-01T11:59:00.5+01:00", "source": "a.b-c_d", "kind": "k", "fingerprint": "f", "severity": "low", "attributes": {"a": 1, "b": true, "c": "x", "d": -0.5e-3}}`,
		`{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "k", "attributes": {"a": [1]}}`,
		`[{}]`, `[]`, `{`, `[1,`, `"x"`, `null`, ``, ` `, `{"time": "\u0000"}`,
		`{"time": "2025-03-01T11:59:00Z", "source": "a", "kind": "k", "attributes": {"k": "\ud800"}}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		ctype := MediaJSON
		if ndjson {
			ctype = MediaNDJSON
		}
		opts := decodeOpts()
		evs, err := DecodeEvents(bytes.NewReader(body), ctype, opts)
		if err != nil {
			var ie *IngestError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *IngestError", err)
			}
			switch ie.HTTPStatus() {
			case http.StatusBadRequest:
				if ie.Expected == "" || ie.Message == "" {
					t.Fatalf("400 without message or expected form: %+v", ie)
				}
				if ie.Field != "" && ie.Index == nil {
					t.Fatalf("field %q without an event index", ie.Field)
				}
				if ie.Index != nil && (*ie.Index < 0 || *ie.Index > opts.MaxEvents) {
					t.Fatalf("index %d out of range", *ie.Index)
				}
			case http.StatusRequestEntityTooLarge:
				if int64(len(body)) <= opts.MaxBytes && bytes.Count(body, []byte("{")) <= opts.MaxEvents {
					t.Fatalf("413 for %d bytes and at most %d objects", len(body), bytes.Count(body, []byte("{")))
				}
			default:
				t.Fatalf("unexpected status %d: %v", ie.HTTPStatus(), err)
			}
			if len(evs) != 0 {
				t.Fatal("events returned with an error")
			}
			return
		}
		if len(evs) == 0 || len(evs) > opts.MaxEvents {
			t.Fatalf("accepted %d events", len(evs))
		}
		refs := referenceDecode(t, body, ndjson)
		if len(refs) != len(evs) {
			t.Fatalf("accepted %d events; encoding/json sees %d", len(evs), len(refs))
		}
		for i, ev := range evs {
			ref := refs[i]
			if ref["source"] != ev.Source || ref["kind"] != ev.Kind || ref["id"] != ev.ClientID || ref["fingerprint"] != ev.Fingerprint {
				t.Fatalf("event %d decoded as %+v; encoding/json reads %v", i, ev, ref)
			}
			for k, v := range ev.Attributes {
				if ref["attributes."+k] != v {
					t.Fatalf("event %d attribute %q = %q; encoding/json reads %q", i, k, v, ref["attributes."+k])
				}
			}
			switch {
			case !validName(ev.Source), !validName(ev.Kind):
				t.Fatalf("event %d: invalid source %q or kind %q accepted", i, ev.Source, ev.Kind)
			case ev.Time.IsZero(), ev.Time.After(opts.Now.Add(MaxFutureSkew)), ev.Time.Before(opts.Now.Add(-opts.MaxAge)):
				t.Fatalf("event %d: time %v out of bounds accepted", i, ev.Time)
			case ev.ClientID != "" && (len(ev.ClientID) > MaxIDLen || !printableToken(ev.ClientID)):
				t.Fatalf("event %d: invalid id %q accepted", i, ev.ClientID)
			case ev.Fingerprint != "" && (len(ev.Fingerprint) > MaxFingerprintLen || !printableToken(ev.Fingerprint)):
				t.Fatalf("event %d: invalid fingerprint %q accepted", i, ev.Fingerprint)
			case len(ev.Attributes) > MaxAttributes:
				t.Fatalf("event %d: %d attributes accepted", i, len(ev.Attributes))
			}
			for k, v := range ev.Attributes {
				if !validAttributeKey(k) || len(v) > MaxAttributeValueLen || !utf8.ValidString(v) {
					t.Fatalf("event %d: invalid attribute %q=%q accepted", i, k, v)
				}
			}
		}
	})
}

// referenceDecode decodes the events of an accepted body with encoding/json
// alone, flattening each into field -> text (attributes as
// "attributes.KEY"), to check the decoder's own JSON walking.
func referenceDecode(t *testing.T, body []byte, ndjson bool) []map[string]string {
	var objs []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if !ndjson && bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")) {
		if err := dec.Decode(&objs); err != nil {
			t.Fatalf("encoding/json rejects an accepted body: %v", err)
		}
	} else {
		for {
			var o map[string]json.RawMessage
			if err := dec.Decode(&o); err != nil {
				break
			}
			objs = append(objs, o)
		}
	}
	out := make([]map[string]string, len(objs))
	for i, o := range objs {
		m := map[string]string{}
		for k, v := range o {
			if k == "attributes" {
				var attrs map[string]json.RawMessage
				_ = json.Unmarshal(v, &attrs)
				for ak, av := range attrs {
					var s string
					if json.Unmarshal(av, &s) == nil {
						m["attributes."+ak] = s
					} else {
						m["attributes."+ak] = string(av)
					}
				}
				continue
			}
			var s string
			_ = json.Unmarshal(v, &s)
			m[k] = s
		}
		out[i] = m
	}
	return out
}
