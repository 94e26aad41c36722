package monitors

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/robfig/cron/v3"
)

// jitterSchedule is a cron schedule shifted by a constant offset: every
// activation of the inner schedule happens offset later (or earlier, for a
// negative offset), so the period is unchanged.
type jitterSchedule struct {
	inner  cron.Schedule
	offset time.Duration
}

// gridSchedule activates every period at epoch + offset + k·period: an
// "@every" schedule pinned to the wall clock instead of to the daemon's
// start, so that its phase (and so its jitter) survives restarts.
type gridSchedule struct {
	period time.Duration
	offset time.Duration
}

// Next returns the next activation after t.
func (g gridSchedule) Next(t time.Time) time.Time {
	since := t.Sub(time.Unix(0, 0).Add(g.offset))
	k := since / g.period
	next := time.Unix(0, 0).Add(g.offset).Add((k + 1) * g.period)
	for !next.After(t) {
		next = next.Add(g.period)
	}
	for next.Add(-g.period).After(t) {
		next = next.Add(-g.period)
	}
	return next.In(t.Location())
}

// Next returns the next activation after t.
func (j jitterSchedule) Next(t time.Time) time.Time {
	next := j.inner.Next(t.Add(-j.offset))
	if next.IsZero() {
		return next
	}
	return next.Add(j.offset)
}

// jittered returns sched shifted by an offset in [-fraction, +fraction) of
// its interval, chosen by hashing name so that it is stable across restarts
// and differs between monitors. The interval is measured from now.
func jittered(sched cron.Schedule, name string, fraction float64, now time.Time) cron.Schedule {
	if fraction <= 0 {
		return sched
	}
	first := sched.Next(now)
	if first.IsZero() {
		return sched
	}
	interval := sched.Next(first).Sub(first)
	if interval <= 0 {
		return sched
	}
	offset := jitterOffset(name, fraction, interval)
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		// Next of an @every schedule is relative to its argument, so a
		// shifted argument would cancel out: pin it to a grid instead.
		return gridSchedule{period: every.Delay, offset: offset}
	}
	return jitterSchedule{inner: sched, offset: offset}
}

// jitterOffset is name's stable offset in [-fraction, +fraction) × interval.
func jitterOffset(name string, fraction float64, interval time.Duration) time.Duration {
	sum := sha256.Sum256([]byte(name))
	// u is uniform in [0, 1); the offset is uniform in [-fraction, +fraction).
	u := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	return time.Duration((2*u - 1) * fraction * float64(interval))
}
