// Package forward sends secopsd's stored events to the team's existing
// SIEM: a webhook output (NDJSON batches over HTTP, optionally signed with
// HMAC-SHA256) and a syslog output (RFC 5424 over TCP with octet-counting
// framing, RFC 6587, or over TLS, RFC 5425).
//
// A Forwarder is a tail of the durable event log, not a hook in the
// ingestion path: it reads events in the order the store received them,
// from a position persisted per output, and moves that position only after
// the output accepted the batch. So every stored event (monitor results,
// ingested, correlated, secopsd's own) is forwarded at least once, nothing
// is lost by a restart or an outage of the receiver, and ingestion latency
// does not depend on the receiver. A batch that fails is retried, the same
// events in the same order, with exponential backoff and jitter; events
// are never skipped, not even after a permanent refusal.
package forward
