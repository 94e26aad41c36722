package slack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/slack-go/slack"
	"github.com/sony/gobreaker/v2"

	"github.com/secopsd/secopsd/internal/incident"
)

// The crash window. Between Slack accepting a message and the store
// marking its row sent, the daemon can crash, or the answer can be lost
// (a timeout, a reset connection, a 5xx after the message was stored). A
// blind retry would post the message twice. So:
//
//   - a row is claimed before anything is done with it: a compare-and-set
//     in the store (status sending, attempts+1, a new claim token, next
//     attempt = the end of a lease) that succeeds only if the row is due
//     and still carries the token this worker read, so that of several
//     workers (several daemons on one store) exactly one holds it; it is
//     marked sent, with the message's ts (and the thread or approval
//     message it starts), in one transaction after Slack answers, and a
//     failure is recorded only while the claim still holds the row;
//   - a row whose lease ran out (its holder died, or gave up at half the
//     lease) is due again, still sending, and is taken over like any
//     in-doubt row below;
//   - every message carries Slack message metadata (event_type
//     secopsd_notification, event_payload.key = incident/<id>/seq/<n>,
//     incident/<id>/root or digest/<batch>);
//   - a row still "sending" when it is attempted again (after a crash, a
//     Stop in flight, or a failure whose outcome is unknown) is first
//     looked up in Slack — in its thread with conversations.replies, or in
//     the channel with conversations.history since the row was created —
//     and, when found, marked sent with the ts found instead of being
//     posted again. A failure Slack answered (ok:false, 429, 4xx) leaves
//     the row pending: it was not posted, so it is posted without a look-up.
//
// The look-up needs the channel's id: a route given as an id has it, a
// #name route learns it from the first root posted there. Only when a
// root message to a #name channel that never had one was left in doubt
// can the look-up not run; the message is then posted again (a duplicate
// is preferred to a loss) and a warning is logged. The look-up needs the
// channels:history (and groups:history) scopes; without them it fails
// with missing_scope, which is logged and the message is posted again.

const (
	metadataType = "secopsd_notification"
	// lookupPages bounds the pages (of 200 messages) a look-up reads.
	lookupPages = 10
	// lookupMargin widens a channel look-up before the row's creation, for
	// clock skew between secopsd and Slack.
	lookupMargin = 10 * time.Minute
	// bookkeepingTimeout bounds store writes after the worker's context
	// is cancelled.
	bookkeepingTimeout = 5 * time.Second
	// claimLease is how long a claim holds its rows: no other worker (of
	// this or another daemon on the store) takes them before it ends. The
	// holder gives up on them at half of it (see leased); after a crash
	// they wait for the lease to end and are then looked up in Slack.
	claimLease = 5 * time.Minute
)

// errClass is what a failed Slack call means for its message.
type errClass int

const (
	// notSent: Slack answered and did not post (ok:false transient, a
	// 4xx); retry after a backoff.
	notSent errClass = iota
	// uncertain: the message may have been posted (network error, 5xx,
	// timeout); look it up before the next attempt.
	uncertain
	// permanent: Slack refused it for a reason that retrying will not fix
	// by itself (channel_not_found, invalid_auth …); retry at MaxBackoff.
	permanent
	// rateLimited: 429; wait Retry-After, and pause the whole worker.
	rateLimited
	// breakerOpen: the circuit breaker refused the call; nothing was sent.
	breakerOpen
)

// transientSlackErrors are ok:false answers worth retrying soon.
var transientSlackErrors = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true,
	"ratelimited": true, "rate_limited": true, "team_added_to_org": true,
}

// classify tells what err means for the message.
func classify(err error) (errClass, time.Duration, string) {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &rl):
		return rateLimited, rl.RetryAfter, "rate_limited"
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return breakerOpen, 0, "breaker_open"
	case errors.As(err, &se):
		if transientSlackErrors[se.Err] {
			return notSent, 0, se.Err
		}
		return permanent, 0, se.Err
	case errors.As(err, &sc):
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return rateLimited, 0, "http_429"
		case sc.Code >= 500:
			return uncertain, 0, "http_" + strconv.Itoa(sc.Code)
		case sc.Code == http.StatusRequestTimeout:
			return notSent, 0, "http_408"
		default:
			return permanent, 0, "http_" + strconv.Itoa(sc.Code)
		}
	default:
		return uncertain, 0, "network"
	}
}

// deliverer is the worker; all its state is owned by its goroutine.
type deliverer struct {
	n           *Notifier
	br          *gobreaker.CircuitBreaker[struct{}]
	rd          renderer
	pausedUntil time.Time
}

func newDeliverer(n *Notifier) *deliverer {
	o := n.opts
	br := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "slack",
		MaxRequests: 1,
		Timeout:     o.BreakerTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= o.BreakerFailures },
		IsSuccessful: func(err error) bool {
			if err == nil {
				return true
			}
			c, _, _ := classify(err)
			return c == permanent
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			n.logger.Warn("slack circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return &deliverer{n: n, br: br, rd: renderer{z: n.z, uiURL: o.UIURL}}
}

func (d *deliverer) now() time.Time { return d.n.opts.Now() }

// call runs one Slack API call through the circuit breaker.
func (d *deliverer) call(fn func() error) error {
	_, err := d.br.Execute(func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// run drains the outbox until ctx ends: when woken by Notify and every
// PollInterval.
func (d *deliverer) run(ctx context.Context) {
	t := time.NewTicker(d.n.opts.PollInterval)
	defer t.Stop()
	for {
		d.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-d.n.wake:
		case <-t.C:
		}
	}
}

// drain delivers due rows until a pass delivers nothing (a delivered row
// can make its incident's next row due).
func (d *deliverer) drain(ctx context.Context) {
	for range 1000 {
		if ctx.Err() != nil || !d.pass(ctx) {
			return
		}
	}
}

// pass delivers the rows due now once; it reports whether any was
// delivered.
func (d *deliverer) pass(ctx context.Context) bool {
	now := d.now()
	if now.Before(d.pausedUntil) || d.br.State() == gobreaker.StateOpen {
		return false
	}
	rows, err := d.n.store.DueSlack(ctx, now, 200)
	if err != nil {
		if ctx.Err() == nil {
			d.n.logger.Error("slack: read the outbox", "err", err)
		}
		return false
	}
	progressed := false
	groups := map[string][]OutboxRow{}
	var order []string
	for _, row := range rows {
		if row.Digest > 0 {
			key := "new:" + row.Channel
			if row.Status == StatusSending && row.Batch != "" {
				key = "batch:" + row.Batch
			}
			if _, ok := groups[key]; !ok {
				order = append(order, key)
			}
			groups[key] = append(groups[key], row)
			continue
		}
		ok, stop := d.deliverRow(ctx, row)
		progressed = progressed || ok
		if stop {
			return progressed
		}
	}
	for _, key := range order {
		g := groups[key]
		for len(g) > 0 {
			n := min(len(g), maxDigestRow)
			ok, stop := d.deliverDigest(ctx, g[:n])
			progressed = progressed || ok
			if stop {
				return progressed
			}
			g = g[n:]
		}
	}
	return progressed
}

// backoff is the wait after the attempts-th failed attempt.
func (d *deliverer) backoff(attempts int) time.Duration {
	o := d.n.opts
	b := o.MinBackoff
	for i := 1; i < attempts && b < o.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, o.MaxBackoff)
}

// bookkeeping returns a context for store writes that outlive a Stop.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

// fail records a failed attempt on rows claimed with tok and reports
// whether the pass must stop. inDoubt is true when an earlier attempt's
// outcome is still unknown.
func (d *deliverer) fail(ctx context.Context, rows []OutboxRow, tok string, inDoubt bool, err error) bool {
	if ctx.Err() != nil {
		// Stopping, or out of lease: the outcome is unknown.
		d.release(ctx, rows, tok)
		return true
	}
	class, retryAfter, reason := classify(err)
	now := d.now()
	attempts := rows[0].Attempts + 1 // counting this claim
	next := now.Add(d.backoff(max(attempts, 1)))
	status := StatusPending
	if class == uncertain || inDoubt {
		status = StatusSending
	}
	stop := false
	switch class {
	case rateLimited:
		if retryAfter <= 0 {
			retryAfter = d.backoff(max(attempts, 1))
		}
		d.pausedUntil = now.Add(retryAfter)
		if next.Before(d.pausedUntil) {
			next = d.pausedUntil
		}
		stop = true
	case breakerOpen:
		stop = true
	case permanent:
		next = now.Add(d.n.opts.MaxBackoff)
	}
	msg := reason
	if class != permanent && class != rateLimited {
		msg = err.Error()
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if rerr := d.n.store.RetrySlack(bctx, ids, tok, status, next, msg); rerr != nil {
		d.n.logger.Error("slack: record a failed delivery", "incident", rows[0].IncidentID, "err", rerr)
	}
	if obs := d.n.opts.Observer; obs != nil {
		obs.Failed(reason, class == permanent)
	}
	attrs := []any{"incident", rows[0].IncidentID, "seq", rows[0].Seq, "channel", rows[0].Channel, "attempts", attempts,
		"reason", reason, "retry_at", next.UTC().Format(time.RFC3339Nano)}
	switch {
	case class == permanent && rows[0].LastError != msg:
		// Logged once per row and error; the row is kept and retried at
		// max_backoff, never dropped.
		d.n.logger.Error("slack refused a message; it stays in the outbox and is retried", append(attrs, "err", msg)...)
	case class == permanent:
		d.n.logger.Debug("slack refused a message again", attrs...)
	default:
		d.n.logger.Warn("slack delivery failed; will retry", append(attrs, "err", err.Error())...)
	}
	return stop
}

// claim takes rows for this worker with a new token, all or none, as they
// were read. It returns the token, whether the rows were taken, and
// whether the pass must stop (the store failed). Rows another worker took
// first are left to it.
func (d *deliverer) claim(ctx context.Context, rows []OutboxRow, batch string) (string, bool, bool) {
	now := d.now()
	c := Claim{Batch: batch, Token: rand.Text(), Now: now, Until: now.Add(claimLease)}
	for _, r := range rows {
		c.Rows = append(c.Rows, ClaimRow{ID: r.ID, Token: r.ClaimToken})
	}
	ok, err := d.n.store.ClaimSlack(ctx, c)
	if err != nil {
		if ctx.Err() == nil {
			d.n.logger.Error("slack: claim a queued message", "incident", rows[0].IncidentID, "err", err)
		}
		return "", false, true
	}
	if !ok {
		d.n.logger.Debug("slack: a queued message is being delivered by another worker", "incident", rows[0].IncidentID, "seq", rows[0].Seq)
	}
	return c.Token, ok, false
}

// leased bounds the delivery of claimed rows to half their lease, so that
// this worker has stopped calling Slack for them before another worker
// may take them over (the other half absorbs clock skew between daemons).
func (d *deliverer) leased(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, claimLease/2)
}

// release gives back rows claimed with tok when their delivery stops
// midway (Stop, or the lease running out): they stay sending, so that the
// next claimer looks the message up before posting it, and are due at
// once.
func (d *deliverer) release(ctx context.Context, rows []OutboxRow, tok string) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := d.n.store.RetrySlack(bctx, ids, tok, StatusSending, d.now(), rows[0].LastError); err != nil {
		d.n.logger.Error("slack: release an interrupted delivery", "incident", rows[0].IncidentID, "err", err)
	}
}

// delivered marks rows sent and counts them.
func (d *deliverer) delivered(ctx context.Context, rows []OutboxRow, dl Delivery) bool {
	for _, r := range rows {
		dl.IDs = append(dl.IDs, r.ID)
	}
	dl.At = d.now()
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := d.n.store.MarkSlackSent(bctx, dl); err != nil {
		// The message is in Slack; the row stays sending and is found by
		// the look-up on the next attempt.
		d.n.logger.Error("slack: record a delivered message", "incident", rows[0].IncidentID, "err", err)
		return false
	}
	if obs := d.n.opts.Observer; obs != nil {
		for _, r := range rows {
			obs.Delivered(r.Kind)
		}
	}
	return true
}

func rootKey(id int64) string       { return fmt.Sprintf("incident/%d/root", id) }
func rowKey(id, seq int64) string   { return fmt.Sprintf("incident/%d/seq/%d", id, seq) }
func digestKey(batch string) string { return "digest/" + batch }
func metadata(key string) slack.MsgOption {
	return slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": key}})
}

// post sends a new message (a reply when threadTS is set) and returns the
// channel id and ts Slack answered.
func (d *deliverer) post(ctx context.Context, channel, threadTS, key string, m message) (string, string, error) {
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.fallback, false),
		slack.MsgOptionBlocks(m.blocks...),
		slack.MsgOptionDisableMarkdown(),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
		metadata(key),
	}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	var ch, ts string
	err := d.call(func() error {
		var err error
		ch, ts, err = d.n.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err == nil && ts == "" {
		err = errors.New("slack answered without a message ts")
	}
	if ch == "" {
		ch = channel
	}
	return ch, ts, err
}

// update replaces a message's content.
func (d *deliverer) update(ctx context.Context, channel, ts string, m message) error {
	return d.call(func() error {
		_, _, _, err := d.n.api.UpdateMessageContext(ctx, channel, ts,
			slack.MsgOptionText(m.fallback, false), slack.MsgOptionBlocks(m.blocks...), slack.MsgOptionDisableMarkdown())
		return err
	})
}

// channelID returns the id of a route's channel, "" when unknown.
func (d *deliverer) channelID(ctx context.Context, route string) (string, error) {
	if isChannelID(route) {
		return route, nil
	}
	id, ok, err := d.n.store.SlackChannelID(ctx, route)
	if err != nil || !ok {
		return "", err
	}
	return id, nil
}

// find looks for the message carrying key: in the thread threadTS, or in
// the channel since since. It returns its ts, or "".
func (d *deliverer) find(ctx context.Context, channel, threadTS, key string, since time.Time) (string, error) {
	match := func(msgs []slack.Message) string {
		for _, m := range msgs {
			if m.Metadata.EventType == metadataType && str(m.Metadata.EventPayload["key"]) == key {
				return m.Timestamp
			}
		}
		return ""
	}
	cursor := ""
	for range lookupPages {
		var (
			msgs []slack.Message
			more bool
			next string
		)
		err := d.call(func() error {
			var err error
			if threadTS != "" {
				msgs, more, next, err = d.n.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
					ChannelID: channel, Timestamp: threadTS, Cursor: cursor, Limit: 200, IncludeAllMetadata: true})
				return err
			}
			oldest := since.Add(-lookupMargin)
			resp, err := d.n.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: channel, Cursor: cursor, Limit: 200, IncludeAllMetadata: true, Inclusive: true,
				Oldest: fmt.Sprintf("%d.%06d", oldest.Unix(), oldest.Nanosecond()/1000)})
			if err != nil {
				return err
			}
			msgs, more, next = resp.Messages, resp.HasMore, resp.ResponseMetaData.NextCursor
			return nil
		})
		if err != nil {
			return "", err
		}
		if ts := match(msgs); ts != "" {
			return ts, nil
		}
		if !more || next == "" {
			return "", nil
		}
		cursor = next
	}
	return "", nil
}

// load returns a row's incident and timeline entry.
func (d *deliverer) load(ctx context.Context, row OutboxRow) (incident.Incident, []incident.TimelineEntry, incident.TimelineEntry, error) {
	inc, err := d.n.opts.Incidents.GetIncident(ctx, row.IncidentID)
	if err != nil {
		return inc, nil, incident.TimelineEntry{}, fmt.Errorf("read incident %d: %w", row.IncidentID, err)
	}
	tl, err := d.n.opts.Incidents.Timeline(ctx, row.IncidentID)
	if err != nil {
		return inc, nil, incident.TimelineEntry{}, fmt.Errorf("read timeline of incident %d: %w", row.IncidentID, err)
	}
	for _, e := range tl {
		if e.Seq == row.Seq {
			return inc, tl, e, nil
		}
	}
	return inc, tl, incident.TimelineEntry{}, fmt.Errorf("incident %d has no timeline entry %d: %w", row.IncidentID, row.Seq, incident.ErrNotFound)
}

// rootUpdateKinds are the entries after which the root message is
// updated with the incident's new status.
var rootUpdateKinds = map[string]bool{
	incident.KindAcknowledged: true, incident.KindResolved: true, incident.KindReopened: true,
}

// deliverRow posts one immediate row. It reports whether the row was
// delivered and whether the pass must stop.
func (d *deliverer) deliverRow(wctx context.Context, row OutboxRow) (bool, bool) {
	rows := []OutboxRow{row}
	tok, ok, stop := d.claim(wctx, rows, "")
	if !ok {
		return false, stop
	}
	ctx, cancel := d.leased(wctx)
	defer cancel()
	// The claim succeeded on the row as read: its status is the truth.
	inDoubt := row.Status == StatusSending
	inc, tl, entry, err := d.load(ctx, row)
	if err != nil {
		if ctx.Err() != nil {
			d.release(ctx, rows, tok)
			return false, true
		}
		// A missing incident or entry is a permanent problem of this row.
		d.n.logger.Error("slack: cannot render a queued message", "incident", row.IncidentID, "seq", row.Seq, "err", err)
		d.failStore(ctx, rows, tok, inDoubt, err)
		return false, false
	}
	var first *incident.TimelineEntry
	if len(tl) > 0 {
		first = &tl[0]
	}
	thread, hasThread, err := d.n.store.GetSlackThread(ctx, row.IncidentID)
	if err != nil {
		d.failStore(ctx, rows, tok, inDoubt, err)
		return false, true
	}
	isRoot := row.Kind == incident.KindOpened

	if inDoubt {
		// The last attempt may have reached Slack: look before posting.
		looked := true
		if !hasThread {
			ch, err := d.channelID(ctx, row.Channel)
			switch {
			case err != nil:
				return false, d.fail(ctx, rows, tok, true, err)
			case ch == "":
				looked = false
			default:
				ts, err := d.find(ctx, ch, "", rootKey(row.IncidentID), row.CreatedAt)
				if err != nil {
					if c, _, _ := classify(err); c == permanent {
						d.n.logger.Warn("slack: cannot look up a message whose delivery is in doubt; posting it again", "incident", row.IncidentID, "err", err)
						looked = false
						break
					}
					return false, d.fail(ctx, rows, tok, true, err)
				}
				if ts != "" {
					thread, hasThread = Thread{IncidentID: row.IncidentID, Route: row.Channel, Channel: ch, RootTS: ts}, true
					if isRoot {
						return d.delivered(ctx, rows, Delivery{Channel: ch, TS: ts, Thread: &thread}), false
					}
					if err := d.n.store.SaveSlackThread(ctx, thread); err != nil {
						d.failStore(ctx, rows, tok, true, err)
						return false, true
					}
				}
			}
		}
		if hasThread && !isRoot {
			ts, err := d.find(ctx, thread.Channel, thread.RootTS, rowKey(row.IncidentID, row.Seq), row.CreatedAt)
			switch {
			case err != nil:
				if c, _, _ := classify(err); c != permanent {
					return false, d.fail(ctx, rows, tok, true, err)
				}
				d.n.logger.Warn("slack: cannot look up a message whose delivery is in doubt; posting it again", "incident", row.IncidentID, "err", err)
				looked = false
			case ts != "":
				return d.delivered(ctx, rows, d.replyDelivery(thread, ts, row, entry)), false
			}
		}
		if !looked {
			d.n.logger.Warn("slack: a message whose delivery is in doubt cannot be looked up; it may appear twice",
				"incident", row.IncidentID, "seq", row.Seq, "channel", row.Channel)
		}
		inDoubt = false
	}

	if !hasThread {
		m := d.rd.root(inc, first, row.Mention)
		ch, ts, err := d.post(ctx, row.Channel, "", rootKey(row.IncidentID), m)
		if err != nil {
			return false, d.fail(ctx, rows, tok, false, err)
		}
		thread = Thread{IncidentID: row.IncidentID, Route: row.Channel, Channel: ch, RootTS: ts}
		if isRoot {
			return d.delivered(ctx, rows, Delivery{Channel: ch, TS: ts, Thread: &thread}), false
		}
		bctx, cancel := bookkeeping(ctx)
		err = d.n.store.SaveSlackThread(bctx, thread)
		cancel()
		if err != nil {
			d.failStore(ctx, rows, tok, true, err)
			return false, true
		}
	} else if isRoot {
		// The root exists already (posted for an earlier row).
		return d.delivered(ctx, rows, Delivery{Channel: thread.Channel, TS: thread.RootTS}), false
	}

	// Updates are idempotent: they run before the reply, so that a
	// delivered reply implies its update was made.
	if rootUpdateKinds[row.Kind] {
		if err := d.update(ctx, thread.Channel, thread.RootTS, d.rd.root(inc, first, row.Mention)); err != nil {
			return false, d.fail(ctx, rows, tok, false, err)
		}
	}
	var m message
	switch row.Kind {
	case incident.KindApprovalRequested:
		m, _ = d.rd.approvalRequest(inc, entry, row.Mention)
	case incident.KindApprovalDecided:
		out, id := d.rd.approvalOutcome(inc, entry)
		am, ok, err := d.n.store.GetSlackApprovalMessage(ctx, id)
		if err != nil {
			d.failStore(ctx, rows, tok, true, err)
			return false, true
		}
		if ok {
			if err := d.update(ctx, am.Channel, am.TS, out); err != nil {
				return false, d.fail(ctx, rows, tok, false, err)
			}
		}
		m = d.rd.reply(inc, entry)
	default:
		m = d.rd.reply(inc, entry)
	}
	ch, ts, err := d.post(ctx, thread.Channel, thread.RootTS, rowKey(row.IncidentID, row.Seq), m)
	if err != nil {
		return false, d.fail(ctx, rows, tok, false, err)
	}
	thread.Channel = ch
	return d.delivered(ctx, rows, d.replyDelivery(thread, ts, row, entry)), false
}

// replyDelivery is the delivery of a reply, recording the approval
// request's message when it carries buttons.
func (d *deliverer) replyDelivery(thread Thread, ts string, row OutboxRow, entry incident.TimelineEntry) Delivery {
	dl := Delivery{Channel: thread.Channel, TS: ts}
	if row.Kind == incident.KindApprovalRequested {
		if id := approvalID(payload(entry)); id > 0 {
			dl.Approval = &ApprovalMessage{ApprovalID: id, IncidentID: row.IncidentID, Channel: thread.Channel, TS: ts}
		}
	}
	return dl
}

// failStore records a failure that is secopsd's own (the store, a missing
// entry): the row waits MaxBackoff.
func (d *deliverer) failStore(ctx context.Context, rows []OutboxRow, tok string, inDoubt bool, err error) {
	if ctx.Err() != nil {
		d.release(ctx, rows, tok)
		return
	}
	status := StatusPending
	if inDoubt {
		status = StatusSending
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if rerr := d.n.store.RetrySlack(bctx, ids, tok, status, d.now().Add(d.n.opts.MaxBackoff), err.Error()); rerr != nil {
		d.n.logger.Error("slack: record a failed delivery", "incident", rows[0].IncidentID, "err", rerr)
	}
	if obs := d.n.opts.Observer; obs != nil {
		obs.Failed("secopsd", true)
	}
}

// deliverDigest posts digest rows of one channel as one message.
func (d *deliverer) deliverDigest(wctx context.Context, rows []OutboxRow) (bool, bool) {
	first := rows[0]
	channel := first.Channel
	batch := first.Batch
	inDoubt := first.Status == StatusSending && batch != ""
	if !inDoubt {
		batch = "d" + strconv.FormatInt(first.ID, 10)
	}
	tok, ok, stop := d.claim(wctx, rows, batch)
	if !ok {
		return false, stop
	}
	ctx, cancel := d.leased(wctx)
	defer cancel()
	if inDoubt {
		ch, err := d.channelID(ctx, channel)
		if err != nil {
			return false, d.fail(ctx, rows, tok, true, err)
		}
		if ch != "" {
			ts, err := d.find(ctx, ch, "", digestKey(batch), first.CreatedAt)
			if err != nil {
				if c, _, _ := classify(err); c != permanent {
					return false, d.fail(ctx, rows, tok, true, err)
				}
			} else if ts != "" {
				return d.delivered(ctx, rows, Delivery{Channel: ch, TS: ts}), false
			}
		}
	}
	items := make([]digestItem, 0, len(rows))
	for _, r := range rows {
		inc, err := d.n.opts.Incidents.GetIncident(ctx, r.IncidentID)
		if err != nil {
			inc = incident.Incident{ID: r.IncidentID, Title: "(incident not found)"}
		}
		items = append(items, digestItem{inc: inc, kind: r.Kind})
	}
	ch, ts, err := d.post(ctx, channel, "", digestKey(batch), d.rd.digest(items))
	if err != nil {
		return false, d.fail(ctx, rows, tok, false, err)
	}
	return d.delivered(ctx, rows, Delivery{Channel: ch, TS: ts}), false
}
