package slack_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	sl "github.com/secopsd/secopsd/internal/notify/slack"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// TestSignSlackDocumentationVector replays the example of Slack's
// "Verifying requests from Slack" guide.
func TestSignSlackDocumentationVector(t *testing.T) {
	const (
		secret = "8f742231b10e8888abcd99yyyzzz85a5"
		ts     = "1531420618"
		body   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		want   = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	if got := sl.Sign([]byte(secret), ts, []byte(body)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if err := sl.VerifySignature([]byte(secret), ts, want, []byte(body), time.Unix(1531420618, 0).Add(time.Minute)); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("s3cr3t-signing")
	now := time.Unix(1_741_082_400, 0)
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	good := sl.Sign(secret, at(0), body)
	cases := []struct {
		name      string
		ts, sig   string
		body      []byte
		secret    []byte
		wantError error
	}{
		{"valid", at(0), good, body, secret, nil},
		{"valid 5 minutes old", at(-5 * time.Minute), sl.Sign(secret, at(-5*time.Minute), body), body, secret, nil},
		{"valid 5 minutes ahead", at(5 * time.Minute), sl.Sign(secret, at(5*time.Minute), body), body, secret, nil},
		{"stale: 5 minutes 1 second old", at(-5*time.Minute - time.Second), sl.Sign(secret, at(-5*time.Minute-time.Second), body), body, secret, sl.ErrStaleTimestamp},
		{"stale: 1 hour ahead", at(time.Hour), sl.Sign(secret, at(time.Hour), body), body, secret, sl.ErrStaleTimestamp},
		{"wrong secret", at(0), sl.Sign([]byte("another"), at(0), body), body, secret, sl.ErrBadSignature},
		{"body changed", at(0), good, append(bytes.Clone(body), '&'), secret, sl.ErrBadSignature},
		{"timestamp changed", at(1 * time.Second), good, body, secret, sl.ErrBadSignature},
		{"upper-case hex", at(0), "v0=" + strings.ToUpper(good[3:]), body, secret, sl.ErrMissingSignature},
		{"other version", at(0), "v1=" + good[3:], body, secret, sl.ErrMissingSignature},
		{"truncated", at(0), good[:len(good)-2], body, secret, sl.ErrMissingSignature},
		{"no signature", at(0), "", body, secret, sl.ErrMissingSignature},
		{"no timestamp", "", good, body, secret, sl.ErrMissingSignature},
		{"signed timestamp", "+" + at(0), good, body, secret, sl.ErrMissingSignature},
		{"timestamp with spaces", " " + at(0), good, body, secret, sl.ErrMissingSignature},
		{"huge timestamp", "99999999999999999999", good, body, secret, sl.ErrMissingSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := sl.VerifySignature(c.secret, c.ts, c.sig, c.body, now)
			if c.wantError == nil && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if c.wantError != nil && !errors.Is(err, c.wantError) {
				t.Fatalf("err = %v, want %v", err, c.wantError)
			}
			if err != nil && strings.Contains(err.Error(), string(c.secret)) {
				t.Fatalf("error %q shows the secret", err)
			}
		})
	}
}

// runReplay: one signed request is accepted once, in one process or
// across two verifiers sharing the store; another request is not
// affected; the signature is remembered for the whole window in which the
// timestamp is acceptable.
func runReplay(t *testing.T, st store.Store) {
	clock := newIXClock(time.Unix(1_741_082_400, 0))
	secret := []byte("replay-secret")
	newV := func() *sl.RequestVerifier {
		v, err := sl.NewRequestVerifier(sl.VerifierOptions{SigningSecret: secret, Nonces: st, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	replica1, replica2 := newV(), newV()
	body := "payload=%7B%7D"
	ts := clock.unix()
	sig := sl.Sign(secret, ts, []byte(body))
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
		r.Header.Set(sl.HeaderTimestamp, ts)
		r.Header.Set(sl.HeaderSignature, sig)
		return r
	}
	got, err := replica1.Verify(req())
	if err != nil || string(got) != body {
		t.Fatalf("first: %q %v", got, err)
	}
	if _, err := replica1.Verify(req()); !errors.Is(err, sl.ErrReplayed) {
		t.Fatalf("replay on the same replica: %v, want ErrReplayed", err)
	}
	if _, err := replica2.Verify(req()); !errors.Is(err, sl.ErrReplayed) {
		t.Fatalf("replay on another replica: %v, want ErrReplayed", err)
	}
	// Up to the end of the timestamp window the replay is still refused
	// as a replay, after it as stale: never accepted.
	clock.Add(sl.MaxTimestampSkew)
	if _, err := replica2.Verify(req()); !errors.Is(err, sl.ErrReplayed) {
		t.Fatalf("replay at the end of the window: %v, want ErrReplayed", err)
	}
	clock.Add(time.Second)
	if _, err := replica2.Verify(req()); !errors.Is(err, sl.ErrStaleTimestamp) {
		t.Fatalf("replay after the window: %v, want ErrStaleTimestamp", err)
	}
	// A different request (new timestamp) passes.
	ts2 := clock.unix()
	r := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
	r.Header.Set(sl.HeaderTimestamp, ts2)
	r.Header.Set(sl.HeaderSignature, sl.Sign(secret, ts2, []byte(body)))
	if _, err := replica1.Verify(r); err != nil {
		t.Fatalf("fresh request: %v", err)
	}
}

func TestRequestVerifierReplaySQLite(t *testing.T) {
	runReplay(t, storetest.OpenURL(t, storetest.SQLiteURL(t)))
}

func TestRequestVerifierReplayPostgres(t *testing.T) {
	runReplay(t, storetest.OpenURL(t, storetest.PostgresURL(t)))
}

// TestRequestVerifierForgedNotRemembered: a forged request never reaches
// the nonce table, so it cannot burn the signature of a real one.
func TestRequestVerifierForgedNotRemembered(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	clock := newIXClock(time.Unix(1_741_082_400, 0))
	v, err := sl.NewRequestVerifier(sl.VerifierOptions{SigningSecret: []byte("k"), Nonces: st, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := clock.unix()
	real := sl.Sign([]byte("k"), ts, []byte("a=1"))
	forged := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("a=2"))
	forged.Header.Set(sl.HeaderTimestamp, ts)
	forged.Header.Set(sl.HeaderSignature, real)
	if _, err := v.Verify(forged); !errors.Is(err, sl.ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
	genuine := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("a=1"))
	genuine.Header.Set(sl.HeaderTimestamp, ts)
	genuine.Header.Set(sl.HeaderSignature, real)
	if _, err := v.Verify(genuine); err != nil {
		t.Fatalf("genuine after a forgery with its signature: %v", err)
	}
}

func TestRequestVerifierBodyLimit(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	clock := newIXClock(time.Unix(1_741_082_400, 0))
	v, err := sl.NewRequestVerifier(sl.VerifierOptions{SigningSecret: []byte("k"), Nonces: st, Now: clock.Now, MaxBodyBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 17)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set(sl.HeaderTimestamp, clock.unix())
	r.Header.Set(sl.HeaderSignature, sl.Sign([]byte("k"), clock.unix(), []byte(body)))
	if _, err := v.Verify(r); !errors.Is(err, sl.ErrBodyTooLarge) {
		t.Fatalf("17 bytes with a limit of 16: %v", err)
	}
	if _, err := sl.NewRequestVerifier(sl.VerifierOptions{Nonces: st}); err == nil {
		t.Error("a verifier without a signing secret was built")
	}
	if _, err := sl.NewRequestVerifier(sl.VerifierOptions{SigningSecret: []byte("k")}); err == nil {
		t.Error("a verifier without a nonce store was built")
	}
}

// FuzzVerifySlackSignature: whatever the input, verification never
// panics, accepts only the exact signature of the exact body at a
// timestamp within the window, and always accepts a correct one.
func FuzzVerifySlackSignature(f *testing.F) {
	f.Add([]byte("8f742231b10e8888abcd99yyyzzz85a5"), "1531420618", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", []byte("token=x"), int64(30))
	f.Add([]byte("k"), "", "", []byte(""), int64(0))
	f.Add([]byte("k"), "-1", "v0=", []byte("payload=%7B%7D"), int64(-400))
	f.Add([]byte("k"), "1531420618", "v0=A2114D57B48EAC39B9AD189DD8316235A7B4A8D21A10BD27519666489C69B503", []byte("x"), int64(301))
	f.Fuzz(func(t *testing.T, secret []byte, ts, sig string, body []byte, offset int64) {
		base, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || base < 0 || base > 99_999_999_999 {
			base = 1_741_082_400
		}
		now := time.Unix(base, 0).Add(time.Duration(offset%100_000) * time.Second)
		err := sl.VerifySignature(secret, ts, sig, body, now)
		if err == nil {
			if sig != sl.Sign(secret, ts, body) {
				t.Fatalf("accepted %q, not the signature of the body", sig)
			}
			if d := now.Sub(time.Unix(base, 0)); d > sl.MaxTimestampSkew || d < -sl.MaxTimestampSkew {
				t.Fatalf("accepted a timestamp %s from now", d)
			}
		} else if !errors.Is(err, sl.ErrMissingSignature) && !errors.Is(err, sl.ErrBadSignature) && !errors.Is(err, sl.ErrStaleTimestamp) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		// The correct signature of any body at the current time passes.
		cur := strconv.FormatInt(now.Unix(), 10)
		if now.Unix() >= 0 {
			if err := sl.VerifySignature(secret, cur, sl.Sign(secret, cur, body), body, now); err != nil {
				t.Fatalf("correct signature refused: %v", err)
			}
		}
	})
}

// BenchmarkVerifySignature: the cost of checking one signed interaction
// (without the store's replay claim).
func BenchmarkVerifySignature(b *testing.B) {
	secret := []byte("bench-signing-secret")
	body := []byte(blockActionsPayload(ixApprover, sl.ActionApprove, 42, "https://hooks.slack.com/actions/T0/1/x"))
	now := time.Unix(1_741_082_400, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := sl.Sign(secret, ts, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := sl.VerifySignature(secret, ts, sig, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
