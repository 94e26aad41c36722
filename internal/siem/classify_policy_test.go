package siem

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/policies"
)

// correlationPrefix is the kind prefix of the events secopsd's correlation
// rules derive; classify.rego sends all of them to one rule.
const correlationPrefix = "correlation."

// classifyShape is what classifyPolicyShape learns of a classify.rego.
type classifyShape struct {
	// kinds maps each kind with a top-level decision rule to its line.
	kinds map[string]int
	// correlationKinds are the correlation.* kinds the correlation rule's
	// else-chain tells apart.
	correlationKinds []string
	// problems are the departures from the promised shape, "LINE: what".
	problems []string
}

// kindConstant returns the string constant of expr when expr compares
// input.kind with it using op (equal or startswith).
func kindConstant(expr *ast.Expr, op ast.Ref) (string, bool) {
	if !expr.IsCall() || !expr.Operator().Equal(op) || len(expr.Operands()) != 2 || expr.Negated {
		return "", false
	}
	a, b := expr.Operand(0), expr.Operand(1)
	if op.Equal(ast.Equal.Ref()) {
		if _, ok := a.Value.(ast.String); ok {
			a, b = b, a
		}
	}
	s, ok := b.Value.(ast.String)
	if !ok || !a.Equal(ast.MustParseTerm("input.kind")) {
		return "", false
	}
	return string(s), true
}

// classifyPolicyShape checks the rule shapes classify.rego's header
// promises, on which both OPA's rule index and the "exactly one decision"
// guarantee rest: every top-level decision rule is led by input.kind ==
// a constant of its own (none of them a correlation.* kind) or, once, by
// startswith(input.kind, "correlation."); no decision rule has an else;
// every else-chain ends in an unconditional else; one default decision.
func classifyPolicyShape(src string) (classifyShape, error) {
	mod, err := ast.ParseModuleWithOpts("classify.rego", src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return classifyShape{}, err
	}
	shape := classifyShape{kinds: map[string]int{}}
	problem := func(row int, format string, args ...any) {
		shape.problems = append(shape.problems, fmt.Sprintf("%d: ", row)+fmt.Sprintf(format, args...))
	}
	prefixRules, defaults := 0, 0
	for _, r := range mod.Rules {
		row := r.Location.Row
		if r.Else != nil {
			last := r.Else
			for last.Else != nil {
				last = last.Else
			}
			if last.Body.String() != "true" {
				problem(row, "%s: the else-chain ends in a conditional else", r.Head.Ref())
			}
		}
		switch r.Head.Ref().String() {
		case "decision":
		case "correlation":
			for b := r; b != nil; b = b.Else {
				if kind, ok := kindConstant(b.Body[0], ast.Equal.Ref()); ok {
					if !strings.HasPrefix(kind, correlationPrefix) {
						problem(b.Location.Row, "correlation branch for %q, not a %s kind", kind, correlationPrefix)
					}
					shape.correlationKinds = append(shape.correlationKinds, kind)
				}
			}
			continue
		default:
			continue
		}
		if r.Default {
			defaults++
			continue
		}
		if r.Else != nil {
			problem(row, "a decision rule has an else; write the branches in a helper")
		}
		if kind, ok := kindConstant(r.Body[0], ast.Equal.Ref()); ok {
			if prev, dup := shape.kinds[kind]; dup {
				problem(row, "a second decision rule for kind %q (first at line %d)", kind, prev)
			}
			if strings.HasPrefix(kind, correlationPrefix) {
				problem(row, "decision rule for %q: correlation kinds belong in the correlation rule", kind)
			}
			shape.kinds[kind] = row
			continue
		}
		if prefix, ok := kindConstant(r.Body[0], ast.StartsWith.Ref()); ok && prefix == correlationPrefix {
			prefixRules++
			continue
		}
		problem(row, "decision rule not led by input.kind == \"<kind>\": %s", r.Body[0])
	}
	if defaults != 1 || prefixRules != 1 {
		problem(0, "%d default decisions and %d correlation prefix rules, want one of each", defaults, prefixRules)
	}
	return shape, nil
}

// TestClassifyPolicyShape checks the shipped classify.rego against
// classifyPolicyShape, that every kind it classifies is exercised by
// classify_test.rego, and that each classifies without error (a conflict
// between rules would be one).
func TestClassifyPolicyShape(t *testing.T) {
	src, err := fs.ReadFile(policies.FS, "classify.rego")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := fs.ReadFile(policies.FS, "classify_test.rego")
	if err != nil {
		t.Fatal(err)
	}
	shape, err := classifyPolicyShape(string(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range shape.problems {
		t.Errorf("classify.rego:%s", p)
	}
	if len(shape.kinds) < 10 || len(shape.correlationKinds) < 2 {
		t.Fatalf("found kinds %v and correlation kinds %v: the parse missed the rules", shape.kinds, shape.correlationKinds)
	}

	known := shape.correlationKinds
	for kind := range shape.kinds {
		known = append(known, kind)
	}
	for _, kind := range known {
		if !strings.Contains(string(tests), `"`+kind+`"`) {
			t.Errorf("classify_test.rego never mentions kind %q", kind)
		}
	}
	c := newTestClassifier(t, ClassifierOptions{})
	for _, kind := range append(known, "correlation.unconfigured", "no.such.kind") {
		for _, attrs := range []map[string]string{nil, {"count": "100000", "days_left": "1", "records": "100000"}} {
			ev := &event.Event{Kind: kind, Source: "app", Outcome: event.OutcomeFail, Attributes: attrs}
			if err := c.Classify(t.Context(), ev); err != nil {
				t.Errorf("classify %q: %v", kind, err)
			}
		}
	}
}

// TestClassifyPolicyShapeFindsProblems feeds classifyPolicyShape the
// shipped policy with one rule appended that breaks the promised shape.
func TestClassifyPolicyShapeFindsProblems(t *testing.T) {
	src, err := fs.ReadFile(policies.FS, "classify.rego")
	if err != nil {
		t.Fatal(err)
	}
	obj := `{"severity": "low", "category": "c", "open_incident": false, "reason": "r"}`
	tests := []struct{ name, rule, want string }{
		{"correlation kind as a decision rule", `decision := ` + obj + ` if input.kind == "correlation.credential_stuffing"`,
			`correlation kinds belong in the correlation rule`},
		{"duplicate kind", `decision := ` + obj + ` if input.kind == "deploy"`, `a second decision rule for kind "deploy"`},
		{"not led by the kind", `decision := ` + obj + ` if input.source == "x"`, `not led by input.kind == "<kind>"`},
		{"negated kind", `decision := ` + obj + ` if not input.kind == "x"`, `not led by input.kind == "<kind>"`},
		{"kind second", `decision := ` + obj + " if {\n\tinput.source == \"x\"\n\tinput.kind == \"y\"\n}", `not led by input.kind == "<kind>"`},
		{"decision with an else", `decision := ` + obj + ` if input.kind == "x" else := ` + obj, `a decision rule has an else`},
		{"conditional last else", `helper := 1 if input.a == "1" else := 2 if input.a == "2"`, `helper: the else-chain ends in a conditional else`},
		{"second prefix rule", `decision := ` + obj + ` if startswith(input.kind, "correlation.")`, `2 correlation prefix rules`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shape, err := classifyPolicyShape(string(src) + "\n" + tt.rule + "\n")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(shape.problems, "\n"), tt.want) {
				t.Errorf("problems %q, want one containing %q", shape.problems, tt.want)
			}
		})
	}
}
