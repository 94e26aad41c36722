package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The correlation statements of SQLite send multi-row VALUES, at most
// sqliteCorrelationChunk rows per statement. BEGIN IMMEDIATE already holds
// the database's write lock for the whole update.

// sqliteCorrelationChunk bounds the rows of one statement (6 parameters
// each, well under SQLite's limit of 32766).
const sqliteCorrelationChunk = 500

// valuesSQL returns "(?, …), …" for n rows of cols parameters. SQLite
// binds ? by position; $N parameters cost it time quadratic in their
// number to parse.
func valuesSQL(n, cols int) string {
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return strings.Repeat(row+", ", n-1) + row
}

// inChunks calls fn with successive chunks of n items.
func inChunks(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += sqliteCorrelationChunk {
		if err := fn(lo, min(lo+sqliteCorrelationChunk, n)); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLite) lockCorrelationGroups(ctx context.Context, q querier, groups []corrGroup, now time.Time) (map[groupKey]corrGroupState, error) {
	out := make(map[groupKey]corrGroupState, len(groups))
	err := inChunks(len(groups), func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*5)
		for _, g := range groups[lo:hi] {
			args = append(args, g.rule, g.group, g.values, s.timeArg(g.lastSeen), s.timeArg(now))
		}
		rs, err := q.query(ctx, `INSERT INTO correlation_groups AS g (rule, group_key, group_values, last_seen, updated_at)
			VALUES `+valuesSQL(hi-lo, 5)+`
			ON CONFLICT (rule, group_key) DO UPDATE SET
				last_seen = max(g.last_seen, excluded.last_seen),
				updated_at = excluded.updated_at
			RETURNING rule, group_key, last_seen, last_fired`, args...)
		if err != nil {
			return err
		}
		got, err := scanCorrelationGroups(rs)
		for k, v := range got {
			out[k] = v
		}
		return err
	})
	return out, err
}

func (s *SQLite) addCorrelationBuckets(ctx context.Context, q querier, rows []corrBucket) error {
	return inChunks(len(rows), func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*6)
		for _, r := range rows[lo:hi] {
			args = append(args, r.rule, r.group, s.timeArg(r.Start), r.Count, s.timeArg(r.First), s.timeArg(r.Last))
		}
		return q.exec(ctx, fmt.Sprintf(`INSERT INTO correlation_buckets AS b (rule, group_key, bucket_start, amount, first_time, last_time)
			VALUES `+valuesSQL(hi-lo, 6)+`
			ON CONFLICT (rule, group_key, bucket_start) DO UPDATE SET
				amount = min(b.amount + excluded.amount, %d),
				first_time = min(b.first_time, excluded.first_time),
				last_time = max(b.last_time, excluded.last_time)`, maxCorrelationCount), args...)
	})
}

func (s *SQLite) readCorrelationBuckets(ctx context.Context, q querier, groups []groupKey) (map[groupKey][]CorrelationBucket, error) {
	out := make(map[groupKey][]CorrelationBucket, len(groups))
	err := inChunks(len(groups), func(lo, hi int) error {
		args := make([]any, 0, (hi-lo)*2)
		for _, g := range groups[lo:hi] {
			args = append(args, g.rule, g.group)
		}
		rs, err := q.query(ctx, `SELECT rule, group_key, bucket_start, amount, first_time, last_time
			FROM correlation_buckets WHERE (rule, group_key) IN (VALUES `+valuesSQL(hi-lo, 2)+`)`, args...)
		if err != nil {
			return err
		}
		got, err := scanCorrelationBuckets(rs)
		for k, v := range got {
			out[k] = v
		}
		return err
	})
	return out, err
}

func (s *SQLite) pruneCorrelationBuckets(ctx context.Context, q querier, cutoffs []corrTime) error {
	for _, c := range cutoffs {
		if err := q.exec(ctx, `DELETE FROM correlation_buckets WHERE rule = ? AND group_key = ? AND bucket_start < ?`,
			c.rule, c.group, s.timeArg(c.t)); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLite) recordCorrelationFirings(ctx context.Context, q querier, firings []corrTime) error {
	for _, f := range firings {
		if err := q.exec(ctx, `UPDATE correlation_groups SET last_fired = ? WHERE rule = ? AND group_key = ?`,
			s.timeArg(f.t), f.rule, f.group); err != nil {
			return err
		}
	}
	return nil
}

// retryCorrelation is false: BEGIN IMMEDIATE serializes the transactions,
// which therefore never deadlock.
func (s *SQLite) retryCorrelation(error) bool { return false }
