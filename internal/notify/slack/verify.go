package slack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Slack request signing (https://api.slack.com/authentication/verifying-requests-from-slack):
// every request Slack sends to the interactions and slash-command URLs
// carries
//
//	X-Slack-Request-Timestamp: <unix seconds>
//	X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + raw body)>
//
// RequestVerifier accepts a request only when the signature matches
// (compared in constant time), the timestamp is within MaxTimestampSkew of
// the injected clock in either direction, and the signature was not seen
// before: each accepted signature is claimed in the store's nonce table
// (shared by every replica) for ReplayWindow, so a captured request cannot
// be replayed, not even against another replica.

// Headers of a signed Slack request.
const (
	// HeaderSignature carries "v0=" and the hex HMAC-SHA256.
	HeaderSignature = "X-Slack-Signature"
	// HeaderTimestamp carries the Unix time, in seconds, of the signing.
	HeaderTimestamp = "X-Slack-Request-Timestamp"
)

// Limits of request verification.
const (
	// MaxTimestampSkew is how far a request's timestamp may be from the
	// clock, in either direction.
	MaxTimestampSkew = 5 * time.Minute
	// ReplayWindow is how long an accepted signature is remembered. It
	// covers the whole window in which the request's timestamp is
	// acceptable (twice MaxTimestampSkew), so a replay is refused for as
	// long as it could otherwise pass.
	ReplayWindow = 2 * MaxTimestampSkew
	// DefaultMaxBodyBytes bounds the body of a request; Slack's block
	// action payloads for secopsd's messages are a few KiB.
	DefaultMaxBodyBytes = 64 << 10
	// nonceKeyID namespaces Slack signatures in the nonce table shared
	// with the API's signed requests (whose key ids never contain ':').
	nonceKeyID = "slack:v0"
	// signatureVersion is the only signature scheme Slack uses today.
	signatureVersion = "v0"
)

// Errors of request verification. Every one of them means nothing was
// executed.
var (
	// ErrMissingSignature is returned when a signature header is absent
	// or malformed.
	ErrMissingSignature = errors.New("missing or malformed slack signature headers")
	// ErrBadSignature is returned when the signature does not match the
	// body and timestamp.
	ErrBadSignature = errors.New("slack signature does not match")
	// ErrStaleTimestamp is returned when the timestamp is more than
	// MaxTimestampSkew away from the clock.
	ErrStaleTimestamp = errors.New("slack request timestamp outside the accepted window")
	// ErrReplayed is returned when the same signed request was accepted
	// before.
	ErrReplayed = errors.New("slack request already accepted once (replay)")
	// ErrBodyTooLarge is returned when the body exceeds the limit.
	ErrBodyTooLarge = errors.New("slack request body too large")
	// errUnreadable marks a body that could not be read.
	errUnreadable = errors.New("unreadable request body")
)

// NonceClaimer remembers used nonces; internal/auth's NonceStore (the
// store's nonces table) implements it.
type NonceClaimer interface {
	// ClaimNonce records nonce for keyID until expires and reports
	// whether it was fresh; concurrent claims have exactly one winner.
	ClaimNonce(ctx context.Context, keyID, nonce string, now, expires time.Time) (fresh bool, err error)
}

// Sign returns the X-Slack-Signature value of body signed at timestamp
// (Unix seconds, as sent in X-Slack-Request-Timestamp) with secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signatureVersion + ":" + timestamp + ":"))
	mac.Write(body)
	return signatureVersion + "=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a signature and timestamp against body and now,
// without the replay check. It wraps ErrMissingSignature,
// ErrStaleTimestamp or ErrBadSignature.
func VerifySignature(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	if !wellFormedSignature(signature) {
		return fmt.Errorf("%s: want %q and 64 hex digits: %w", HeaderSignature, signatureVersion+"=", ErrMissingSignature)
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > MaxTimestampSkew || skew < -MaxTimestampSkew {
		return fmt.Errorf("%s is %s away from the clock (at most %s accepted): %w",
			HeaderTimestamp, skew.Round(time.Second), MaxTimestampSkew, ErrStaleTimestamp)
	}
	want := Sign(secret, timestamp, body)
	if !hmac.Equal([]byte(signature), []byte(want)) {
		return ErrBadSignature
	}
	return nil
}

// parseTimestamp accepts 1 to 12 decimal digits, nothing else (no sign,
// no spaces), so that exactly one text form of a time is ever signed.
func parseTimestamp(s string) (int64, error) {
	if s == "" || len(s) > 12 {
		return 0, fmt.Errorf("%s: want Unix seconds: %w", HeaderTimestamp, ErrMissingSignature)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%s: want Unix seconds: %w", HeaderTimestamp, ErrMissingSignature)
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want Unix seconds: %w", HeaderTimestamp, ErrMissingSignature)
	}
	return ts, nil
}

// wellFormedSignature reports whether s is "v0=" and 64 lowercase hex
// digits.
func wellFormedSignature(s string) bool {
	const prefix = signatureVersion + "="
	if len(s) != len(prefix)+2*sha256.Size || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// RequestVerifier authenticates requests from Slack: signature,
// timestamp window and replay (see the package's signing notes above).
type RequestVerifier struct {
	secret  []byte
	nonces  NonceClaimer
	now     func() time.Time
	maxBody int64
}

// VerifierOptions configures a RequestVerifier.
type VerifierOptions struct {
	// SigningSecret is the Slack app's signing secret; required.
	SigningSecret []byte
	// Nonces remembers accepted signatures; required.
	Nonces NonceClaimer
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a request body; 0 uses DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// NewRequestVerifier returns a verifier; the signing secret and the nonce
// store are required.
func NewRequestVerifier(opts VerifierOptions) (*RequestVerifier, error) {
	var errs []error
	if len(opts.SigningSecret) == 0 {
		errs = append(errs, errors.New("slack verifier: SigningSecret is required"))
	}
	if opts.Nonces == nil {
		errs = append(errs, errors.New("slack verifier: Nonces is required"))
	}
	if opts.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("slack verifier: MaxBodyBytes must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &RequestVerifier{
		secret: bytes.Clone(opts.SigningSecret), nonces: opts.Nonces, now: opts.Now, maxBody: opts.MaxBodyBytes,
	}, nil
}

// Verify reads r's body (at most the configured limit) and returns it
// when the request is authentic, fresh and seen for the first time. The
// error wraps ErrBodyTooLarge, ErrMissingSignature, ErrStaleTimestamp,
// ErrBadSignature or ErrReplayed; any other error is the store's (the
// request must then be refused too: it could not be checked for replay).
func (v *RequestVerifier) Verify(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read slack request body: %w", errors.Join(errUnreadable, err))
	}
	if int64(len(body)) > v.maxBody {
		return nil, fmt.Errorf("more than %d bytes: %w", v.maxBody, ErrBodyTooLarge)
	}
	now := v.now()
	sig := r.Header.Get(HeaderSignature)
	if err := VerifySignature(v.secret, r.Header.Get(HeaderTimestamp), sig, body, now); err != nil {
		return nil, err
	}
	// Only authentic requests reach the store: forged ones cannot fill
	// the nonce table.
	fresh, err := v.nonces.ClaimNonce(r.Context(), nonceKeyID, sig[len(signatureVersion)+1:], now, now.Add(ReplayWindow))
	if err != nil {
		return nil, fmt.Errorf("claim slack request signature: %w", err)
	}
	if !fresh {
		return nil, ErrReplayed
	}
	return body, nil
}

// verifyStatus maps a Verify error to the HTTP status of the answer:
// 413 for an oversized body, 400 for an unreadable one, 409 Conflict for a replay (the request is
// authentic but was accepted before; distinguishing it lets operators tell
// replays from forgeries), 401 for a missing, forged or stale signature,
// and 503 when the replay check itself could not be made.
func verifyStatus(err error) int {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrReplayed):
		return http.StatusConflict
	case errors.Is(err, errUnreadable):
		return http.StatusBadRequest
	case errors.Is(err, ErrMissingSignature), errors.Is(err, ErrBadSignature), errors.Is(err, ErrStaleTimestamp):
		return http.StatusUnauthorized
	default:
		return http.StatusServiceUnavailable
	}
}
