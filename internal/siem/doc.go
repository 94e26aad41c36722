// Package siem turns raw observations into classified events: ingestion,
// minimization, correlation and the classifier, which evaluates the Rego
// policies of package policies (or of a configured directory) with an
// embedded, prepared OPA query.
package siem
