package slack

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/secopsd/secopsd/internal/incident"
)

// Block Kit limits that messages stay within.
const (
	maxHeader    = 150
	maxSection   = 2900
	maxField     = 1900
	maxFallback  = 300
	maxValue     = 500
	maxDigestRow = 40
)

// Action ids and the block id prefix of approval buttons (the contract
// with the interaction handler).
const (
	ActionApprove      = "secopsd_approve"
	ActionDeny         = "secopsd_deny"
	ApprovalBlockIDPfx = "secopsd_approval_"
)

// renderer builds messages; every untrusted string goes through z.
type renderer struct {
	z     sanitizer
	uiURL string
}

// message is what one chat.postMessage or chat.update sends.
type message struct {
	fallback string
	blocks   []slack.Block
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

// links is trusted mrkdwn: links to the incident in the UI and the API,
// after the route's mention.
func (rd renderer) links(id int64, mention string) *slack.ContextBlock {
	parts := []string{}
	if m := mentionMarkup(mention); m != "" {
		parts = append(parts, m)
	}
	if rd.uiURL != "" {
		parts = append(parts,
			fmt.Sprintf("<%s/ui/incidents/%d|Open incident %d>", rd.uiURL, id, id),
			fmt.Sprintf("<%s/api/v1/incidents/%d|API>", rd.uiURL, id))
	} else {
		parts = append(parts, fmt.Sprintf("incident %d", id))
	}
	return slack.NewContextBlock("", mrkdwn(strings.Join(parts, " · ")))
}

// payload decodes an entry's payload; a payload that is not an object
// gives an empty map.
func payload(e incident.TimelineEntry) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(e.Payload, &m)
	return m
}

// str renders a payload value as text.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			parts = append(parts, str(p))
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+str(x[k]))
		}
		return strings.Join(parts, ", ")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// root renders an incident's root message from its current state and its
// first timeline entry (the evidence of the opening event).
func (rd renderer) root(inc incident.Incident, first *incident.TimelineEntry, mention string) message {
	z := rd.z
	title := z.line(inc.Title, maxHeader)
	sev := strings.ToUpper(inc.Severity.String())
	status := string(inc.Status)
	fields := []*slack.TextBlockObject{
		plain("Severity: " + sev),
		plain("Tier: " + z.line(string(inc.Tier), 40)),
		plain("Status: " + strings.ToUpper(status)),
		plain("Monitor: " + z.line(orDash(inc.Monitor), maxValue)),
	}
	if inc.Category != "" {
		fields = append(fields, plain("Category: "+z.line(inc.Category, maxValue)))
	}
	fields = append(fields, plain("Opened: "+inc.OpenedAt.UTC().Format(time.RFC3339)))
	if inc.ResolvedAt != nil {
		fields = append(fields, plain("Resolved: "+inc.ResolvedAt.UTC().Format(time.RFC3339)))
	} else if inc.AcknowledgedAt != nil {
		fields = append(fields, plain("Acknowledged: "+inc.AcknowledgedAt.UTC().Format(time.RFC3339)))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(title)),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if first != nil {
		if ev := rd.evidence(payload(*first)); ev != "" {
			blocks = append(blocks, slack.NewSectionBlock(plain(ev), nil, nil))
		}
	}
	blocks = append(blocks, rd.links(inc.ID, mention))
	return message{
		fallback: fmt.Sprintf("[%s] %s (%s)", sev, z.line(inc.Title, maxFallback), status),
		blocks:   blocks,
	}
}

// evidence is the key evidence of the opening event: its evidence and
// target attributes, else its title.
func (rd renderer) evidence(p map[string]any) string {
	var lines []string
	attrs, _ := p["attributes"].(map[string]any)
	for _, k := range []string{"evidence", "target", "remediation"} {
		if v := str(attrs[k]); v != "" {
			lines = append(lines, k+": "+v)
		}
	}
	if len(lines) == 0 {
		if v := str(p["title"]); v != "" {
			lines = append(lines, v)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return rd.z.text(strings.Join(lines, "\n"), maxSection)
}

// replyKeys are the payload keys shown in a thread reply, in order.
var replyKeys = []string{"reason", "message", "comment", "decision", "decided_by", "status", "playbook", "step",
	"reasons", "deadline", "on_timeout", "target", "tier", "silences", "error"}

// reply renders a timeline entry as a thread reply.
func (rd renderer) reply(inc incident.Incident, e incident.TimelineEntry) message {
	z := rd.z
	p := payload(e)
	lines := []string{fmt.Sprintf("%s by %s", e.Kind, e.Actor)}
	for _, k := range replyKeys {
		if v := str(p[k]); v != "" {
			lines = append(lines, k+": "+truncate(v, maxValue))
		}
	}
	text := z.text(strings.Join(lines, "\n"), maxSection)
	return message{
		fallback: z.line(fmt.Sprintf("incident %d: %s", inc.ID, e.Kind), maxFallback),
		blocks:   []slack.Block{slack.NewSectionBlock(plain(text), nil, nil)},
	}
}

// approvalID returns the approval id of an approval entry, 0 if none.
func approvalID(p map[string]any) int64 {
	switch v := p["approval_id"].(type) {
	case float64:
		return int64(v)
	case string:
		id, _ := strconv.ParseInt(v, 10, 64)
		return id
	}
	return 0
}

// approvalRequest renders an approval.requested entry with Approve and
// Deny buttons whose value is the approval id.
func (rd renderer) approvalRequest(inc incident.Incident, e incident.TimelineEntry, mention string) (message, int64) {
	z := rd.z
	p := payload(e)
	id := approvalID(p)
	lines := []string{fmt.Sprintf("Approval needed: step %s of playbook %s", str(p["step"]), str(p["playbook"]))}
	for _, k := range []string{"reasons", "target", "deadline", "on_timeout", "approvers"} {
		if v := str(p[k]); v != "" {
			lines = append(lines, k+": "+truncate(v, maxValue))
		}
	}
	text := z.text(strings.Join(lines, "\n"), maxSection)
	idStr := strconv.FormatInt(id, 10)
	approve := slack.NewButtonBlockElement(ActionApprove, idStr, plain("Approve"))
	approve.Style = slack.StylePrimary
	deny := slack.NewButtonBlockElement(ActionDeny, idStr, plain("Deny"))
	deny.Style = slack.StyleDanger
	blocks := []slack.Block{
		slack.NewSectionBlock(plain(text), nil, nil),
		slack.NewActionBlock(ApprovalBlockIDPfx+idStr, approve, deny),
		rd.links(inc.ID, mention),
	}
	return message{
		fallback: z.line(fmt.Sprintf("incident %d: approval %d needed for step %s", inc.ID, id, str(p["step"])), maxFallback),
		blocks:   blocks,
	}, id
}

// approvalOutcome renders an approval.decided entry as the new content of
// the approval request's message: the outcome, no buttons.
func (rd renderer) approvalOutcome(inc incident.Incident, e incident.TimelineEntry) (message, int64) {
	z := rd.z
	p := payload(e)
	id := approvalID(p)
	decision, by := str(p["decision"]), str(p["decided_by"])
	var head string
	if by == incident.DecidedByDeadline {
		head = fmt.Sprintf("Approval %d for step %s: %s when the deadline passed", id, str(p["step"]), decision)
	} else {
		head = fmt.Sprintf("Approval %d for step %s: %s by %s", id, str(p["step"]), decision, e.Actor)
	}
	lines := []string{head, "decided_by: " + by, "decided at: " + e.Time.UTC().Format(time.RFC3339)}
	if c := str(p["comment"]); c != "" {
		lines = append(lines, "comment: "+truncate(c, maxValue))
	}
	return message{
		fallback: z.line(head, maxFallback),
		blocks: []slack.Block{
			slack.NewSectionBlock(plain(z.text(strings.Join(lines, "\n"), maxSection)), nil, nil),
			rd.links(inc.ID, ""),
		},
	}, id
}

// digestItem is one row of a digest message.
type digestItem struct {
	inc  incident.Incident
	kind string
}

// digest renders the rows of one period as one message.
func (rd renderer) digest(items []digestItem) message {
	z := rd.z
	lines := make([]string, 0, len(items))
	var links []string
	seen := map[int64]bool{}
	for _, it := range items {
		lines = append(lines, fmt.Sprintf("[%s] #%d %s: %s", strings.ToUpper(it.inc.Severity.String()), it.inc.ID,
			truncate(it.inc.Title, 120), it.kind))
		if !seen[it.inc.ID] && rd.uiURL != "" && len(links) < 20 {
			seen[it.inc.ID] = true
			links = append(links, fmt.Sprintf("<%s/ui/incidents/%d|#%d>", rd.uiURL, it.inc.ID, it.inc.ID))
		}
	}
	head := fmt.Sprintf("secopsd digest: %d notification(s)", len(items))
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(head)),
		slack.NewSectionBlock(plain(z.text(strings.Join(lines, "\n"), maxSection)), nil, nil),
	}
	if len(links) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(strings.Join(links, " "))))
	}
	return message{fallback: head, blocks: blocks}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
