package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// SlackConfig connects secopsd to Slack: incident messages routed to
// channels by severity, category and monitor, threads of timeline entries,
// approval buttons and the /secops command. Without it (enabled: false)
// everything works through the CLI, the API and the log notifier.
type SlackConfig struct {
	// Enabled turns Slack on.
	Enabled bool `yaml:"enabled"`
	// BotToken is the bot user OAuth token (xoxb-…); required when enabled.
	BotToken Secret `yaml:"bot_token"`
	// SigningSecret verifies the requests Slack sends to
	// /slack/interactions and the slash command; required when enabled in
	// mode http.
	SigningSecret Secret `yaml:"signing_secret"`
	// Mode is how Slack reaches secopsd: http (Slack calls
	// /slack/interactions) or socket (Socket Mode, for daemons behind a
	// firewall).
	Mode string `yaml:"mode"`
	// AppToken is the app-level token (xapp-…) of Socket Mode; required in
	// mode socket.
	AppToken Secret `yaml:"app_token"`
	// APIURL is the base URL of Slack's Web API; empty means Slack's own
	// (for tests and proxies).
	APIURL string `yaml:"api_url"`
	// UIURL is the base URL of secopsd's UI and API that messages link to.
	UIURL string `yaml:"ui_url"`
	// Routes choose the channel of an incident: the first matching route
	// wins; an incident no route matches is not posted.
	Routes []SlackRoute `yaml:"routes"`
	// Approvers may click Approve / Deny and run the commands that change
	// incidents.
	Approvers SlackApprovers `yaml:"approvers"`
	// Outbox tunes the delivery of queued messages.
	Outbox SlackOutboxConfig `yaml:"outbox"`
}

// SlackRoute sends the incidents it matches to a channel. Empty lists
// match anything; a route must name at least one severity, category or
// monitor.
type SlackRoute struct {
	// Severities are the incident severities matched (info … critical).
	Severities []string `yaml:"severities"`
	// Categories are the incident categories matched.
	Categories []string `yaml:"categories"`
	// Monitors are the monitor names matched.
	Monitors []string `yaml:"monitors"`
	// Channel is a #channel-name or a channel id (C…, G…).
	Channel string `yaml:"channel"`
	// Mention is added to an incident's first message: "" (nobody), here,
	// channel, usergroup:S… or user:U….
	Mention string `yaml:"mention"`
	// Digest, when greater than 0, batches the route's messages into one
	// message per period instead of posting each at once.
	Digest Duration `yaml:"digest"`
}

// SlackApprovers lists who may decide approvals and act on incidents
// from Slack.
type SlackApprovers struct {
	// Users are Slack user ids (U…, W…).
	Users []string `yaml:"users"`
	// Usergroups are Slack user group ids (S…).
	Usergroups []string `yaml:"usergroups"`
}

// SlackOutboxConfig tunes the delivery worker.
type SlackOutboxConfig struct {
	// MinBackoff is the wait after a message's first failed attempt; each
	// further failure doubles it up to MaxBackoff.
	MinBackoff Duration `yaml:"min_backoff"`
	// MaxBackoff bounds the wait between attempts; it is also the wait
	// after a permanent refusal (channel_not_found, invalid_auth …).
	MaxBackoff Duration `yaml:"max_backoff"`
}

// Modes of the slack section.
const (
	SlackModeHTTP   = "http"
	SlackModeSocket = "socket"
)

// Defaults of the slack section.
const (
	DefaultSlackMode       = SlackModeHTTP
	DefaultSlackUIURL      = "http://127.0.0.1:8080"
	DefaultSlackMinBackoff = time.Second
	DefaultSlackMaxBackoff = 5 * time.Minute
)

// Limits of the slack section.
const (
	// MaxSlackRoutes bounds the routes list.
	MaxSlackRoutes = 64
	// MaxSlackApprovers bounds each approvers list.
	MaxSlackApprovers = 256
	// MinSlackDigest and MaxSlackDigest bound a route's digest period.
	MinSlackDigest = time.Minute
	MaxSlackDigest = 24 * time.Hour
	// MinSlackBackoff and MaxSlackBackoff bound the outbox backoffs.
	MinSlackBackoff = 10 * time.Millisecond
	MaxSlackBackoff = time.Hour
)

// Forms of Slack ids and channel names.
var (
	slackChannelName = regexp.MustCompile(`^#[a-z0-9][a-z0-9._-]{0,79}$`)
	slackChannelID   = regexp.MustCompile(`^[CGD][A-Z0-9]{2,20}$`)
	slackUserID      = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	slackGroupID     = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
)

// DefaultSlackRoutes are the routes used when the file sets none:
// critical → #sec-critical with @here, high and medium → #sec-alerts,
// low and info → nothing.
func DefaultSlackRoutes() []SlackRoute {
	return []SlackRoute{
		{Severities: []string{"critical"}, Channel: "#sec-critical", Mention: "here"},
		{Severities: []string{"high"}, Channel: "#sec-alerts"},
		{Severities: []string{"medium"}, Channel: "#sec-alerts"},
	}
}

// DefaultSlack returns the defaults of the slack section: disabled.
func DefaultSlack() SlackConfig {
	return SlackConfig{
		Mode:   DefaultSlackMode,
		UIURL:  DefaultSlackUIURL,
		Routes: DefaultSlackRoutes(),
		Outbox: SlackOutboxConfig{MinBackoff: Duration(DefaultSlackMinBackoff), MaxBackoff: Duration(DefaultSlackMaxBackoff)},
	}
}

// validate checks the slack section. Tokens are required only when Slack
// is enabled; the rest is checked either way. Messages never show a token.
func (s *SlackConfig) validate(ch *checker) {
	switch s.Mode {
	case SlackModeHTTP, SlackModeSocket:
	default:
		ch.errorf("slack.mode", ErrInvalid, "mode must be %s or %s, got %s", SlackModeHTTP, SlackModeSocket, quote(s.Mode))
	}
	checkToken := func(key string, v Secret, prefix string, required bool, why string) {
		p := joinPath("slack", key)
		t := v.Reveal()
		switch {
		case t == "" && required:
			ch.errorf(p, ErrMissing, "%s is required %s", key, why)
		case t == "":
		case strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			ch.errorf(p, ErrInvalid, "%s must not contain spaces or control characters", key)
		case prefix != "" && !strings.HasPrefix(t, prefix):
			ch.errorf(p, ErrInvalid, "%s must start with %s", key, prefix)
		}
	}
	checkToken("bot_token", s.BotToken, "", s.Enabled, "when slack is enabled (the bot token, xoxb-…)")
	checkToken("signing_secret", s.SigningSecret, "", s.Enabled && s.Mode == SlackModeHTTP, "when slack is enabled in mode http (Basic Information → Signing Secret)")
	checkToken("app_token", s.AppToken, "xapp-", s.Enabled && s.Mode == SlackModeSocket, "in mode socket (an app-level token, xapp-…)")
	if s.APIURL != "" {
		if msg := checkSlackURL(s.APIURL); msg != "" {
			ch.errorf("slack.api_url", ErrInvalid, "api_url %s", msg)
		}
	}
	if msg := checkSlackURL(s.UIURL); msg != "" {
		ch.errorf("slack.ui_url", ErrInvalid, "ui_url %s", msg)
	} else if u, _ := url.Parse(s.UIURL); u.RawQuery != "" || strings.ContainsAny(s.UIURL, "<>|") {
		ch.errorf("slack.ui_url", ErrInvalid, "ui_url must be a base URL without a query or the characters < > |")
	}
	if len(s.Routes) > MaxSlackRoutes {
		ch.errorf("slack.routes", ErrInvalid, "at most %d routes, got %d", MaxSlackRoutes, len(s.Routes))
	}
	for i := range s.Routes {
		s.Routes[i].validate(ch, fmt.Sprintf("slack.routes[%d]", i))
	}
	checkIDs := func(key string, ids []string, form *regexp.Regexp, what string) {
		p := joinPath("slack.approvers", key)
		if len(ids) > MaxSlackApprovers {
			ch.errorf(p, ErrInvalid, "at most %d entries, got %d", MaxSlackApprovers, len(ids))
			return
		}
		for i, id := range ids {
			ip := fmt.Sprintf("%s[%d]", p, i)
			if !form.MatchString(id) {
				ch.errorf(ip, ErrInvalid, "%s is not a Slack %s", quote(id), what)
			} else if j := slices.Index(ids[:i], id); j >= 0 {
				ch.errorf(ip, ErrDuplicate, "%s is listed twice (first at %s[%d])", quote(id), p, j)
			}
		}
	}
	checkIDs("users", s.Approvers.Users, slackUserID, "user id (U… or W…)")
	checkIDs("usergroups", s.Approvers.Usergroups, slackGroupID, "user group id (S…)")
	o := s.Outbox
	checkDurationRange(ch, "slack.outbox.min_backoff", "min_backoff", o.MinBackoff, MinSlackBackoff, MaxSlackBackoff)
	checkDurationRange(ch, "slack.outbox.max_backoff", "max_backoff", o.MaxBackoff, MinSlackBackoff, MaxSlackBackoff)
	if o.MaxBackoff < o.MinBackoff {
		ch.errorf("slack.outbox.max_backoff", ErrInvalid, "max_backoff %s is less than min_backoff %s", o.MaxBackoff, o.MinBackoff)
	}
}

// checkSlackURL returns why raw is not an absolute http or https URL, or "".
func checkSlackURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "":
		return "has no host"
	case u.User != nil:
		return "must not hold user information"
	case u.Fragment != "":
		return "must not have a #fragment"
	}
	return ""
}

// validate checks one route; path is its key path.
func (r *SlackRoute) validate(ch *checker, path string) {
	cp := joinPath(path, "channel")
	switch {
	case r.Channel == "":
		ch.errorf(cp, ErrMissing, "channel is required (a #channel-name or a channel id such as C0123ABCD)")
	case !slackChannelName.MatchString(r.Channel) && !slackChannelID.MatchString(r.Channel):
		ch.errorf(cp, ErrInvalid, "channel %s is neither a #channel-name (lower case) nor a channel id (C…, G…)", quote(r.Channel))
	}
	if len(r.Severities) == 0 && len(r.Categories) == 0 && len(r.Monitors) == 0 {
		ch.errorf(path, ErrMissing, "a route needs severities, categories or monitors")
	}
	checkMatchers(ch, joinPath(path, "severities"), r.Severities, func(v string) string {
		if _, err := event.ParseSeverity(v); err != nil || v != strings.ToLower(v) {
			return fmt.Sprintf("unknown severity %s (use info, low, medium, high or critical)", quote(v))
		}
		return ""
	})
	checkMatchers(ch, joinPath(path, "categories"), r.Categories, func(v string) string {
		if categoryName.MatchString(v) {
			return ""
		}
		return fmt.Sprintf("invalid category %s (use lower-case letters, digits, _ . and -)", quote(v))
	})
	checkMatchers(ch, joinPath(path, "monitors"), r.Monitors, func(v string) string {
		if len(v) <= MaxMonitorNameLen && monitorName.MatchString(v) {
			return ""
		}
		return fmt.Sprintf("invalid monitor name %s", quote(v))
	})
	if msg := checkSlackMention(r.Mention); msg != "" {
		ch.errorf(joinPath(path, "mention"), ErrInvalid, "%s", msg)
	}
	if r.Digest != 0 {
		checkDurationRange(ch, joinPath(path, "digest"), "digest", r.Digest, MinSlackDigest, MaxSlackDigest)
	}
}

// checkSlackMention returns why m is not a mention a route accepts, or "".
func checkSlackMention(m string) string {
	kind, id, _ := strings.Cut(m, ":")
	switch {
	case m == "", m == "here", m == "channel":
		return ""
	case kind == "usergroup" && slackGroupID.MatchString(id):
		return ""
	case kind == "user" && slackUserID.MatchString(id):
		return ""
	}
	return fmt.Sprintf("mention %s must be empty, here, channel, usergroup:S… or user:U…", quote(m))
}
