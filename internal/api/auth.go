package api

import (
	"net/http"

	"github.com/secopsd/secopsd/internal/auth"
)

// Guard authenticates and authorizes API requests: Require wraps a handler
// so that it runs only for a request whose API key has (or, for admin,
// implies) role, and puts the auth.Principal on the request's context.
// *auth.Authenticator implements it.
type Guard interface {
	Require(role auth.Role, h http.Handler) http.Handler
}

var _ Guard = (*auth.Authenticator)(nil)

// protect wraps h with the guard for role.
func (o *Options) protect(role auth.Role, h http.HandlerFunc) http.Handler {
	return o.Auth.Require(role, h)
}

// probe returns a health or readiness handler: public unless
// ProtectHealth, then for viewer keys.
func (o *Options) probe(h http.HandlerFunc) http.Handler {
	if o.ProtectHealth {
		return o.protect(auth.RoleViewer, h)
	}
	return h
}

// metrics returns the /metrics handler: for viewer keys unless
// PublicMetrics.
func (o *Options) metrics() http.Handler {
	if o.PublicMetrics {
		return o.Metrics
	}
	return o.Auth.Require(auth.RoleViewer, o.Metrics)
}

// noRoute answers 404 for a path no route serves. Under /api/ it runs
// behind the guard, so that clients without a key learn nothing of the
// API's routes (not even through 405).
func noRoute(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path)
}
