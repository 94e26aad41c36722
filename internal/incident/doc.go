// Package incident is the incident engine: it turns classified events into
// incidents (one per fingerprint), resolves them on recovery, chooses their
// tier and records every step in a per-incident, hash-chained, append-only
// timeline. It declares the interfaces it needs (Store, Notifier, Tierer,
// Clock) and imports no network, SQL, policy or chat code.
package incident
