package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestSQLiteSlackOutbox(t *testing.T) {
	storetest.RunSlack(t, func(t *testing.T) store.Store {
		return storetest.OpenURL(t, storetest.SQLiteURL(t))
	})
}
