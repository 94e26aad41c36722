package auth

import "context"

// Principal is who made an authenticated request: the key's public
// identity, never its secret.
type Principal struct {
	// KeyID is the id of the key used.
	KeyID string `json:"key_id"`
	// Name is the key's label.
	Name string `json:"name,omitempty"`
	// Role is the key's role.
	Role Role `json:"role"`
	// Signed reports whether the request carried a valid signature.
	Signed bool `json:"signed"`
}

// principalKey is the context key of the Principal.
type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of an authenticated request, set by
// Authenticator.Require.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
