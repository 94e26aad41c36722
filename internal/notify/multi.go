package notify

import (
	"context"
	"errors"

	"github.com/secopsd/secopsd/internal/incident"
)

var _ incident.Notifier = Multi(nil)

// Multi fans a notification out to several notifiers, in order. Every
// notifier is called whatever the others return; the errors are joined
// and a retry is asked for when any failed notifier asks for one.
type Multi []incident.Notifier

// Notify calls every notifier with n.
func (m Multi) Notify(ctx context.Context, n incident.Notification) (bool, error) {
	var (
		retry bool
		errs  []error
	)
	for _, nt := range m {
		if nt == nil {
			continue
		}
		r, err := nt.Notify(ctx, n)
		if err != nil {
			errs = append(errs, err)
			retry = retry || r
		}
	}
	return retry, errors.Join(errs...)
}
