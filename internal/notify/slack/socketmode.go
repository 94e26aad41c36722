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
	"github.com/slack-go/slack/socketmode"
)

// Socket Mode is the alternative to a public interactions URL for daemons
// behind a firewall: secopsd opens a websocket to Slack (apps.connections.open
// with the app-level token, xapp-…) and receives the same block actions and
// slash commands over it. No request signature is checked in this mode:
// Slack does not sign Socket Mode envelopes, and none is needed, because
// the websocket itself was opened with the app token over TLS to Slack, so
// whatever arrives on it comes from Slack. Each envelope is acknowledged
// after its work (at most AckWithin later), a slash command's answer riding
// on the acknowledgement.

// DefaultReconnectDelay is how long SocketMode waits before connecting
// again after the connection failed for good (for example an invalid
// token).
const DefaultReconnectDelay = 30 * time.Second

// SocketModeOptions configures SocketMode.
type SocketModeOptions struct {
	// Actions carries out clicks and commands; required.
	Actions *Actions
	// AppToken is the app-level token (xapp-…) that opens the websocket;
	// required.
	AppToken string
	// BotToken is the bot token (xoxb-…) of the Web API client.
	BotToken string
	// APIURL is the Web API base URL; "" is Slack's.
	APIURL string
	// HTTPClient calls the Web API; nil uses a client with a 30s timeout.
	HTTPClient *http.Client
	// ReconnectDelay is the wait after the connection failed for good
	// (default DefaultReconnectDelay).
	ReconnectDelay time.Duration
	// PingInterval is how long without a ping from Slack before the
	// connection counts as dead; 0 keeps slack-go's default (30s).
	PingInterval time.Duration
	// Logger receives connection messages; nil discards.
	Logger *slog.Logger
}

// SocketMode receives interactions and slash commands over a Socket Mode
// websocket.
type SocketMode struct {
	opts    SocketModeOptions
	actions *Actions
	client  *socketmode.Client
	logger  *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewSocketMode returns a SocketMode client; nothing connects until Start.
func NewSocketMode(opts SocketModeOptions) (*SocketMode, error) {
	var errs []error
	if opts.Actions == nil {
		errs = append(errs, errors.New("slack socket mode: Actions is required"))
	}
	if !strings.HasPrefix(opts.AppToken, "xapp-") {
		errs = append(errs, errors.New("slack socket mode: AppToken must be an app-level token (xapp-…)"))
	}
	if opts.ReconnectDelay < 0 || opts.PingInterval < 0 {
		errs = append(errs, errors.New("slack socket mode: ReconnectDelay and PingInterval must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.ReconnectDelay == 0 {
		opts.ReconnectDelay = DefaultReconnectDelay
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	apiOpts := []slack.Option{slack.OptionAppLevelToken(opts.AppToken), slack.OptionHTTPClient(hc)}
	if opts.APIURL != "" {
		apiOpts = append(apiOpts, slack.OptionAPIURL(strings.TrimRight(opts.APIURL, "/")+"/"))
	}
	smOpts := []socketmode.Option{socketmode.OptionLog(slog.NewLogLogger(logger.Handler(), slog.LevelDebug))}
	if opts.PingInterval > 0 {
		smOpts = append(smOpts, socketmode.OptionPingInterval(opts.PingInterval))
	}
	client := socketmode.New(slack.New(opts.BotToken, apiOpts...), smOpts...)
	return &SocketMode{opts: opts, actions: opts.Actions, client: client, logger: logger}, nil
}

// Start connects in the background and keeps reconnecting until Stop.
func (s *SocketMode) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.connect(ctx) }()
	go func() { defer s.wg.Done(); s.dispatch(ctx) }()
}

// Stop closes the connection and waits, within ctx, for the envelopes in
// progress.
func (s *SocketMode) Stop(ctx context.Context) error {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop slack socket mode: %w", ctx.Err())
	}
}

// connect runs the managed connection; slack-go reconnects by itself and
// returns only on a fatal error (such as an invalid token), after which
// it tries again after ReconnectDelay.
func (s *SocketMode) connect(ctx context.Context) {
	for {
		err := s.client.RunContext(ctx)
		if ctx.Err() != nil {
			return
		}
		s.logger.Error("slack socket mode connection failed; retrying", "err", err, "retry_in", s.opts.ReconnectDelay)
		t := time.NewTimer(s.opts.ReconnectDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// dispatch handles the client's events until ctx ends.
func (s *SocketMode) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-s.client.Events:
			s.handle(ctx, evt)
		}
	}
}

// handle handles one event; envelopes are worked on in their own
// goroutine so that a slow one does not hold up the others.
func (s *SocketMode) handle(ctx context.Context, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		s.logger.Info("slack socket mode connected")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth,
		socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
		s.logger.Warn("slack socket mode", "event", string(evt.Type), "detail", socketErrorDetail(evt.Data))
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		req := *evt.Request
		s.goEnvelope(func() {
			s.actions.HandleInteraction(cb)
			s.ack(ctx, req, nil)
		})
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		req := *evt.Request
		s.goEnvelope(func() {
			if cmd.UserID == "" {
				s.ack(ctx, req, nil)
				return
			}
			reply := s.actions.HandleCommand(cmd)
			if err := s.client.AckCtx(ctx, req.EnvelopeID, reply.response()); err != nil {
				// Too large for an acknowledgement: acknowledge bare and
				// answer through the response URL.
				s.ack(ctx, req, nil)
				s.actions.postReply(ctx, cmd.ResponseURL, cmd.ChannelID, cmd.UserID, reply)
			}
		})
	case socketmode.EventTypeEventsAPI:
		if evt.Request != nil {
			s.ack(ctx, *evt.Request, nil) // secopsd subscribes to no events
		}
	}
}

func (s *SocketMode) goEnvelope(fn func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); fn() }()
}

func (s *SocketMode) ack(ctx context.Context, req socketmode.Request, payload any) {
	if err := s.client.AckCtx(ctx, req.EnvelopeID, payload); err != nil && ctx.Err() == nil {
		s.logger.Warn("slack socket mode: acknowledge envelope", "type", req.Type, "err", err)
	}
}

// socketErrorDetail describes an error event without its payload (which
// may hold message text).
func socketErrorDetail(data any) string {
	switch d := data.(type) {
	case *slack.ConnectionErrorEvent:
		return d.Error()
	case *slack.IncomingEventError:
		return d.Error()
	case *socketmode.ErrorBadMessage:
		return d.Cause.Error()
	case *socketmode.ErrorWriteFailed:
		return d.Cause.Error()
	case error:
		return d.Error()
	}
	return ""
}
