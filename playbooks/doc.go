// Package playbooks loads secopsd's incident playbooks and runs their
// steps.
//
// A playbook is one YAML file: a name, which incidents it matches
// (categories, monitors, tiers, severities), whether it may run
// automatically, and a list of steps of the types the engine knows (http,
// exec, notify, wait, verify, build, escalate). The four default playbooks
// are embedded in the binary (auth.yml, ui.yml, ratelimit.yml,
// fallback.yml); a configured directory replaces them. Loading is strict:
// an unknown key, a wrong type, a bad duration or a cross-check that fails
// is an *Error naming the file, the line and the key, and every problem of
// a file is reported at once.
//
// A Set implements incident.PlaybookSource and an Executor implements
// incident.StepRunner. The executor never uses a shell, bounds every step
// by its timeout, resolves ${VAR} references and signing keys from the
// environment only when a step runs, signs webhooks with HMAC-SHA256 (see
// Sign and VerifySignature), and removes secrets from everything it
// returns or logs. See README.md in this directory for the file format.
package playbooks
