// Package policies holds secopsd's default Rego policies (classification,
// incident tiers and the guardrail of automated remediation) and their
// tests, compiled into the binary and used when the configuration names no
// policy directory.
package policies

import "embed"

// FS holds every default policy and policy test (*.rego and *_test.rego) at
// its root.
//
//go:embed *.rego
var FS embed.FS
