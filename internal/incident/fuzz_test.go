package incident

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzCanonicalPayload checks that canonicalisation is idempotent and keeps
// the JSON value, so a stored payload re-hashes to the same value.
func FuzzCanonicalPayload(f *testing.F) {
	for _, s := range []string{`{}`, `{"b":1,"a":[1,2,{"z":null}]}`, `{"n":1e400}`, `"x"`, `[1.50, -0, 1E3]`, `{"\u00e9":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c1, err := CanonicalPayload(json.RawMessage(raw))
		if err != nil {
			return
		}
		c2, err := CanonicalPayload(c1)
		if err != nil {
			t.Fatalf("canonical form %s does not re-parse: %v", c1, err)
		}
		if !bytes.Equal(c1, c2) {
			t.Fatalf("not idempotent: %s then %s", c1, c2)
		}
		e := TimelineEntry{IncidentID: 1, Time: time.Unix(0, 0), Kind: "k", Payload: c1}
		Seal(nil, &e)
		if err := VerifyChain(Incident{ID: 1, LastSeq: 1, HeadHash: e.Hash}, []TimelineEntry{e}); err != nil {
			t.Fatalf("fresh entry does not verify: %v", err)
		}
	})
}
