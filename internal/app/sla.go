package app

import (
	"context"
	"errors"
	"sync"
	"time"
)

// SLAInterval is how often the daemon checks SLA clocks and the silences
// that ended.
const SLAInterval = time.Minute

// sweepTimeout bounds one SLA and silence sweep.
const sweepTimeout = 30 * time.Second

// sweeper runs the SLA and silence sweeps every SLAInterval (and once at
// start, to catch up with deadlines that passed while the daemon was
// down) until stopped.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startSweeps starts the periodic sweeps; stopSweeps stops them.
func (a *App) startSweeps() {
	t := time.NewTicker(SLAInterval)
	ctx, cancel := context.WithCancel(context.Background())
	s := &sweeper{cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	a.sweeper = s
	a.mu.Unlock()
	go func() {
		defer close(s.done)
		defer t.Stop()
		runSweeps(ctx, t.C, a.sweepOnce)
	}()
}

// runSweeps calls sweep at once and then on every tick until ctx ends.
func runSweeps(ctx context.Context, tick <-chan time.Time, sweep func(context.Context)) {
	for {
		sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// stopSweeps stops the sweeps and waits for one in flight, within ctx.
func (a *App) stopSweeps(ctx context.Context) error {
	a.mu.Lock()
	s := a.sweeper
	a.mu.Unlock()
	if s == nil {
		return nil
	}
	s.once.Do(s.cancel)
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return errors.New("stop SLA checks: " + ctx.Err().Error())
	}
}

// sweepOnce runs one sweep, logging rather than returning its errors.
func (a *App) sweepOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	breaches, resumed, err := a.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		a.logger.Error("SLA and silence checks incomplete", "err", err)
	}
	if breaches > 0 || resumed > 0 {
		a.logger.Info("SLA and silence checks", "breaches", breaches, "notifications_resumed", resumed)
	}
}

// Sweep checks the SLA clocks of every unresolved incident (recording and
// escalating breaches) and resumes the notifications of incidents whose
// silences ended, now (by the daemon's clock). The daemon does it every
// SLAInterval; tests call it directly.
func (a *App) Sweep(ctx context.Context) (breaches, resumed int, err error) {
	now := a.now()
	breaches, err1 := a.engine.CheckSLAs(ctx, now)
	resumed, err2 := a.engine.ResumeNotifications(ctx, now)
	return breaches, resumed, errors.Join(err1, err2)
}

// now tells the daemon's time.
func (a *App) now() time.Time {
	if a.clock != nil {
		return a.clock.Now()
	}
	return time.Now()
}
