// Package retention enforces how long secopsd keeps each kind of data: a
// Purger deletes raw events, expired nonces of signed requests, stale
// correlation state and ended web UI sessions on a schedule (or once, for
// `secopsd purge`), and records every purge that deleted something — and
// every purge of raw events — in the store's append-only purge log, as a
// secopsd.retention.purge event, in the log and in Prometheus metrics.
//
// Incident timelines are never purged (they are kept until explicitly
// archived), and purging events cannot break a timeline's hash chain: a
// timeline entry holds its own copy of each event it refers to (id, time,
// kind, attributes…), so it never reads the events table again.
//
// The package depends on nothing of secopsd but internal/event: it
// declares the Store it needs, and internal/store implements it.
package retention
