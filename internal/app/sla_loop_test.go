package app

import (
	"context"
	"testing"
	"time"
)

// runSweeps sweeps at once (catching up after downtime), then on every
// tick, and returns when its context ends.
func TestRunSweepsAtOnceAndOnEveryTick(t *testing.T) {
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runSweeps(ctx, tick, func(context.Context) { calls <- struct{}{} })
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("no sweep %s", what)
		}
	}
	wait("at start")
	for i := range 3 {
		tick <- time.Now()
		wait("after tick " + string(rune('1'+i)))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("runSweeps did not return when its context ended")
	}
	select {
	case <-calls:
		t.Error("a sweep ran after the context ended")
	default:
	}
}
