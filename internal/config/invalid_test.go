package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// typeInvalidCase is one invalid configuration file: the sentinel it must
// fail with, on which line, at which key path.
type typeInvalidCase struct {
	want error
	line int
	path string // empty for a problem of the document itself
}

// typeInvalidDir holds the invalid configurations of the access, ui,
// ratelimit, remediation and http expect.json keys, whose tables
// TestTypeInvalidFilesAreTabled checks together. They live apart from
// testdata/invalid-*.yml, whose table (TestInvalidConfigs) must list every
// file of that directory.
const typeInvalidDir = "testdata/bytype"

// runSectionInvalid checks that every invalid file of dir is in tests
// (see checkTabled) and runs runInvalidFiles over them.
func runSectionInvalid(t *testing.T, dir string, tests map[string]typeInvalidCase, secrets ...string) {
	t.Helper()
	checkTabled(t, dir, tests)
	runInvalidFiles(t, dir, tests, secrets...)
}

// runTypeInvalid runs runInvalidFiles over a table of typeInvalidDir; that
// every file there is in some table is TestTypeInvalidFilesAreTabled's
// check.
func runTypeInvalid(t *testing.T, tests map[string]typeInvalidCase, secrets ...string) {
	t.Helper()
	runInvalidFiles(t, typeInvalidDir, tests, secrets...)
}

// checkTabled fails t for each invalid file of dir that has no entry in
// tests, and if dir has no invalid file at all.
func checkTabled(t *testing.T, dir string, tests map[string]typeInvalidCase) {
	t.Helper()
	missing, n, err := untabled(dir, tests)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no invalid configuration files in %s", dir)
	}
	for _, f := range missing {
		t.Errorf("%s has no entry in the table", f)
	}
}

// untabled returns the invalid files of dir (every *.yml but valid-*.yml)
// that have no entry in tests, and how many invalid files dir has.
func untabled(dir string, tests map[string]typeInvalidCase) (missing []string, n int, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, 0, err
	}
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "valid-") {
			continue
		}
		n++
		if _, ok := tests[name]; !ok {
			missing = append(missing, f)
		}
	}
	return missing, n, nil
}

// runInvalidFiles parses each file of tests, in dir, and checks that it
// fails, without a config, with exactly one located problem: its
// sentinel, file, line and key path (empty for the document itself), a
// message that starts "file:line: path: " and is one line, and that leaks
// none of secrets.
func runInvalidFiles(t *testing.T, dir string, tests map[string]typeInvalidCase, secrets ...string) {
	t.Helper()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := parse(data, path, testEnv)
			if err == nil {
				t.Fatal("parse succeeded")
			}
			if cfg != nil {
				t.Error("parse returned a config with an error")
			}
			t.Log(err)
			errs := located(t, err)
			if len(errs) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%v", len(errs), err)
			}
			e := errs[0]
			if !errors.Is(err, tc.want) {
				t.Errorf("errors.Is(err, %v) = false; err = %v", tc.want, err)
			}
			if e.File != path || e.Line != tc.line || e.Path != tc.path {
				t.Errorf("located at %s:%d, path %q; want %s:%d, path %q (%v)", e.File, e.Line, e.Path, path, tc.line, tc.path, err)
			}
			msg := err.Error()
			prefix := path + ":" + strconv.Itoa(tc.line) + ": "
			if tc.path != "" {
				prefix += tc.path + ": "
			}
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("message %q does not start with %q", msg, prefix)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("message leaks secret %q: %s", s, msg)
				}
			}
		})
	}
}

// TestTypeInvalidFilesAreTabled checks that every file of typeInvalidDir
// is in one of the tables of the access, ui, ratelimit, http json and
// remediation tests.
func TestTypeInvalidFilesAreTabled(t *testing.T) {
	all := map[string]typeInvalidCase{}
	for _, table := range []map[string]typeInvalidCase{accessInvalid(), uiInvalid(), rateLimitInvalid(), httpJSONInvalid(), remediationInvalid()} {
		for name, tc := range table {
			if _, dup := all[name]; dup {
				t.Errorf("%s is in two tables", name)
			}
			all[name] = tc
		}
	}
	checkTabled(t, typeInvalidDir, all)
}

// TestUntabled checks the coverage check itself: a file without an entry
// is reported, valid-*.yml files and other extensions are not.
func TestUntabled(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"invalid-a.yml", "invalid-b.yml", "other.yml", "valid-c.yml", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x: 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing, n, err := untabled(dir, map[string]typeInvalidCase{"invalid-a.yml": {}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "invalid-b.yml"), filepath.Join(dir, "other.yml")}
	if n != 3 || !slices.Equal(missing, want) {
		t.Errorf("untabled = %q, %d; want %q, 3", missing, n, want)
	}
}
