// Package auth secures secopsd's own HTTP API: API keys with roles (admin,
// viewer, ingest), stored only as bcrypt hashes and verified once, then
// cached under a keyed digest; HMAC-SHA256 request signatures with replay
// protection (a timestamp window and nonces remembered in the store, so
// across restarts and replicas); and rate limits per key and per source IP,
// stricter for failed authentications. Rate-limit hits and authentication
// failures are recorded as SIEM events through a Recorder.
//
// A key is a token of the form secopsd_<id>_<secret>: the 12-character id
// is public (it names the key in listings, logs and events); the secret is
// 32 random bytes that only the key's holder knows. Both are lower-case
// base32, so a token is one double-clickable word.
//
// The package depends on nothing of secopsd but internal/event: it declares
// the Store it needs and internal/store implements it.
package auth
