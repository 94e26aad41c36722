package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

var (
	testSigningKey = bytes.Repeat([]byte{0x5a}, 32)
	testNow        = time.Unix(1_780_000_000, 0)
)

func TestSignMatchesStringToSign(t *testing.T) {
	body := []byte(`[{"kind":"deploy"}]`)
	sig := Sign(testSigningKey, "POST", "/api/v1/events?x=1", "1780000000", "nonce-0123456789abcdef", body)
	m := hmac.New(sha256.New, testSigningKey)
	io.WriteString(m, StringToSign("POST", "/api/v1/events?x=1", "1780000000", "nonce-0123456789abcdef", body))
	if want := "v1=" + hex.EncodeToString(m.Sum(nil)); sig != want {
		t.Errorf("Sign = %s, want HMAC of StringToSign %s", sig, want)
	}
}

func TestSignRequestRoundTrip(t *testing.T) {
	body := []byte("payload")
	req, _ := http.NewRequest("POST", "http://h/api/v1/events?b=2&a=1", nil)
	secret := hex.EncodeToString(testSigningKey)
	if err := SignRequest(req, "abcdefgh2345", secret, body, testNow, ""); err != nil {
		t.Fatal(err)
	}
	h := req.Header
	if h.Get(HeaderKey) != "abcdefgh2345" || h.Get(HeaderTimestamp) != strconv.FormatInt(testNow.Unix(), 10) || len(h.Get(HeaderNonce)) < MinNonceLen {
		t.Fatalf("headers = %v", h)
	}
	got, _ := io.ReadAll(req.Body)
	if string(got) != "payload" || req.ContentLength != 7 {
		t.Errorf("body = %q (%d)", got, req.ContentLength)
	}
	if err := VerifySignature(testSigningKey, "POST", "/api/v1/events?b=2&a=1", h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature), body, testNow); err != nil {
		t.Errorf("VerifySignature of a signed request: %v", err)
	}
	for name, err := range map[string]error{
		"bad secret": SignRequest(req, "k", "zz", body, testNow, ""),
		"bad nonce":  SignRequest(req, "k", secret, body, testNow, "short"),
	} {
		if err == nil {
			t.Errorf("%s: SignRequest succeeded", name)
		}
	}
}

func TestVerifySignatureErrors(t *testing.T) {
	ts := strconv.FormatInt(testNow.Unix(), 10)
	nonce := "nonce-0123456789abcdef"
	good := Sign(testSigningKey, "GET", "/x", ts, nonce, nil)
	for _, tc := range []struct {
		name                   string
		method, uri, ts, nonce string
		sig                    string
		now                    time.Time
		want                   error
	}{
		{"good", "GET", "/x", ts, nonce, good, testNow, nil},
		{"4m59s late", "GET", "/x", ts, nonce, good, testNow.Add(MaxClockSkew - time.Second), nil},
		{"5m01s late", "GET", "/x", ts, nonce, good, testNow.Add(MaxClockSkew + time.Second), ErrStaleTimestamp},
		{"5m01s early", "GET", "/x", ts, nonce, good, testNow.Add(-MaxClockSkew - time.Second), ErrStaleTimestamp},
		{"other method", "POST", "/x", ts, nonce, good, testNow, ErrBadSignature},
		{"other uri", "GET", "/y", ts, nonce, good, testNow, ErrBadSignature},
		{"no signature", "GET", "/x", ts, nonce, "", testNow, ErrMalformedSignature},
		{"no v1", "GET", "/x", ts, nonce, good[3:], testNow, ErrMalformedSignature},
		{"short nonce", "GET", "/x", ts, "abc", good, testNow, ErrMalformedSignature},
		{"nonce with space", "GET", "/x", ts, "nonce 0123456789abcdef", good, testNow, ErrMalformedSignature},
		{"leading zero", "GET", "/x", "0" + ts, nonce, good, testNow, ErrMalformedSignature},
		{"signed number", "GET", "/x", "+" + ts, nonce, good, testNow, ErrMalformedSignature},
		{"huge timestamp", "GET", "/x", "99999999999999999999", nonce, good, testNow, ErrMalformedSignature},
		{"newline in uri", "GET", "/x\n", ts, nonce, good, testNow, ErrMalformedSignature},
	} {
		err := VerifySignature(testSigningKey, tc.method, tc.uri, tc.ts, tc.nonce, tc.sig, nil, tc.now)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: VerifySignature = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzVerifySignature checks that verification never panics, that a
// correct signature verifies, and that changing any single byte of the
// signed material (method, URI, timestamp, nonce, body, signature or key)
// makes it fail.
func FuzzVerifySignature(f *testing.F) {
	f.Add("GET", "/api/v1/incidents?status=open", "nonce-0123456789abcdef", []byte(nil), uint(0), byte(1))
	f.Add("POST", "/api/v1/events", "AAAAAAAAAAAAAAAAAAAAAAAA", []byte(`{"kind":"deploy"}`), uint(40), byte(0x80))
	f.Add("", "", "", []byte{0}, uint(3), byte(0xff))
	f.Fuzz(func(t *testing.T, method, uri, nonce string, body []byte, pos uint, flip byte) {
		ts := strconv.FormatInt(testNow.Unix(), 10)
		sig := Sign(testSigningKey, method, uri, ts, nonce, body)
		// Arbitrary input must never panic.
		_ = VerifySignature(testSigningKey, method, uri, ts, nonce, method+uri, body, testNow)
		_ = VerifySignature(nil, method, uri, nonce, nonce, uri, body, testNow)

		err := VerifySignature(testSigningKey, method, uri, ts, nonce, sig, body, testNow)
		wellFormed := validNonce(nonce) && printableASCII(method) && printableASCII(uri)
		if wellFormed != (err == nil) {
			t.Fatalf("VerifySignature(valid signature) = %v; well-formed input: %v", err, wellFormed)
		}
		if !wellFormed || flip == 0 {
			return
		}
		// Change one byte of one field: verification must fail.
		fields := [][]byte{[]byte(method), []byte(uri), []byte(ts), []byte(nonce), append([]byte(nil), body...), []byte(sig), append([]byte(nil), testSigningKey...)}
		total := 0
		for _, f := range fields {
			total += len(f)
		}
		p := int(pos % uint(total))
		for i, fld := range fields {
			if p >= len(fld) {
				p -= len(fld)
				continue
			}
			fld[p] ^= flip
			fields[i] = fld
			break
		}
		m, u, tss, n, b, s, k := string(fields[0]), string(fields[1]), string(fields[2]), string(fields[3]), fields[4], string(fields[5]), fields[6]
		if err := VerifySignature(k, m, u, tss, n, s, b, testNow); err == nil {
			t.Fatalf("a one-byte change (xor %#x at %d) still verifies", flip, pos%uint(total))
		}
	})
}

func BenchmarkVerifySignature(b *testing.B) {
	body := bytes.Repeat([]byte(`{"kind":"auth.failure","source":"web"},`), 25) // ~1 KiB
	ts := strconv.FormatInt(testNow.Unix(), 10)
	nonce := "nonce-0123456789abcdef"
	sig := Sign(testSigningKey, "POST", "/api/v1/events", ts, nonce, body)
	m := hmac.New(sha256.New, testSigningKey)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := verifySignature(m, "POST", "/api/v1/events", ts, nonce, sig, body, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
