package monitors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// 1,000 monitors on one schedule fire spread over ±10 % of the interval,
// never all in the same millisecond, and each keeps its period.
func TestJitterSpreadsMonitorsOnOneSchedule(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, spec := range []string{"@every 60s", "*/5 * * * *"} {
		sched, err := cron.ParseStandard(spec)
		if err != nil {
			t.Fatal(err)
		}
		base := sched.Next(now)
		interval := sched.Next(base).Sub(base)
		perMS := map[int64]int{}
		var offsets []time.Duration
		for i := range 1000 {
			j := jittered(sched, fmt.Sprintf("monitor-%d", i), 0.1, now)
			first := j.Next(now)
			if !first.After(now) {
				t.Fatalf("%s: next %v is not after %v", spec, first, now)
			}
			if second := j.Next(first); second.Sub(first) != interval {
				t.Fatalf("%s: period %v, want %v", spec, second.Sub(first), interval)
			}
			// Offset relative to the unjittered activation nearest to it.
			off := first.Sub(base) % interval
			if off >= interval/2 {
				off -= interval
			} else if off < -interval/2 {
				off += interval
			}
			if off < -interval/10 || off >= interval/10 {
				t.Fatalf("%s: offset %v outside ±10%% of %v", spec, off, interval)
			}
			offsets = append(offsets, off)
			perMS[first.UnixMilli()]++
		}
		busiest := 0
		for _, n := range perMS {
			busiest = max(busiest, n)
		}
		if busiest > 3 {
			t.Errorf("%s: %d monitors fire in the same millisecond", spec, busiest)
		}
		slices.Sort(offsets)
		if spread := offsets[len(offsets)-1] - offsets[0]; spread < interval/6 {
			t.Errorf("%s: offsets span only %v of ±%v", spec, spread, interval/10)
		}
		// Stable across restarts.
		if a, b := jittered(sched, "x", 0.1, now).Next(now), jittered(sched, "x", 0.1, now).Next(now); !a.Equal(b) {
			t.Errorf("offset not stable: %v vs %v", a, b)
		}
	}
	if s, _ := cron.ParseStandard("@every 1m"); jittered(s, "x", 0, now) != s {
		t.Error("zero jitter changed the schedule")
	}
}
