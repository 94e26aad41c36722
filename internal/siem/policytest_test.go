package siem

import (
	"errors"
	"strings"
	"testing"
)

// TestShippedPolicyTests runs the Rego tests of the shipped policies, so
// that go test (and make test) fails when a policy test does.
func TestShippedPolicyTests(t *testing.T) {
	for _, dir := range []string{shippedDir, ""} {
		var out strings.Builder
		passed, failed, err := RunPolicyTests(t.Context(), dir, &out)
		t.Logf("policy tests in %q:\n%s", dir, out.String())
		if err != nil {
			t.Fatalf("RunPolicyTests(%q): %v", dir, err)
		}
		if failed != 0 || passed == 0 {
			t.Errorf("RunPolicyTests(%q) = %d passed, %d failed; want >0 passed, 0 failed", dir, passed, failed)
		}
	}
}

func TestRunPolicyTestsReportsFailures(t *testing.T) {
	dir := writePolicies(t, true, map[string]string{"extra_test.rego": `package secopsd.extra_test

import data.secopsd.tier

test_passes if {
	tier.tier == "MAJOR" with input as {"severity": "high"}
}

test_fails if {
	tier.tier == "CRITICAL" with input as {"severity": "low"}
}

conflict := 1 if input.x

conflict := 2 if input.x

test_errors if {
	conflict == 1 with input as {"x": true}
}

todo_test_later if false
`})
	var out strings.Builder
	passed, failed, err := RunPolicyTests(t.Context(), dir, &out)
	if !errors.Is(err, ErrPolicyTestsFailed) {
		t.Fatalf("RunPolicyTests error = %v, want ErrPolicyTestsFailed", err)
	}
	if failed != 2 || passed == 0 {
		t.Errorf("got %d passed, %d failed; want 2 failed", passed, failed)
	}
	for _, want := range []string{
		"PASS  data.secopsd.extra_test.test_passes (",
		"FAIL  data.secopsd.extra_test.test_fails (",
		"extra_test.rego:9\n",
		"ERROR data.secopsd.extra_test.test_errors (",
		"SKIP  data.secopsd.extra_test.todo_test_later\n",
		" passed, 2 failed, 1 skipped (",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not contain %q:\n%s", want, out.String())
		}
	}
}

func TestRunPolicyTestsCompileError(t *testing.T) {
	dir := writePolicies(t, true, map[string]string{"broken_test.rego": `package secopsd.broken_test

test_broken if {
	x == 1
}
`})
	_, _, err := RunPolicyTests(t.Context(), dir, new(strings.Builder))
	if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "broken_test.rego:4: rego_unsafe_var_error") {
		t.Errorf("RunPolicyTests error = %v, want ErrInvalidPolicy naming broken_test.rego:4", err)
	}
}
