package store

import (
	"context"
	"fmt"
	"time"
)

// PurgeEventsInChunksOf is PurgeEvents with chunks of chunk rows, and
// the number of rows each statement deleted, for tests.
func PurgeEventsInChunksOf(ctx context.Context, s Store, before time.Time, chunk int) (deleted int64, chunks []int64, err error) {
	var ss *sqlStore
	switch st := s.(type) {
	case *SQLite:
		ss = &st.sqlStore
	case *Postgres:
		ss = &st.sqlStore
	default:
		return 0, nil, fmt.Errorf("no chunked purge on a %T", s)
	}
	deleted, err = ss.purgeEvents(ctx, before, chunk, func(n int64) { chunks = append(chunks, n) })
	return deleted, chunks, err
}
