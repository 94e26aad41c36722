package store_test

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store/storetest"
)

func TestPostgresCorrelation(t *testing.T) {
	storetest.PostgresURL(t) // skip (or fail in CI) early without a server
	storetest.RunCorrelation(t, func(t *testing.T) string { return storetest.PostgresURL(t) })
}
