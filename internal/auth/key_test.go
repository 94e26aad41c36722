package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/store"
)

// openStore opens a fresh SQLite store, the real one the daemon uses.
func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "auth.db"), store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func masterKey(t testing.TB, st auth.SecretStore) []byte {
	t.Helper()
	mk, err := auth.LoadMasterKey(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

func TestCreateKeyStoresOnlyABcryptHashAtCost12(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	k, err := auth.CreateKey(context.Background(), st, masterKey(t, st), auth.KeySpec{Role: auth.RoleIngest, Name: "billing app", TTL: 90 * 24 * time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, ok := auth.ParseToken(k.Token)
	if !ok || id != k.Key.ID || len(k.Token) != auth.TokenLen || !strings.HasPrefix(k.Token, "secopsd_"+id+"_") {
		t.Fatalf("token %q does not parse back to key %s", k.Token, k.Key.ID)
	}
	if k.SigningSecret != "" {
		t.Error("an unsigned key got a signing secret")
	}
	stored, err := st.GetAPIKey(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(stored.SecretHash)); err != nil || cost != auth.DefaultCost || auth.DefaultCost != 12 {
		t.Errorf("stored hash cost = %d, %v; want 12", cost, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(stored.SecretHash), []byte(secret)) != nil {
		t.Error("the stored hash does not match the secret")
	}
	if strings.Contains(stored.SecretHash, secret) || strings.Contains(stored.SecretHash, k.Token) {
		t.Error("the secret is stored in clear")
	}
	if stored.Name != "billing app" || stored.Role != auth.RoleIngest || stored.RequireSignature ||
		!stored.CreatedAt.Equal(now) || stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(now.Add(90*24*time.Hour)) {
		t.Errorf("stored key = %+v", stored)
	}
}

func TestCreateKeyAdminAlwaysSigns(t *testing.T) {
	st := openStore(t)
	mk := masterKey(t, st)
	k, err := auth.CreateKey(context.Background(), st, mk, auth.KeySpec{Role: auth.RoleAdmin, Cost: bcrypt.MinCost}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !k.Key.RequireSignature || k.SigningSecret != auth.SigningSecret(mk, k.Key.ID) || len(k.SigningSecret) != 64 {
		t.Errorf("admin key = %+v, signing secret %d chars", k.Key, len(k.SigningSecret))
	}
	if strings.Contains(k.SigningSecret, string(mk)) {
		t.Error("the signing secret reveals the master key")
	}
	other, err := auth.CreateKey(context.Background(), st, mk, auth.KeySpec{Role: auth.RoleViewer, Signed: true, Cost: bcrypt.MinCost}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if other.SigningSecret == k.SigningSecret || other.Key.ID == k.Key.ID {
		t.Error("two keys share an id or a signing secret")
	}
}

func TestCreateKeyRejectsBadSpecs(t *testing.T) {
	st := openStore(t)
	mk := masterKey(t, st)
	for name, spec := range map[string]auth.KeySpec{
		"no role":        {},
		"unknown role":   {Role: "root"},
		"long name":      {Role: auth.RoleViewer, Name: strings.Repeat("n", auth.MaxKeyNameLen+1)},
		"control chars":  {Role: auth.RoleViewer, Name: "a\nb"},
		"negative ttl":   {Role: auth.RoleViewer, TTL: -time.Hour},
		"cost too small": {Role: auth.RoleViewer, Cost: 2},
	} {
		if _, err := auth.CreateKey(context.Background(), st, mk, spec, time.Now()); !errors.Is(err, auth.ErrInvalidSpec) {
			t.Errorf("%s: error = %v, want ErrInvalidSpec", name, err)
		}
	}
	if _, err := auth.CreateKey(context.Background(), st, []byte("short"), auth.KeySpec{Role: auth.RoleAdmin, Cost: bcrypt.MinCost}, time.Now()); err == nil {
		t.Error("an admin key was created with a short master key")
	}
	if keys, _ := st.ListAPIKeys(context.Background()); len(keys) != 0 {
		t.Errorf("rejected specs stored %d keys", len(keys))
	}
}

func TestParseTokenIsStrict(t *testing.T) {
	id, secret := "abcdefgh2345", strings.Repeat("q", 52)
	good := auth.FormatToken(id, secret)
	if gi, gs, ok := auth.ParseToken(good); !ok || gi != id || gs != secret {
		t.Fatalf("ParseToken(%q) = %q, %q, %v", good, gi, gs, ok)
	}
	for _, bad := range []string{
		"",
		"secopsd_",
		good[:len(good)-1],
		good + "q",
		strings.Replace(good, "secopsd_", "secopsx_", 1),
		strings.Replace(good, "_"+secret, "-"+secret, 1),
		strings.ToUpper(good),
		strings.Replace(good, "abcd", "ab1d", 1), // 1 is not in the alphabet
		good[:len(good)-1] + "=",
	} {
		if _, _, ok := auth.ParseToken(bad); ok {
			t.Errorf("ParseToken(%q) accepted a malformed token", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		have, need auth.Role
		ok         bool
	}{
		{auth.RoleAdmin, auth.RoleAdmin, true},
		{auth.RoleAdmin, auth.RoleViewer, true},
		{auth.RoleAdmin, auth.RoleIngest, true},
		{auth.RoleViewer, auth.RoleViewer, true},
		{auth.RoleViewer, auth.RoleIngest, false},
		{auth.RoleViewer, auth.RoleAdmin, false},
		{auth.RoleIngest, auth.RoleIngest, true},
		{auth.RoleIngest, auth.RoleViewer, false},
		{auth.RoleIngest, auth.RoleAdmin, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%s.Allows(%s) = %v, want %v", tc.have, tc.need, got, tc.ok)
		}
	}
	if r, err := auth.ParseRole(" Viewer "); err != nil || r != auth.RoleViewer {
		t.Errorf("ParseRole(Viewer) = %q, %v", r, err)
	}
	if _, err := auth.ParseRole("root"); err == nil {
		t.Error("ParseRole(root) succeeded")
	}
}

func TestMasterKey(t *testing.T) {
	st := openStore(t)
	a, b := masterKey(t, st), masterKey(t, st)
	if string(a) != string(b) || len(a) < auth.MinMasterKeyLen {
		t.Errorf("generated master key not kept: %d and %d bytes, equal %v", len(a), len(b), string(a) == string(b))
	}
	conf := []byte(strings.Repeat("k", 40))
	if got, err := auth.LoadMasterKey(context.Background(), st, conf); err != nil || string(got) != string(conf) {
		t.Errorf("configured master key not used: %v", err)
	}
	if _, err := auth.LoadMasterKey(context.Background(), st, []byte("short")); err == nil {
		t.Error("a short configured master key was accepted")
	}
}
