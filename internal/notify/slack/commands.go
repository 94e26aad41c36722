package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/slack-go/slack"

	"github.com/secopsd/secopsd/internal/incident"
)

// The /secops slash command. Read-only subcommands (status, incidents,
// show, help) answer anyone in the workspace; the state-changing ones
// (ack, resolve, approve, deny) only configured approvers. Every answer is
// ephemeral, and every text that comes from incidents, events or people
// is redacted and escaped (Actions.safe).

// Command limits.
const (
	// maxListed bounds the incidents listed by "incidents".
	maxListed = 20
	// maxShownEntries bounds the timeline entries shown by "show".
	maxShownEntries = 15
	// maxDetailBytes bounds one detail shown from a timeline payload.
	maxDetailBytes = 300
	// maxCommandText bounds the text of a command Slack forwards.
	maxCommandText = 4096
)

// Command is a parsed /secops invocation.
type Command struct {
	// Sub is the subcommand, lower case; "help" for an empty or unknown
	// one (Unknown then holds what was typed).
	Sub string
	// ID is the incident or approval id of show, ack, resolve, approve
	// and deny.
	ID int64
	// Comment is the text after the id of ack, resolve, approve and deny.
	Comment string
	// Unknown is an unknown subcommand as typed.
	Unknown string
	// Problem explains why the arguments are not usable ("" when they
	// are).
	Problem string
}

// subcommands lists every subcommand: whether it takes an id, and whether
// it changes state (approvers only).
var subcommands = map[string]struct{ takesID, changes bool }{
	"help": {}, "status": {}, "incidents": {},
	"show":    {takesID: true},
	"ack":     {takesID: true, changes: true},
	"resolve": {takesID: true, changes: true},
	"approve": {takesID: true, changes: true},
	"deny":    {takesID: true, changes: true},
}

// ParseCommand parses the text of /secops.
func ParseCommand(text string) Command {
	text = strings.TrimSpace(text)
	head, rest := text, ""
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		head, rest = text[:i], text[i:]
	}
	sub := strings.ToLower(head)
	spec, ok := subcommands[sub]
	switch {
	case sub == "":
		return Command{Sub: "help"}
	case !ok:
		return Command{Sub: "help", Unknown: head}
	case !spec.takesID:
		return Command{Sub: sub}
	}
	rest = strings.TrimSpace(rest)
	idText, comment := rest, ""
	if i := strings.IndexFunc(rest, unicode.IsSpace); i >= 0 {
		idText, comment = rest[:i], strings.TrimSpace(rest[i:])
	}
	c := Command{Sub: sub}
	if idText == "" {
		c.Problem = fmt.Sprintf("`%s` needs an id, e.g. `/secops %s 42`", sub, sub)
		return c
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(idText, "#"), 10, 64)
	if err != nil || id < 1 {
		c.Problem = fmt.Sprintf("`%s` needs a positive number as its id", sub)
		return c
	}
	c.ID = id
	if sub == "show" && comment != "" {
		c.Problem = "`show` takes only an id"
		return c
	}
	c.Comment = comment
	return c
}

// HandleCommand runs a /secops command and returns the answer. When the
// work takes longer than AckWithin it returns a "working on it" answer and
// the real one follows through the command's response URL.
func (a *Actions) HandleCommand(cmd slack.SlashCommand) Reply {
	handoff := make(chan Reply)      // the answer, taken by the waiting request
	abandoned := make(chan struct{}) // closed when the request stopped waiting
	_, err := a.start(func(ctx context.Context) {
		reply := a.runCommand(ctx, cmd)
		select {
		case handoff <- reply:
		case <-abandoned:
			// The request was answered "working on it": follow up.
			a.postReply(ctx, cmd.ResponseURL, cmd.ChannelID, cmd.UserID, reply)
		}
	})
	if err != nil {
		return Reply{Text: ":hourglass: secopsd is shutting down; try again in a moment."}
	}
	t := time.NewTimer(a.opts.AckWithin)
	defer t.Stop()
	select {
	case r := <-handoff:
		return r
	case <-t.C:
		close(abandoned)
		return Reply{Text: ":hourglass_flowing_sand: Working on it; the answer follows here."}
	}
}

// runCommand runs a command for its user.
func (a *Actions) runCommand(ctx context.Context, cmd slack.SlashCommand) Reply {
	if len(cmd.Text) > maxCommandText {
		return Reply{Text: fmt.Sprintf(":warning: The command is longer than %d bytes.", maxCommandText)}
	}
	c := ParseCommand(cmd.Text)
	if c.Problem != "" {
		return Reply{Text: ":warning: " + c.Problem + ".\n\n" + a.help(cmd.Command)}
	}
	if subcommands[c.Sub].changes {
		if ok, why := a.Approver(ctx, cmd.UserID); !ok {
			actor := ActorPrefix + cmd.UserID
			if c.Sub == "approve" || c.Sub == "deny" {
				return a.decide(ctx, cmd.UserID, c.ID, c.Sub == "approve", c.Comment) // records the refusal
			}
			a.logger.Warn("slack: command refused", "command", c.Sub, "id", c.ID, "actor", actor, "reason", why)
			return Reply{Text: fmt.Sprintf(":no_entry: You may not `%s` incidents: %s.", c.Sub, why)}
		}
	}
	switch c.Sub {
	case "status":
		return a.status(ctx)
	case "incidents":
		return a.listIncidents(ctx)
	case "show":
		return a.show(ctx, c.ID)
	case "ack", "resolve":
		return a.transition(ctx, c, cmd.UserID)
	case "approve", "deny":
		return a.decide(ctx, cmd.UserID, c.ID, c.Sub == "approve", c.Comment)
	}
	text := a.help(cmd.Command)
	if c.Unknown != "" {
		text = fmt.Sprintf(":warning: Unknown subcommand `%s`.\n\n", a.safe(truncateUTF8(strings.ReplaceAll(c.Unknown, "`", "'"), 40, "…"))) + text
	}
	return Reply{Text: text}
}

// help lists the subcommands.
func (a *Actions) help(command string) string {
	if command == "" || !strings.HasPrefix(command, "/") || len(command) > 40 {
		command = "/secops"
	}
	command = a.safe(command)
	return fmt.Sprintf("*%[1]s* — secopsd from Slack\n"+
		"`%[1]s status` — open incidents and pending approvals\n"+
		"`%[1]s incidents` — unresolved incidents, newest first\n"+
		"`%[1]s show ID` — one incident and its latest timeline entries\n"+
		"`%[1]s ack ID [comment]` — acknowledge an incident (approvers)\n"+
		"`%[1]s resolve ID [comment]` — resolve an incident (approvers)\n"+
		"`%[1]s approve ID [comment]` — approve a pending remediation step (approvers)\n"+
		"`%[1]s deny ID [comment]` — deny a pending remediation step (approvers)\n"+
		"`%[1]s help` — this text", command)
}

// status summarises unresolved incidents and pending approvals.
func (a *Actions) status(ctx context.Context) Reply {
	open, err := a.opts.Incidents.ListIncidents(ctx, incident.Filter{Status: incident.StatusOpen, Limit: 1000})
	if err != nil {
		return a.failed("list incidents", err)
	}
	acked, err := a.opts.Incidents.ListIncidents(ctx, incident.Filter{Status: incident.StatusAcknowledged, Limit: 1000})
	if err != nil {
		return a.failed("list incidents", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*secopsd status*\n%s open, %s acknowledged", countText(len(open), 1000), countText(len(acked), 1000))
	bySeverity := map[string]int{}
	for _, inc := range append(open, acked...) {
		bySeverity[inc.Severity.String()]++
	}
	var parts []string
	for _, s := range []string{"critical", "high", "medium", "low", "info"} {
		if n := bySeverity[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString("\n")
	if a.opts.Approvals == nil {
		b.WriteString("Remediation is disabled.")
		return Reply{Text: b.String()}
	}
	pending, err := a.opts.Approvals.PendingApprovals(ctx)
	if err != nil {
		return a.failed("list pending approvals", err)
	}
	fmt.Fprintf(&b, "%d approval request(s) pending", len(pending))
	for i, p := range pending {
		if i == maxListed {
			fmt.Fprintf(&b, "\n… and %d more", len(pending)-maxListed)
			break
		}
		fmt.Fprintf(&b, "\n• approval *%d*: step *%s* of incident %s, deadline %s (then %s)",
			p.ID, a.safe(p.StepName), a.incidentRef(p.IncidentID), a.when(p.Deadline), a.safe(p.OnTimeout))
	}
	return Reply{Text: b.String()}
}

func countText(n, limit int) string {
	if n >= limit {
		return fmt.Sprintf("%d+", limit)
	}
	return strconv.Itoa(n)
}

// when formats a time with how far it is from now.
func (a *Actions) when(t time.Time) string {
	d := t.Sub(a.opts.Now()).Round(time.Second)
	switch {
	case d > 0:
		return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), d)
	case d < 0:
		return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), -d)
	}
	return t.UTC().Format(time.RFC3339)
}

// listIncidents lists the unresolved incidents, newest first.
func (a *Actions) listIncidents(ctx context.Context) Reply {
	var all []incident.Incident
	for _, st := range []incident.Status{incident.StatusOpen, incident.StatusAcknowledged} {
		list, err := a.opts.Incidents.ListIncidents(ctx, incident.Filter{Status: st, Limit: maxListed + 1})
		if err != nil {
			return a.failed("list incidents", err)
		}
		all = append(all, list...)
	}
	if len(all) == 0 {
		return Reply{Text: ":large_green_circle: No unresolved incidents."}
	}
	sortNewestFirst(all)
	var b strings.Builder
	b.WriteString("*Unresolved incidents*, newest first")
	for i, inc := range all {
		if i == maxListed {
			b.WriteString("\n… and more: see the UI or `secopsd incidents list`")
			break
		}
		b.WriteString("\n" + a.incidentLine(inc))
	}
	return Reply{Text: b.String()}
}

func sortNewestFirst(list []incident.Incident) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].ID > list[j-1].ID; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

// incidentLine is one incident on one line.
func (a *Actions) incidentLine(inc incident.Incident) string {
	line := fmt.Sprintf("• %s [%s] %s — %s, %s", a.incidentRef(inc.ID), strings.ToUpper(a.safe(inc.Severity.String())),
		a.safe(truncateUTF8(inc.Title, 200, "…")), a.safe(string(inc.Status)), a.safe(string(inc.Tier)))
	if inc.Monitor != "" {
		line += ", monitor " + a.safe(inc.Monitor)
	}
	return line
}

// show prints one incident and its newest timeline entries.
func (a *Actions) show(ctx context.Context, id int64) Reply {
	inc, err := a.opts.Incidents.GetIncident(ctx, id)
	if errors.Is(err, incident.ErrNotFound) {
		return Reply{Text: fmt.Sprintf(":warning: There is no incident %d.", id)}
	}
	if err != nil {
		return a.failed("read incident", err)
	}
	tl, err := a.opts.Incidents.Timeline(ctx, id)
	if err != nil {
		return a.failed("read timeline", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Incident %s*: %s\nseverity %s · tier %s · status %s · opened %s · %d failure(s)",
		a.incidentRef(inc.ID), a.safe(truncateUTF8(inc.Title, 300, "…")), a.safe(inc.Severity.String()),
		a.safe(string(inc.Tier)), a.safe(string(inc.Status)), inc.OpenedAt.UTC().Format(time.RFC3339), inc.Failures)
	if inc.Monitor != "" {
		b.WriteString(" · monitor " + a.safe(inc.Monitor))
	}
	if inc.Category != "" {
		b.WriteString(" · category " + a.safe(inc.Category))
	}
	from := max(len(tl)-maxShownEntries, 0)
	fmt.Fprintf(&b, "\n*Timeline* (%d entries", len(tl))
	if from > 0 {
		fmt.Fprintf(&b, ", the last %d", maxShownEntries)
	}
	b.WriteString(")")
	for _, e := range tl[from:] {
		fmt.Fprintf(&b, "\n`%d` %s *%s* by %s", e.Seq, e.Time.UTC().Format("2006-01-02 15:04:05Z"), a.safe(e.Kind), a.safe(e.Actor))
		if d := entryDetail(e.Payload); d != "" {
			b.WriteString(": " + a.safe(truncateUTF8(d, maxDetailBytes, "…")))
		}
	}
	return Reply{Text: b.String()}
}

// entryDetail picks the human-readable part of a timeline payload, if any.
func entryDetail(payload json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(payload, &m) != nil {
		return ""
	}
	for _, k := range []string{"comment", "text", "reason", "title", "message", "step"} {
		if s, ok := m[k].(string); ok && s != "" {
			return strings.Join(strings.Fields(s), " ")
		}
	}
	return ""
}

// transition acknowledges or resolves an incident.
func (a *Actions) transition(ctx context.Context, c Command, user string) Reply {
	actor := ActorPrefix + user
	act, did := a.opts.Workflow.Acknowledge, "acknowledged"
	if c.Sub == "resolve" {
		act, did = a.opts.Workflow.Resolve, "resolved"
	}
	inc, _, err := act(ctx, c.ID, actor, c.Comment)
	var (
		te *incident.TransitionError
		ie *incident.InputError
	)
	switch {
	case err == nil:
		a.logger.Info("slack: incident "+did, "incident", inc.ID, "actor", actor)
		return Reply{Text: fmt.Sprintf(":white_check_mark: Incident %s %s: %s", a.incidentRef(inc.ID), did, a.safe(truncateUTF8(inc.Title, 200, "…")))}
	case errors.As(err, &te):
		return Reply{Text: ":warning: " + a.safe(te.Error()) + "."}
	case errors.As(err, &ie):
		return Reply{Text: ":warning: " + a.safe(ie.Error()) + "."}
	case errors.Is(err, incident.ErrNotFound):
		return Reply{Text: fmt.Sprintf(":warning: There is no incident %d.", c.ID)}
	}
	return a.failed(c.Sub+" incident", err)
}

// failed logs an internal error and tells the user without its details.
func (a *Actions) failed(what string, err error) Reply {
	a.logger.Error("slack command: "+what, "err", err)
	return Reply{Text: ":warning: secopsd could not " + what + "; try again, or use `secopsd` or the API."}
}
