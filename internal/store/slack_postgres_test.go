package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestPostgresSlackOutbox(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	storetest.RunSlack(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.PostgresURL(t))
	})
}

// Two connection pools (two daemons) on one PostgreSQL database claim the
// same row: exactly one claim wins.
func TestPostgresSlackClaimTwoPools(t *testing.T) {
	url := storetest.PostgresURL(t)
	a := storetest.OpenURL(t, url)
	b := storetest.OpenURL(t, url)
	storetest.SlackClaimRace(t, a, b)
}
