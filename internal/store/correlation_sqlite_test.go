package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestSQLiteCorrelation(t *testing.T) {
	storetest.RunCorrelation(t, func(t *testing.T) string { return storetest.SQLiteURL(t) })
}
