package slack

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

// Route sends the incidents it matches to a channel. Empty lists match
// anything.
type Route struct {
	// Severities, Categories and Monitors are matched against the
	// incident's; severities by name (info … critical).
	Severities []string
	Categories []string
	Monitors   []string
	// Channel is a #channel-name or a channel id.
	Channel string
	// Mention is "", "here", "channel", "usergroup:S…" or "user:U…".
	Mention string
	// Digest > 0 batches the route's messages into one post per period.
	Digest time.Duration
}

// DefaultRoutes are the routes of an empty configuration: critical →
// #sec-critical with @here, high and medium → #sec-alerts, low and info →
// nothing.
func DefaultRoutes() []Route {
	return []Route{
		{Severities: []string{"critical"}, Channel: "#sec-critical", Mention: "here"},
		{Severities: []string{"high"}, Channel: "#sec-alerts"},
		{Severities: []string{"medium"}, Channel: "#sec-alerts"},
	}
}

// matches reports whether r applies to inc.
func (r Route) matches(inc incident.Incident) bool {
	if len(r.Severities) > 0 && !slices.Contains(r.Severities, inc.Severity.String()) {
		return false
	}
	if len(r.Categories) > 0 && !slices.Contains(r.Categories, inc.Category) {
		return false
	}
	if len(r.Monitors) > 0 && !slices.Contains(r.Monitors, inc.Monitor) {
		return false
	}
	return true
}

// route returns the first route that matches inc, and false if none does.
func route(routes []Route, inc incident.Incident) (Route, bool) {
	for _, r := range routes {
		if r.matches(inc) {
			return r, true
		}
	}
	return Route{}, false
}

var (
	mentionGroup = regexp.MustCompile(`^S[A-Z0-9]{2,20}$`)
	mentionUser  = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	channelID    = regexp.MustCompile(`^[CGD][A-Z0-9]{2,20}$`)
)

// mentionMarkup returns the Slack markup of a route's mention ("" for
// none); it is the only mrkdwn control sequence secopsd writes.
func mentionMarkup(m string) string {
	kind, id, _ := strings.Cut(m, ":")
	switch {
	case m == "here":
		return "<!here>"
	case m == "channel":
		return "<!channel>"
	case kind == "usergroup" && mentionGroup.MatchString(id):
		return "<!subteam^" + id + ">"
	case kind == "user" && mentionUser.MatchString(id):
		return "<@" + id + ">"
	}
	return ""
}

// validateRoutes checks routes built in Go.
func validateRoutes(routes []Route) error {
	for i, r := range routes {
		if r.Channel == "" {
			return fmt.Errorf("route %d: no channel", i)
		}
		if r.Mention != "" && mentionMarkup(r.Mention) == "" {
			return fmt.Errorf("route %d: invalid mention %q", i, r.Mention)
		}
		if r.Digest < 0 {
			return fmt.Errorf("route %d: negative digest period", i)
		}
	}
	return nil
}

// isChannelID reports whether ch is a channel id rather than a #name.
func isChannelID(ch string) bool { return channelID.MatchString(ch) }
