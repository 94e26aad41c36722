package incident

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// Status is where an incident is in its life cycle.
type Status string

// The incident statuses.
const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	return s == StatusOpen || s == StatusAcknowledged || s == StatusResolved
}

// Tier is how much human involvement an incident's remediation needs.
type Tier string

// The tiers, in increasing order of gravity.
const (
	TierMinor    Tier = "MINOR"
	TierMajor    Tier = "MAJOR"
	TierCritical Tier = "CRITICAL"
)

// Valid reports whether t is one of the known tiers.
func (t Tier) Valid() bool { return t == TierMinor || t == TierMajor || t == TierCritical }

// Incident is one ongoing or past problem, deduplicated by fingerprint: at most
// one unresolved incident exists per fingerprint at any time.
type Incident struct {
	ID             int64          `json:"id"`
	Fingerprint    string         `json:"fingerprint"`
	Title          string         `json:"title"`
	Monitor        string         `json:"monitor,omitempty"`
	Category       string         `json:"category,omitempty"`
	Severity       event.Severity `json:"severity"`
	Tier           Tier           `json:"tier"`
	Status         Status         `json:"status"`
	OpenedAt       time.Time      `json:"opened_at"`
	AcknowledgedAt *time.Time     `json:"acknowledged_at"`
	ResolvedAt     *time.Time     `json:"resolved_at"`
	// Failures counts the failing observations attached to this incident.
	Failures int `json:"failures"`
	// RecoveryPasses counts consecutive passing checks since the last failure.
	RecoveryPasses int `json:"recovery_passes"`
	// LastSeq and HeadHash describe the newest timeline entry, so that a
	// truncated timeline is detected too.
	LastSeq  int64  `json:"last_seq"`
	HeadHash string `json:"head_hash"`
}

// Entry is a timeline entry to append: the store assigns its sequence number
// and hashes.
type Entry struct {
	Time    time.Time
	Actor   string
	Kind    string
	Payload any
}

// TimelineEntry is one stored, hash-chained record of what happened to an
// incident. Entries are only ever appended.
type TimelineEntry struct {
	IncidentID int64           `json:"incident_id"`
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Kind       string          `json:"kind"`
	Payload    json.RawMessage `json:"payload"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// Timeline entry kinds written by the engine.
const (
	KindOpened       = "incident.opened"
	KindFailure      = "check.failed"
	KindPass         = "check.passed"
	KindResolved     = "incident.resolved"
	KindAcknowledged = "incident.acknowledged"
	KindNotifyFailed = "notify.failed"
)

// Actors that write timeline entries.
const (
	ActorEngine = "secopsd/engine"
)

// TimePrecision is the resolution at which timeline times are stored and
// hashed; PostgreSQL keeps microseconds.
const TimePrecision = time.Microsecond

// NormalizeTime returns t in UTC at the stored precision.
func NormalizeTime(t time.Time) time.Time { return t.UTC().Truncate(TimePrecision) }

// CanonicalPayload encodes a payload as canonical JSON (object keys sorted, no
// insignificant white space, numbers kept verbatim) so that its hash is stable
// across stores and re-encodings.
func CanonicalPayload(v any) (json.RawMessage, error) {
	var raw []byte
	switch p := v.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode timeline payload: %w", err)
		}
		raw = b
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("decode timeline payload: %w", err)
	}
	out, err := json.Marshal(generic)
	if err != nil {
		return nil, fmt.Errorf("encode timeline payload: %w", err)
	}
	return out, nil
}

// hashInput is the canonical form of an entry that is hashed. Field order is
// fixed by the struct; V versions the format.
type hashInput struct {
	V          int             `json:"v"`
	IncidentID int64           `json:"incident_id"`
	Seq        int64           `json:"seq"`
	Time       string          `json:"time"`
	Actor      string          `json:"actor"`
	Kind       string          `json:"kind"`
	Payload    json.RawMessage `json:"payload"`
	PrevHash   string          `json:"prev_hash"`
}

// ComputeHash returns the SHA-256 (hex) of the entry's canonical form
// including PrevHash; the Hash field itself is ignored.
func ComputeHash(e TimelineEntry) string {
	payload := e.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	b, err := json.Marshal(hashInput{
		V:          1,
		IncidentID: e.IncidentID,
		Seq:        e.Seq,
		Time:       NormalizeTime(e.Time).Format(time.RFC3339Nano),
		Actor:      e.Actor,
		Kind:       e.Kind,
		Payload:    payload,
		PrevHash:   e.PrevHash,
	})
	if err != nil {
		// Only an invalid RawMessage can fail; hash its bytes verbatim so the
		// mismatch is still detected rather than panicking.
		b = append([]byte(fmt.Sprintf("invalid:%d:%d:", e.IncidentID, e.Seq)), payload...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal fills Seq, PrevHash and Hash of next so that it follows prev (nil for
// the first entry of a timeline). Stores call it inside their transaction.
func Seal(prev *TimelineEntry, next *TimelineEntry) {
	next.Time = NormalizeTime(next.Time)
	if prev == nil {
		next.Seq = 1
		next.PrevHash = ""
	} else {
		next.Seq = prev.Seq + 1
		next.PrevHash = prev.Hash
	}
	next.Hash = ComputeHash(*next)
}

// ErrChainBroken is wrapped by every ChainError.
var ErrChainBroken = errors.New("timeline hash chain broken")

// ChainError names the first entry of an incident's timeline that does not
// verify.
type ChainError struct {
	IncidentID int64
	Seq        int64
	Reason     string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("incident %d: timeline entry %d: %s", e.IncidentID, e.Seq, e.Reason)
}

// Unwrap lets errors.Is match ErrChainBroken.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// VerifyChain checks one incident's timeline: sequence numbers run 1..n with
// no gap, each entry's hash matches its content and links to its predecessor,
// and the incident's recorded head (LastSeq, HeadHash) is the last entry, so
// neither an edit, an insertion nor a truncation goes unnoticed.
func VerifyChain(inc Incident, entries []TimelineEntry) error {
	var prev *TimelineEntry
	for i := range entries {
		e := entries[i]
		if e.IncidentID != inc.ID {
			return &ChainError{inc.ID, e.Seq, fmt.Sprintf("belongs to incident %d", e.IncidentID)}
		}
		want := int64(i + 1)
		if e.Seq != want {
			return &ChainError{inc.ID, e.Seq, fmt.Sprintf("sequence %d where %d was expected (entry missing or inserted)", e.Seq, want)}
		}
		wantPrev := ""
		if prev != nil {
			wantPrev = prev.Hash
		}
		if e.PrevHash != wantPrev {
			return &ChainError{inc.ID, e.Seq, "prev_hash does not match the hash of the previous entry"}
		}
		if got := ComputeHash(e); got != e.Hash {
			return &ChainError{inc.ID, e.Seq, "content does not match its hash (entry was modified)"}
		}
		prev = &entries[i]
	}
	var lastSeq int64
	lastHash := ""
	if prev != nil {
		lastSeq, lastHash = prev.Seq, prev.Hash
	}
	if lastSeq != inc.LastSeq || lastHash != inc.HeadHash {
		return &ChainError{inc.ID, inc.LastSeq, fmt.Sprintf("incident records head %d but the timeline ends at %d (entries removed or head modified)", inc.LastSeq, lastSeq)}
	}
	return nil
}
