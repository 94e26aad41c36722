package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestPostgresAuth(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	storetest.RunAuth(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.PostgresURL(t))
	})
}

// TestPostgresNonceAcrossReplicas spends a nonce through one store and
// replays it through another on the same schema, as two replicas would,
// and races both on fresh nonces: each is won exactly once.
func TestPostgresNonceAcrossReplicas(t *testing.T) {
	url := storetest.PostgresURL(t)
	testNonceAcrossStores(t, storetest.OpenURL(t, url), func() store.Store { return storetest.OpenURL(t, url) })

	a, b := storetest.OpenURL(t, url), storetest.OpenURL(t, url)
	now := time.Now()
	for i := range 20 {
		nonce := auth.NewNonce()
		var (
			wg   sync.WaitGroup
			wins [2]bool
		)
		for j, s := range []store.Store{a, b} {
			wg.Go(func() {
				fresh, err := s.ClaimNonce(t.Context(), "replicaskeyx", nonce, now, now.Add(auth.NonceTTL))
				if err != nil {
					t.Error(err)
				}
				wins[j] = fresh
			})
		}
		wg.Wait()
		if wins[0] == wins[1] {
			t.Fatalf("round %d: replicas' claims of one nonce were fresh = %v, want exactly one", i, wins)
		}
	}
	if v1, err := a.InitSecret(t.Context(), auth.MasterKeyName, "from-a-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	} else if v2, err := b.InitSecret(t.Context(), auth.MasterKeyName, "from-b-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"); err != nil || v2 != v1 {
		t.Errorf("replicas' master keys differ: %q and %q (%v)", v1, v2, err)
	}
}

// testNonceAcrossStores claims a nonce in first and expects a store that
// reopen returns (another process or replica) to see it as spent.
func testNonceAcrossStores(t *testing.T, first store.Store, reopen func() store.Store) {
	t.Helper()
	now := time.Now()
	if fresh, err := first.ClaimNonce(t.Context(), "restartkeyxx", "nonce-before-restart", now, now.Add(auth.NonceTTL)); err != nil || !fresh {
		t.Fatalf("first claim = %v, %v", fresh, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := reopen()
	if fresh, err := second.ClaimNonce(t.Context(), "restartkeyxx", "nonce-before-restart", now.Add(time.Minute), now.Add(auth.NonceTTL)); err != nil || fresh {
		t.Errorf("claim through the other store = %v, %v; want a replay", fresh, err)
	}
}
