package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

// The state of the SIEM's correlation rules: sliding-window counters per
// rule and group, kept as time buckets (correlation_buckets) beside each
// group's newest event time and last firing (correlation_groups). The store
// is the only copy of that state, so that it survives a restart and
// replicas sharing a PostgreSQL database count into the same windows: an
// update locks its groups' rows (in a fixed order, so that concurrent
// updates cannot deadlock) until it commits, and decides about firing
// while it holds them, so each firing is claimed exactly once.

// CorrelationStore keeps the state of correlation rules.
type CorrelationStore interface {
	// UpdateCorrelation adds the counts of updates to their groups and,
	// holding the groups locked, calls fire once per group with its state
	// after the update; fire returns the time of the group's newest
	// firing, or the zero time when it does not fire. All of it is one
	// transaction: on error nothing is stored, and the caller must
	// discard what fire was told. If the database aborts the transaction
	// to break a deadlock, it runs again, calling fire again.
	UpdateCorrelation(ctx context.Context, updates []CorrelationUpdate, fire func(CorrelationState) time.Time) error
	// PurgeCorrelationState deletes the state of the groups that no
	// update touched since before (by the store's clock), with their
	// buckets, and reports how many rows it deleted.
	PurgeCorrelationState(ctx context.Context, before time.Time) (int64, error)
}

// CorrelationUpdate is what one batch of events adds to one group of one
// rule.
type CorrelationUpdate struct {
	// Rule and Group identify the group (Group is a digest of its values).
	Rule, Group string
	// Values describes the group for people reading the table (JSON).
	Values string
	// Horizon is how far before the group's newest event buckets still
	// matter: older ones are deleted once fire has seen them, and the
	// state fire receives starts this far before the oldest bucket of the
	// update.
	Horizon time.Duration
	// Buckets are the counts to add, at most one per Start.
	Buckets []CorrelationBucket
}

// CorrelationBucket counts the events of a group within one time bucket.
type CorrelationBucket struct {
	// Start identifies the bucket: the start of its time span.
	Start time.Time
	// Count is the number of events (or the sum of their count
	// attribute); at least 1.
	Count int64
	// First and Last are the times of the oldest and newest event.
	First, Last time.Time
}

// CorrelationState is a group's state after an update, as fire sees it.
type CorrelationState struct {
	Rule, Group string
	// Buckets are the group's stored buckets that start at or after the
	// oldest updated bucket's start less the update's Horizon, oldest
	// first; they include the update. Those that start more than Horizon
	// before LastSeen are deleted after fire returns.
	Buckets []CorrelationBucket
	// LastSeen is the time of the group's newest event.
	LastSeen time.Time
	// LastFired is the time of the group's newest firing; zero if it
	// never fired (or its state was purged since).
	LastFired time.Time
}

// Bounds of UpdateCorrelation: groups per round (each round is a handful
// of statements) and the cap of a bucket's count.
const (
	correlationGroupChunk = 1000
	// maxCorrelationCount caps a bucket's count, far below overflow: an
	// update adds at most a batch of capped events to it.
	maxCorrelationCount = 1 << 50
)

// UpdateCorrelation implements CorrelationStore. Groups are processed in
// (rule, group) order, correlationGroupChunk at a time, each chunk in a
// few statements: lock and advance the groups, add the buckets, read the
// groups' buckets, then (only where needed) delete the buckets that fell
// behind the horizon and record the firings.
func (s *sqlStore) UpdateCorrelation(ctx context.Context, updates []CorrelationUpdate, fire func(CorrelationState) time.Time) error {
	ups := make([]CorrelationUpdate, 0, len(updates))
	for _, u := range updates {
		if u.Rule == "" || u.Group == "" || len(u.Buckets) == 0 || u.Horizon < 0 {
			return fmt.Errorf("update correlation: rule %q group %q: empty rule, group or buckets, or negative horizon: %w", u.Rule, u.Group, ErrInvalid)
		}
		for _, b := range u.Buckets {
			if b.Count < 1 || b.Start.IsZero() || b.First.IsZero() || b.Last.IsZero() {
				return fmt.Errorf("update correlation: rule %q group %q: bucket without a time or with a count below 1: %w", u.Rule, u.Group, ErrInvalid)
			}
		}
		ups = append(ups, u)
	}
	slices.SortFunc(ups, func(a, b CorrelationUpdate) int {
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	for i := 1; i < len(ups); i++ {
		if ups[i].Rule == ups[i-1].Rule && ups[i].Group == ups[i-1].Group {
			return fmt.Errorf("update correlation: rule %q group %q updated twice: %w", ups[i].Rule, ups[i].Group, ErrInvalid)
		}
	}
	if len(ups) == 0 {
		return nil
	}
	now := incident.NormalizeTime(s.now())
	err := s.correlationTx(ctx, func(q querier) error {
		for start := 0; start < len(ups); start += correlationGroupChunk {
			if err := s.updateCorrelationChunk(ctx, q, ups[start:min(start+correlationGroupChunk, len(ups))], now, fire); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update correlation state of %d groups: %w", len(ups), err)
	}
	return nil
}

// correlationAttempts bounds the runs of a correlation transaction that
// the database aborted to break a deadlock (as a purge, which deletes
// groups in no particular order, may cause with an update).
const correlationAttempts = 3

// correlationTx runs fn in a transaction, again if the database aborted
// it to break a deadlock or a serialization conflict.
func (s *sqlStore) correlationTx(ctx context.Context, fn func(q querier) error) error {
	var err error
	for range correlationAttempts {
		err = s.b.inTx(ctx, fn)
		if cq, ok := s.b.(correlationQueries); !ok || !cq.retryCorrelation(err) {
			return err
		}
	}
	return err
}

// groupKey identifies a group.
type groupKey struct{ rule, group string }

// corrGroup is a group to insert or lock, with its newest event time.
type corrGroup struct {
	groupKey
	values   string
	lastSeen time.Time
}

// corrGroupState is a group's stored newest event and last firing.
type corrGroupState struct {
	lastSeen, lastFired time.Time
}

// corrBucket is a bucket's count to add to a group.
type corrBucket struct {
	groupKey
	CorrelationBucket
}

// corrTime is a time per group: a pruning cutoff or a firing.
type corrTime struct {
	groupKey
	t time.Time
}

// correlationQueries are the statements of UpdateCorrelation, which differ
// between the backends: PostgreSQL passes each column as an array
// (unnest), SQLite sends multi-row VALUES. Each runs in the transaction q.
type correlationQueries interface {
	// lockCorrelationGroups inserts each group or, if it exists, locks it
	// and advances its last_seen, stamps updated_at with now, and returns
	// every group's state. groups are sorted, so that concurrent updates
	// lock in one order.
	lockCorrelationGroups(ctx context.Context, q querier, groups []corrGroup, now time.Time) (map[groupKey]corrGroupState, error)
	// addCorrelationBuckets adds the counts, at most one row per bucket.
	addCorrelationBuckets(ctx context.Context, q querier, rows []corrBucket) error
	// readCorrelationBuckets returns every stored bucket of the groups.
	readCorrelationBuckets(ctx context.Context, q querier, keys []groupKey) (map[groupKey][]CorrelationBucket, error)
	// pruneCorrelationBuckets deletes each group's buckets that start
	// before its time.
	pruneCorrelationBuckets(ctx context.Context, q querier, cutoffs []corrTime) error
	// recordCorrelationFirings sets each group's last_fired.
	recordCorrelationFirings(ctx context.Context, q querier, firings []corrTime) error
	// retryCorrelation reports whether err aborted a transaction that may
	// succeed when run again (a deadlock or serialization failure).
	retryCorrelation(err error) bool
}

var (
	_ correlationQueries = (*SQLite)(nil)
	_ correlationQueries = (*Postgres)(nil)
)

// updateCorrelationChunk applies one chunk of updates, sorted and
// distinct, inside the transaction q.
func (s *sqlStore) updateCorrelationChunk(ctx context.Context, q querier, ups []CorrelationUpdate, now time.Time, fire func(CorrelationState) time.Time) error {
	cq, ok := s.b.(correlationQueries)
	if !ok {
		return fmt.Errorf("backend %T keeps no correlation state", s.b)
	}
	groups := make([]corrGroup, len(ups))
	keys := make([]groupKey, len(ups))
	var buckets []corrBucket
	for i, u := range ups {
		k := groupKey{u.Rule, u.Group}
		keys[i] = k
		g := corrGroup{groupKey: k, values: u.Values, lastSeen: u.Buckets[0].Last}
		if g.values == "" {
			g.values = "{}"
		}
		for _, b := range u.Buckets {
			if b.Last.After(g.lastSeen) {
				g.lastSeen = b.Last
			}
			b.Count = min(b.Count, maxCorrelationCount)
			buckets = append(buckets, corrBucket{k, b})
		}
		groups[i] = g
	}
	// Lock the groups, then add the counts and read every bucket of
	// them back.
	state, err := cq.lockCorrelationGroups(ctx, q, groups, now)
	if err != nil {
		return fmt.Errorf("lock correlation groups: %w", err)
	}
	if len(state) != len(groups) {
		return fmt.Errorf("lock correlation groups: %d of %d groups returned", len(state), len(groups))
	}
	if err := cq.addCorrelationBuckets(ctx, q, buckets); err != nil {
		return fmt.Errorf("add correlation counts: %w", err)
	}
	stored, err := cq.readCorrelationBuckets(ctx, q, keys)
	if err != nil {
		return fmt.Errorf("read correlation windows: %w", err)
	}
	// Decide, still holding the groups; then delete the buckets that fell
	// behind the horizon of the group's newest event (so the store keeps
	// about a window's worth per group), and record the firings.
	var prune, fired []corrTime
	for _, u := range ups {
		k := groupKey{u.Rule, u.Group}
		gs := state[k]
		cutoff := gs.lastSeen.Add(-u.Horizon)
		from := u.Buckets[0].Start
		for _, b := range u.Buckets[1:] {
			if b.Start.Before(from) {
				from = b.Start
			}
		}
		from = from.Add(-u.Horizon)
		st := CorrelationState{Rule: u.Rule, Group: u.Group, LastSeen: gs.lastSeen, LastFired: gs.lastFired}
		stale := false
		for _, b := range stored[k] {
			stale = stale || b.Start.Before(cutoff)
			if !b.Start.Before(from) {
				st.Buckets = append(st.Buckets, b)
			}
		}
		if stale {
			prune = append(prune, corrTime{k, cutoff})
		}
		slices.SortFunc(st.Buckets, func(a, b CorrelationBucket) int { return a.Start.Compare(b.Start) })
		if t := fire(st); !t.IsZero() && t.After(gs.lastFired) {
			fired = append(fired, corrTime{k, t})
		}
	}
	if len(prune) > 0 {
		if err := cq.pruneCorrelationBuckets(ctx, q, prune); err != nil {
			return fmt.Errorf("prune correlation buckets: %w", err)
		}
	}
	if len(fired) > 0 {
		if err := cq.recordCorrelationFirings(ctx, q, fired); err != nil {
			return fmt.Errorf("record correlation firings: %w", err)
		}
	}
	return nil
}

// scanCorrelationBuckets reads rows of (rule, group_key, bucket_start,
// amount, first_time, last_time) by group.
func scanCorrelationBuckets(rs rows) (map[groupKey][]CorrelationBucket, error) {
	defer rs.Close()
	out := map[groupKey][]CorrelationBucket{}
	for rs.Next() {
		var (
			k                  groupKey
			b                  CorrelationBucket
			start, first, last timeCol
		)
		if err := rs.Scan(&k.rule, &k.group, &start, &b.Count, &first, &last); err != nil {
			return nil, err
		}
		b.Start, b.First, b.Last = start.t, first.t, last.t
		out[k] = append(out[k], b)
	}
	return out, rs.Err()
}

// scanCorrelationGroups reads rows of (rule, group_key, last_seen,
// last_fired).
func scanCorrelationGroups(rs rows) (map[groupKey]corrGroupState, error) {
	defer rs.Close()
	out := map[groupKey]corrGroupState{}
	for rs.Next() {
		var (
			k        groupKey
			seen, fr timeCol
		)
		if err := rs.Scan(&k.rule, &k.group, &seen, &fr); err != nil {
			return nil, err
		}
		out[k] = corrGroupState{lastSeen: seen.t, lastFired: fr.t}
	}
	return out, rs.Err()
}

// PurgeCorrelationState implements CorrelationStore: it deletes, in one
// transaction, the groups last updated before before and the buckets left
// without a group.
func (s *sqlStore) PurgeCorrelationState(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.correlationTx(ctx, func(q querier) error {
		n = 0
		for _, stmt := range []struct {
			what, sql string
			args      []any
		}{
			{"groups", `DELETE FROM correlation_groups WHERE updated_at < $1 RETURNING rule`, []any{s.b.timeArg(before)}},
			{"buckets", `DELETE FROM correlation_buckets WHERE NOT EXISTS (SELECT 1 FROM correlation_groups g
				WHERE g.rule = correlation_buckets.rule AND g.group_key = correlation_buckets.group_key) RETURNING rule`, nil},
		} {
			rs, err := q.query(ctx, stmt.sql, stmt.args...)
			if err != nil {
				return fmt.Errorf("delete correlation %s: %w", stmt.what, err)
			}
			for rs.Next() {
				n++
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return fmt.Errorf("delete correlation %s: %w", stmt.what, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge correlation state before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	return n, nil
}
