package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Headers of a signed request.
const (
	// HeaderKey names the signing key; it must be the bearer token's key.
	HeaderKey = "X-Secopsd-Key"
	// HeaderTimestamp is the signing time in unix seconds.
	HeaderTimestamp = "X-Secopsd-Timestamp"
	// HeaderNonce is a random string used once per key.
	HeaderNonce = "X-Secopsd-Nonce"
	// HeaderSignature is "v1=" followed by the lower-case hex
	// HMAC-SHA256 of the string to sign.
	HeaderSignature = "X-Secopsd-Signature"
)

// Replay-protection parameters.
const (
	// MaxClockSkew is how far a signed request's timestamp may lie in the
	// past or the future.
	MaxClockSkew = 5 * time.Minute
	// NonceTTL is how long a nonce is remembered. It covers the whole
	// window in which the request's timestamp stays acceptable.
	NonceTTL = 2 * MaxClockSkew
	// MinNonceLen and MaxNonceLen bound a nonce's length.
	MinNonceLen = 16
	MaxNonceLen = 128
	// signatureVersion prefixes the signature header's value.
	signatureVersion = "v1="
	// maxTimestampLen bounds the digits of a timestamp.
	maxTimestampLen = 12
)

// Signature verification errors; all are answered with 401.
var (
	// ErrMalformedSignature is a signed request whose headers are missing
	// or have the wrong form.
	ErrMalformedSignature = errors.New("malformed request signature")
	// ErrStaleTimestamp is a signature time more than MaxClockSkew away.
	ErrStaleTimestamp = errors.New("request signature timestamp outside the allowed window")
	// ErrBadSignature is a signature that does not match the request.
	ErrBadSignature = errors.New("request signature does not match")
	// ErrReplayedNonce is a nonce already used with the key.
	ErrReplayedNonce = errors.New("request nonce already used")
)

// StringToSign returns what a request's signature covers: the method, the
// request URI (path and query as sent), the timestamp and nonce headers and
// the hex SHA-256 of the body, joined by newlines.
func StringToSign(method, requestURI, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + "\n" + requestURI + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])
}

// Sign returns the signature header value for a request: "v1=" and the
// hex HMAC-SHA256, keyed by the signing key's bytes, of StringToSign.
func Sign(signingKey []byte, method, requestURI, timestamp, nonce string, body []byte) string {
	m := hmac.New(sha256.New, signingKey)
	return signatureVersion + hex.EncodeToString(mac(m, method, requestURI, timestamp, nonce, body))
}

// mac computes the signature bytes with m, an HMAC-SHA256 (reset here).
func mac(m hash.Hash, method, requestURI, timestamp, nonce string, body []byte) []byte {
	m.Reset()
	sum := sha256.Sum256(body)
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	io.WriteString(m, method)
	m.Write([]byte{'\n'})
	io.WriteString(m, requestURI)
	m.Write([]byte{'\n'})
	io.WriteString(m, timestamp)
	m.Write([]byte{'\n'})
	io.WriteString(m, nonce)
	m.Write([]byte{'\n'})
	m.Write(hexSum[:])
	return m.Sum(nil)
}

// SignRequest signs req for the key keyID with its signing secret (the hex
// string `apikey create` printed): it sets the X-Secopsd-Key, -Timestamp,
// -Nonce and -Signature headers and makes body the request's body. An
// empty nonce is replaced by a random one. The bearer token is set
// separately (Authorization: Bearer …).
func SignRequest(req *http.Request, keyID, signingSecret string, body []byte, now time.Time, nonce string) error {
	key, err := hex.DecodeString(signingSecret)
	if err != nil || len(key) != sha256.Size {
		return errors.New("sign request: the signing secret must be 64 hex characters")
	}
	if nonce == "" {
		nonce = NewNonce()
	}
	if !validNonce(nonce) {
		return fmt.Errorf("sign request: a nonce must be %d to %d characters of A-Z a-z 0-9 - _", MinNonceLen, MaxNonceLen)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(HeaderKey, keyID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, Sign(key, req.Method, req.URL.RequestURI(), ts, nonce, body))
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
		return nil
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return nil
}

// NewNonce returns a random nonce: 24 random bytes, base64url.
func NewNonce() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24).
	return base64.RawURLEncoding.EncodeToString(b)
}

// VerifySignature checks a signed request: the timestamp is within
// MaxClockSkew of now, the nonce is well-formed and the signature is the
// HMAC-SHA256 of the request under signingKey, compared in constant time.
// It does not check the nonce for replay (see NonceStore).
func VerifySignature(signingKey []byte, method, requestURI, timestamp, nonce, signature string, body []byte, now time.Time) error {
	return verifySignature(hmac.New(sha256.New, signingKey), method, requestURI, timestamp, nonce, signature, body, now)
}

// verifySignature is VerifySignature with a caller-provided HMAC.
func verifySignature(m hash.Hash, method, requestURI, timestamp, nonce, signature string, body []byte, now time.Time) error {
	ts, ok := parseTimestamp(timestamp)
	if !ok || !validNonce(nonce) || !printableASCII(method) || !printableASCII(requestURI) {
		return ErrMalformedSignature
	}
	want, ok := parseSignature(signature)
	if !ok {
		return ErrMalformedSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return ErrStaleTimestamp
	}
	if !hmac.Equal(want, mac(m, method, requestURI, timestamp, nonce, body)) {
		return ErrBadSignature
	}
	return nil
}

// parseTimestamp parses unix seconds written canonically: digits only,
// no sign and no leading zero, so that one instant has one spelling.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampLen || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseSignature decodes "v1=<64 lower-case hex>"; upper case is refused
// so that one signature has one spelling.
func parseSignature(s string) ([]byte, bool) {
	if len(s) != len(signatureVersion)+2*sha256.Size || s[:len(signatureVersion)] != signatureVersion {
		return nil, false
	}
	h := s[len(signatureVersion):]
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, false
		}
	}
	b, err := hex.DecodeString(h)
	return b, err == nil
}

// validNonce reports whether a nonce has the allowed length and alphabet
// (base64url characters).
func validNonce(s string) bool {
	if len(s) < MinNonceLen || len(s) > MaxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// printableASCII reports whether s is non-empty visible ASCII, as methods
// and request URIs are; it keeps newlines out of the string to sign.
func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
