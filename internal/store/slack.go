package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The Slack outbox (internal/notify/slack): notifications waiting to be
// posted, the root message of each incident's thread and the message of
// each approval request. The notifier only enqueues; a delivery worker
// drains the outbox in timeline order per incident.

// Statuses of a SlackOutboxRow.
const (
	// SlackPending is a row not posted yet, or refused by Slack.
	SlackPending = "pending"
	// SlackSending is a row claimed by a delivery worker until its
	// NextAttemptAt (the lease), or whose last attempt has an unknown
	// outcome (a crash or a lost answer): look the message up before
	// posting again.
	SlackSending = "sending"
	// SlackSent is a posted row.
	SlackSent = "sent"
)

// SlackOutboxRow is one notification to post to Slack.
type SlackOutboxRow struct {
	ID         int64
	IncidentID int64
	Seq        int64
	Kind       string
	// Channel is the route's channel (a #name or an id).
	Channel string
	Mention string
	// Digest is the digest period of the route; 0 posts the row on its own.
	Digest        time.Duration
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	// Batch names the digest message the row was claimed for.
	Batch string
	// ClaimToken names the last claim that took the row ("" if none).
	ClaimToken string
	TS         string
	CreatedAt  time.Time
	SentAt     *time.Time
}

// SlackThread is the root message of an incident in Slack.
type SlackThread struct {
	IncidentID int64
	// Route is the channel as configured; Channel the id Slack answered.
	Route   string
	Channel string
	RootTS  string
}

// SlackApprovalMessage is the message carrying an approval request's
// buttons.
type SlackApprovalMessage struct {
	ApprovalID int64
	IncidentID int64
	Channel    string
	TS         string
}

// SlackDelivery records that rows were posted as one message, together
// with the thread it started and the approval request it carries.
type SlackDelivery struct {
	IDs     []int64
	Channel string
	TS      string
	At      time.Time
	// Thread, when set, is stored as the incident's thread unless one is
	// stored already.
	Thread *SlackThread
	// Approval, when set, is stored as the approval request's message.
	Approval *SlackApprovalMessage
}

// SlackClaimRow is a row to claim as its claimer read it.
type SlackClaimRow struct {
	ID int64
	// Token is the row's ClaimToken as read; the claim fails if the row
	// was claimed since.
	Token string
}

// SlackClaim asks to take rows for one delivery attempt, all or none.
type SlackClaim struct {
	Rows []SlackClaimRow
	// Batch is recorded on the rows (the digest message they go in).
	Batch string
	// Token names this claim; it must be new (random) for every claim.
	Token string
	// Now is the claim's time: only rows due at Now are taken.
	Now time.Time
	// Until ends the lease: the rows are not due to anyone else before.
	Until time.Time
}

// SlackOutbox is the store side of the Slack notifier.
type SlackOutbox interface {
	// EnqueueSlack adds a row unless one exists for its (incident, seq);
	// it reports whether it added one.
	EnqueueSlack(ctx context.Context, row SlackOutboxRow) (bool, error)
	// DueSlack returns the rows to attempt at now, oldest first, at most
	// limit: of each incident the unsent immediate row of lowest seq when
	// it is due (a later row waits for it), and every due digest row.
	DueSlack(ctx context.Context, now time.Time, limit int) ([]SlackOutboxRow, error)
	// ClaimSlack takes all of c.Rows or none, as one compare-and-set: each
	// must be unsent, due at c.Now and still carry the token its claimer
	// read. It marks them sending with c.Token, c.Batch, an attempt more
	// and the lease c.Until as next attempt, and reports whether it took
	// them; of concurrent claims of a row exactly one succeeds.
	ClaimSlack(ctx context.Context, c SlackClaim) (bool, error)
	// RetrySlack records a failed attempt on the unsent rows that the
	// claim token still holds: their status (pending or sending), next
	// attempt and error.
	RetrySlack(ctx context.Context, ids []int64, token, status string, next time.Time, lastError string) error
	// MarkSlackSent records, in one transaction, that rows were posted,
	// with the thread and approval message they started.
	MarkSlackSent(ctx context.Context, d SlackDelivery) error
	// SaveSlackThread stores an incident's thread unless it has one.
	SaveSlackThread(ctx context.Context, t SlackThread) error
	// GetSlackThread returns the incident's thread, and false if none.
	GetSlackThread(ctx context.Context, incidentID int64) (SlackThread, bool, error)
	// SlackChannelID returns the channel id Slack answered for a
	// configured route, and false if no thread was posted there yet.
	SlackChannelID(ctx context.Context, route string) (string, bool, error)
	// GetSlackApprovalMessage returns the message of an approval request,
	// and false if none was posted.
	GetSlackApprovalMessage(ctx context.Context, approvalID int64) (SlackApprovalMessage, bool, error)
	// SlackOutboxRows returns an incident's rows in seq order.
	SlackOutboxRows(ctx context.Context, incidentID int64) ([]SlackOutboxRow, error)
}

const slackOutboxColumns = `id, incident_id, seq, kind, channel, mention, digest_ms, status, attempts,
	next_attempt_at, last_error, batch, claim_token, ts, created_at, sent_at`

// EnqueueSlack inserts row as pending unless (incident, seq) is stored.
func (s *sqlStore) EnqueueSlack(ctx context.Context, row SlackOutboxRow) (bool, error) {
	switch {
	case row.IncidentID <= 0 || row.Seq <= 0:
		return false, fmt.Errorf("enqueue slack message: incident %d seq %d: %w", row.IncidentID, row.Seq, ErrInvalid)
	case row.Kind == "" || row.Channel == "":
		return false, fmt.Errorf("enqueue slack message: no kind or channel: %w", ErrInvalid)
	case row.Digest < 0:
		return false, fmt.Errorf("enqueue slack message: negative digest period: %w", ErrInvalid)
	case row.CreatedAt.IsZero():
		return false, fmt.Errorf("enqueue slack message: no creation time: %w", ErrInvalid)
	}
	if row.NextAttemptAt.IsZero() {
		row.NextAttemptAt = row.CreatedAt
	}
	var id int64
	err := s.b.pool().queryRow(ctx, `INSERT INTO slack_outbox (incident_id, seq, kind, channel, mention, digest_ms,
			status, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)
		ON CONFLICT (incident_id, seq) DO NOTHING
		RETURNING id`,
		row.IncidentID, row.Seq, row.Kind, row.Channel, row.Mention, row.Digest.Milliseconds(),
		s.b.timeArg(row.NextAttemptAt), s.b.timeArg(row.CreatedAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue slack message for incident %d seq %d: %w", row.IncidentID, row.Seq, err)
	}
	return true, nil
}

// DueSlack returns the due head rows of each incident and the due digest
// rows.
func (s *sqlStore) DueSlack(ctx context.Context, now time.Time, limit int) ([]SlackOutboxRow, error) {
	rows, err := s.querySlack(ctx, `SELECT `+slackOutboxColumns+` FROM slack_outbox o
		WHERE o.status <> 'sent' AND o.next_attempt_at <= $1
		AND (o.digest_ms > 0 OR o.seq = (SELECT MIN(p.seq) FROM slack_outbox p
			WHERE p.incident_id = o.incident_id AND p.status <> 'sent' AND p.digest_ms = 0))
		ORDER BY o.id LIMIT $2`, s.b.timeArg(now), clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list due slack messages: %w", err)
	}
	return rows, nil
}

// SlackOutboxRows returns the rows of one incident in seq order.
func (s *sqlStore) SlackOutboxRows(ctx context.Context, incidentID int64) ([]SlackOutboxRow, error) {
	rows, err := s.querySlack(ctx, `SELECT `+slackOutboxColumns+` FROM slack_outbox
		WHERE incident_id = $1 ORDER BY seq`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("list slack messages of incident %d: %w", incidentID, err)
	}
	return rows, nil
}

// idList renders ids as parameters $from, $from+1, … and returns them as
// arguments.
func idList(ids []int64, from int) (string, []any) {
	ps := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ps[i] = fmt.Sprintf("$%d", from+i)
		args[i] = id
	}
	return strings.Join(ps, ", "), args
}

// errSlackClaimLost rolls back a claim that could not take every row.
var errSlackClaimLost = errors.New("slack rows claimed by another worker")

// ClaimSlack takes rows with a conditional UPDATE, all or none.
func (s *sqlStore) ClaimSlack(ctx context.Context, c SlackClaim) (bool, error) {
	switch {
	case len(c.Rows) == 0:
		return false, fmt.Errorf("claim slack messages: no rows: %w", ErrInvalid)
	case c.Token == "":
		return false, fmt.Errorf("claim slack messages: no claim token: %w", ErrInvalid)
	case c.Now.IsZero() || !c.Until.After(c.Now):
		return false, fmt.Errorf("claim slack messages: lease ends %s, not after %s: %w", c.Until, c.Now, ErrInvalid)
	}
	args := []any{c.Batch, c.Token, s.b.timeArg(c.Until), s.b.timeArg(c.Now)}
	conds := make([]string, len(c.Rows))
	for i, r := range c.Rows {
		conds[i] = fmt.Sprintf("(id = $%d AND claim_token = $%d)", len(args)+1, len(args)+2)
		args = append(args, r.ID, r.Token)
	}
	err := s.b.inTx(ctx, func(q querier) error {
		// The WHERE clause is evaluated on the row as it is when the UPDATE
		// locks it (PostgreSQL re-checks it after a concurrent update;
		// SQLite has one writer), so a second claimer finds the new token
		// and a lease in the future, and takes nothing.
		rs, err := q.query(ctx, `UPDATE slack_outbox SET status = 'sending', attempts = attempts + 1, batch = $1,
				claim_token = $2, next_attempt_at = $3
			WHERE status <> 'sent' AND next_attempt_at <= $4 AND (`+strings.Join(conds, " OR ")+`)
			RETURNING id`, args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		n := 0
		for rs.Next() {
			n++
		}
		if err := rs.Err(); err != nil {
			return err
		}
		if n != len(c.Rows) {
			return errSlackClaimLost
		}
		return nil
	})
	if errors.Is(err, errSlackClaimLost) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim slack messages: %w", err)
	}
	return true, nil
}

// RetrySlack records a failed attempt on the unsent rows token holds.
func (s *sqlStore) RetrySlack(ctx context.Context, ids []int64, token, status string, next time.Time, lastError string) error {
	if status != SlackPending && status != SlackSending {
		return fmt.Errorf("retry slack messages: status %q: %w", status, ErrInvalid)
	}
	if token == "" {
		return fmt.Errorf("retry slack messages: no claim token: %w", ErrInvalid)
	}
	if len(ids) == 0 {
		return nil
	}
	if len(lastError) > 1024 {
		lastError = strings.ToValidUTF8(lastError[:1024], "")
	}
	in, args := idList(ids, 5)
	err := s.b.pool().exec(ctx, `UPDATE slack_outbox SET status = $1, next_attempt_at = $2, last_error = $3
		WHERE status <> 'sent' AND claim_token = $4 AND id IN (`+in+`)`,
		append([]any{status, s.b.timeArg(next), lastError, token}, args...)...)
	if err != nil {
		return fmt.Errorf("record failed slack delivery: %w", err)
	}
	return nil
}

// MarkSlackSent marks rows sent with their message and stores the thread
// and approval message, in one transaction.
func (s *sqlStore) MarkSlackSent(ctx context.Context, d SlackDelivery) error {
	if len(d.IDs) == 0 || d.Channel == "" || d.TS == "" || d.At.IsZero() {
		return fmt.Errorf("mark slack messages sent: no rows, channel, ts or time: %w", ErrInvalid)
	}
	at := s.b.timeArg(d.At)
	err := s.b.inTx(ctx, func(q querier) error {
		in, args := idList(d.IDs, 3)
		if err := q.exec(ctx, `UPDATE slack_outbox SET status = 'sent', ts = $1, sent_at = $2, last_error = ''
			WHERE status <> 'sent' AND id IN (`+in+`)`, append([]any{d.TS, at}, args...)...); err != nil {
			return fmt.Errorf("mark rows sent: %w", err)
		}
		if t := d.Thread; t != nil {
			if err := q.exec(ctx, `INSERT INTO slack_threads (incident_id, route, channel, root_ts, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id) DO NOTHING`,
				t.IncidentID, t.Route, t.Channel, t.RootTS, at); err != nil {
				return fmt.Errorf("store thread of incident %d: %w", t.IncidentID, err)
			}
		}
		if a := d.Approval; a != nil {
			if err := q.exec(ctx, `INSERT INTO slack_approval_messages (approval_id, incident_id, channel, ts, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (approval_id) DO NOTHING`,
				a.ApprovalID, a.IncidentID, a.Channel, a.TS, at); err != nil {
				return fmt.Errorf("store message of approval %d: %w", a.ApprovalID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark slack messages sent: %w", err)
	}
	return nil
}

// SaveSlackThread stores an incident's thread unless one is stored.
func (s *sqlStore) SaveSlackThread(ctx context.Context, t SlackThread) error {
	if t.IncidentID <= 0 || t.Channel == "" || t.RootTS == "" {
		return fmt.Errorf("save slack thread: no incident, channel or ts: %w", ErrInvalid)
	}
	if err := s.b.pool().exec(ctx, `INSERT INTO slack_threads (incident_id, route, channel, root_ts, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id) DO NOTHING`,
		t.IncidentID, t.Route, t.Channel, t.RootTS, s.b.timeArg(s.now())); err != nil {
		return fmt.Errorf("save slack thread of incident %d: %w", t.IncidentID, err)
	}
	return nil
}

// GetSlackThread returns an incident's thread.
func (s *sqlStore) GetSlackThread(ctx context.Context, incidentID int64) (SlackThread, bool, error) {
	t := SlackThread{IncidentID: incidentID}
	err := s.b.pool().queryRow(ctx, `SELECT route, channel, root_ts FROM slack_threads WHERE incident_id = $1`, incidentID).
		Scan(&t.Route, &t.Channel, &t.RootTS)
	if errors.Is(err, sql.ErrNoRows) {
		return SlackThread{}, false, nil
	}
	if err != nil {
		return SlackThread{}, false, fmt.Errorf("get slack thread of incident %d: %w", incidentID, err)
	}
	return t, true, nil
}

// SlackChannelID returns the channel id of a configured route, learnt from
// an earlier thread.
func (s *sqlStore) SlackChannelID(ctx context.Context, route string) (string, bool, error) {
	var id string
	err := s.b.pool().queryRow(ctx, `SELECT channel FROM slack_threads WHERE route = $1 ORDER BY incident_id DESC LIMIT 1`, route).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get slack channel id of %q: %w", route, err)
	}
	return id, true, nil
}

// GetSlackApprovalMessage returns the message of an approval request.
func (s *sqlStore) GetSlackApprovalMessage(ctx context.Context, approvalID int64) (SlackApprovalMessage, bool, error) {
	m := SlackApprovalMessage{ApprovalID: approvalID}
	err := s.b.pool().queryRow(ctx, `SELECT incident_id, channel, ts FROM slack_approval_messages WHERE approval_id = $1`, approvalID).
		Scan(&m.IncidentID, &m.Channel, &m.TS)
	if errors.Is(err, sql.ErrNoRows) {
		return SlackApprovalMessage{}, false, nil
	}
	if err != nil {
		return SlackApprovalMessage{}, false, fmt.Errorf("get slack message of approval %d: %w", approvalID, err)
	}
	return m, true, nil
}

func (s *sqlStore) querySlack(ctx context.Context, query string, args ...any) ([]SlackOutboxRow, error) {
	rs, err := s.b.pool().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := []SlackOutboxRow{}
	for rs.Next() {
		var (
			r              SlackOutboxRow
			digestMS       int64
			next, cr, sent timeCol
		)
		if err := rs.Scan(&r.ID, &r.IncidentID, &r.Seq, &r.Kind, &r.Channel, &r.Mention, &digestMS, &r.Status, &r.Attempts,
			&next, &r.LastError, &r.Batch, &r.ClaimToken, &r.TS, &cr, &sent); err != nil {
			return nil, err
		}
		r.Digest = time.Duration(digestMS) * time.Millisecond
		r.NextAttemptAt, r.CreatedAt, r.SentAt = next.t, cr.t, sent.ptr()
		out = append(out, r)
	}
	return out, rs.Err()
}
