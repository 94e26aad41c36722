package slack

import (
	"context"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

// Statuses of an OutboxRow.
const (
	// StatusPending is a row not posted yet, or refused by Slack.
	StatusPending = "pending"
	// StatusSending is a row claimed by a worker until its NextAttemptAt
	// (the lease), or whose last attempt has an unknown outcome: the
	// message is looked up in Slack before it is posted again.
	StatusSending = "sending"
	// StatusSent is a posted row.
	StatusSent = "sent"
)

// OutboxRow is one notification waiting in (or delivered from) the
// outbox: a timeline entry of an incident and the route it was given.
// Its fields mirror store.SlackOutboxRow, so that the app converts one
// into the other.
type OutboxRow struct {
	ID            int64
	IncidentID    int64
	Seq           int64
	Kind          string
	Channel       string
	Mention       string
	Digest        time.Duration
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	Batch         string
	ClaimToken    string
	TS            string
	CreatedAt     time.Time
	SentAt        *time.Time
}

// Thread is the root message of an incident in Slack.
type Thread struct {
	IncidentID int64
	Route      string
	Channel    string
	RootTS     string
}

// ApprovalMessage is the message carrying an approval request's buttons.
type ApprovalMessage struct {
	ApprovalID int64
	IncidentID int64
	Channel    string
	TS         string
}

// Delivery records that outbox rows were posted as one message.
type Delivery struct {
	IDs      []int64
	Channel  string
	TS       string
	At       time.Time
	Thread   *Thread
	Approval *ApprovalMessage
}

// ClaimRow is a row to claim and the claim token it carried when read.
type ClaimRow struct {
	ID    int64
	Token string
}

// Claim asks the store for rows, all or none, for one delivery attempt.
type Claim struct {
	Rows  []ClaimRow
	Batch string
	// Token names the claim; RetrySlack applies only while it holds the
	// rows.
	Token string
	// Now is the claim's time and Until the end of its lease.
	Now, Until time.Time
}

// Store is the durable outbox the notifier needs (internal/store
// implements it; the app adapts its types).
type Store interface {
	// EnqueueSlack adds a row unless one exists for its (incident, seq).
	EnqueueSlack(ctx context.Context, row OutboxRow) (bool, error)
	// DueSlack returns, oldest first, each incident's due unsent immediate
	// row of lowest seq, and the due digest rows.
	DueSlack(ctx context.Context, now time.Time, limit int) ([]OutboxRow, error)
	// ClaimSlack takes the rows, all or none, if each is unsent, due and
	// still carries the token read (a compare-and-set): it marks them
	// sending with the claim's token, counts an attempt and holds them
	// until the lease ends. It reports whether it took them.
	ClaimSlack(ctx context.Context, c Claim) (bool, error)
	// RetrySlack records a failed attempt on the rows token still holds.
	RetrySlack(ctx context.Context, ids []int64, token, status string, next time.Time, lastError string) error
	// MarkSlackSent records a posted message (and the thread and approval
	// message it started) in one transaction.
	MarkSlackSent(ctx context.Context, d Delivery) error
	// SaveSlackThread stores an incident's root message unless it has one.
	SaveSlackThread(ctx context.Context, t Thread) error
	// GetSlackThread returns an incident's thread, false if none.
	GetSlackThread(ctx context.Context, incidentID int64) (Thread, bool, error)
	// SlackChannelID returns the channel id learnt for a configured route.
	SlackChannelID(ctx context.Context, route string) (string, bool, error)
	// GetSlackApprovalMessage returns an approval request's message.
	GetSlackApprovalMessage(ctx context.Context, approvalID int64) (ApprovalMessage, bool, error)
}

// Incidents reads incidents and their timelines (incident.Store has both).
type Incidents interface {
	GetIncident(ctx context.Context, id int64) (incident.Incident, error)
	Timeline(ctx context.Context, id int64) ([]incident.TimelineEntry, error)
}
