package playbooks

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	pathpkg "path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// Bounds and defaults of playbook values.
const (
	// MaxSteps is the most steps a playbook may have.
	MaxSteps = 20
	// MaxTimeout is the longest timeout a step may set.
	MaxTimeout = 10 * time.Minute
	// MaxWait is the longest a wait step may last.
	MaxWait = time.Hour
	// MaxRetries is the most retries an http or build step may make.
	MaxRetries = 5
	// DefaultTimeout bounds http, build, exec, notify and escalate steps
	// that set no timeout.
	DefaultTimeout = 30 * time.Second
	// DefaultVerifyTimeout bounds verify steps that set no timeout.
	DefaultVerifyTimeout = 2 * time.Minute
	// DefaultSignatureHeader is the header that carries a webhook's
	// signature unless sign.header names another.
	DefaultSignatureHeader = "X-Secopsd-Signature"
)

// Definition is one playbook as written in its file.
type Definition struct {
	// Name identifies the playbook, unique across files.
	Name string
	// Description says what the playbook is for.
	Description string
	// Match selects the incidents the playbook applies to.
	Match Match
	// Auto playbooks run without a manual trigger (the default); others
	// only with run-playbook.
	Auto bool
	// Steps run in order.
	Steps []StepSpec
	// File and Line locate the definition, for messages.
	File string
	Line int

	// parsed is set by Parse, whose checks and compiled templates the
	// executor relies on.
	parsed bool
}

// Match selects incidents; an empty list matches any value. An incident
// matches when each non-empty list holds its value.
type Match struct {
	Categories []string
	// Monitors are monitor names or globs such as provider-* (path.Match
	// syntax).
	Monitors   []string
	Tiers      []incident.Tier
	Severities []event.Severity
	// RequireMonitor restricts the playbook to incidents raised by a
	// monitor, which a verify step needs.
	RequireMonitor bool
}

// StepSpec is one step as written in its playbook: the common keys and
// those of its type (the others are empty).
type StepSpec struct {
	// Name is unique within the playbook.
	Name string
	// Type is what the step does.
	Type incident.StepType
	// Idempotent steps may run again after a crash interrupted them.
	Idempotent bool
	// Timeout bounds the step; for a wait step it is its Duration.
	Timeout time.Duration

	// URL is the hook of an http or build step, possibly with ${VAR}
	// references that are resolved when the step runs.
	URL string
	// Method is the HTTP method (POST by default).
	Method string
	// Headers are sent with the request; values may hold ${VAR}.
	Headers map[string]string
	// Body is the request body template; empty sends TemplateData as JSON.
	Body string
	// Sign, when set, signs the request body.
	Sign *Signing
	// ExpectStatus lists the acceptable status codes; empty means any 2xx.
	ExpectStatus []int
	// Retries is how often a failed request is retried (idempotent steps
	// only).
	Retries int

	// Command is the absolute path of an exec step's program, resolved at
	// load; Args are argument templates; Env names the environment
	// variables passed to the program.
	Command string
	Args    []string
	Env     []string

	// Message is the template of a notify or escalate step's text.
	Message string

	// Duration is how long a wait step waits.
	Duration time.Duration

	// Line is where the step starts in its file.
	Line int

	body    *template.Template
	args    []*template.Template
	message *template.Template
}

// Signing says how an http or build step signs its requests.
type Signing struct {
	// SecretEnv names the environment variable holding the HMAC key.
	SecretEnv string
	// Header carries the signature (DefaultSignatureHeader by default).
	Header string
}

// Target names what the step acts on, for the engine's circuit breakers:
// the host (and port) of a literal URL, the URL as written when it
// references variables (their names, never their values), or the program of
// an exec step. It is empty for steps that act on nothing.
func (s StepSpec) Target() string {
	switch s.Type {
	case incident.StepHTTP, incident.StepBuild:
		if !strings.Contains(s.URL, "${") {
			if u, err := url.Parse(s.URL); err == nil && u.Host != "" {
				return u.Host
			}
		}
		return s.URL
	case incident.StepExec:
		return s.Command
	}
	return ""
}

// engineStep is the step as the engine sees it.
func (s StepSpec) engineStep() incident.Step {
	return incident.Step{Name: s.Name, Type: s.Type, Target: s.Target(), Idempotent: s.Idempotent}
}

// Playbook returns the playbook as the engine sees it.
func (d *Definition) Playbook() incident.Playbook {
	steps := make([]incident.Step, len(d.Steps))
	for i, s := range d.Steps {
		steps[i] = s.engineStep()
	}
	return incident.Playbook{Name: d.Name, Description: d.Description, Steps: steps}
}

// Keys of the playbook schema.
var (
	topKeys    = []string{"name", "description", "match", "auto", "steps"}
	matchKeys  = []string{"categories", "monitors", "tiers", "severities", "require_monitor"}
	signKeys   = []string{"secret_env", "header"}
	commonKeys = []string{"name", "type", "idempotent", "timeout"}
	hookKeys   = []string{"url", "method", "headers", "body", "sign", "expect_status", "retries"}
)

// stepTypes lists the step types in documentation order.
func stepTypes() []incident.StepType {
	return []incident.StepType{incident.StepHTTP, incident.StepExec, incident.StepNotify,
		incident.StepWait, incident.StepVerify, incident.StepBuild, incident.StepEscalate}
}

// typeKeys returns the keys a step of type t may have.
func typeKeys(t incident.StepType) []string {
	switch t {
	case incident.StepHTTP, incident.StepBuild:
		return append(slices.Clone(commonKeys), hookKeys...)
	case incident.StepExec:
		return append(slices.Clone(commonKeys), "command", "args", "env")
	case incident.StepNotify, incident.StepEscalate:
		return append(slices.Clone(commonKeys), "message")
	case incident.StepWait:
		// A wait lasts its duration; a timeout would only confuse.
		return []string{"name", "type", "idempotent", "duration"}
	case incident.StepVerify:
		return slices.Clone(commonKeys)
	}
	return nil
}

// namePattern is what playbook and step names look like: they appear in
// the timeline, the CLI and URLs.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// headerName matches an HTTP header field name (an RFC 9110 token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// credentialHeader matches header names whose value is a credential, which
// must come from the environment rather than sit in the file.
var credentialHeader = regexp.MustCompile(`(?i)auth|token|secret|key|cookie|passw|session|signature`)

// Parse decodes and validates one playbook file whose text is data; file
// names it in messages. Every problem is reported, joined, as *Error
// values.
func Parse(data []byte, file string) (*Definition, error) {
	d := newDecoder(file)
	root, ok := d.document(data)
	if !ok {
		return nil, d.err()
	}
	if root == nil {
		d.add(1, "", ErrMissing, "empty playbook file")
		return nil, d.err()
	}
	def := d.definition(root)
	if err := d.err(); err != nil {
		return nil, err
	}
	def.parsed = true
	return def, nil
}

// definition decodes and checks a playbook document.
func (d *decoder) definition(root *yaml.Node) *Definition {
	def := &Definition{File: d.file, Line: resolve(root).Line, Auto: true}
	entries, ok := d.mapping(root, "", topKeys, func(key string) string {
		return unknownKeyMessage(key, topKeys, "a playbook", "")
	})
	if !ok {
		return def
	}
	var stepsNode, matchNode, autoKey *yaml.Node
	for _, e := range entries {
		switch e.name {
		case "name":
			if s, ok := d.str(e.val, "name"); ok {
				def.Name = s
				if !namePattern.MatchString(s) {
					d.add(e.key.Line, "name", ErrInvalid, "invalid playbook name "+quote(s)+
						": use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
				}
			}
		case "description":
			if s, ok := d.str(e.val, "description"); ok {
				def.Description = s
			}
		case "match":
			matchNode = e.val
			if !isNull(resolve(e.val)) {
				d.match(e.val, &def.Match)
			}
		case "auto":
			autoKey = e.key
			if b, ok := d.boolean(e.val, "auto"); ok {
				def.Auto = b
			}
		case "steps":
			stepsNode = e.val
		}
	}
	if _, ok := d.lines["name"]; !ok {
		d.add(def.Line, "name", ErrMissing, "a playbook needs a name")
	}
	if stepsNode == nil {
		d.add(def.Line, "steps", ErrMissing, "a playbook needs steps")
	} else {
		d.steps(stepsNode, def)
	}
	if def.Auto && matchesAll(def.Match) {
		line, path := def.Line, "match"
		switch {
		case matchNode != nil:
			line = d.lines["match"]
		case autoKey != nil:
			line, path = autoKey.Line, "auto"
		}
		d.add(line, path, ErrUnsafe, "an automatic playbook with an empty match would run for every incident; "+
			"list categories, monitors, tiers or severities, or set auto: false")
	}
	d.crossCheck(def)
	return def
}

// matchesAll reports whether m selects every incident.
func matchesAll(m Match) bool {
	return len(m.Categories) == 0 && len(m.Monitors) == 0 && len(m.Tiers) == 0 &&
		len(m.Severities) == 0 && !m.RequireMonitor
}

// match decodes the match block.
func (d *decoder) match(n *yaml.Node, m *Match) {
	entries, ok := d.mapping(n, "match", matchKeys, func(key string) string {
		return unknownKeyMessage(key, matchKeys, "match", "")
	})
	if !ok {
		return
	}
	for _, e := range entries {
		path := joinPath("match", e.name)
		switch e.name {
		case "categories":
			m.Categories, _ = d.strs(e.val, path)
		case "monitors":
			m.Monitors, _ = d.strs(e.val, path)
			for i, p := range m.Monitors {
				if _, err := pathpkg.Match(p, ""); err != nil {
					d.add(d.lines[indexPath(path, i)], indexPath(path, i), ErrInvalid,
						"invalid monitor pattern "+quote(p)+" (a name, or a glob such as provider-*)")
				}
			}
		case "tiers":
			list, _ := d.strs(e.val, path)
			for i, s := range list {
				t := incident.Tier(s)
				if !t.Valid() {
					d.add(d.lines[indexPath(path, i)], indexPath(path, i), ErrInvalid,
						"unknown tier "+quote(s)+" (want MINOR, MAJOR or CRITICAL)")
					continue
				}
				m.Tiers = append(m.Tiers, t)
			}
		case "severities":
			list, _ := d.strs(e.val, path)
			for i, s := range list {
				sev, err := event.ParseSeverity(s)
				if err != nil {
					d.add(d.lines[indexPath(path, i)], indexPath(path, i), ErrInvalid,
						"unknown severity "+quote(s)+" (want info, low, medium, high or critical)")
					continue
				}
				m.Severities = append(m.Severities, sev)
			}
		case "require_monitor":
			m.RequireMonitor, _ = d.boolean(e.val, path)
		}
	}
}

// steps decodes the list of steps.
func (d *decoder) steps(n *yaml.Node, def *Definition) {
	items, ok := d.list(n, "steps")
	if !ok {
		return
	}
	if len(items) == 0 {
		d.add(resolve(n).Line, "steps", ErrMissing, "a playbook needs at least one step")
		return
	}
	if len(items) > MaxSteps {
		d.add(resolve(n).Line, "steps", ErrInvalid, fmt.Sprintf("at most %d steps, got %d", MaxSteps, len(items)))
		return
	}
	for i, item := range items {
		path := indexPath("steps", i)
		if isNull(resolve(item)) {
			d.add(resolve(item).Line, path, ErrType, "empty list item")
			continue
		}
		// Keep failed steps too, so that indexes stay those of the file.
		s, _ := d.step(item, path)
		def.Steps = append(def.Steps, s)
	}
}

// step decodes one step: its type first, then the keys of that type.
func (d *decoder) step(n *yaml.Node, path string) (StepSpec, bool) {
	n = resolve(n)
	s := StepSpec{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, "a mapping")
		return s, false
	}
	// Find the type before judging the other keys.
	var typeKey, typeVal *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == "type" {
			typeKey, typeVal = k, n.Content[i+1]
			break
		}
	}
	known := make([]string, len(stepTypes()))
	for i, t := range stepTypes() {
		known[i] = string(t)
	}
	if typeKey == nil {
		d.add(n.Line, joinPath(path, "type"), ErrMissing, "a step needs a type (known types: "+strings.Join(known, ", ")+")")
		return s, false
	}
	typ, ok := d.str(typeVal, joinPath(path, "type"))
	if !ok {
		return s, false
	}
	s.Type = incident.StepType(typ)
	if !s.Type.Valid() {
		d.add(typeKey.Line, joinPath(path, "type"), ErrStepType,
			fmt.Sprintf("unknown step type %s (known types: %s)", quote(typ), strings.Join(known, ", ")))
		return s, false
	}
	valid := typeKeys(s.Type)
	entries, ok := d.mapping(n, path, valid, func(key string) string {
		return unknownKeyMessage(key, valid, article(typ)+" "+typ+" step", typesWithKey(key))
	})
	if !ok {
		return s, false
	}
	// Steps that change nothing are safe to re-run after a crash.
	s.Idempotent = s.Type == incident.StepWait || s.Type == incident.StepVerify || s.Type == incident.StepEscalate
	switch s.Type {
	case incident.StepVerify:
		s.Timeout = DefaultVerifyTimeout
	case incident.StepHTTP, incident.StepBuild:
		s.Timeout = DefaultTimeout
		s.Method = http.MethodPost
	default:
		s.Timeout = DefaultTimeout
	}
	var retriesKey, bodyKey *yaml.Node
	for _, e := range entries {
		kp := joinPath(path, e.name)
		switch e.name {
		case "name":
			if v, ok := d.str(e.val, kp); ok {
				s.Name = v
				if !namePattern.MatchString(v) {
					d.add(e.key.Line, kp, ErrInvalid, "invalid step name "+quote(v)+
						": use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
				}
			}
		case "type":
		case "idempotent":
			s.Idempotent, _ = d.boolean(e.val, kp)
		case "timeout":
			if v, ok := d.duration(e.val, kp); ok {
				if v <= 0 || v > MaxTimeout {
					d.add(e.key.Line, kp, ErrDuration, fmt.Sprintf("timeout must be more than 0 and at most %s, got %s", fmtDuration(MaxTimeout), fmtDuration(v)))
				}
				s.Timeout = v
			}
		case "url":
			if v, ok := d.str(e.val, kp); ok {
				s.URL = v
				d.checkURL(e.key.Line, kp, v)
			}
		case "method":
			if v, ok := d.str(e.val, kp); ok {
				switch v {
				case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
					s.Method = v
				default:
					d.add(e.key.Line, kp, ErrInvalid, "unsupported method "+quote(v)+" (want GET, POST, PUT, PATCH or DELETE)")
				}
			}
		case "headers":
			s.Headers = d.headers(e.val, kp)
		case "body":
			bodyKey = e.key
			if v, ok := d.str(e.val, kp); ok {
				s.Body = v
			}
		case "sign":
			s.Sign = d.signing(e.val, kp)
		case "expect_status":
			items, ok := d.list(e.val, kp)
			if !ok {
				break
			}
			for i, item := range items {
				ip := indexPath(kp, i)
				code, ok := d.integer(item, ip)
				if !ok {
					continue
				}
				switch {
				case code < 100 || code > 599:
					d.add(resolve(item).Line, ip, ErrInvalid, fmt.Sprintf("status %d is not an HTTP status code (100-599)", code))
				case slices.Contains(s.ExpectStatus, code):
					d.add(resolve(item).Line, ip, ErrInvalid, fmt.Sprintf("status %d is listed twice", code))
				default:
					s.ExpectStatus = append(s.ExpectStatus, code)
				}
			}
		case "retries":
			retriesKey = e.key
			if v, ok := d.integer(e.val, kp); ok {
				if v < 0 || v > MaxRetries {
					d.add(e.key.Line, kp, ErrInvalid, fmt.Sprintf("retries must be between 0 and %d, got %d", MaxRetries, v))
				}
				s.Retries = v
			}
		case "command":
			if v, ok := d.str(e.val, kp); ok {
				s.Command = d.command(e.key.Line, kp, v)
			}
		case "args":
			s.Args, _ = d.argList(e.val, kp)
		case "env":
			names, _ := d.strs(e.val, kp)
			for i, name := range names {
				if !envName.MatchString(name) {
					d.add(d.lines[indexPath(kp, i)], indexPath(kp, i), ErrEnv, "invalid environment variable name "+quote(name))
				}
			}
			s.Env = names
		case "message":
			if v, ok := d.str(e.val, kp); ok {
				s.Message = v
			}
		case "duration":
			if v, ok := d.duration(e.val, kp); ok {
				if v <= 0 || v > MaxWait {
					d.add(e.key.Line, kp, ErrDuration, fmt.Sprintf("a wait must last more than 0 and at most %s, got %s", fmtDuration(MaxWait), fmtDuration(v)))
				}
				s.Duration = v
			}
		}
	}
	line := func(key string) int {
		if l, ok := d.lines[joinPath(path, key)]; ok {
			return l
		}
		return n.Line
	}
	if _, ok := d.lines[joinPath(path, "name")]; !ok {
		d.add(n.Line, joinPath(path, "name"), ErrMissing, "a step needs a name")
	}
	switch s.Type {
	case incident.StepHTTP, incident.StepBuild:
		if s.URL == "" {
			d.add(line("url"), joinPath(path, "url"), ErrMissing, article(typ)+" "+typ+" step needs a url")
		}
		if s.Retries > 0 && !s.Idempotent {
			d.add(retriesKey.Line, joinPath(path, "retries"), ErrUnsafe,
				"retrying a step that is not idempotent could repeat its side effect; set idempotent: true or remove retries")
		}
		if s.Body != "" {
			t, err := compileTemplate(joinPath(path, "body"), s.Body)
			if err != nil {
				d.add(bodyKey.Line, joinPath(path, "body"), ErrTemplate, err.Error())
			}
			s.body = t
		}
		if s.Sign != nil {
			for name := range s.Headers {
				if strings.EqualFold(name, s.Sign.Header) {
					d.add(d.lines[joinPath(joinPath(path, "headers"), name)], mapKeyPath(joinPath(path, "headers"), name), ErrInvalid,
						"this header carries the signature (sign.header); remove it from headers")
				}
			}
		}
	case incident.StepExec:
		if _, ok := d.lines[joinPath(path, "command")]; !ok {
			d.add(n.Line, joinPath(path, "command"), ErrMissing, "an exec step needs a command")
		}
		for i, a := range s.Args {
			ap := indexPath(joinPath(path, "args"), i)
			t, err := compileTemplate(ap, a)
			if err != nil {
				d.add(d.lines[ap], ap, ErrTemplate, err.Error())
			}
			s.args = append(s.args, t)
		}
	case incident.StepNotify, incident.StepEscalate:
		if s.Message == "" && s.Type == incident.StepNotify {
			d.add(line("message"), joinPath(path, "message"), ErrMissing, "a notify step needs a message")
		}
		if s.Message != "" {
			mp := joinPath(path, "message")
			t, err := compileTemplate(mp, s.Message)
			if err != nil {
				d.add(d.lines[mp], mp, ErrTemplate, err.Error())
			}
			s.message = t
		}
	case incident.StepWait:
		if _, ok := d.lines[joinPath(path, "duration")]; !ok {
			d.add(n.Line, joinPath(path, "duration"), ErrMissing, "a wait step needs a duration")
		}
		s.Timeout = s.Duration
	}
	return s, true
}

// article returns "an" for step types read out with a vowel sound (an
// http step, an exec step, an escalate step) and "a" for the others.
func article(typ string) string {
	if strings.HasPrefix(typ, "http") || (typ != "" && strings.ContainsRune("aeiou", rune(typ[0]))) {
		return "an"
	}
	return "a"
}

// fmtDuration writes d as it would be written in a playbook: 10m rather
// than 10m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// typesWithKey names the step types that have key, for an unknown-key
// message ("http and build steps"), or "" if none has it.
func typesWithKey(key string) string {
	var names []string
	for _, t := range stepTypes() {
		if slices.Contains(typeKeys(t), key) {
			names = append(names, string(t))
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + " steps"
	default:
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " steps"
	}
}

// checkURL checks a hook URL. One that references variables is checked
// for well-formed references only: its value is known when the step runs.
func (d *decoder) checkURL(line int, path, raw string) {
	refs, err := envRefs(raw)
	if err != nil {
		d.add(line, path, ErrEnv, err.Error())
		return
	}
	if len(refs) > 0 {
		return
	}
	if msg := urlProblem(raw); msg != "" {
		d.add(line, path, ErrURL, msg)
	}
}

// urlProblem says what is wrong with a hook URL, "" if nothing. Messages
// never repeat the URL, which may carry a token.
func urlProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "expected an absolute http or https URL"
	case u.User != nil:
		return "credentials in the URL; send them in a header whose value comes from the environment (${VAR})"
	}
	return ""
}

// headers decodes the headers of an http or build step.
func (d *decoder) headers(n *yaml.Node, path string) map[string]string {
	entries, ok := d.mapping(n, path, nil, nil)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		kp := mapKeyPath(path, e.name)
		v, ok := d.str(e.val, kp)
		if !ok {
			continue
		}
		switch {
		case !headerName.MatchString(e.name):
			d.add(e.key.Line, kp, ErrInvalid, "invalid header name "+quote(e.name))
			continue
		case slices.Contains([]string{"host", "content-length", "transfer-encoding", "connection"}, strings.ToLower(e.name)):
			d.add(e.key.Line, kp, ErrInvalid, "secopsd sets this header itself; remove it")
			continue
		case strings.ContainsAny(v, "\r\n\x00"):
			d.add(e.key.Line, kp, ErrInvalid, "header values must be one line")
			continue
		}
		refs, err := envRefs(v)
		if err != nil {
			d.add(e.key.Line, kp, ErrEnv, err.Error())
			continue
		}
		if len(refs) == 0 && v != "" && credentialHeader.MatchString(e.name) {
			d.add(e.key.Line, kp, ErrUnsafe, "a credential must not be written in the playbook; "+
				"take the value from the environment, as in \"Bearer ${HOOK_TOKEN}\"")
			continue
		}
		out[e.name] = v
	}
	return out
}

// signing decodes the sign block.
func (d *decoder) signing(n *yaml.Node, path string) *Signing {
	entries, ok := d.mapping(n, path, signKeys, func(key string) string {
		return unknownKeyMessage(key, signKeys, "sign", "")
	})
	if !ok {
		return nil
	}
	s := &Signing{Header: DefaultSignatureHeader}
	seenEnv := false
	for _, e := range entries {
		kp := joinPath(path, e.name)
		v, ok := d.str(e.val, kp)
		if !ok {
			if e.name == "secret_env" {
				seenEnv = true
			}
			continue
		}
		switch e.name {
		case "secret_env":
			seenEnv = true
			if !envName.MatchString(v) {
				d.add(e.key.Line, kp, ErrEnv, "expected the name of the environment variable that holds the signing key, got "+quote(v))
			}
			s.SecretEnv = v
		case "header":
			if !headerName.MatchString(v) {
				d.add(e.key.Line, kp, ErrInvalid, "invalid header name "+quote(v))
			}
			s.Header = v
		}
	}
	if !seenEnv {
		d.add(resolve(n).Line, joinPath(path, "secret_env"), ErrMissing,
			"sign needs secret_env: the environment variable that holds the signing key")
	}
	return s
}

// argList decodes the argument templates of an exec step; any scalar is
// taken as its text.
func (d *decoder) argList(n *yaml.Node, path string) ([]string, bool) {
	items, ok := d.list(n, path)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		ip := indexPath(path, i)
		v, ok := d.str(item, ip)
		if !ok {
			continue
		}
		d.lines[ip] = resolve(item).Line
		out = append(out, v)
	}
	return out, true
}

// command resolves an exec step's program: an absolute path that must be
// an executable file, or a name looked up in PATH now, at load.
func (d *decoder) command(line int, path, name string) string {
	switch {
	case name == "":
		d.add(line, path, ErrMissing, "empty command")
		return ""
	case strings.ContainsAny(name, " \t\r\n") && !strings.Contains(name, "/"):
		d.add(line, path, ErrCommand, "command "+quote(name)+" contains white space: no shell runs it; put arguments in args")
		return ""
	case strings.Contains(name, "/") && !filepath.IsAbs(name):
		d.add(line, path, ErrCommand, "command "+quote(name)+" must be an absolute path or a name found in PATH")
		return ""
	case filepath.IsAbs(name):
		fi, err := os.Stat(name)
		switch {
		case err != nil:
			d.add(line, path, ErrCommand, "command "+quote(name)+" not found")
			return ""
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			d.add(line, path, ErrCommand, "command "+quote(name)+" is not an executable file")
			return ""
		}
		return filepath.Clean(name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		d.add(line, path, ErrCommand, "command "+quote(name)+" not found in PATH")
		return ""
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		d.add(line, path, ErrCommand, "command "+quote(name)+": "+err.Error())
		return ""
	}
	return abs
}

// crossCheck runs the checks that span steps.
func (d *decoder) crossCheck(def *Definition) {
	first := map[string]int{}
	for i, s := range def.Steps {
		path := indexPath("steps", i)
		if s.Name != "" {
			if at, dup := first[s.Name]; dup {
				d.add(d.lines[joinPath(path, "name")], joinPath(path, "name"), ErrDuplicateName,
					fmt.Sprintf("step name %s is used twice (first by steps[%d])", quote(s.Name), at))
			} else {
				first[s.Name] = i
			}
		}
		if s.Type == incident.StepVerify && len(def.Match.Monitors) == 0 && !def.Match.RequireMonitor {
			d.add(d.lines[joinPath(path, "type")], joinPath(path, "type"), ErrUnsafe,
				"a verify step re-runs the incident's monitor, but this playbook also matches incidents "+
					"without one; set match.require_monitor: true or list match.monitors")
		}
		if i > 0 && def.Steps[i-1].Type == incident.StepEscalate {
			d.add(s.Line, path, ErrUnsafe, "steps after an escalate step never run: escalate ends the playbook")
		}
	}
}
