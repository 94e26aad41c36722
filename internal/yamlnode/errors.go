// Package yamlnode holds what the strict YAML decoders of internal/config
// and playbooks share: problems located as "file:line: key.path: message",
// parsing exactly one document into a yaml.Node tree, naming nodes, values
// and key paths in messages, suggesting the key that was meant, and ${VAR}
// substitution. It imports nothing from the module, so that both may
// depend on it.
package yamlnode

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// ErrSyntax is malformed YAML, or more than one YAML document; Document
// wraps it in every *Error it returns.
var ErrSyntax = errors.New("invalid yaml")

// Error is one problem of a YAML file located by file, line and key path.
// Its message is meant for the person editing the file and never contains a
// secret.
type Error struct {
	// File is the file's name as the caller gave it; it may be empty.
	File string
	// Line is the 1-based line of the offending key or value, 0 if unknown.
	Line int
	// Path is the key path such as monitors[0].expect.status or
	// steps[2].timeout; empty for the document itself.
	Path string
	// Err is the cause: a sentinel error of the decoding package, possibly
	// wrapping another error such as an fs.PathError.
	Err error
	// Msg describes the problem; empty means Err's text.
	Msg string
}

// Error formats the problem on one line: "file:line: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	// Keep the promise of one line per problem even if a cause (such as
	// an OS error) spans several.
	b.WriteString(strings.ReplaceAll(msg, "\n", " "))
	return b.String()
}

// Unwrap returns the cause, so that errors.Is matches the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// JoinSorted orders errs in place by file and then line, keeping the order
// of problems on the same line (errors that are not an *Error count as
// file "" line 0), and joins them; nil when there are none.
func JoinSorted(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	key := func(err error) (string, int) {
		var e *Error
		if errors.As(err, &e) {
			return e.File, e.Line
		}
		return "", 0
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		fa, la := key(a)
		fb, lb := key(b)
		return cmp.Or(cmp.Compare(fa, fb), cmp.Compare(la, lb))
	})
	return errors.Join(errs...)
}
