package playbooks

import (
	"errors"

	"github.com/secopsd/secopsd/internal/yamlnode"
)

// Sentinel errors classify every playbook problem; match them with
// errors.Is. Each is wrapped in an *Error that says where the problem is.
var (
	// ErrSyntax is malformed YAML, or more than one YAML document.
	ErrSyntax = yamlnode.ErrSyntax
	// ErrDuplicateKey is a key that appears twice in one mapping.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrUnknownKey is a key that the playbook schema does not have (for
	// the step's type).
	ErrUnknownKey = errors.New("unknown key")
	// ErrType is a value of the wrong YAML kind, such as a list where a
	// string belongs or "yes" for a boolean.
	ErrType = errors.New("wrong type")
	// ErrMissing is a required value that is absent.
	ErrMissing = errors.New("missing value")
	// ErrDuration is a value that does not parse as a duration, or one
	// outside its bounds.
	ErrDuration = errors.New("invalid duration")
	// ErrStepType is a step type that secopsd does not implement.
	ErrStepType = errors.New("unknown step type")
	// ErrDuplicateName is a playbook name used by two files, or a step
	// name used twice in one playbook.
	ErrDuplicateName = errors.New("duplicate name")
	// ErrTemplate is a body, message or argument template that does not
	// parse, or that uses a field the template data does not have.
	ErrTemplate = errors.New("invalid template")
	// ErrEnv is a malformed ${VAR} reference or environment variable name.
	ErrEnv = errors.New("invalid environment variable reference")
	// ErrURL is a URL that is not an absolute http or https URL.
	ErrURL = errors.New("invalid url")
	// ErrCommand is an exec command that is not an executable file.
	ErrCommand = errors.New("invalid command")
	// ErrUnsafe is a playbook that could act beyond what its author
	// meant: an automatic playbook that matches every incident, retries
	// of a step that is not idempotent, a verify step that may meet an
	// incident without a monitor, steps after an escalate step.
	ErrUnsafe = errors.New("unsafe playbook")
	// ErrInvalid is a value that has the right type but is out of range or
	// otherwise not allowed.
	ErrInvalid = errors.New("invalid value")
	// ErrNoPlaybooks is a playbook directory without any playbook file.
	ErrNoPlaybooks = errors.New("no playbooks")
)

// Error is one playbook problem located by file, line and key path (such
// as steps[2].timeout). Its message is meant for the person editing the
// file and never contains a secret: ${VAR} references are checked, never
// expanded, at load. It is the located error that internal/config reports
// too.
type Error = yamlnode.Error

// problems accumulates the located problems of one file.
type problems struct {
	file string
	errs []error
}

// add records a problem at line and path.
func (p *problems) add(line int, path string, sentinel error, msg string) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Path: path, Err: sentinel, Msg: msg})
}

// err returns the problems ordered by line and joined, or nil.
func (p *problems) err() error { return joinSorted(p.errs) }

// joinSorted orders located errors by file and line (stable) and joins
// them; nil when there are none.
func joinSorted(errs []error) error { return yamlnode.JoinSorted(errs) }
