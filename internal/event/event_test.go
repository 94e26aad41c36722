package event

import (
	"encoding/json"
	"testing"
)

func TestSeverityRoundTrip(t *testing.T) {
	for s := SeverityInfo; s <= SeverityCritical; s++ {
		got, err := ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s.String(), got, err)
		}
		b, _ := json.Marshal(s)
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("JSON round trip of %v: %s -> %v, %v", s, b, back, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("unknown severity accepted")
	}
	if !(SeverityCritical > SeverityHigh && SeverityHigh > SeverityMedium && SeverityLow > SeverityInfo) {
		t.Error("severities are not ordered")
	}
}

func TestFingerprint(t *testing.T) {
	first, second := Fingerprint("a", "b"), Fingerprint("a", "b")
	if first != second {
		t.Error("fingerprint is not stable")
	}
	if Fingerprint("ab", "c") == Fingerprint("a", "bc") {
		t.Error("part boundaries are ambiguous")
	}
	if len(Fingerprint("x")) != 32 {
		t.Errorf("fingerprint length %d", len(Fingerprint("x")))
	}
}
