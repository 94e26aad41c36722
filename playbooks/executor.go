package playbooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/secretscan"
)

// Verifier re-runs the monitor that raised an incident, for verify steps.
type Verifier interface {
	// Verify runs the named monitor once and reports whether it passed,
	// with a one-line summary free of secrets.
	Verify(ctx context.Context, monitor string) (passed bool, summary string, err error)
}

// Notifier delivers the message of a notify step.
type Notifier interface {
	// Notify tells the people on call about inc.
	Notify(ctx context.Context, inc incident.Incident, msg string) error
}

// DefaultMaxOutput is how much of a step's output a result keeps.
const DefaultMaxOutput = 4 << 10

// captureLimit is how much output is read before redaction: far more
// than is kept, so that a secret near the cut is still whole when the
// scanner looks for it.
const captureLimit = 64 << 10

// truncatedMark ends output that was cut.
const truncatedMark = "…[truncated]"

// Options configure an Executor.
type Options struct {
	// Set holds the playbooks whose steps are run; required. Replace it
	// with SetPlaybooks on reload.
	Set *Set
	// Transport carries http and build requests; nil uses a copy of
	// http.DefaultTransport. Redirects are never followed.
	Transport http.RoundTripper
	// Verifier runs verify steps; without one they fail.
	Verifier Verifier
	// Notifier delivers notify steps; without one they fail.
	Notifier Notifier
	// Logger receives one line per step; nil discards.
	Logger *slog.Logger
	// Now tells the time (signature timestamps, durations); nil uses
	// time.Now.
	Now func() time.Time
	// LookupEnv resolves ${VAR} references, signing keys and the variables
	// passed to exec steps; nil uses os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// RetryWaitMin and RetryWaitMax bound the back-off between retries of
	// http and build steps (defaults 1s and 30s).
	RetryWaitMin, RetryWaitMax time.Duration
	// Scanner finds secrets in output and errors; nil uses
	// secretscan.DefaultRules.
	Scanner *secretscan.Scanner
	// UserAgent is sent with webhook requests (default "secopsd").
	UserAgent string
	// MaxOutput is how many bytes of output a result keeps
	// (DefaultMaxOutput when 0).
	MaxOutput int
}

// Executor runs playbook steps. It implements incident.StepRunner and is
// safe for concurrent use.
type Executor struct {
	opts    Options
	set     atomic.Pointer[Set]
	logger  *slog.Logger
	scanner *secretscan.Scanner
	rt      http.RoundTripper
}

var _ incident.StepRunner = (*Executor)(nil)

// NewExecutor returns an executor for opts.
func NewExecutor(opts Options) (*Executor, error) {
	if opts.Set == nil {
		return nil, errors.New("playbooks executor: Options.Set is required")
	}
	if opts.MaxOutput < 0 || opts.RetryWaitMin < 0 || opts.RetryWaitMax < 0 {
		return nil, errors.New("playbooks executor: MaxOutput and retry waits must not be negative")
	}
	if opts.MaxOutput == 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.RetryWaitMin == 0 {
		opts.RetryWaitMin = time.Second
	}
	if opts.RetryWaitMax == 0 {
		opts.RetryWaitMax = 30 * time.Second
	}
	if opts.RetryWaitMax < opts.RetryWaitMin {
		opts.RetryWaitMax = opts.RetryWaitMin
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "secopsd"
	}
	e := &Executor{opts: opts, logger: opts.Logger, scanner: opts.Scanner, rt: opts.Transport}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.scanner == nil {
		e.scanner = secretscan.NewScanner(secretscan.DefaultRules())
	}
	if e.rt == nil {
		e.rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	e.set.Store(opts.Set)
	return e, nil
}

// SetPlaybooks replaces the playbooks, after a reload. Steps already
// running finish with the old ones.
func (e *Executor) SetPlaybooks(s *Set) {
	if s != nil {
		e.set.Store(s)
	}
}

// outcome is what a step type's runner found, before it is cleaned.
type outcome struct {
	ok     bool
	output string
	detail map[string]any
	err    string
	// secrets are values the step resolved from the environment; they are
	// removed from everything the result and the log carry.
	secrets []string
}

// fail returns a failed outcome with a message.
func fail(format string, args ...any) outcome {
	return outcome{err: fmt.Sprintf(format, args...)}
}

// RunStep runs step req.Index of playbook req.Playbook for req.Incident. It
// obeys ctx and the step's own timeout, never returns or logs a secret, and
// keeps at most MaxOutput bytes of output.
func (e *Executor) RunStep(ctx context.Context, req incident.StepRequest) incident.StepResult {
	start := e.opts.Now()
	spec, res := e.lookup(req)
	if res.err == "" {
		res = e.run(ctx, spec, req)
	}
	out := incident.StepResult{OK: res.ok && res.err == "", Detail: map[string]any{}}
	clean := e.cleaner(res.secrets)
	out.Output = e.truncate(clean(res.output))
	out.Error = e.truncate(clean(res.err))
	for k, v := range res.detail {
		if s, ok := v.(string); ok {
			v = clean(s)
		}
		out.Detail[k] = v
	}
	typ, name := spec.Type, spec.Name
	if typ == "" {
		typ, name = req.Step.Type, req.Step.Name
	}
	out.Detail["type"] = string(typ)
	out.Detail["duration_ms"] = e.opts.Now().Sub(start).Milliseconds()

	attrs := []any{"incident", req.Incident.ID, "playbook", req.Playbook, "step", name,
		"index", req.Index, "type", string(typ), "ok", out.OK, "duration_ms", out.Detail["duration_ms"]}
	if out.OK {
		e.logger.Info("playbook step succeeded", attrs...)
	} else {
		e.logger.Warn("playbook step failed", append(attrs, "error", out.Error)...)
	}
	return out
}

// lookup finds the step of req in the current playbooks.
func (e *Executor) lookup(req incident.StepRequest) (StepSpec, outcome) {
	def, ok := e.set.Load().Definition(req.Playbook)
	if !ok {
		return StepSpec{}, fail("unknown playbook %s", quote(req.Playbook))
	}
	if req.Index < 0 || req.Index >= len(def.Steps) {
		return StepSpec{}, fail("playbook %s has no step %d", quote(req.Playbook), req.Index)
	}
	spec := def.Steps[req.Index]
	if req.Step.Name != "" && req.Step.Name != spec.Name {
		// The playbooks were reloaded and the step moved: do not run
		// something other than what was decided.
		return spec, fail("playbook %s changed: step %d is now %s, not %s", quote(req.Playbook), req.Index, quote(spec.Name), quote(req.Step.Name))
	}
	if req.Step.Type != "" && req.Step.Type != spec.Type {
		return spec, fail("playbook %s changed: step %s is now of type %s, not %s", quote(req.Playbook), quote(spec.Name), spec.Type, req.Step.Type)
	}
	return spec, outcome{}
}

// run runs spec according to its type.
func (e *Executor) run(ctx context.Context, spec StepSpec, req incident.StepRequest) outcome {
	if err := ctx.Err(); err != nil {
		return fail("not started: %v", err)
	}
	data := templateData(req)
	data.Step = spec.Name
	if spec.Type != incident.StepWait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	switch spec.Type {
	case incident.StepHTTP, incident.StepBuild:
		return e.runHook(ctx, spec, data)
	case incident.StepExec:
		return e.runExec(ctx, spec, data)
	case incident.StepNotify:
		return e.runNotify(ctx, spec, req.Incident, data)
	case incident.StepWait:
		return runWait(ctx, spec.Duration)
	case incident.StepVerify:
		return e.runVerify(ctx, req.Incident)
	case incident.StepEscalate:
		return runEscalate(spec, data)
	}
	return fail("unknown step type %s", quote(string(spec.Type)))
}

// runNotify renders the message and hands it to the Notifier.
func (e *Executor) runNotify(ctx context.Context, spec StepSpec, inc incident.Incident, data TemplateData) outcome {
	msg, err := render(spec.message, data)
	if err != nil {
		return fail("message: %v", err)
	}
	if e.opts.Notifier == nil {
		return fail("no notifier is configured")
	}
	if err := e.opts.Notifier.Notify(ctx, inc, msg); err != nil {
		return outcome{output: msg, err: "notify: " + err.Error()}
	}
	return outcome{ok: true, output: msg}
}

// runWait waits for d or until ctx is done.
func runWait(ctx context.Context, d time.Duration) outcome {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return outcome{ok: true, output: "waited " + d.String(), detail: map[string]any{"waited": d.String()}}
	case <-ctx.Done():
		return fail("wait of %s interrupted: %v", d, ctx.Err())
	}
}

// runVerify re-runs the incident's monitor; the step succeeds only if it
// passes.
func (e *Executor) runVerify(ctx context.Context, inc incident.Incident) outcome {
	if inc.Monitor == "" {
		return fail("incident has no monitor to verify")
	}
	if e.opts.Verifier == nil {
		return fail("no verifier is configured")
	}
	detail := map[string]any{"monitor": inc.Monitor}
	start := e.opts.Now()
	passed, summary, err := e.opts.Verifier.Verify(ctx, inc.Monitor)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{detail: detail, err: fmt.Sprintf("verify %s: %s", quote(inc.Monitor), stopped(ctx, e.opts.Now().Sub(start)))}
		}
		return outcome{detail: detail, err: fmt.Sprintf("verify %s: %v", quote(inc.Monitor), err)}
	}
	detail["passed"] = passed
	if !passed {
		return outcome{detail: detail, output: summary, err: fmt.Sprintf("monitor %s still fails", quote(inc.Monitor))}
	}
	return outcome{ok: true, detail: detail, output: summary}
}

// runEscalate records the escalation message; the engine hands the
// incident to a human.
func runEscalate(spec StepSpec, data TemplateData) outcome {
	msg := fmt.Sprintf("playbook %s escalates incident %d to a human", data.Playbook, data.Incident.ID)
	if spec.message != nil {
		var err error
		if msg, err = render(spec.message, data); err != nil {
			// Escalating matters more than its wording.
			msg = fmt.Sprintf("playbook %s escalates incident %d to a human (message template failed: %v)", data.Playbook, data.Incident.ID, err)
		}
	}
	return outcome{ok: true, output: msg}
}

// cleaner returns a function that removes secrets from text: the exact
// values in secrets first (longest first), then anything the scanner
// recognises as a credential.
func (e *Executor) cleaner(secrets []string) func(string) string {
	var vals []string
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			vals = append(vals, s)
		}
	}
	// Longest first, so that a value containing another goes whole.
	slices.SortFunc(vals, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return func(s string) string {
		if s == "" {
			return s
		}
		for _, v := range vals {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
		s, _ = e.scanner.Redact(s)
		return strings.ToValidUTF8(s, "\uFFFD")
	}
}

// minSecretLen is the shortest value removed verbatim from output; shorter
// ones would garble it without protecting anything.
const minSecretLen = 4

// truncate keeps at most MaxOutput bytes of s, cut at a character
// boundary and marked.
func (e *Executor) truncate(s string) string {
	if len(s) <= e.opts.MaxOutput {
		return s
	}
	cut := e.opts.MaxOutput
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}

// utf8RuneStart reports whether b can start a UTF-8 sequence.
func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
