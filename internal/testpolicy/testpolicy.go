// Package testpolicy builds policy directories for tests: the shipped
// policies with some files replaced, so that a test can force a decision
// (for example an actions policy that always requires approval) while the
// rest of the policy set stays the production one.
package testpolicy

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secopsd/secopsd/policies"
)

// AlwaysApprove is an actions policy that requires a human approval for
// every side-effecting step, denying it at the deadline.
const AlwaysApprove = `package secopsd.actions

decision := {
	"decision": "require_approval",
	"reasons": ["every step needs a human in this test"],
	"timeout": "30m",
	"on_timeout": "deny",
}
`

// Dir writes the shipped policies (without their tests) into a temporary
// directory, replacing the files named in overrides (file name → Rego
// source; an empty source removes the file), and returns the directory.
func Dir(t testing.TB, overrides map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	names, err := fs.Glob(policies.FS, "*.rego")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.rego") {
			continue // a replaced rule would fail its shipped tests
		}
		if _, replaced := overrides[name]; replaced {
			continue
		}
		data, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range overrides {
		if src == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
