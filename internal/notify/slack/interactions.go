package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/slack-go/slack"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/secretscan"
)

// Interactions: people click the Approve / Deny buttons of an approval
// message (block_actions) or run /secops. Actions holds what both need —
// who may decide, the incident engine and the remediator behind small
// interfaces, the Web API client — and is shared by the HTTP handler
// (handler.go, which verifies Slack's signature first) and Socket Mode
// (socketmode.go, whose websocket is authenticated by the app token).

// The approval buttons are identified by ActionApprove, ActionDeny and
// ApprovalBlockIDPfx (blocks.go), the contract with the approval message.

// ActorPrefix starts the actor of everything a Slack user does:
// "slack:" and the user id.
const ActorPrefix = "slack:"

// Defaults of ActionsOptions.
const (
	// DefaultAckWithin is how long a request waits for its work before it
	// is acknowledged anyway (Slack wants an answer within 3 seconds).
	DefaultAckWithin = 2 * time.Second
	// DefaultGroupCacheTTL is how long a user group's members are cached.
	DefaultGroupCacheTTL = time.Minute
	// workTimeout bounds the work of one interaction or command.
	workTimeout = 30 * time.Second
)

// ApprovalService decides and lists approval requests;
// *incident.Remediator implements it.
type ApprovalService interface {
	// Decide records a decision on a pending request and resumes its run.
	Decide(ctx context.Context, approvalID int64, approve bool, actor, comment string) (incident.Approval, error)
	// GetApproval returns one request or an error wrapping
	// incident.ErrNotFound.
	GetApproval(ctx context.Context, id int64) (incident.Approval, error)
	// PendingApprovals lists the requests waiting for a decision.
	PendingApprovals(ctx context.Context) ([]incident.Approval, error)
}

// RefusalRecorder records, in the incident's timeline (kind
// approval.refused), that someone who is not a configured Slack approver
// tried to decide an approval request.
type RefusalRecorder interface {
	RecordRefusal(ctx context.Context, approvalID int64, actor, reason string) error
}

// IncidentLookup reads incidents and their timelines (the store).
type IncidentLookup interface {
	ListIncidents(ctx context.Context, f incident.Filter) ([]incident.Incident, error)
	GetIncident(ctx context.Context, id int64) (incident.Incident, error)
	Timeline(ctx context.Context, id int64) ([]incident.TimelineEntry, error)
}

// IncidentActions acknowledges and resolves incidents (*incident.Engine).
type IncidentActions interface {
	Acknowledge(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)
	Resolve(ctx context.Context, id int64, actor, comment string) (incident.Incident, incident.TimelineEntry, error)
}

// ActionsOptions configures Actions.
type ActionsOptions struct {
	// Incidents and Workflow serve /secops; required.
	Incidents IncidentLookup
	Workflow  IncidentActions
	// Approvals decides approval requests; nil when remediation is
	// disabled (approve/deny then say so).
	Approvals ApprovalService
	// Refusals records clicks and commands of people who are not
	// configured approvers; required.
	Refusals RefusalRecorder
	// ApproverUsers and ApproverGroups are the Slack user ids (U…) and
	// user group ids (S…) whose members may decide approvals and run the
	// state-changing commands. Both empty: nobody may.
	ApproverUsers  []string
	ApproverGroups []string
	// Client calls Slack's Web API (usergroups.users.list,
	// chat.postEphemeral); required when ApproverGroups is set.
	Client *slack.Client
	// HTTPClient posts to response URLs; nil uses a client with a 10s
	// timeout.
	HTTPClient *http.Client
	// ResponseURLAllowed says whether a response_url from a payload may be
	// posted to; nil allows only https://hooks.slack.com/. (The payload
	// is authenticated, but secopsd still never posts anywhere else
	// unless told so, e.g. to a loopback stand-in in tests.)
	ResponseURLAllowed func(u *url.URL) bool
	// UIURL is the base URL of links to incidents ("" for none).
	UIURL string
	// Redact removes secrets from text shown in Slack; nil uses
	// internal/secretscan's default rules.
	Redact func(string) string
	// AckWithin is how long a request waits for its work before it is
	// acknowledged and the answer follows through the response URL
	// (default DefaultAckWithin).
	AckWithin time.Duration
	// GroupCacheTTL is how long user group members are cached (default
	// DefaultGroupCacheTTL).
	GroupCacheTTL time.Duration
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Logger receives messages; nil discards them.
	Logger *slog.Logger
}

func (o *ActionsOptions) validate() error {
	var errs []error
	if o.Incidents == nil {
		errs = append(errs, errors.New("slack actions: Incidents is required"))
	}
	if o.Workflow == nil {
		errs = append(errs, errors.New("slack actions: Workflow is required"))
	}
	if o.Refusals == nil {
		errs = append(errs, errors.New("slack actions: Refusals is required"))
	}
	if len(o.ApproverGroups) > 0 && o.Client == nil {
		errs = append(errs, errors.New("slack actions: Client is required to look up approver user groups"))
	}
	for _, u := range o.ApproverUsers {
		if !userIDPattern.MatchString(u) {
			errs = append(errs, fmt.Errorf("slack actions: approver user %q: want a Slack user id such as U0123ABC", u))
		}
	}
	for _, g := range o.ApproverGroups {
		if !groupIDPattern.MatchString(g) {
			errs = append(errs, fmt.Errorf("slack actions: approver user group %q: want a Slack user group id such as S0123ABC", g))
		}
	}
	if o.AckWithin < 0 || o.GroupCacheTTL < 0 {
		errs = append(errs, errors.New("slack actions: AckWithin and GroupCacheTTL must not be negative"))
	}
	return errors.Join(errs...)
}

var (
	userIDPattern  = regexp.MustCompile(`^[UW][A-Z0-9]{2,31}$`)
	groupIDPattern = regexp.MustCompile(`^S[A-Z0-9]{2,31}$`)
)

// Actions carries out what Slack users ask for: approval decisions from
// button clicks and /secops commands, with the authorisation checks.
type Actions struct {
	opts    ActionsOptions
	logger  *slog.Logger
	redact  func(string) string
	escaper *strings.Replacer
	http    *http.Client

	groupsMu sync.Mutex
	groups   map[string]groupMembers

	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
	ctx     context.Context // cancelled when Shutdown gives up waiting
	cancel  context.CancelFunc
}

type groupMembers struct {
	members map[string]bool
	fetched time.Time
}

// NewActions returns Actions for opts.
func NewActions(opts ActionsOptions) (*Actions, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.AckWithin == 0 {
		opts.AckWithin = DefaultAckWithin
	}
	if opts.GroupCacheTTL == 0 {
		opts.GroupCacheTTL = DefaultGroupCacheTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ResponseURLAllowed == nil {
		opts.ResponseURLAllowed = slackHooksOnly
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	redact := opts.Redact
	if redact == nil {
		sc := secretscan.NewScanner(secretscan.DefaultRules())
		redact = func(s string) string { out, _ := sc.Redact(s); return out }
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	opts.ApproverUsers = slices.Clone(opts.ApproverUsers)
	opts.ApproverGroups = slices.Clone(opts.ApproverGroups)
	ctx, cancel := context.WithCancel(context.Background())
	return &Actions{
		opts: opts, logger: logger, redact: redact, http: hc,
		escaper: strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;"),
		groups:  map[string]groupMembers{}, ctx: ctx, cancel: cancel,
	}, nil
}

// slackHooksOnly allows response URLs on https://hooks.slack.com only.
func slackHooksOnly(u *url.URL) bool {
	return u.Scheme == "https" && u.Host == "hooks.slack.com" && u.User == nil
}

// Shutdown stops accepting work and waits, within ctx, for the work in
// progress; what is still running when ctx ends is cancelled.
func (a *Actions) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		a.cancel()
		return nil
	case <-ctx.Done():
		a.cancel()
		<-done
		return fmt.Errorf("slack actions: work still in progress at shutdown: %w", ctx.Err())
	}
}

// errShuttingDown refuses work after Shutdown.
var errShuttingDown = errors.New("secopsd is shutting down")

// start runs fn in a tracked goroutine with a context detached from the
// request (so that acknowledging Slack early does not cut the work short),
// bounded by workTimeout. The channel is closed when fn returns.
func (a *Actions) start(fn func(ctx context.Context)) (<-chan struct{}, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return nil, errShuttingDown
	}
	a.wg.Add(1)
	done := make(chan struct{})
	go func() {
		defer a.wg.Done()
		defer close(done)
		ctx, cancel := context.WithTimeout(a.ctx, workTimeout)
		defer cancel()
		fn(ctx)
	}()
	return done, nil
}

// Reply is an ephemeral answer to the person who clicked or typed: mrkdwn
// text whose untrusted parts are already escaped and redacted.
type Reply struct {
	// Text is the mrkdwn text; "" means no answer.
	Text string
}

// maxReplyBytes bounds a reply: Socket Mode drops answers of 20 KB.
const maxReplyBytes = 12 << 10

// maxSectionBytes is Slack's limit of a section block's text.
const maxSectionBytes = 3000

// blocks renders the reply as section blocks of at most maxSectionBytes,
// split at line ends, with verbatim text (Slack does not link-ify URLs or
// names in it).
func (r Reply) blocks() []slack.Block {
	text := truncateUTF8(r.Text, maxReplyBytes, "\n…")
	var out []slack.Block
	for text != "" {
		chunk := text
		if len(chunk) > maxSectionBytes {
			cut := strings.LastIndexByte(chunk[:maxSectionBytes], '\n')
			if cut <= 0 {
				cut = utf8Prefix(chunk, maxSectionBytes)
			}
			chunk = chunk[:cut]
		}
		text = strings.TrimPrefix(text[len(chunk):], "\n")
		out = append(out, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, chunk, false, true), nil, nil))
	}
	return out
}

// fallback is the notification text of a reply: its first line.
func (r Reply) fallback() string {
	line, _, _ := strings.Cut(r.Text, "\n")
	return truncateUTF8(line, 300, "…")
}

// CommandResponse is the JSON body answering a slash command (and the
// payload acknowledging one in Socket Mode).
type CommandResponse struct {
	ResponseType string       `json:"response_type"`
	Text         string       `json:"text"`
	Blocks       slack.Blocks `json:"blocks"`
}

// response renders the reply as an ephemeral command response.
func (r Reply) response() CommandResponse {
	return CommandResponse{ResponseType: slack.ResponseTypeEphemeral, Text: r.fallback(), Blocks: slack.Blocks{BlockSet: r.blocks()}}
}

// webhook renders the reply as an ephemeral response-URL message that
// leaves the original message alone.
func (r Reply) webhook() *slack.WebhookMessage {
	bl := r.blocks()
	return &slack.WebhookMessage{
		ResponseType: slack.ResponseTypeEphemeral, Text: r.fallback(),
		Blocks: &slack.Blocks{BlockSet: bl}, ReplaceOriginal: false,
	}
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary, ending with
// suffix when it cut.
func truncateUTF8(s string, n int, suffix string) string {
	if len(s) <= n {
		return s
	}
	return s[:utf8Prefix(s, n-len(suffix))] + suffix
}

// utf8Prefix returns the largest length ≤ n of a prefix of s that ends on
// a rune boundary.
func utf8Prefix(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return n
}

// safe makes untrusted text fit for mrkdwn: invalid UTF-8 replaced,
// secrets redacted, control characters (but new lines and tabs) dropped,
// then &, < and > escaped, so that it cannot form mentions (<!here>,
// <@U…>), links (<http://…|…>) or channel references. Emphasis characters
// (* _ ~ `) are left alone: in an ephemeral answer to the person who asked
// they can change how a title looks, never what it links to or notifies.
func (a *Actions) safe(s string) string {
	s = a.redact(strings.ToValidUTF8(s, "\uFFFD"))
	s = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return -1
		}
		return r
	}, s)
	return a.escaper.Replace(s)
}

// postReply delivers an ephemeral reply to user: through the response URL
// when there is an allowed one, else with chat.postEphemeral in channel.
func (a *Actions) postReply(ctx context.Context, responseURL, channel, user string, r Reply) {
	if r.Text == "" {
		return
	}
	if responseURL != "" {
		u, err := url.Parse(responseURL)
		if err == nil && a.opts.ResponseURLAllowed(u) {
			if err := slack.PostWebhookCustomHTTPContext(ctx, u.String(), a.http, r.webhook()); err != nil {
				// The URL itself is a credential of sorts: never logged.
				a.logger.Warn("slack: post to response url failed", "host", u.Host, "err", scrubURLError(err))
			} else {
				return
			}
		} else {
			a.logger.Warn("slack: response url refused", "host", hostOf(u))
		}
	}
	if a.opts.Client == nil || channel == "" || user == "" {
		return
	}
	if _, err := a.opts.Client.PostEphemeralContext(ctx, channel, user,
		slack.MsgOptionText(r.fallback(), false), slack.MsgOptionBlocks(r.blocks()...)); err != nil {
		a.logger.Warn("slack: chat.postEphemeral failed", "channel", channel, "err", err)
	}
}

func hostOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Host
}

// scrubURLError drops the URL (with its token path) from an HTTP error.
func scrubURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// Approver reports whether the Slack user may decide approvals and run
// the state-changing commands, and if not, why (for the refusal).
func (a *Actions) Approver(ctx context.Context, user string) (bool, string) {
	if !userIDPattern.MatchString(user) {
		return false, "not a Slack user id"
	}
	if slices.Contains(a.opts.ApproverUsers, user) {
		return true, ""
	}
	if len(a.opts.ApproverGroups) == 0 {
		return false, "not a configured secopsd approver (slack.approvers)"
	}
	checked := true
	for _, g := range a.opts.ApproverGroups {
		members, err := a.groupMembers(ctx, g)
		if err != nil {
			a.logger.Warn("slack: cannot look up user group members", "usergroup", g, "err", err)
			checked = false
			continue
		}
		if members[user] {
			return true, ""
		}
	}
	if !checked {
		return false, "not a configured secopsd approver (the approver user groups could not all be looked up)"
	}
	return false, "not a configured secopsd approver (slack.approvers)"
}

// groupMembers returns the members of group, cached for GroupCacheTTL. A
// failed look-up is not cached and stale members are never used: a person
// removed from the group loses the right within the TTL.
func (a *Actions) groupMembers(ctx context.Context, group string) (map[string]bool, error) {
	now := a.opts.Now()
	a.groupsMu.Lock()
	g, ok := a.groups[group]
	a.groupsMu.Unlock()
	if ok && now.Sub(g.fetched) < a.opts.GroupCacheTTL && now.Sub(g.fetched) >= 0 {
		return g.members, nil
	}
	list, err := a.opts.Client.GetUserGroupMembersContext(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("usergroups.users.list %s: %w", group, err)
	}
	members := make(map[string]bool, len(list))
	for _, u := range list {
		members[u] = true
	}
	a.groupsMu.Lock()
	a.groups[group] = groupMembers{members: members, fetched: now}
	a.groupsMu.Unlock()
	return members, nil
}

// HandleInteraction carries out a block_actions payload: the Approve and
// Deny buttons of approval messages (anything else is ignored). It waits
// up to AckWithin for the work; the answers to the clicking user go
// through the payload's response URL.
func (a *Actions) HandleInteraction(cb slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return
	}
	done, err := a.start(func(ctx context.Context) {
		for _, act := range cb.ActionCallback.BlockActions {
			if act == nil || (act.ActionID != ActionApprove && act.ActionID != ActionDeny) {
				continue
			}
			r := a.decideClick(ctx, cb.User.ID, act)
			a.postReply(ctx, cb.ResponseURL, cb.Channel.ID, cb.User.ID, r)
		}
	})
	if err != nil {
		a.logger.Warn("slack: interaction dropped", "err", err)
		return
	}
	a.wait(done)
}

// wait waits for done at most AckWithin.
func (a *Actions) wait(done <-chan struct{}) bool {
	t := time.NewTimer(a.opts.AckWithin)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// decideClick carries out one Approve or Deny click.
func (a *Actions) decideClick(ctx context.Context, user string, act *slack.BlockAction) Reply {
	id, err := strconv.ParseInt(act.Value, 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != act.Value {
		a.logger.Warn("slack: approval button with a malformed value", "action_id", act.ActionID)
		return Reply{Text: ":warning: This button does not name an approval request."}
	}
	if strings.HasPrefix(act.BlockID, ApprovalBlockIDPfx) && act.BlockID != ApprovalBlockIDPfx+act.Value {
		a.logger.Warn("slack: approval button value and block disagree", "approval", id)
		return Reply{Text: ":warning: This button does not name an approval request."}
	}
	return a.decide(ctx, user, id, act.ActionID == ActionApprove, "")
}

// decide checks that user may decide and records the decision; the reply
// says what happened. The approval message itself is updated by the
// notifier when the engine notifies the approval.decided entry.
func (a *Actions) decide(ctx context.Context, user string, id int64, approve bool, comment string) Reply {
	actor := ActorPrefix + user
	verb := "deny"
	if approve {
		verb = "approve"
	}
	if a.opts.Approvals == nil {
		return Reply{Text: ":no_entry: Remediation is disabled in this secopsd: there is nothing to " + verb + "."}
	}
	if !userIDPattern.MatchString(user) {
		a.logger.Warn("slack: decision without a valid user id refused", "approval", id)
		return Reply{Text: ":no_entry: Your Slack user could not be identified."}
	}
	if ok, why := a.Approver(ctx, user); !ok {
		a.logger.Warn("slack: decision refused", "approval", id, "actor", actor, "reason", why)
		if err := a.opts.Refusals.RecordRefusal(ctx, id, actor, why); err != nil {
			if errors.Is(err, incident.ErrNotFound) {
				return Reply{Text: fmt.Sprintf(":no_entry: You may not %s approval requests: %s. (There is no approval request %d.)", verb, why, id)}
			}
			a.logger.Error("slack: record refused decision", "approval", id, "actor", actor, "err", err)
			return Reply{Text: fmt.Sprintf(":no_entry: You may not %s approval request %d: %s.", verb, id, why)}
		}
		return Reply{Text: fmt.Sprintf(":no_entry: You may not %s approval request %d: %s. Your attempt was recorded in the incident's timeline.", verb, id, why)}
	}
	d, err := a.opts.Approvals.Decide(ctx, id, approve, actor, comment)
	switch {
	case err == nil:
		a.logger.Info("slack: approval decided", "approval", id, "actor", actor, "status", d.Status)
		return Reply{Text: fmt.Sprintf(":white_check_mark: You %s step *%s* of incident %s (approval %d).",
			d.Status, a.safe(d.StepName), a.incidentRef(d.IncidentID), d.ID)}
	case errors.Is(err, incident.ErrAlreadyDecided):
		return Reply{Text: ":information_source: " + a.alreadyDecided(d)}
	case errors.Is(err, incident.ErrNotApprover):
		// The remediator recorded the refusal in the timeline.
		return Reply{Text: fmt.Sprintf(":no_entry: You may not %s approval request %d: you are not among the approvers the guardrail policy named for it. Your attempt was recorded in the incident's timeline.", verb, id)}
	case errors.Is(err, incident.ErrNotFound):
		return Reply{Text: fmt.Sprintf(":warning: There is no approval request %d.", id)}
	default:
		a.logger.Error("slack: decide approval", "approval", id, "actor", actor, "err", err)
		return Reply{Text: fmt.Sprintf(":warning: Your decision on approval request %d could not be recorded; try again, or use `secopsd` or the API.", id)}
	}
}

// alreadyDecided says who decided a request, and how.
func (a *Actions) alreadyDecided(d incident.Approval) string {
	s := fmt.Sprintf("Approval request %d (step *%s* of incident %s) was already %s", d.ID, a.safe(d.StepName), a.incidentRef(d.IncidentID), d.Status)
	switch {
	case d.DecidedBy == incident.DecidedByDeadline:
		s += " at its deadline"
	case d.Actor != "":
		s += " by " + a.safe(d.Actor)
	}
	if d.DecidedAt != nil {
		s += " (" + d.DecidedAt.UTC().Format(time.RFC3339) + ")"
	}
	return s + "."
}

// incidentRef is "#ID", linked to the UI when a UI URL is configured.
func (a *Actions) incidentRef(id int64) string {
	if a.opts.UIURL == "" || id < 1 {
		return "#" + strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("<%s/ui/incidents/%d|#%d>", a.escaper.Replace(strings.TrimRight(a.opts.UIURL, "/")), id, id)
}
