package playbooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook signatures.
//
// A signed request carries a header (X-Secopsd-Signature by default)
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<unix seconds>.<body>")>
//
// A receiver recomputes the HMAC over the timestamp, a dot and the raw
// body with the shared key, compares it in constant time, and refuses a
// timestamp too far from its clock (a replay). VerifySignature does all
// three. A retried request is signed again with a fresh timestamp.

// ErrSignature is returned by VerifySignature for a missing, malformed,
// wrong or stale signature.
var ErrSignature = errors.New("invalid webhook signature")

// Sign returns the signature header value for body, signed with key at t.
func Sign(key, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(key, ts, body))
}

// mac is HMAC-SHA256(key, ts + "." + body).
func mac(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a signature header written by Sign against body
// and key: one of its v1 values must be the body's HMAC, and its timestamp
// at most tolerance away from now. Errors wrap ErrSignature.
func VerifySignature(key, body []byte, header string, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed element %q", ErrSignature, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one timestamp", ErrSignature)
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256 HMAC", ErrSignature)
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp is not a number", ErrSignature)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: timestamp is %s away from now, more than %s", ErrSignature, age.Round(time.Second), tolerance)
	}
	want := mac(key, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrSignature)
}
