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
