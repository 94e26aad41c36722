//go:build !unix

package store

import "context"

// lockFile is a no-op where advisory file locks are not available: concurrent
// first migrations of one SQLite file by two processes are then not serialised.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
