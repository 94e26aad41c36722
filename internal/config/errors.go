package config

import (
	"errors"

	"github.com/secopsd/secopsd/internal/yamlnode"
)

// Sentinel errors classify every configuration problem; match them with
// errors.Is. Each is wrapped in an *Error that says where the problem is.
var (
	// ErrSyntax is malformed YAML, or more than one YAML document.
	ErrSyntax = yamlnode.ErrSyntax
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

// Error is one configuration problem located by file, line and key path
// (such as monitors[0].expect.status). Its message is meant for the person
// editing the file and never contains a secret. It is the located error
// that playbooks report too.
type Error = yamlnode.Error

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
func (l *errorList) err() error { return yamlnode.JoinSorted(l.errs) }
