package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// Recorder stores security events raised by the API's own protection:
// rate-limit hits and failed authentications. The daemon implements it by
// classifying and storing the events like any other.
type Recorder interface {
	Record(ctx context.Context, evs ...event.Event) error
}

// Observer counts authentication outcomes, for metrics. Its methods must
// be safe for concurrent use and fast.
type Observer interface {
	// Authenticated counts a request let through with a key of role.
	Authenticated(role Role)
	// AuthFailed counts a refused authentication; reason is one of the
	// Reason constants.
	AuthFailed(reason string)
	// Forbidden counts a request whose key lacks the route's role.
	Forbidden(role Role)
	// RateLimited counts a request refused by the limit of class, applied
	// to a key or an address (scope "key" or "ip").
	RateLimited(class, scope string)
}

// Reasons of failed authentications, as counted and recorded. Clients are
// never told which one applied.
const (
	ReasonMissing        = "missing"
	ReasonMalformed      = "malformed"
	ReasonUnknownKey     = "unknown_key"
	ReasonBadSecret      = "bad_secret"
	ReasonExpired        = "expired"
	ReasonRevoked        = "revoked"
	ReasonSignatureMiss  = "signature_missing"
	ReasonBadSignature   = "bad_signature"
	ReasonStaleTimestamp = "stale_timestamp"
	ReasonReplayedNonce  = "replayed_nonce"
	ReasonKeyMismatch    = "key_mismatch"
)

// Kinds and source of the events the package records.
const (
	KindRateLimitHit = "ratelimit.hit"
	KindAuthFailure  = "auth.failure"
	EventSource      = "secopsd"
)

// maxPending bounds the distinct subjects aggregated between flushes; the
// rest are folded into one overflow entry per kind.
const maxPending = 10_000

// overflowSubject stands for the subjects beyond maxPending.
const overflowSubject = "*"

// hit is one rate-limit hit or authentication failure to aggregate.
type hit struct {
	kind  string
	route string
	// attrs identify the subject (ip, key_id, class, limit, reason);
	// they are part of the aggregation key.
	attrs map[string]string
}

// pendingHit aggregates the hits of one subject since the last flush.
type pendingHit struct {
	hit
	first time.Time
	count int
}

// hitLog aggregates hits so that a flood makes at most one event per
// subject and flush interval, with the number of hits in a count
// attribute, and collects last-use times of keys.
type hitLog struct {
	mu      sync.Mutex
	pending map[string]*pendingHit
	// touches holds each key's latest use not yet written; written holds
	// when each key's last use was last written, so that it is written at
	// most every lastUsedEvery.
	touches map[string]time.Time
	written map[string]time.Time
}

func newHitLog() *hitLog {
	return &hitLog{pending: map[string]*pendingHit{}, touches: map[string]time.Time{}, written: map[string]time.Time{}}
}

// add aggregates one hit at now.
func (l *hitLog) add(h hit, now time.Time) {
	k := aggregationKey(h)
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.pending[k]; ok {
		p.count++
		return
	}
	if len(l.pending) >= maxPending {
		h = hit{kind: h.kind, route: overflowSubject, attrs: map[string]string{"subject": overflowSubject}}
		k = aggregationKey(h)
		if p, ok := l.pending[k]; ok {
			p.count++
			return
		}
	}
	l.pending[k] = &pendingHit{hit: h, first: now, count: 1}
}

// touch notes that key id was used at now.
func (l *hitLog) touch(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.touches[id]; !ok || now.After(prev) {
		l.touches[id] = now
	}
}

// take empties the log of its events and returns them with the key uses
// due to be written at now: those whose last write is lastUsedEvery old,
// or all of them.
func (l *hitLog) take(now time.Time, all bool) ([]event.Event, map[string]time.Time) {
	l.mu.Lock()
	pending := l.pending
	l.pending = map[string]*pendingHit{}
	touches := map[string]time.Time{}
	for id, at := range l.touches {
		if all || now.Sub(l.written[id]) >= lastUsedEvery {
			touches[id] = at
			l.written[id] = now
			delete(l.touches, id)
		}
	}
	l.mu.Unlock()
	evs := make([]event.Event, 0, len(pending))
	for _, p := range pending {
		evs = append(evs, p.event())
	}
	return evs, touches
}

// aggregationKey identifies a hit's subject.
func aggregationKey(h hit) string {
	k := h.kind + "\x00" + h.route
	for _, a := range []string{"class", "scope", "key_id", "ip", "reason", "subject"} {
		k += "\x00" + h.attrs[a]
	}
	return k
}

// event turns aggregated hits into one event.
func (p *pendingHit) event() event.Event {
	attrs := make(map[string]string, len(p.attrs)+2)
	for k, v := range p.attrs {
		attrs[k] = v
	}
	attrs["route"] = p.route
	attrs["count"] = strconv.Itoa(p.count)
	var title string
	switch p.kind {
	case KindRateLimitHit:
		who := "ip " + attrs["ip"]
		if id := attrs["key_id"]; id != "" && attrs["scope"] == "key" {
			who = "key " + id
		}
		title = "rate limit " + attrs["class"] + " (" + attrs["limit"] + ") hit by " + who
	default:
		title = "API authentication failed (" + attrs["reason"] + ") from ip " + attrs["ip"]
	}
	parts := []string{p.kind, p.route}
	for _, a := range []string{"class", "scope", "key_id", "ip", "reason"} {
		parts = append(parts, attrs[a])
	}
	return event.Event{
		ID:          newEventID(),
		Time:        p.first,
		Source:      EventSource,
		Kind:        p.kind,
		Fingerprint: event.Fingerprint(parts...),
		Title:       title,
		Attributes:  attrs,
	}
}

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	return hex.EncodeToString(b[:])
}

// nopObserver is the Observer used when none is given.
type nopObserver struct{}

func (nopObserver) Authenticated(Role)         {}
func (nopObserver) AuthFailed(string)          {}
func (nopObserver) Forbidden(Role)             {}
func (nopObserver) RateLimited(string, string) {}
