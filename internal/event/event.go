// Package event holds the small value types that flow through secopsd: events,
// monitor findings, severities and fingerprints. It imports only the standard
// library so that every other package may depend on it.
package event

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Severity ranks how bad an event is, from info (lowest) to critical.
type Severity int

// The severities, in increasing order. The zero value is SeverityUnknown so
// that an unclassified event is recognisable.
const (
	SeverityUnknown Severity = iota
	SeverityInfo
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "info", "low", "medium", "high", "critical"}

// String returns the lower-case name used in config, policies and the API.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity turns a name such as "high" back into a Severity.
func ParseSeverity(name string) (Severity, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for i, s := range severityNames {
		if i > 0 && s == n {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (want one of critical, high, medium, low, info)", name)
}

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	if len(b) == 0 || string(b) == "unknown" {
		*s = SeverityUnknown
		return nil
	}
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Outcome says whether a monitor check passed or failed. Events pushed by
// applications have no outcome.
type Outcome string

// The outcomes of a monitor check.
const (
	OutcomePass Outcome = "pass"
	OutcomeFail Outcome = "fail"
)

// Event is one observation: a monitor result or an application's security
// event. The classifier fills Severity, Category and OpenIncident.
type Event struct {
	ID            string            `json:"id"`
	Time          time.Time         `json:"time"`
	Source        string            `json:"source"`
	Monitor       string            `json:"monitor,omitempty"`
	Kind          string            `json:"kind"`
	Outcome       Outcome           `json:"outcome,omitempty"`
	Fingerprint   string            `json:"fingerprint"`
	Title         string            `json:"title,omitempty"`
	Severity      Severity          `json:"severity"`
	Category      string            `json:"category,omitempty"`
	OpenIncident  bool              `json:"open_incident"`
	Attributes    map[string]string `json:"attributes,omitempty"`
	CorrelationID string            `json:"correlation_id,omitempty"`
}

// Finding is one problem a monitor found on a target.
type Finding struct {
	ID          string   `json:"id"`
	Severity    Severity `json:"severity"`
	Title       string   `json:"title"`
	Evidence    string   `json:"evidence,omitempty"`
	Remediation string   `json:"remediation,omitempty"`
	// Target is what the finding is about (a URL, host:port, table…) when a
	// monitor checks several targets; empty means the monitor's target.
	Target      string `json:"target,omitempty"`
	Fingerprint string `json:"fingerprint"`
}

// Fingerprint derives a stable identifier from its parts: the same parts give
// the same fingerprint across runs and restarts, so repeated failures of the
// same check on the same target deduplicate into one incident.
func Fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefix each part so ("ab","c") and ("a","bc") differ.
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
