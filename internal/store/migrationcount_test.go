package store_test

import (
	"path/filepath"
	"testing"
)

// migrationCount returns how many migrations the backend's directory
// holds, which is what Migrate applies to a brand-new database.
func migrationCount(t testing.TB, backend string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", backend, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations for %s: %v", backend, err)
	}
	return len(files)
}
