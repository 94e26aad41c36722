package slack

import (
	"testing"

	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

func benchStore(b *testing.B) store.Store { return storetest.OpenURL(b, storetest.SQLiteURL(b)) }
