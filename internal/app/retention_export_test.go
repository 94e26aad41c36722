package app

import (
	"context"

	"github.com/secopsd/secopsd/internal/event"
)

// RecordEvents records evs through a's event recorder: the path of the
// daemon's own events (rate-limit hits, failed authentications,
// retention purges), with its fallback when the pipeline refuses them.
func RecordEvents(ctx context.Context, a *App, evs ...event.Event) error {
	return eventRecorder{a}.Record(ctx, evs...)
}
