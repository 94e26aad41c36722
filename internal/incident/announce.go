package incident

import (
	"context"
	"fmt"
	"strings"
)

// MaxAnnouncement bounds the text of an announcement in the timeline.
const MaxAnnouncement = 4 << 10

// Announce appends a message to an incident's timeline (for example a
// playbook's notify step) and notifies about it like any other entry.
// msg must already be free of secrets; it is cut at MaxAnnouncement bytes.
func (e *Engine) Announce(ctx context.Context, id int64, kind, msg string) error {
	if len(msg) > MaxAnnouncement {
		msg = strings.ToValidUTF8(msg[:MaxAnnouncement], "")
	}
	now := e.clock.Now()
	inc, entries, err := e.store.MutateIncident(ctx, id, func(*Incident) ([]Entry, error) {
		return []Entry{{Time: now, Actor: ActorRemediation, Kind: kind, Payload: map[string]any{"message": msg}}}, nil
	})
	if err != nil {
		return fmt.Errorf("announce on incident %d: %w", id, err)
	}
	for _, en := range entries {
		e.notify(ctx, inc, en)
	}
	return nil
}
