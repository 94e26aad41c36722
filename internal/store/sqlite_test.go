package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.SQLiteURL(t))
	})
}

func TestSQLiteRelativePathCreatesDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := store.Open(t.Context(), "sqlite://./data/nested/secopsd.db", store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat("data/nested")
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o750 != 0 {
		t.Errorf("directory created with mode %v, want at most 0750", perm)
	}
	if _, err := os.Stat("data/nested/secopsd.db"); err != nil {
		t.Errorf("database file: %v", err)
	}
	if got := s.(*store.SQLite).Path(); got != "./data/nested/secopsd.db" {
		t.Errorf("Path() = %q", got)
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := storetest.OpenURL(t, storetest.SQLiteURL(t)).(*store.SQLite)
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "2", // FULL
		"busy_timeout": "10000",
	} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestSQLiteMigrateAndReopen(t *testing.T) {
	url := storetest.SQLiteURL(t)
	s, err := store.Open(t.Context(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Migrate(t.Context())
	if want := migrationCount(t, "sqlite"); err != nil || n != want {
		t.Fatalf("first Migrate = %d, %v; want %d, nil", n, err, want)
	}
	inc, err := s.CreateIncident(t.Context(), incident.Incident{Fingerprint: "persist", Title: "kept"},
		incident.Entry{Time: fixedTime(), Kind: incident.KindOpened})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = storetest.OpenURL(t, url)
	got, err := s.GetIncident(t.Context(), inc.ID)
	if err != nil || got.Title != "kept" {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
	if n, err := s.Migrate(t.Context()); err != nil || n != 0 {
		t.Errorf("Migrate after reopening = %d, %v; want 0, nil", n, err)
	}
}

// TestSQLiteTwoHandlesOneFile races two stores on one file, as two
// processes would: still exactly one unresolved incident per fingerprint.
func TestSQLiteTwoHandlesOneFile(t *testing.T) {
	url := storetest.SQLiteURL(t)
	a, b := storetest.OpenURL(t, url), storetest.OpenURL(t, url)
	raceCreate(t, []store.Store{a, b}, 16)
}

func TestSQLiteRejectsBadPaths(t *testing.T) {
	dir := t.TempDir()
	for _, url := range []string{
		"sqlite://",
		"sqlite://:memory:",
		"sqlite://file:x.db",
		"sqlite://" + filepath.Join(dir, "x.db") + "?mode=ro",
	} {
		s, err := store.Open(t.Context(), url, store.Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q) error = %v, want ErrInvalid", url, err)
		}
	}
}

func BenchmarkCreateAndAppendSQLite(b *testing.B) {
	benchCreateAndAppend(b, storetest.OpenURL(b, storetest.SQLiteURL(b)))
}

// raceCreate has n goroutines spread over stores create an incident with
// one fingerprint and checks that exactly one exists afterwards.
func raceCreate(t *testing.T, stores []store.Store, n int) {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for i := range n {
		s := stores[i%len(stores)]
		wg.Go(func() {
			_, err := s.CreateIncident(t.Context(), incident.Incident{Fingerprint: "shared", Title: "race"},
				incident.Entry{Time: fixedTime(), Kind: incident.KindOpened})
			switch {
			case err == nil:
				mu.Lock()
				created++
				mu.Unlock()
			case !errors.Is(err, incident.ErrDuplicateOpen):
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Errorf("%d racers created an incident, want 1", created)
	}
	incs, err := stores[0].ListIncidents(t.Context(), incident.Filter{Fingerprint: "shared"})
	if err != nil || len(incs) != 1 {
		t.Errorf("ListIncidents(shared) = %d incidents, %v; want 1", len(incs), err)
	}
}

// Several processes (here: handles) starting on one brand-new SQLite file
// migrate it exactly once; none fails with "table already exists".
func TestSQLiteConcurrentFirstMigration(t *testing.T) {
	for round := range 30 {
		url := storetest.SQLiteURL(t)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		applied := make([]int, 8)
		for i := range errs {
			wg.Go(func() {
				s, err := store.Open(t.Context(), url, store.Options{})
				if err != nil {
					errs[i] = err
					return
				}
				defer s.Close()
				applied[i], errs[i] = s.Migrate(t.Context())
			})
		}
		wg.Wait()
		total := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, handle %d: %v", round, i, err)
			}
			total += applied[i]
		}
		if want := migrationCount(t, "sqlite"); total != want {
			t.Fatalf("round %d: %d migrations applied in total, want %d", round, total, want)
		}
	}
}
