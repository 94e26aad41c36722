package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/secopsd/secopsd/internal/store"
)

// PostgresURLEnv names the environment variable holding the PostgreSQL
// server tests use; DefaultPostgresURL applies when it is unset.
const (
	PostgresURLEnv     = "SECOPSD_TEST_DATABASE_URL"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test"
)

// postgresHelp tells a developer how to get a test server.
const postgresHelp = `start one with: docker run -d --rm -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:17, or point ` + PostgresURLEnv + ` at a server`

// OpenURL opens the store at url with migrations applied and closes it when
// the test ends.
func OpenURL(t testing.TB, url string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, store.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// SQLiteURL returns the URL of a fresh SQLite database file in the test's
// temporary directory.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "secopsd.db")
}

// PostgresURL returns the URL of a fresh, empty schema on the test
// PostgreSQL server ($SECOPSD_TEST_DATABASE_URL, by default
// postgres://postgres@127.0.0.1:5432/test): connections made with it use
// that schema through search_path, so goose's version table lands there
// too and parallel tests do not collide. The schema is dropped when the
// test ends. If the server cannot be reached the test is skipped, or fails
// when $CI is set.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		base = DefaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL, got %s", PostgresURLEnv, store.RedactURL(base))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := "postgres not reachable at " + store.RedactURL(base) + ": " + strings.Join(strings.Fields(err.Error()), " ") + "; " + postgresHelp
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer func() { _ = conn.Close(context.Background()) }()

	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "secopsd_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already done when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
