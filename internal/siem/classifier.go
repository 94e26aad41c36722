package siem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
)

// ErrInvalidDecision is wrapped by every error about a policy decision that
// cannot be used: undefined, conflicting or of the wrong shape.
var ErrInvalidDecision = errors.New("invalid policy decision")

// The rules the classifier evaluates.
const (
	ClassifyRule = "data.secopsd.classify.decision"
	TierRule     = "data.secopsd.tier.tier"
)

// ClassifierOptions configures a Classifier.
type ClassifierOptions struct {
	// Dir is the directory of Rego policies to load; "" selects the
	// defaults embedded in the binary (package policies).
	Dir string
	// Logger receives reload messages; nil discards them.
	Logger *slog.Logger
	// ObserveEval, when set, is called with the duration of every policy
	// evaluation (for a latency histogram). It must be safe for
	// concurrent use.
	ObserveEval func(d time.Duration)
}

// Classifier evaluates the classification, tier and guardrail policies. It
// is safe for concurrent use; Reload swaps the policies atomically.
type Classifier struct {
	dir     string
	logger  *slog.Logger
	observe func(time.Duration)

	reloadMu sync.Mutex // serializes Reload so an older load never wins
	set      atomic.Pointer[policySet]

	// noCancel is handed to evaluations whose context can never be
	// cancelled; it is never cancelled itself.
	noCancel topdown.Cancel
	keys     termKeys
	akeys    actionKeys
}

var _ incident.Tierer = (*Classifier)(nil)

// policySet is one compiled generation of the policies.
type policySet struct {
	classify rego.PreparedEvalQuery
	tier     rego.PreparedEvalQuery
	actions  rego.PreparedEvalQuery
	files    int
	// opts are the evaluation options shared by every evaluation of this
	// set: a read transaction on the set's private, never-written store
	// (so no transaction is opened per evaluation), no-op metrics, and a
	// result conversion that keeps the AST term instead of building Go
	// maps.
	opts [3]rego.EvalOption
	// literals holds a term for every string literal of the policies, so
	// that input strings a policy compares against (kinds, outcomes,
	// attribute names and values) need no allocation. Read-only.
	literals map[string]*ast.Term
}

// termKeys are the object keys of policy inputs and decisions, built once.
type termKeys struct {
	kind, source, monitor, outcome, fingerprint, title, attributes *ast.Term
	severity, category, openIncident, reason                       *ast.Term
}

func newTermKeys() termKeys {
	s := ast.StringTerm
	return termKeys{
		kind: s("kind"), source: s("source"), monitor: s("monitor"), outcome: s("outcome"),
		fingerprint: s("fingerprint"), title: s("title"), attributes: s("attributes"),
		severity: s("severity"), category: s("category"), openIncident: s("open_incident"),
		reason: s("reason"),
	}
}

// NewClassifier loads, compiles and prepares the policies. A policy that
// fails to parse or compile gives an error wrapping ErrInvalidPolicy whose
// lines start with FILE:LINE.
func NewClassifier(ctx context.Context, opts ClassifierOptions) (*Classifier, error) {
	c := &Classifier{
		dir:      opts.Dir,
		logger:   opts.Logger,
		observe:  opts.ObserveEval,
		noCancel: topdown.NewCancel(),
		keys:     newTermKeys(),
		akeys:    newActionKeys(),
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	set, err := loadPolicySet(ctx, c.dir)
	if err != nil {
		return nil, err
	}
	c.set.Store(set)
	return c, nil
}

// Reload loads the policies again from the same source and swaps them in.
// On error the policies in use stay in place.
func (c *Classifier) Reload(ctx context.Context) error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	set, err := loadPolicySet(ctx, c.dir)
	if err != nil {
		return err
	}
	c.set.Store(set)
	source := c.dir
	if source == "" {
		source = "embedded"
	}
	c.logger.Info("policies reloaded", "source", source, "files", set.files)
	return nil
}

func loadPolicySet(ctx context.Context, dir string) (*policySet, error) {
	mods, err := loadModules(dir, false)
	if err != nil {
		return nil, err
	}
	compiler := newCompiler()
	if compiler.Compile(mods); compiler.Failed() {
		return nil, newPolicyError(compiler.Errors)
	}
	for _, name := range []string{ClassifyRule, TierRule, ActionsRule} {
		if err := checkRule(compiler, name); err != nil {
			return nil, err
		}
	}

	store := inmem.New()
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		pq, err := rego.New(
			rego.Query(query),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.Strict(true),
		).PrepareForEval(ctx)
		if err != nil {
			if astErrs, ok := astErrors(err); ok {
				return pq, newPolicyError(astErrs)
			}
			return pq, fmt.Errorf("%w: prepare %s: %w", ErrInvalidPolicy, query, err)
		}
		return pq, nil
	}
	set := &policySet{files: len(mods), literals: stringLiterals(compiler)}
	if set.classify, err = prepare(ClassifyRule); err != nil {
		return nil, err
	}
	if set.tier, err = prepare(TierRule); err != nil {
		return nil, err
	}
	if set.actions, err = prepare(ActionsRule); err != nil {
		return nil, err
	}
	// The store holds no data and is never written, so one read
	// transaction, never closed, serves every evaluation concurrently;
	// store and transaction are collected with the set once it is
	// swapped out.
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("open policy store transaction: %w", err)
	}
	set.opts = [3]rego.EvalOption{
		rego.EvalTransaction(txn),
		rego.EvalMetrics(metrics.NoOp()),
		rego.EvalGenerateJSON(keepTerm),
	}
	return set, nil
}

// stringLiterals collects the string literals of the compiled policies.
func stringLiterals(compiler *ast.Compiler) map[string]*ast.Term {
	lits := make(map[string]*ast.Term)
	for _, m := range compiler.Modules {
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if s, ok := t.Value.(ast.String); ok && lits[string(s)] == nil {
				lits[string(s)] = ast.NewTerm(s)
			}
			return false
		})
	}
	return lits
}

// checkRule returns an error unless the compiled policies define name as a
// rule with a single value (not missing, a function or a set).
func checkRule(compiler *ast.Compiler, name string) error {
	rules := compiler.GetRulesExact(ast.MustParseRef(name))
	if len(rules) == 0 {
		return fmt.Errorf("%w: the policies define no rule %s", ErrInvalidPolicy, name)
	}
	for _, r := range rules {
		if len(r.Head.Args) > 0 || r.Head.RuleKind() != ast.SingleValue {
			return fmt.Errorf("%w: %s:%d: %s must be a single-value rule, not a function or set",
				ErrInvalidPolicy, r.Location.File, r.Location.Row, name)
		}
	}
	return nil
}

// keepTerm returns the result term as is; converting it to Go values would
// allocate maps that are only read once.
func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// eval evaluates pq against input and returns the value of its only
// expression, or nil when it is undefined.
func (c *Classifier) eval(ctx context.Context, set *policySet, pq *rego.PreparedEvalQuery, input ast.Value) (ast.Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	cancel := c.noCancel
	if ctx.Done() != nil {
		// Watch ctx with a callback rather than the goroutine per
		// evaluation that OPA starts when it owns cancellation.
		cancel = topdown.NewCancel()
		stop := context.AfterFunc(ctx, cancel.Cancel)
		defer stop()
	}
	var start time.Time
	if c.observe != nil {
		start = time.Now()
	}
	rs, err := pq.Eval(ctx, set.opts[0], set.opts[1], set.opts[2],
		rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel))
	if c.observe != nil {
		c.observe(time.Since(start))
	}
	if err != nil {
		if topdown.IsCancel(err) && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if topdown.IsError(err) {
			// A conflict or another error raised by the policy.
			return nil, fmt.Errorf("%w: %w", ErrInvalidDecision, err)
		}
		return nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, nil
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("unexpected result type %T", rs[0].Expressions[0].Value)
	}
	return t.Value, nil
}

// Classify evaluates the classification policy for ev and sets its
// Severity, Category and OpenIncident. On error ev is left unchanged.
func (c *Classifier) Classify(ctx context.Context, ev *event.Event) error {
	set := c.set.Load()
	k := &c.keys
	a := newTermArena(set.literals, 6+2*len(ev.Attributes))
	input := ast.NewObject(
		[2]*ast.Term{k.kind, a.str(ev.Kind)},
		[2]*ast.Term{k.source, a.str(ev.Source)},
		[2]*ast.Term{k.monitor, a.str(ev.Monitor)},
		[2]*ast.Term{k.outcome, a.str(string(ev.Outcome))},
		[2]*ast.Term{k.fingerprint, a.str(ev.Fingerprint)},
		[2]*ast.Term{k.title, a.str(ev.Title)},
		[2]*ast.Term{k.attributes, a.stringMap(ev.Attributes)},
	)
	v, err := c.eval(ctx, set, &set.classify, input)
	if err != nil {
		return fmt.Errorf("evaluate %s for kind %q: %w", ClassifyRule, ev.Kind, err)
	}
	if v == nil {
		return fmt.Errorf("%w: %s is undefined for kind %q", ErrInvalidDecision, ClassifyRule, ev.Kind)
	}
	sev, category, open, err := c.decode(v)
	if err != nil {
		return fmt.Errorf("%w: %s for kind %q: %w", ErrInvalidDecision, ClassifyRule, ev.Kind, err)
	}
	ev.Severity, ev.Category, ev.OpenIncident = sev, category, open
	return nil
}

// decode checks the shape of a classification decision and extracts it.
func (c *Classifier) decode(v ast.Value) (event.Severity, string, bool, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return 0, "", false, fmt.Errorf("decision is %s, want an object", ast.ValueName(v))
	}
	sevName, err := stringField(obj, c.keys.severity)
	if err != nil {
		return 0, "", false, err
	}
	sev, err := event.ParseSeverity(sevName)
	if err != nil {
		return 0, "", false, fmt.Errorf("field severity: %w", err)
	}
	category, err := stringField(obj, c.keys.category)
	if err != nil {
		return 0, "", false, err
	}
	if _, err := stringField(obj, c.keys.reason); err != nil {
		return 0, "", false, err
	}
	t := obj.Get(c.keys.openIncident)
	if t == nil {
		return 0, "", false, errors.New("field open_incident is missing")
	}
	open, ok := t.Value.(ast.Boolean)
	if !ok {
		return 0, "", false, fmt.Errorf("field open_incident is %s, want a boolean", ast.ValueName(t.Value))
	}
	return sev, category, bool(open), nil
}

func stringField(obj ast.Object, key *ast.Term) (string, error) {
	t := obj.Get(key)
	if t == nil {
		return "", fmt.Errorf("field %s is missing", string(key.Value.(ast.String)))
	}
	s, ok := t.Value.(ast.String)
	if !ok {
		return "", fmt.Errorf("field %s is %s, want a string", string(key.Value.(ast.String)), ast.ValueName(t.Value))
	}
	return string(s), nil
}

// Tier evaluates the tier policy for an incident.
func (c *Classifier) Tier(ctx context.Context, in incident.TierInput) (incident.Tier, error) {
	set := c.set.Load()
	k := &c.keys
	a := newTermArena(set.literals, 4+2*len(in.Attributes))
	input := ast.NewObject(
		[2]*ast.Term{k.severity, a.str(in.Severity.String())},
		[2]*ast.Term{k.category, a.str(in.Category)},
		[2]*ast.Term{k.monitor, a.str(in.Monitor)},
		[2]*ast.Term{k.kind, a.str(in.Kind)},
		[2]*ast.Term{k.attributes, a.stringMap(in.Attributes)},
	)
	v, err := c.eval(ctx, set, &set.tier, input)
	if err != nil {
		return "", fmt.Errorf("evaluate %s: %w", TierRule, err)
	}
	if v == nil {
		return "", fmt.Errorf("%w: %s is undefined", ErrInvalidDecision, TierRule)
	}
	s, ok := v.(ast.String)
	if !ok {
		return "", fmt.Errorf("%w: %s is %s, want a string", ErrInvalidDecision, TierRule, ast.ValueName(v))
	}
	tier := incident.Tier(s)
	if !tier.Valid() {
		return "", fmt.Errorf("%w: %s is %q, want MINOR, MAJOR or CRITICAL", ErrInvalidDecision, TierRule, string(s))
	}
	return tier, nil
}

// termArena hands out the string terms of one policy input: the policies'
// own literal when there is one, else a term from a single allocation.
type termArena struct {
	literals map[string]*ast.Term
	terms    []ast.Term
}

// newTermArena returns an arena for at most n strings.
func newTermArena(literals map[string]*ast.Term, n int) termArena {
	return termArena{literals: literals, terms: make([]ast.Term, 0, n)}
}

// str returns a term for s.
func (a *termArena) str(s string) *ast.Term {
	if t := a.literals[s]; t != nil {
		return t
	}
	if s == "" {
		return ast.InternedTerm("")
	}
	if len(a.terms) == cap(a.terms) { // not expected: sized by the caller
		return ast.StringTerm(s)
	}
	a.terms = append(a.terms, ast.Term{Value: ast.String(s)})
	return &a.terms[len(a.terms)-1]
}

// stringMap returns an object term for string attributes.
func (a *termArena) stringMap(m map[string]string) *ast.Term {
	if len(m) == 0 {
		return ast.NewTerm(ast.NewObject())
	}
	items := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		items = append(items, [2]*ast.Term{a.str(k), a.str(v)})
	}
	return ast.NewTerm(ast.NewObject(items...))
}
