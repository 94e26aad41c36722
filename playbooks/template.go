package playbooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// TemplateData is what body, message and argument templates see: write
// {{.Incident.ID}}, {{.Incident.Title}}, {{.Playbook}} and so on. Only
// these fields exist; a template that names another one is rejected at
// load.
type TemplateData struct {
	// Incident is the incident being remediated.
	Incident TemplateIncident `json:"incident"`
	// Playbook and Step name the running playbook and step.
	Playbook string `json:"playbook"`
	Step     string `json:"step"`
	// RunID identifies the playbook run and Attempt is its attempt number
	// (1-based).
	RunID   int64 `json:"run_id"`
	Attempt int   `json:"attempt"`
}

// TemplateIncident is the incident as templates see it.
type TemplateIncident struct {
	ID          int64  `json:"id"`
	Title       string `json:"title"`
	Monitor     string `json:"monitor"`
	Category    string `json:"category"`
	Severity    string `json:"severity"`
	Tier        string `json:"tier"`
	Status      string `json:"status"`
	Fingerprint string `json:"fingerprint"`
	// OpenedAt is the opening time in RFC 3339, UTC.
	OpenedAt string `json:"opened_at"`
	Failures int    `json:"failures"`
}

// templateData builds the data of a step's templates.
func templateData(req incident.StepRequest) TemplateData {
	inc := req.Incident
	opened := ""
	if !inc.OpenedAt.IsZero() {
		opened = inc.OpenedAt.UTC().Format(time.RFC3339)
	}
	return TemplateData{
		Incident: TemplateIncident{
			ID: inc.ID, Title: inc.Title, Monitor: inc.Monitor, Category: inc.Category,
			Severity: severityName(inc.Severity), Tier: string(inc.Tier), Status: string(inc.Status),
			Fingerprint: inc.Fingerprint, OpenedAt: opened, Failures: inc.Failures,
		},
		Playbook: req.Playbook, Step: req.Step.Name, RunID: req.RunID, Attempt: req.Attempt,
	}
}

// severityName names s, "" for an unknown severity.
func severityName(s event.Severity) string {
	if s == event.SeverityUnknown {
		return ""
	}
	return s.String()
}

// sampleData fills every field, so that executing a template at load
// reaches most of its branches and reports unknown fields.
func sampleData() TemplateData {
	return TemplateData{
		Incident: TemplateIncident{
			ID: 1, Title: "sample", Monitor: "sample", Category: "sample", Severity: "high",
			Tier: "MINOR", Status: "open", Fingerprint: "sample", OpenedAt: "2006-01-02T15:04:05Z", Failures: 1,
		},
		Playbook: "sample", Step: "sample", RunID: 1, Attempt: 1,
	}
}

// templateFuncs are the functions templates may call besides text/template's
// built-ins: json encodes a value as JSON, so that {{json .Incident.Title}}
// is safe inside a JSON body whatever the title holds.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}
}

// maxRendered bounds the text a template may produce.
const maxRendered = 64 << 10

// compileTemplate parses text, checks that it uses only what playbook
// templates may, and runs it once on sample data, so that a syntax error,
// a forbidden construct or an unknown field is a load error.
func compileTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(templateFuncs()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, errors.New(cleanTemplateError(err, name))
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("define and block are not allowed in playbook templates")
	}
	if t.Tree != nil {
		if err := checkNode(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	if _, err := render(t, sampleData()); err != nil {
		return nil, err
	}
	return t, nil
}

// allowedFunc reports whether a playbook template may call the function
// name. The other functions of text/template could allocate without bound
// (printf "%999999999d") or reach into values (call, index, slice), and
// templates run inside the daemon.
func allowedFunc(name string) bool {
	switch name {
	case "json", "and", "or", "not", "len", "eq", "ne", "lt", "le", "gt", "ge":
		return true
	}
	return false
}

// checkNode rejects the constructs of text/template that playbook
// templates may not use: range (which could loop a billion times),
// template (which could recurse) and the functions allowedFunc refuses.
// What remains runs in time linear in the template's size.
func checkNode(n parse.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkNode(n.Pipe)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := checkNode(a); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkNode(n.Node)
	case *parse.IdentifierNode:
		if !allowedFunc(n.Ident) {
			return fmt.Errorf("function %s is not allowed in playbook templates (allowed: json, and, or, not, len, eq, ne, lt, le, gt, ge)", n.Ident)
		}
	case *parse.RangeNode:
		return errors.New("range is not allowed in playbook templates")
	case *parse.TemplateNode:
		return errors.New("template is not allowed in playbook templates")
	case *parse.TextNode, *parse.FieldNode, *parse.VariableNode, *parse.DotNode, *parse.StringNode,
		*parse.NumberNode, *parse.BoolNode, *parse.NilNode, *parse.CommentNode:
	default:
		return fmt.Errorf("%s is not allowed in playbook templates", n)
	}
	return nil
}

// checkBranch checks an if or with node.
func checkBranch(b *parse.BranchNode) error {
	for _, n := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if err := checkNode(n); err != nil {
			return err
		}
	}
	return nil
}

// render executes t on data, bounding the output's size.
func render(t *template.Template, data TemplateData) (string, error) {
	var b bytes.Buffer
	w := &capWriter{w: &b, left: maxRendered}
	if err := t.Execute(w, data); err != nil {
		if errors.Is(err, errTooLong) {
			return "", fmt.Errorf("template output is longer than %d bytes", maxRendered)
		}
		return "", errors.New(cleanTemplateError(err, t.Name()))
	}
	return b.String(), nil
}

// cleanTemplateError removes text/template's "template: NAME:" prefix,
// which repeats the key path the error is reported under.
func cleanTemplateError(err error, name string) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	msg = strings.TrimPrefix(msg, name+":")
	msg = strings.Replace(msg, "executing "+strconv.Quote(name)+" at ", "at ", 1)
	msg = strings.TrimSpace(msg)
	if strings.Contains(msg, "can't evaluate field") {
		msg += " (templates see TemplateData: .Incident.ID, .Incident.Title, .Playbook... see README.md)"
	}
	return "template position " + msg
}

var errTooLong = errors.New("too long")

// capWriter writes at most left bytes to w, then fails.
type capWriter struct {
	w    *bytes.Buffer
	left int
}

func (c *capWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		return 0, errTooLong
	}
	c.left -= len(p)
	return c.w.Write(p)
}
