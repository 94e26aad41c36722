package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func idHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// runUISessions is the conformance suite of UISessionStore, run against
// both backends.
func runUISessions(t *testing.T, open func(t *testing.T) store.Store) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 123456789, time.UTC)

	t.Run("CreateGetTouchRevoke", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		h := idHash("one")
		in := store.UISession{IDHash: h, KeyID: "abcdefghijkl", KeyName: "alice", Role: "admin",
			CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(8 * time.Hour)}
		if err := s.CreateUISession(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUISession(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyID != in.KeyID || got.KeyName != "alice" || got.Role != "admin" || got.RevokedAt != nil ||
			!got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || !got.ExpiresAt.Equal(t0.Add(8*time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("got %+v", got)
		}
		// The same id hash twice is refused.
		if err := s.CreateUISession(ctx, in); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("duplicate create: %v, want ErrInvalid", err)
		}
		// Touch moves forward only.
		if err := s.TouchUISession(ctx, h, t0.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchUISession(ctx, h, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetUISession(ctx, h)
		if !got.LastSeenAt.Equal(t0.Add(10 * time.Minute).Truncate(time.Microsecond)) {
			t.Errorf("last seen = %v", got.LastSeenAt)
		}
		ok, err := s.RevokeUISession(ctx, h, t0.Add(11*time.Minute))
		if err != nil || !ok {
			t.Fatalf("revoke: %v %v", ok, err)
		}
		ok, err = s.RevokeUISession(ctx, h, t0.Add(12*time.Minute))
		if err != nil || ok {
			t.Fatalf("second revoke: %v %v, want false, nil", ok, err)
		}
		got, _ = s.GetUISession(ctx, h)
		if got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(11*time.Minute).Truncate(time.Microsecond)) {
			t.Errorf("revoked at = %v", got.RevokedAt)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		h := idHash("missing")
		if _, err := s.GetUISession(ctx, h); !errors.Is(err, store.ErrUISessionNotFound) {
			t.Errorf("get: %v", err)
		}
		if err := s.TouchUISession(ctx, h, t0); !errors.Is(err, store.ErrUISessionNotFound) {
			t.Errorf("touch: %v", err)
		}
		if _, err := s.RevokeUISession(ctx, h, t0); !errors.Is(err, store.ErrUISessionNotFound) {
			t.Errorf("revoke: %v", err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s := open(t)
		ok := store.UISession{IDHash: idHash("x"), KeyID: "k", Role: "viewer", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
		for name, mod := range map[string]func(u *store.UISession){
			"short hash":    func(u *store.UISession) { u.IDHash = "abc" },
			"upper hash":    func(u *store.UISession) { u.IDHash = "A" + u.IDHash[1:] },
			"no key":        func(u *store.UISession) { u.KeyID = "" },
			"ingest role":   func(u *store.UISession) { u.Role = "ingest" },
			"expiry before": func(u *store.UISession) { u.ExpiresAt = t0 },
		} {
			u := ok
			mod(&u)
			if err := s.CreateUISession(t.Context(), u); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})

	t.Run("Purge", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		mk := func(name string, created, seen, expires time.Time) string {
			h := idHash(name)
			if err := s.CreateUISession(ctx, store.UISession{IDHash: h, KeyID: "k", Role: "viewer",
				CreatedAt: created, LastSeenAt: seen, ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
			return h
		}
		now := t0.Add(9 * time.Hour)
		live := mk("live", t0.Add(8*time.Hour), now.Add(-time.Minute), t0.Add(16*time.Hour))
		mk("expired", t0, now.Add(-time.Minute), t0.Add(8*time.Hour))
		mk("idle", t0.Add(7*time.Hour), t0.Add(7*time.Hour), t0.Add(15*time.Hour))
		revoked := mk("revoked", t0.Add(8*time.Hour), now.Add(-time.Minute), t0.Add(16*time.Hour))
		if _, err := s.RevokeUISession(ctx, revoked, now.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountExpiredUISessions(ctx, now, now.Add(-30*time.Minute)); err != nil || n != 3 {
			t.Fatalf("count: %d %v, want 3", n, err)
		}
		if _, err := s.GetUISession(ctx, revoked); err != nil {
			t.Errorf("counting deleted a session: %v", err)
		}
		n, err := s.PurgeUISessions(ctx, now, now.Add(-30*time.Minute))
		if err != nil || n != 3 {
			t.Fatalf("purge: %d %v, want 3", n, err)
		}
		if _, err := s.GetUISession(ctx, live); err != nil {
			t.Errorf("live session purged: %v", err)
		}
		if _, err := s.GetUISession(ctx, revoked); !errors.Is(err, store.ErrUISessionNotFound) {
			t.Errorf("revoked session kept: %v", err)
		}
		if n, err := s.CountExpiredUISessions(ctx, now, now.Add(-30*time.Minute)); err != nil || n != 0 {
			t.Errorf("count after purge: %d %v, want 0", n, err)
		}
	})
}

func TestSQLiteUISessions(t *testing.T) {
	runUISessions(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.SQLiteURL(t))
	})
}

func TestPostgresUISessions(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	runUISessions(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.PostgresURL(t))
	})
}
