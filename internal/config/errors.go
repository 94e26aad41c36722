package config

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Sentinel errors classify every configuration problem; match them with
// errors.Is. Each is wrapped in an *Error that says where the problem is.
var (
	// ErrSyntax is malformed YAML, or more than one YAML document.
	ErrSyntax = errors.New("invalid yaml")
	// ErrDuplicateKey is a key that appears twice in one mapping.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrUnknownKey is a key that the configuration schema does not have.
	ErrUnknownKey = errors.New("unknown key")
	// ErrType is a value of the wrong YAML kind or Go type, such as "abc"
	// for an integer or a list where a mapping belongs.
	ErrType = errors.New("wrong type")
	// ErrDuration is a value that does not parse as a non-negative Duration.
	ErrDuration = errors.New("invalid duration")
	// ErrEnv is a ${VAR} reference to an unset variable, or a malformed one.
	ErrEnv = errors.New("environment variable")
	// ErrSecret is a secret given both as a value and as a file, or whose
	// file cannot be read.
	ErrSecret = errors.New("invalid secret")
	// ErrMissing is a required value that is absent.
	ErrMissing = errors.New("missing value")
	// ErrUnknownType is a monitor type that secopsd does not implement.
	ErrUnknownType = errors.New("unknown monitor type")
	// ErrSchedule is a monitor schedule that the cron parser rejects.
	ErrSchedule = errors.New("invalid schedule")
	// ErrDuplicate is a monitor name used by more than one monitor.
	ErrDuplicate = errors.New("duplicate name")
	// ErrInvalid is a value that has the right type but is out of range or
	// otherwise not allowed.
	ErrInvalid = errors.New("invalid value")
)

// Error is one configuration problem located by file, line and key path.
// Its message is meant for the person editing the file and never contains a
// secret.
type Error struct {
	// File is the file name given to Load or Parse; it may be empty.
	File string
	// Line is the 1-based line of the offending key or value, 0 if unknown.
	Line int
	// Path is the key path such as monitors[0].expect.status; empty for the
	// document itself.
	Path string
	// Err is the cause: one of the sentinel errors, possibly wrapping
	// another error such as an fs.PathError.
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

// errorList accumulates located problems and joins them.
type errorList struct {
	file string
	errs []error
}

// add records a problem at line and path.
func (l *errorList) add(line int, path string, sentinel error, msg string) {
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Path: path, Err: sentinel, Msg: msg})
}

// err returns the problems joined, ordered by line, or nil.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sortStableByLine(l.errs)
	return errors.Join(l.errs...)
}

// sortStableByLine orders located errors by line, keeping the order of
// problems on the same line.
func sortStableByLine(errs []error) {
	line := func(err error) int {
		var e *Error
		if errors.As(err, &e) {
			return e.Line
		}
		return 0
	}
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(line(a), line(b)) })
}
