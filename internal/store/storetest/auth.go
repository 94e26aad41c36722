package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/store"
)

// RunAuth runs the conformance suite of the auth.Store methods: API keys,
// nonces and shared secrets. open must return a fresh, migrated, empty
// store each time, as for Run.
func RunAuth(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"APIKeyRoundTrip", testAPIKeyRoundTrip},
		{"APIKeyDuplicateID", testAPIKeyDuplicate},
		{"APIKeyRejectsInvalid", testAPIKeyRejectsInvalid},
		{"APIKeyRevoke", testAPIKeyRevoke},
		{"APIKeyTouch", testAPIKeyTouch},
		{"NonceClaimAndReplay", testNonceClaim},
		{"NonceExpiredIsClaimedAfresh", testNonceExpired},
		{"NoncePurge", testNoncePurge},
		{"NonceConcurrentClaimHasOneWinner", testNonceConcurrent},
		{"SecretFirstWriterWins", testSecretFirstWins},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// keyID returns a valid key id made from n.
func keyID(n int) string {
	id := fmt.Sprintf("key%09d", n)
	return strings.NewReplacer("0", "a", "1", "b", "8", "c", "9", "d").Replace(id)
}

func newKey(n int, role auth.Role) auth.Key {
	return auth.Key{
		ID:               keyID(n),
		Name:             fmt.Sprintf("key %d", n),
		Role:             role,
		SecretHash:       "$2a$04$notarealhashbutnonemptyxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		RequireSignature: role == auth.RoleAdmin,
		CreatedAt:        at(time.Duration(n) * time.Minute),
	}
}

func testAPIKeyRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := at(90 * 24 * time.Hour)
	keys := []auth.Key{newKey(2, auth.RoleViewer), newKey(1, auth.RoleAdmin), newKey(3, auth.RoleIngest)}
	keys[0].ExpiresAt = &exp
	keys[2].RequireSignature = true
	for _, k := range keys {
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
		}
	}
	got, err := s.GetAPIKey(ctx, keys[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := keys[0]
	want.CreatedAt = want.CreatedAt.UTC().Truncate(time.Microsecond)
	e := exp.UTC().Truncate(time.Microsecond)
	want.ExpiresAt = &e
	if !equalKeys(got, want) {
		t.Errorf("GetAPIKey = %+v, want %+v", got, want)
	}
	list, err := s.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
	}
	if strings.Join(ids, ",") != keyID(1)+","+keyID(2)+","+keyID(3) {
		t.Errorf("ListAPIKeys order = %v, want oldest first", ids)
	}
	if !list[2].RequireSignature || list[1].RequireSignature || list[0].Role != auth.RoleAdmin {
		t.Errorf("ListAPIKeys = %+v", list)
	}
	b, _ := json.Marshal(list)
	if strings.Contains(string(b), "$2a$") {
		t.Errorf("a key's JSON carries its hash: %s", b)
	}
	if _, err := s.GetAPIKey(ctx, keyID(99)); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("GetAPIKey(unknown) error = %v, want ErrKeyNotFound", err)
	}
}

func equalKeys(a, b auth.Key) bool {
	eqt := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.ID == b.ID && a.Name == b.Name && a.Role == b.Role && a.SecretHash == b.SecretHash &&
		a.RequireSignature == b.RequireSignature && a.CreatedAt.Equal(b.CreatedAt) &&
		eqt(a.ExpiresAt, b.ExpiresAt) && eqt(a.RevokedAt, b.RevokedAt) && eqt(a.LastUsedAt, b.LastUsedAt)
}

func testAPIKeyDuplicate(t *testing.T, s store.Store) {
	k := newKey(1, auth.RoleViewer)
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	k.Name = "other"
	if err := s.CreateAPIKey(t.Context(), k); !errors.Is(err, auth.ErrKeyExists) {
		t.Errorf("second CreateAPIKey error = %v, want ErrKeyExists", err)
	}
}

func testAPIKeyRejectsInvalid(t *testing.T, s store.Store) {
	for name, mutate := range map[string]func(*auth.Key){
		"bad id":                   func(k *auth.Key) { k.ID = "UPPER_case!!" },
		"short id":                 func(k *auth.Key) { k.ID = "abc" },
		"unknown role":             func(k *auth.Key) { k.Role = "root" },
		"no hash":                  func(k *auth.Key) { k.SecretHash = "" },
		"admin without signatures": func(k *auth.Key) { k.Role, k.RequireSignature = auth.RoleAdmin, false },
		"no creation time":         func(k *auth.Key) { k.CreatedAt = time.Time{} },
	} {
		k := newKey(1, auth.RoleViewer)
		mutate(&k)
		if err := s.CreateAPIKey(t.Context(), k); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateAPIKey error = %v, want ErrInvalid", name, err)
		}
	}
	if list, err := s.ListAPIKeys(t.Context()); err != nil || len(list) != 0 {
		t.Errorf("after rejected keys: ListAPIKeys = %v, %v; want none", list, err)
	}
}

func testAPIKeyRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := newKey(1, auth.RoleIngest)
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := s.RevokeAPIKey(ctx, k.ID, at(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(at(time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("revoked key = %+v, want revoked_at %v", got, at(time.Hour))
	}
	if got.Status(at(2*time.Hour)) != auth.StatusRevoked {
		t.Errorf("status after revocation = %s", got.Status(at(2*time.Hour)))
	}
	again, err := s.RevokeAPIKey(ctx, k.ID, at(3*time.Hour))
	if err != nil || !again.RevokedAt.Equal(*got.RevokedAt) {
		t.Errorf("second revocation = %+v, %v; want the first revocation time kept", again, err)
	}
	if _, err := s.RevokeAPIKey(ctx, keyID(42), at(0)); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("RevokeAPIKey(unknown) error = %v, want ErrKeyNotFound", err)
	}
}

func testAPIKeyTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := newKey(1, auth.RoleViewer)
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Hour, 30 * time.Minute} {
		if err := s.TouchAPIKey(ctx, k.ID, at(d)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetAPIKey(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("last_used_at = %v, want %v (never moved backwards)", got.LastUsedAt, at(time.Hour))
	}
	if err := s.TouchAPIKey(ctx, keyID(7), at(0)); err != nil {
		t.Errorf("TouchAPIKey(unknown) = %v, want nil", err)
	}
}

func testNonceClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(0)
	claim := func(key, nonce string, now time.Time) bool {
		t.Helper()
		fresh, err := s.ClaimNonce(ctx, key, nonce, now, now.Add(auth.NonceTTL))
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	if !claim(keyID(1), "nonce-aaaaaaaaaaaaaaaa", now) {
		t.Fatal("first claim was not fresh")
	}
	if claim(keyID(1), "nonce-aaaaaaaaaaaaaaaa", now.Add(time.Minute)) {
		t.Error("the same nonce was fresh twice for one key")
	}
	if !claim(keyID(2), "nonce-aaaaaaaaaaaaaaaa", now) {
		t.Error("the nonce of one key blocked another key")
	}
	if !claim(keyID(1), "nonce-bbbbbbbbbbbbbbbb", now) {
		t.Error("a new nonce was not fresh")
	}
}

func testNonceExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(0)
	if fresh, err := s.ClaimNonce(ctx, keyID(1), "nonce-cccccccccccccccc", now, now.Add(auth.NonceTTL)); err != nil || !fresh {
		t.Fatalf("first claim = %v, %v", fresh, err)
	}
	// Just before expiry it is still a replay; from expiry on the pair is
	// free again (its timestamp window has long closed).
	if fresh, err := s.ClaimNonce(ctx, keyID(1), "nonce-cccccccccccccccc", now.Add(auth.NonceTTL-time.Second), now.Add(2*auth.NonceTTL)); err != nil || fresh {
		t.Errorf("claim before expiry = %v, %v; want a replay", fresh, err)
	}
	later := now.Add(auth.NonceTTL)
	if fresh, err := s.ClaimNonce(ctx, keyID(1), "nonce-cccccccccccccccc", later, later.Add(auth.NonceTTL)); err != nil || !fresh {
		t.Errorf("claim at expiry = %v, %v; want fresh", fresh, err)
	}
	if fresh, err := s.ClaimNonce(ctx, keyID(1), "nonce-cccccccccccccccc", later.Add(time.Minute), later.Add(time.Hour)); err != nil || fresh {
		t.Errorf("claim after renewal = %v, %v; want a replay", fresh, err)
	}
}

func testNoncePurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 5 {
		now := at(time.Duration(i) * time.Minute)
		if _, err := s.ClaimNonce(ctx, keyID(1), fmt.Sprintf("purge-nonce-%08d", i), now, now.Add(auth.NonceTTL)); err != nil {
			t.Fatal(err)
		}
	}
	// At +12m the nonces claimed at 0, 1 and 2 minutes have expired.
	n, err := s.PurgeNonces(ctx, at(12*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("PurgeNonces = %d, %v; want 3", n, err)
	}
	if fresh, _ := s.ClaimNonce(ctx, keyID(1), "purge-nonce-00000004", at(12*time.Minute), at(22*time.Minute)); fresh {
		t.Error("PurgeNonces deleted an unexpired nonce")
	}
	if n, err := s.PurgeNonces(ctx, at(12*time.Minute)); err != nil || n != 0 {
		t.Errorf("second PurgeNonces = %d, %v; want 0", n, err)
	}
}

func testNonceConcurrent(t *testing.T, s store.Store) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
	)
	now := at(0)
	for range 16 {
		wg.Go(func() {
			ok, err := s.ClaimNonce(t.Context(), keyID(1), "racing-nonce-aaaaaaaa", now, now.Add(auth.NonceTTL))
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fresh != 1 {
		t.Errorf("%d of 16 concurrent claims of one nonce were fresh, want 1", fresh)
	}
}

func testSecretFirstWins(t *testing.T, s store.Store) {
	ctx := t.Context()
	var (
		wg  sync.WaitGroup
		got [8]string
	)
	for i := range got {
		wg.Go(func() {
			v, err := s.InitSecret(ctx, "test_secret", fmt.Sprintf("value-%d", i))
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] || got[i] == "" {
			t.Fatalf("InitSecret returned different values: %q", got)
		}
	}
	if v, err := s.InitSecret(ctx, "test_secret", "later"); err != nil || v != got[0] {
		t.Errorf("InitSecret after the first = %q, %v; want %q", v, err, got[0])
	}
	if v, err := s.InitSecret(ctx, "other_secret", "x"); err != nil || v != "x" {
		t.Errorf("InitSecret(other) = %q, %v", v, err)
	}
}
