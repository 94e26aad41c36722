package auth

import (
	"fmt"
	"strings"
)

// Role is what an API key may do.
type Role string

// The roles. Admin may use every route; viewer reads incidents, events and
// metrics; ingest pushes events.
const (
	RoleAdmin  Role = "admin"
	RoleViewer Role = "viewer"
	RoleIngest Role = "ingest"
)

// Roles lists the roles in a stable order, for messages and help text.
var roles = []Role{RoleAdmin, RoleViewer, RoleIngest}

// ParseRole turns a role name into a Role.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("unknown role %q (want admin, viewer or ingest)", s)
	}
	return r, nil
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	for _, x := range roles {
		if r == x {
			return true
		}
	}
	return false
}

// Allows reports whether a key with role r may use a route that requires
// role need: admin may use every route, the other roles only their own.
func (r Role) Allows(need Role) bool { return r == RoleAdmin || r == need }

// Rate-limit classes: a route's class is that of the role it requires.
const (
	ClassIngest      = "ingest"
	ClassRead        = "read"
	ClassAdmin       = "admin"
	ClassAuthFailure = "auth_failure"
)

// class returns the rate-limit class of routes that require r.
func (r Role) class() string {
	switch r {
	case RoleIngest:
		return ClassIngest
	case RoleViewer:
		return ClassRead
	default:
		return ClassAdmin
	}
}
