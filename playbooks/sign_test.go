package playbooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestSignFormatIsPlainHMAC(t *testing.T) {
	key, body := []byte("k3y"), []byte(`{"id":1}`)
	at := time.Unix(1767225600, 0)
	got := Sign(key, body, at)
	// Computed independently, as a receiver in any language would.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("1767225600." + string(body)))
	want := "t=1767225600,v1=" + hex.EncodeToString(m.Sum(nil))
	if got != want {
		t.Errorf("Sign = %s\nwant   %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	key, body := []byte("k3y"), []byte("hello")
	now := time.Unix(1767225600, 0)
	good := Sign(key, body, now)
	if err := VerifySignature(key, body, good, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	other := Sign([]byte("old"), body, now)
	rotated := good + "," + other[len("t=1767225600,"):]
	if err := VerifySignature(key, body, rotated, now, time.Minute); err != nil {
		t.Errorf("a second v1 (key rotation) must not hurt: %v", err)
	}
	bad := map[string]struct {
		body   string
		header string
		now    time.Time
	}{
		"tampered body": {"hellO", good, now},
		"wrong key":     {"hello", other, now},
		"stale":         {"hello", good, now.Add(6 * time.Minute)},
		"future":        {"hello", good, now.Add(-6 * time.Minute)},
		"empty":         {"hello", "", now},
		"no v1":         {"hello", "t=" + strconv.FormatInt(now.Unix(), 10), now},
		"bad hex":       {"hello", "t=1767225600,v1=zz", now},
		"short mac":     {"hello", "t=1767225600,v1=abcd", now},
		"bad time":      {"hello", "t=soon,v1=" + good[len(good)-64:], now},
		"two times":     {"hello", "t=1,t=2,v1=" + good[len(good)-64:], now},
		"garbage":       {"hello", "nonsense", now},
	}
	for name, c := range bad {
		if err := VerifySignature(key, []byte(c.body), c.header, c.now, 5*time.Minute); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: accepted or wrong error: %v", name, err)
		}
	}
}
