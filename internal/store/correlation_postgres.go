package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The correlation statements of PostgreSQL pass each column as one array
// parameter and unnest it: one short statement per step whatever the
// number of groups, planned once. unnest keeps the order of the arrays,
// so groups are locked in the caller's (sorted) order.

func (s *Postgres) lockCorrelationGroups(ctx context.Context, q querier, groups []corrGroup, now time.Time) (map[groupKey]corrGroupState, error) {
	rules, keys := make([]string, len(groups)), make([]string, len(groups))
	values, seen := make([]string, len(groups)), make([]time.Time, len(groups))
	for i, g := range groups {
		rules[i], keys[i], values[i], seen[i] = g.rule, g.group, g.values, s.timeArg(g.lastSeen).(time.Time)
	}
	rs, err := q.query(ctx, `INSERT INTO correlation_groups AS g (rule, group_key, group_values, last_seen, updated_at)
		SELECT u.rule, u.group_key, u.group_values, u.last_seen, $5
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u (rule, group_key, group_values, last_seen)
		ON CONFLICT (rule, group_key) DO UPDATE SET
			last_seen = GREATEST(g.last_seen, excluded.last_seen),
			updated_at = excluded.updated_at
		RETURNING rule, group_key, last_seen, last_fired`,
		rules, keys, values, seen, s.timeArg(now))
	if err != nil {
		return nil, err
	}
	return scanCorrelationGroups(rs)
}

func (s *Postgres) addCorrelationBuckets(ctx context.Context, q querier, rows []corrBucket) error {
	n := len(rows)
	rules, keys := make([]string, n), make([]string, n)
	starts, firsts, lasts := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	counts := make([]int64, n)
	for i, r := range rows {
		rules[i], keys[i], counts[i] = r.rule, r.group, r.Count
		starts[i] = s.timeArg(r.Start).(time.Time)
		firsts[i] = s.timeArg(r.First).(time.Time)
		lasts[i] = s.timeArg(r.Last).(time.Time)
	}
	return q.exec(ctx, fmt.Sprintf(`INSERT INTO correlation_buckets AS b (rule, group_key, bucket_start, amount, first_time, last_time)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::timestamptz[], $6::timestamptz[])
		ON CONFLICT (rule, group_key, bucket_start) DO UPDATE SET
			amount = LEAST(b.amount + excluded.amount, %d),
			first_time = LEAST(b.first_time, excluded.first_time),
			last_time = GREATEST(b.last_time, excluded.last_time)`, maxCorrelationCount),
		rules, keys, starts, counts, firsts, lasts)
}

func (s *Postgres) readCorrelationBuckets(ctx context.Context, q querier, groups []groupKey) (map[groupKey][]CorrelationBucket, error) {
	rules, keys := make([]string, len(groups)), make([]string, len(groups))
	for i, g := range groups {
		rules[i], keys[i] = g.rule, g.group
	}
	rs, err := q.query(ctx, `SELECT b.rule, b.group_key, b.bucket_start, b.amount, b.first_time, b.last_time
		FROM correlation_buckets b
		JOIN unnest($1::text[], $2::text[]) AS u (rule, group_key) ON b.rule = u.rule AND b.group_key = u.group_key`,
		rules, keys)
	if err != nil {
		return nil, err
	}
	return scanCorrelationBuckets(rs)
}

// corrTimeArrays splits per-group times into arrays.
func (s *Postgres) corrTimeArrays(ts []corrTime) (rules, keys []string, times []time.Time) {
	rules, keys, times = make([]string, len(ts)), make([]string, len(ts)), make([]time.Time, len(ts))
	for i, t := range ts {
		rules[i], keys[i], times[i] = t.rule, t.group, s.timeArg(t.t).(time.Time)
	}
	return rules, keys, times
}

func (s *Postgres) pruneCorrelationBuckets(ctx context.Context, q querier, cutoffs []corrTime) error {
	rules, keys, times := s.corrTimeArrays(cutoffs)
	return q.exec(ctx, `DELETE FROM correlation_buckets b
		USING unnest($1::text[], $2::text[], $3::timestamptz[]) AS u (rule, group_key, before)
		WHERE b.rule = u.rule AND b.group_key = u.group_key AND b.bucket_start < u.before`,
		rules, keys, times)
}

func (s *Postgres) recordCorrelationFirings(ctx context.Context, q querier, firings []corrTime) error {
	rules, keys, times := s.corrTimeArrays(firings)
	return q.exec(ctx, `UPDATE correlation_groups g SET last_fired = u.fired
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u (rule, group_key, fired)
		WHERE g.rule = u.rule AND g.group_key = u.group_key`,
		rules, keys, times)
}

// retryCorrelation: deadlock_detected or serialization_failure.
func (s *Postgres) retryCorrelation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
