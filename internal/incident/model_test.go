package incident

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func chain(t *testing.T, n int) (Incident, []TimelineEntry) {
	t.Helper()
	inc := Incident{ID: 7}
	var out []TimelineEntry
	var prev *TimelineEntry
	for i := range n {
		p, err := CanonicalPayload(map[string]any{"i": i, "b": "x", "a": []int{1, 2}})
		if err != nil {
			t.Fatal(err)
		}
		e := TimelineEntry{IncidentID: 7, Time: time.Date(2026, 1, 1, 0, 0, i, 123456789, time.FixedZone("x", 3600)), Actor: "a", Kind: "k", Payload: p}
		Seal(prev, &e)
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	inc.LastSeq, inc.HeadHash = prev.Seq, prev.Hash
	return inc, out
}

func TestCanonicalPayloadIsStable(t *testing.T) {
	a, err := CanonicalPayload(json.RawMessage(`{ "b": 1.50, "a": {"z": true, "y": null} }`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := CanonicalPayload(map[string]any{"a": map[string]any{"y": nil, "z": true}, "b": json.Number("1.50")})
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != `{"a":{"y":null,"z":true},"b":1.50}` || string(a) != string(b) {
		t.Errorf("canonical forms differ: %s vs %s", a, b)
	}
	if _, err := CanonicalPayload(json.RawMessage(`{bad`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestVerifyChain(t *testing.T) {
	inc, good := chain(t, 4)
	if err := VerifyChain(inc, good); err != nil {
		t.Fatalf("intact chain: %v", err)
	}
	if good[0].Time.Location() != time.UTC || good[0].Time.Nanosecond()%1000 != 0 {
		t.Errorf("Seal did not normalise time: %v", good[0].Time)
	}
	cases := map[string]struct {
		mutate  func(inc *Incident, es []TimelineEntry) []TimelineEntry
		wantSeq int64
	}{
		"payload edited": {func(_ *Incident, es []TimelineEntry) []TimelineEntry {
			es[1].Payload = json.RawMessage(`{"i":99}`)
			return es
		}, 2},
		"actor edited": {func(_ *Incident, es []TimelineEntry) []TimelineEntry { es[2].Actor = "mallory"; return es }, 3},
		"time edited": {func(_ *Incident, es []TimelineEntry) []TimelineEntry {
			es[0].Time = es[0].Time.Add(time.Second)
			return es
		}, 1},
		"hash recomputed after edit": {func(_ *Incident, es []TimelineEntry) []TimelineEntry {
			es[1].Kind = "other"
			es[1].Hash = ComputeHash(es[1])
			return es
		}, 3},
		"entry deleted":      {func(_ *Incident, es []TimelineEntry) []TimelineEntry { return append(es[:1], es[2:]...) }, 3},
		"last entry deleted": {func(_ *Incident, es []TimelineEntry) []TimelineEntry { return es[:3] }, 4},
		"entry of another incident": {func(_ *Incident, es []TimelineEntry) []TimelineEntry {
			es[3].IncidentID = 8
			return es
		}, 4},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			inc, es := chain(t, 4)
			es = c.mutate(&inc, es)
			err := VerifyChain(inc, es)
			var ce *ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ErrChainBroken) {
				t.Fatalf("VerifyChain = %v, want a ChainError", err)
			}
			if ce.IncidentID != 7 || ce.Seq != c.wantSeq {
				t.Errorf("error names incident %d entry %d, want 7/%d (%v)", ce.IncidentID, ce.Seq, c.wantSeq, err)
			}
		})
	}
}
