package notify

import (
	"context"
	"errors"
	"testing"

	"github.com/secopsd/secopsd/internal/incident"
)

type recorder struct {
	got   []int64
	retry bool
	err   error
}

func (r *recorder) Notify(_ context.Context, n incident.Notification) (bool, error) {
	r.got = append(r.got, n.Entry.Seq)
	return r.retry, r.err
}

func TestMultiCallsEveryNotifier(t *testing.T) {
	errA := errors.New("a failed")
	a := &recorder{retry: true, err: errA}
	b := &recorder{}
	retry, err := Multi{a, nil, b}.Notify(t.Context(), incident.Notification{Entry: incident.TimelineEntry{Seq: 3}})
	if !retry || !errors.Is(err, errA) {
		t.Errorf("Notify = %v, %v", retry, err)
	}
	if len(a.got) != 1 || len(b.got) != 1 || b.got[0] != 3 {
		t.Errorf("a got %v, b got %v", a.got, b.got)
	}
	retry, err = Multi{b}.Notify(t.Context(), incident.Notification{})
	if retry || err != nil {
		t.Errorf("Notify = %v, %v", retry, err)
	}
}
