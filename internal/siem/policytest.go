package siem

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// ErrPolicyTestsFailed is wrapped by the error RunPolicyTests returns when a
// policy test fails or errors.
var ErrPolicyTestsFailed = errors.New("policy tests failed")

// RunPolicyTests runs every Rego test (test_* rules, usually in *_test.rego)
// among the policies in dir, or among the embedded defaults when dir is "".
// It writes one PASS, FAIL, ERROR or SKIP line per test and a summary to w,
// and returns an error when a test does not pass (wrapping
// ErrPolicyTestsFailed) or a policy does not compile (wrapping
// ErrInvalidPolicy, one FILE:LINE line per problem).
func RunPolicyTests(ctx context.Context, dir string, w io.Writer) (passed, failed int, err error) {
	mods, err := loadModules(dir, true)
	if err != nil {
		return 0, 0, err
	}
	ch, err := tester.NewRunner().
		SetCompiler(newCompiler().WithEnablePrintStatements(true)).
		SetDefaultRegoVersion(ast.RegoV1).
		CapturePrintOutput(true).
		SetModules(mods).
		RunTests(ctx, nil)
	if err != nil {
		if astErrs, ok := astErrors(err); ok {
			return 0, 0, newPolicyError(astErrs)
		}
		return 0, 0, fmt.Errorf("run policy tests: %w", err)
	}

	// Results arrive in completion order; report them in source order.
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	slices.SortFunc(results, func(a, b *tester.Result) int {
		return cmp.Or(
			cmp.Compare(location(a).File, location(b).File),
			cmp.Compare(location(a).Row, location(b).Row),
			cmp.Compare(a.Name, b.Name),
		)
	})

	var skipped int
	var total time.Duration
	for _, r := range results {
		name := r.Package + "." + r.Name
		total += r.Duration
		switch {
		case r.Skip:
			skipped++
			fmt.Fprintf(w, "SKIP  %s\n", name)
		case r.Error != nil:
			failed++
			fmt.Fprintf(w, "ERROR %s (%s): %s: %v\n", name, r.Duration, position(r), r.Error)
		case r.Fail:
			failed++
			fmt.Fprintf(w, "FAIL  %s (%s): %s\n", name, r.Duration, position(r))
		default:
			passed++
			fmt.Fprintf(w, "PASS  %s (%s)\n", name, r.Duration)
		}
		if len(r.Output) > 0 && !r.Pass() {
			fmt.Fprintf(w, "      output: %s\n", r.Output)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped (%s)\n", passed, failed, skipped, total)
	if failed > 0 {
		return passed, failed, fmt.Errorf("%w: %d of %d", ErrPolicyTestsFailed, failed, passed+failed)
	}
	return passed, failed, nil
}

func location(r *tester.Result) ast.Location {
	if r.Location == nil {
		return ast.Location{}
	}
	return *r.Location
}

func position(r *tester.Result) string {
	loc := location(r)
	return fmt.Sprintf("%s:%d", loc.File, loc.Row)
}
