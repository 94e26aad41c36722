package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
)

//go:embed templates/*.html static/ui.css
var assets embed.FS

// pageNames are the pages, each templates/NAME.html rendered inside
// templates/layout.html.
var pageNames = []string{"login", "incidents", "incident", "events", "error"}

// pages holds the parsed templates, one set per page.
type pages struct {
	t map[string]*template.Template
}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"tsp": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"join": strings.Join,
	"list": func(s ...string) []string { return s },
}

func parsePages() (*pages, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parse layout: %w", err)
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range pageNames {
		c, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("ui: clone layout: %w", err)
		}
		if _, err := c.ParseFS(assets, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("ui: parse page %s: %w", name, err)
		}
		p.t[name] = c
	}
	return p, nil
}

// pageData is what the layout renders.
type pageData struct {
	Page   string
	Viewer *viewer
	Body   any
	Events bool
}

// render writes page with status; a template error is logged and becomes
// a bare 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v *viewer, body any) {
	var buf bytes.Buffer
	if err := h.pages.t[page].Execute(&buf, pageData{Page: page, Viewer: v, Body: body, Events: h.opts.Events != nil}); err != nil {
		h.opts.Logger.Error("ui: render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = buf.WriteTo(w)
	}
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	b, err := assets.ReadFile("static/ui.css")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// field is one line of a rendered payload.
type field struct {
	Key, Value string
}

// entryView is one timeline entry, readable.
type entryView struct {
	incident.TimelineEntry
	Summary string
	Fields  []field
}

// Bounds of a rendered payload.
const (
	maxFields     = 300
	maxFieldValue = 4000
)

// kindLabels describe the entry kinds in words.
var kindLabels = map[string]string{
	incident.KindOpened:                "Incident opened",
	incident.KindFailure:               "Check failed",
	incident.KindPass:                  "Check passed",
	incident.KindResolved:              "Incident resolved",
	incident.KindAcknowledged:          "Incident acknowledged",
	incident.KindReopened:              "Incident reopened",
	incident.KindNote:                  "Note",
	incident.KindNotifyFailed:          "Notification failed",
	incident.KindGuardDecision:         "Guardrail decision",
	incident.KindDiagnosis:             "Diagnosis",
	incident.KindPlaybookStarted:       "Playbook started",
	incident.KindPlaybookFinished:      "Playbook finished",
	incident.KindStepStarted:           "Step started",
	incident.KindStepFinished:          "Step finished",
	incident.KindStepSkipped:           "Step skipped",
	incident.KindStepDryRun:            "Step (dry run)",
	incident.KindStepInterrupted:       "Step interrupted",
	incident.KindApprovalRequested:     "Approval requested",
	incident.KindApprovalDecided:       "Approval decided",
	incident.KindApprovalRefused:       "Approval refused",
	incident.KindEscalated:             "Escalated to a human",
	incident.KindAttemptRefused:        "Fix attempt refused",
	incident.KindRemediationSuppressed: "Remediation suppressed",
	incident.KindNoPlaybook:            "No playbook",
	incident.KindSLAClock:              "SLA clocks set",
	incident.KindSLABreached:           "SLA breached",
	incident.KindNotifySuppressed:      "Notification suppressed",
	incident.KindNotifyResumed:         "Notifications resumed",
}

// summaryKeys are the payload keys quoted in an entry's summary line.
var summaryKeys = []string{"title", "decision", "playbook", "step", "status", "decided_by", "clock", "reason", "comment", "text"}

func entryViews(tl []incident.TimelineEntry) []entryView {
	out := make([]entryView, len(tl))
	for i, e := range tl {
		var payload any
		dec := json.NewDecoder(bytes.NewReader(e.Payload))
		dec.UseNumber()
		fields := []field{}
		if err := dec.Decode(&payload); err != nil {
			fields = append(fields, field{"payload", clipValue(string(e.Payload))})
		} else {
			flatten("", payload, &fields)
		}
		label := kindLabels[e.Kind]
		if label == "" {
			label = e.Kind
		}
		var parts []string
		if m, ok := payload.(map[string]any); ok {
			for _, k := range summaryKeys {
				if s, ok := m[k].(string); ok && s != "" {
					parts = append(parts, k+": "+clipTo(s, 200))
				}
			}
		}
		summary := label
		if len(parts) > 0 {
			summary += " — " + strings.Join(parts, "; ")
		}
		out[i] = entryView{TimelineEntry: e, Summary: summary, Fields: fields}
	}
	return out
}

// flatten appends v's scalar leaves as dotted keys, sorted.
func flatten(prefix string, v any, out *[]field) {
	if len(*out) >= maxFields {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			flatten(joinKey(prefix, k), x[k], out)
		}
		if len(x) == 0 && prefix != "" {
			*out = append(*out, field{prefix, "{}"})
		}
	case []any:
		scalars := true
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				scalars = false
			}
		}
		if scalars {
			s := make([]string, len(x))
			for i, e := range x {
				s[i] = scalar(e)
			}
			*out = append(*out, field{prefix, clipValue(strings.Join(s, ", "))})
			return
		}
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		key := prefix
		if key == "" {
			key = "value"
		}
		*out = append(*out, field{key, clipValue(scalar(x))})
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	default:
		return fmt.Sprint(x)
	}
}

func clipValue(s string) string { return clipTo(s, maxFieldValue) }

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// slaView is one SLA clock of an incident.
type slaView struct {
	Clock    string
	Within   string
	Deadline time.Time
	State    string
	Breached bool
}

// slaViews derives the incident's SLA clocks from its latest sla.clock
// entry and its sla.breached entries.
func slaViews(inc incident.Incident, tl []incident.TimelineEntry, now time.Time) []slaView {
	var clocks []incident.SLADeadline
	breached := map[string]bool{}
	for _, e := range tl {
		switch e.Kind {
		case incident.KindSLAClock:
			var p struct {
				Clocks []incident.SLADeadline `json:"clocks"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				clocks = p.Clocks
			}
		case incident.KindSLABreached:
			var p struct {
				Clock string `json:"clock"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				breached[p.Clock] = true
			}
		}
	}
	out := make([]slaView, 0, len(clocks))
	for _, c := range clocks {
		v := slaView{Clock: c.Clock, Within: c.Within, Deadline: c.Deadline}
		var stopped *time.Time
		switch {
		case c.Clock == incident.SLAAcknowledge && inc.AcknowledgedAt != nil:
			stopped = inc.AcknowledgedAt
		case inc.ResolvedAt != nil && inc.Status == incident.StatusResolved:
			stopped = inc.ResolvedAt
		}
		switch {
		case breached[c.Clock]:
			v.State, v.Breached = "breached", true
		case stopped != nil && !stopped.After(c.Deadline):
			v.State = "met"
		case stopped != nil:
			v.State, v.Breached = "missed", true
		case now.Before(c.Deadline):
			v.State = "running, " + c.Deadline.Sub(now).Truncate(time.Minute).String() + " left"
		default:
			v.State, v.Breached = "overdue", true
		}
		out = append(out, v)
	}
	return out
}
