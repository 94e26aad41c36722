package siem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/secopsd/secopsd/policies"
)

// ErrInvalidPolicy is wrapped by every error about a policy set that cannot
// be used: a file that cannot be read, parsed or compiled, or a required
// rule that is missing.
var ErrInvalidPolicy = errors.New("invalid policy")

// embeddedPrefix names the embedded default policies in error messages, as
// they sit in the source tree.
const embeddedPrefix = "policies"

// loadModules parses the *.rego files at the top of dir ("" selects the
// embedded defaults) as Rego v1, including *_test.rego files only when
// withTests is set. Modules are keyed by their display path (the path on
// disk, or policies/NAME for an embedded file), which is also the file name
// every parse and compile error reports.
func loadModules(dir string, withTests bool) (map[string]*ast.Module, error) {
	var (
		fsys   fs.FS = policies.FS
		prefix       = embeddedPrefix
		join         = path.Join
	)
	if dir != "" {
		fsys, prefix, join = os.DirFS(dir), dir, filepath.Join
	}
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return nil, fmt.Errorf("%w: list %s: %w", ErrInvalidPolicy, prefix, err)
	}
	slices.Sort(names)
	mods := make(map[string]*ast.Module, len(names))
	var errs ast.Errors
	for _, name := range names {
		if !withTests && strings.HasSuffix(name, "_test.rego") {
			continue
		}
		file := join(prefix, name)
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %w", ErrInvalidPolicy, file, err)
		}
		m, err := ast.ParseModuleWithOpts(file, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			parseErrs, ok := astErrors(err)
			if !ok {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidPolicy, file, err)
			}
			errs = append(errs, parseErrs...)
			continue
		}
		mods[file] = m
	}
	if len(errs) > 0 {
		return nil, newPolicyError(errs)
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("%w: no *.rego policies in %s", ErrInvalidPolicy, prefix)
	}
	return mods, nil
}

// newCompiler returns the compiler every policy set is compiled with: Rego
// v1 in strict mode, so unused variables and imports are errors too.
func newCompiler() *ast.Compiler {
	return ast.NewCompiler().
		WithDefaultRegoVersion(ast.RegoV1).
		WithStrict(true)
}

// policyError reports parse and compile errors, one per line, each starting
// with FILE:LINE so that editors and terminals can jump to it.
type policyError struct {
	lines []string
}

func newPolicyError(errs ast.Errors) error {
	pe := &policyError{lines: make([]string, 0, len(errs))}
	for _, e := range errs {
		var b strings.Builder
		if loc := e.Location; loc != nil {
			file := loc.File
			if file == "" {
				file = "<query>"
			}
			b.WriteString(file)
			if loc.Row > 0 {
				fmt.Fprintf(&b, ":%d", loc.Row)
			}
			b.WriteString(": ")
		}
		b.WriteString(e.Code)
		b.WriteString(": ")
		b.WriteString(e.Message)
		pe.lines = append(pe.lines, b.String())
	}
	return pe
}

// astErrors extracts the located errors of the parser or compiler from err.
func astErrors(err error) (ast.Errors, bool) {
	var errs ast.Errors
	if errors.As(err, &errs) {
		return errs, true
	}
	var one *ast.Error
	if errors.As(err, &one) {
		return ast.Errors{one}, true
	}
	return nil, false
}

func (e *policyError) Error() string { return strings.Join(e.lines, "\n") }

// Unwrap lets errors.Is match ErrInvalidPolicy.
func (e *policyError) Unwrap() error { return ErrInvalidPolicy }
