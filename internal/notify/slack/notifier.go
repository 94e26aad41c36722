// Package slack posts secopsd's incidents to Slack: one root message per
// incident (Block Kit: title, severity, tier, status, monitor, key
// evidence, links), later timeline entries as replies in its thread, the
// root updated when the incident is acknowledged, resolved or reopened,
// and Approve / Deny buttons on approval requests.
//
// Delivery goes through a durable outbox in the store: Notify only
// enqueues (one row per incident and timeline entry, so notifying again
// after a restart adds nothing) and a worker drains the outbox, per
// incident strictly in timeline order, with exponential backoff that
// honours Slack's Retry-After, a circuit breaker around the Web API and
// error classification (see deliver.go for the crash window between
// Slack accepting a message and the store recording it).
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/secopsd/secopsd/internal/incident"
)

var _ incident.Notifier = (*Notifier)(nil)

// Observer counts what the worker does (the app exports Prometheus
// metrics); every method may be called from the worker goroutine.
type Observer interface {
	// Delivered counts a message posted (or found already posted).
	Delivered(kind string)
	// Failed counts a failed attempt; permanent is true for a refusal
	// that retrying will not fix by itself (channel_not_found …).
	Failed(reason string, permanent bool)
}

// Options configures a Notifier.
type Options struct {
	// Store is the outbox; required.
	Store Store
	// Incidents reads incidents and timelines; required.
	Incidents Incidents
	// Token is the bot token (xoxb-…); required.
	Token string
	// APIURL is the Web API's base URL; empty means Slack's own.
	APIURL string
	// HTTPClient sends the requests; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// UIURL is the base URL that messages link to.
	UIURL string
	// Routes choose the channel of an incident; nil means DefaultRoutes.
	// An empty non-nil list posts nothing.
	Routes []Route
	// MinBackoff and MaxBackoff bound the wait between attempts of a
	// message (defaults 1 s and 5 min).
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is how often the outbox is read when nothing wakes the
	// worker (default 1 s).
	PollInterval time.Duration
	// BreakerFailures consecutive transient failures open the circuit
	// breaker (default 5) for BreakerTimeout (default 30 s).
	BreakerFailures uint32
	BreakerTimeout  time.Duration
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Logger receives delivery problems; nil discards them.
	Logger *slog.Logger
	// Observer counts deliveries and failures; optional.
	Observer Observer
}

func (o *Options) validate() error {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("slack: Store is required"))
	}
	if o.Incidents == nil {
		errs = append(errs, errors.New("slack: Incidents is required"))
	}
	if o.Token == "" {
		errs = append(errs, errors.New("slack: Token is required"))
	}
	if o.Routes == nil {
		o.Routes = DefaultRoutes()
	}
	if err := validateRoutes(o.Routes); err != nil {
		errs = append(errs, fmt.Errorf("slack: %w", err))
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		errs = append(errs, fmt.Errorf("slack: MaxBackoff %s is less than MinBackoff %s", o.MaxBackoff, o.MinBackoff))
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerTimeout <= 0 {
		o.BreakerTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	o.UIURL = strings.TrimRight(o.UIURL, "/")
	if o.APIURL != "" && !strings.HasSuffix(o.APIURL, "/") {
		o.APIURL += "/"
	}
	return errors.Join(errs...)
}

// Notifier enqueues incident notifications into the outbox and, once
// started, delivers them to Slack.
type Notifier struct {
	opts   Options
	store  Store
	api    *slack.Client
	z      sanitizer
	logger *slog.Logger
	wake   chan struct{}
	d      *deliverer

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
}

// New returns a Notifier; nothing is delivered until Start.
func New(opts Options) (*Notifier, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	apiOpts := []slack.Option{slack.OptionHTTPClient(opts.HTTPClient)}
	if opts.APIURL != "" {
		apiOpts = append(apiOpts, slack.OptionAPIURL(opts.APIURL))
	}
	n := &Notifier{
		opts:   opts,
		store:  opts.Store,
		api:    slack.New(opts.Token, apiOpts...),
		z:      newSanitizer(),
		logger: opts.Logger,
		wake:   make(chan struct{}, 1),
	}
	n.d = newDeliverer(n)
	return n, nil
}

// Notify enqueues the notification when a route matches its incident and
// returns; the worker posts it. It asks for a retry only when the outbox
// could not be written.
func (n *Notifier) Notify(ctx context.Context, no incident.Notification) (bool, error) {
	r, ok := route(n.opts.Routes, no.Incident)
	if !ok || no.Entry.Seq <= 0 || no.Incident.ID <= 0 {
		return false, nil
	}
	now := n.opts.Now()
	next := now
	if r.Digest > 0 {
		// Digest rows wait for the end of their period, so that one
		// message carries the period's rows.
		next = now.Truncate(r.Digest).Add(r.Digest)
	}
	_, err := n.store.EnqueueSlack(ctx, OutboxRow{
		IncidentID: no.Incident.ID, Seq: no.Entry.Seq, Kind: no.Entry.Kind,
		Channel: r.Channel, Mention: r.Mention, Digest: r.Digest,
		Status: StatusPending, NextAttemptAt: next, CreatedAt: now,
	})
	if err != nil {
		return true, fmt.Errorf("slack: enqueue incident %d entry %d: %w", no.Incident.ID, no.Entry.Seq, err)
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
	return false, nil
}

// Start runs the delivery worker until Stop.
func (n *Notifier) Start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return
	}
	n.started = true
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done = make(chan struct{})
	go func() {
		defer close(n.done)
		n.d.run(ctx)
	}()
}

// Stop stops the worker and waits for it within ctx. A message in flight
// is abandoned; its row stays in the outbox and is checked in Slack before
// it is posted again.
func (n *Notifier) Stop(ctx context.Context) error {
	n.mu.Lock()
	cancel, done, started := n.cancel, n.done, n.started
	n.started = false
	n.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop slack worker: %w", ctx.Err())
	}
}
