package auth

import (
	"fmt"
	"net/http"
	"time"
)

// SignInError is a refused sign-in with a token outside the Authorization
// header (the web UI's sign-in form). Reason is one of the Reason
// constants, or "rate_limited"; it is for records, never for the person
// signing in, who is told only that the key was not accepted.
type SignInError struct {
	// Reason is why the token was refused.
	Reason string
	// KeyID is the key the token named, when it was well-formed.
	KeyID string
	// RetryAfter is set when the address had no attempts left.
	RetryAfter time.Duration
}

// Error names the reason; it never includes the token.
func (e *SignInError) Error() string { return "sign-in refused: " + e.Reason }

// ReasonRateLimited is the Reason of a sign-in refused because its address
// has spent its failed-authentication budget.
const ReasonRateLimited = "rate_limited"

// Authenticate verifies token (secopsd_<id>_<secret>) sent by r outside
// the Authorization header, as the web UI's sign-in form does, with the
// same key cache, bcrypt bound and per-address failure limit as Require.
// A key's signature requirement does not apply: the caller replaces it
// with its own session and anti-forgery protection. A refusal is a
// *SignInError (spending one of the address's failure tokens, unless it
// had none left); a store failure is another error. The caller records
// refusals itself.
func (a *Authenticator) Authenticate(r *http.Request, token string) (Principal, error) {
	now := a.opts.Now()
	ip := addrKey(clientAddr(r, a.opts.TrustedProxies))
	fl := a.opts.Limits.AuthFailure
	if limited, d := a.limiters.exhausted(ClassAuthFailure+"|ip|"+ip, fl, now); limited {
		a.opts.Observer.RateLimited(ClassAuthFailure, "ip")
		return Principal{}, &SignInError{Reason: ReasonRateLimited, RetryAfter: d}
	}
	hr := &http.Request{Header: http.Header{"Authorization": {"Bearer " + token}}}
	e, reason, keyID, err := a.authenticate(r.Context(), hr, now)
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if reason != "" {
		a.limiters.take(fl, now, ClassAuthFailure+"|ip|"+ip)
		a.opts.Observer.AuthFailed(reason)
		return Principal{}, &SignInError{Reason: reason, KeyID: keyID}
	}
	a.hits.touch(e.key.ID, now)
	a.opts.Observer.Authenticated(e.key.Role)
	return Principal{KeyID: e.key.ID, Name: e.key.Name, Role: e.key.Role}, nil
}
