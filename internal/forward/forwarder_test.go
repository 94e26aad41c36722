package forward_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/forward"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// closeCounter counts how often the real output under it is closed and
// how many batches it is given.
type closeCounter struct {
	forward.Output
	closes, sends atomic.Int32
}

func (c *closeCounter) Send(ctx context.Context, batch []store.ReceivedEvent) error {
	c.sends.Add(1)
	return c.Output.Send(ctx, batch)
}

func (c *closeCounter) Close() error {
	c.closes.Add(1)
	return c.Output.Close()
}

func TestForwarderLifecycle(t *testing.T) {
	s := openStore(t, storetest.SQLiteURL(t), nil)
	appendEvents(t, s, 0, 3)
	rc := newReceiver(t, nil)

	// Stopped without being started: the output is closed, nothing sent,
	// and a later Start does nothing.
	out := &closeCounter{Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{})}
	f, err := forward.New(withName(forward.Options{Store: s, Output: out, Start: forward.StartOldest}))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.Start()
	if err := f.Stop(t.Context()); err != nil || out.closes.Load() != 1 {
		t.Errorf("second Stop = %v, closes = %d; want nil, 1", err, out.closes.Load())
	}

	// Started twice, stopped twice: one loop, one close.
	out = &closeCounter{Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{})}
	f, err = forward.New(withName(forward.Options{Store: s, Output: out, Start: forward.StartOldest}))
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	f.Start()
	eventually(t, 10*time.Second, "delivery", func() bool { return len(rc.acceptedIDs(t)) == 3 })
	for range 2 {
		if err := f.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if out.closes.Load() != 1 || out.sends.Load() != 1 || len(rc.requests()) != 1 {
		t.Errorf("closes %d, sends %d, requests %d; want 1 each", out.closes.Load(), out.sends.Load(), len(rc.requests()))
	}
	if f.Name() != "siem" {
		t.Errorf("Name() = %q", f.Name())
	}
}

// flakyStore is a real store whose first reads and position saves fail,
// as during a database failover.
type flakyStore struct {
	store.Store
	failTails, failSaves atomic.Int32
}

var errFailover = errors.New("connection reset during failover")

func (s *flakyStore) TailEvents(ctx context.Context, after store.EventCursor, limit int) ([]store.ReceivedEvent, error) {
	if s.failTails.Add(-1) >= 0 {
		return nil, errFailover
	}
	return s.Store.TailEvents(ctx, after, limit)
}

func (s *flakyStore) SaveForwardCursor(ctx context.Context, name string, c store.EventCursor) error {
	if s.failSaves.Add(-1) >= 0 {
		return errFailover
	}
	return s.Store.SaveForwardCursor(ctx, name, c)
}

func TestForwarderSurvivesStoreFailures(t *testing.T) {
	s := &flakyStore{Store: openStore(t, storetest.SQLiteURL(t), nil)}
	s.failTails.Store(2)
	s.failSaves.Store(3)
	ids := appendEvents(t, s, 0, 12)
	rc := newReceiver(t, nil)
	var (
		sl   sleeps
		logs syncBuffer
	)
	m, reg := newMetrics(t)
	f := startForwarder(t, forward.Options{Store: s, Output: newWebhook(t, rc.srv.URL, forward.WebhookOptions{}), Start: forward.StartOldest,
		BatchSize: 5, Sleep: sl.Sleep, Metrics: m, Logger: logs.logger()})
	eventually(t, 10*time.Second, "delivery", func() bool { return len(rc.acceptedIDs(t)) == 12 })
	stopForwarder(t, f)
	// A batch the receiver accepted is not sent again because its
	// position could not be saved at once.
	if got := rc.acceptedIDs(t); !slices.Equal(got, ids) {
		t.Errorf("delivered %v, want each of %v once", got, ids)
	}
	if got := metric(t, reg, "secopsd_forward_failures_total", map[string]string{"output": "siem", "reason": "store"}); got != 5 {
		t.Errorf("store failures = %v, want 5", got)
	}
	c, err := s.Store.ForwardCursor(t.Context(), "siem", store.EventCursor{})
	if err != nil || c.ID != ids[len(ids)-1] {
		t.Errorf("saved position %+v, %v; want the last event", c, err)
	}
	if !strings.Contains(logs.String(), "connection reset during failover") {
		t.Errorf("the store failures were not logged:\n%s", logs.String())
	}
}
