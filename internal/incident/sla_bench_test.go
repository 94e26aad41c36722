package incident_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// BenchmarkCheckSLAs measures one SLA check of 500 unresolved incidents
// on SQLite when nothing is due (the daemon's steady state, every
// minute): after the first check has read each timeline once, a check
// costs the listing of unresolved incidents and no timeline read.
func BenchmarkCheckSLAs(b *testing.B) {
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "s.db"), store.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	e, err := incident.New(incident.Options{Store: st, Tierer: constTier{}, Clock: clock, SLA: incident.DefaultSLAPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range 500 {
		ev := failing(fmt.Sprintf("bench-%d", i), event.SeverityHigh)
		ev.ID = fmt.Sprintf("bench-ev-%d", i)
		if err := e.HandleEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.CheckSLAs(ctx, clock.Now()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if n, err := e.CheckSLAs(ctx, clock.Now()); err != nil || n != 0 {
			b.Fatalf("CheckSLAs = %d, %v", n, err)
		}
	}
}

// constTier makes every incident MINOR.
type constTier struct{}

func (constTier) Tier(context.Context, incident.TierInput) (incident.Tier, error) {
	return incident.TierMinor, nil
}
