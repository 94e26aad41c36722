package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestSQLiteAuth(t *testing.T) {
	storetest.RunAuth(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.SQLiteURL(t))
	})
}

// TestSQLiteNonceSurvivesReopen claims a nonce, closes the database and
// opens it again, as a restarted daemon would: the nonce is still spent.
func TestSQLiteNonceSurvivesReopen(t *testing.T) {
	url := storetest.SQLiteURL(t)
	testNonceAcrossStores(t, storetest.OpenURL(t, url), func() store.Store { return storetest.OpenURL(t, url) })
}
