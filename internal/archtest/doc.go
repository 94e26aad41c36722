// Package archtest holds no code, only a test that enforces the package
// dependency direction of secopsd (cmd → internal/app → … → internal/event),
// so that a wrong import fails CI.
package archtest
