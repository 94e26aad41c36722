package siem

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/secopsd/secopsd/internal/event"
)

// Correlation rules over sliding windows.
//
// A rule counts the events that match it (by kind, and optionally source
// and attribute values) per group (the values of its group_by fields, such
// as attributes.ip) over a sliding window of event time. When a group's
// count within the window reaches the threshold, the correlator derives ONE
// event; it then stays silent for that group until a full window has
// passed since the firing (in event time), so an attack that goes on
// yields one event per window, each extending the same incident.
//
// Windows are measured in the events' own times, not the wall clock, and
// the count is kept in buckets of 1/60 of the window: an event counts
// towards the window ending at time T when its bucket overlaps
// (T-window, T], so events up to window+window/60 apart may count together.
// A window is evaluated at the newest event of each bucket that the batch
// added to, and at every later bucket, so events that arrive out of order
// still count as long as they are within the window of the group's newest
// event; a straggler older than that counts only with the events of its
// own batch (the store keeps about one window per group). A window ending
// less than a window after the group's last firing never fires, so late
// events do not fire a window twice.
//
// The state lives in the store only (CorrelationStore): every Observe adds
// its counts and decides about firing in one transaction that holds the
// groups it touches, before it returns the derived events. A restarted
// daemon therefore continues every open window where it stopped, replicas
// sharing a PostgreSQL store count into the same windows and fire once in
// all, and the correlator keeps nothing per group in memory between calls:
// its memory is bounded by the batch, whatever the number of groups. The
// store drops buckets that fall behind a group's window as it goes, and
// retention purges groups that have been idle (PurgeCorrelationState).
//
// A derived event has source CorrelatorSource, the rule's kind, and an id
// derived from the rule, the group and the firing time, so that storing the
// same firing twice (a replay, or two replicas) stores it once; its
// fingerprint is stable per rule and group, so repeated firings extend the
// same incident; its correlation_id names the rule and group, shared by
// all its firings. Its attributes are the rule's extra attributes, the
// group values (attributes.ip as ip; source, monitor and kind as such) and
// rule, count, threshold, window, first_time and last_time (RFC 3339, the
// times of the oldest and newest event counted).

// CorrelatorSource is the source of the events a RuleCorrelator derives. The
// correlator ignores events of this source, so that derived events never
// feed back into a rule; ingestion refuses it as a client's source.
const CorrelatorSource = "secopsd/correlator"

// Attributes that every derived event carries.
const (
	AttrCorrelationRule      = "rule"
	AttrCorrelationCount     = "count"
	AttrCorrelationThreshold = "threshold"
	AttrCorrelationWindow    = "window"
	AttrCorrelationFirstTime = "first_time"
	AttrCorrelationLastTime  = "last_time"
)

// CorrelationBuiltinAttributes are the attributes every derived event
// carries, and the placeholders every title may use.
var CorrelationBuiltinAttributes = []string{
	AttrCorrelationRule, AttrCorrelationCount, AttrCorrelationThreshold,
	AttrCorrelationWindow, AttrCorrelationFirstTime, AttrCorrelationLastTime,
}

// Group fields other than attributes.<key>.
const (
	GroupBySource  = "source"
	GroupByMonitor = "monitor"
	GroupByKind    = "kind"
	// GroupByAttributePrefix leads a group field naming an attribute.
	GroupByAttributePrefix = "attributes."
)

// Limits of correlation rules.
const (
	// CorrelationBuckets is how many buckets a window is counted in.
	CorrelationBuckets = 60
	// MinCorrelationWindow and MaxCorrelationWindow bound a rule's window.
	MinCorrelationWindow = time.Second
	MaxCorrelationWindow = 7 * 24 * time.Hour
	// MaxCorrelationThreshold bounds a rule's threshold.
	MaxCorrelationThreshold = 1_000_000_000
	// MaxCorrelationCountValue caps what one event's count attribute adds.
	MaxCorrelationCountValue = math.MaxInt32
	// MaxCorrelationTitleLen bounds a derived event's title, in runes.
	MaxCorrelationTitleLen = 256
	// CorrelationKindPrefix leads the kind of every derived event.
	CorrelationKindPrefix = "correlation."
)

// CorrelationRule is one correlation rule.
type CorrelationRule struct {
	// Name identifies the rule; it is part of the state's key, so renaming
	// a rule starts its windows afresh.
	Name string
	// Kinds are the event kinds the rule counts (at least one).
	Kinds []string
	// Source, if set, is the only event source counted.
	Source string
	// Attributes, if set, are attribute values a counted event must have.
	Attributes map[string]string
	// GroupBy are the fields whose values make a group: source, monitor,
	// kind or attributes.<key>. An event without a value for one of them
	// is not counted. None counts every matching event in one group.
	GroupBy []string
	// Window is the length of the sliding window.
	Window time.Duration
	// Threshold is the count within Window that fires the rule.
	Threshold int64
	// CountAttribute, if set, names an integer attribute that an event
	// adds to the count instead of 1 (such as the count of an aggregated
	// auth.failure); a missing, non-integer or non-positive value adds 1.
	CountAttribute string
	// Emit describes the derived event.
	Emit CorrelationEmit
}

// CorrelationEmit describes the event a rule derives.
type CorrelationEmit struct {
	// Kind is the derived event's kind; it starts with "correlation.".
	Kind string
	// Title is the derived event's title, with placeholders {name} for the
	// built-in attributes (CorrelationBuiltinAttributes) and the group
	// values (by their attribute name: {ip} for attributes.ip); empty
	// uses a title naming the rule, count, window and group.
	Title string
	// Attributes are added to the derived event's attributes.
	Attributes map[string]string
}

// CorrelationStore keeps the state of correlation rules; the daemon
// adapts its store (internal/store's UpdateCorrelation) to it.
type CorrelationStore interface {
	// UpdateCorrelation adds the counts of updates to their groups and,
	// holding the groups locked, calls fire once per group with its state
	// after the update; fire returns the time of the group's newest
	// firing, or the zero time. It is one transaction: on error nothing
	// is stored.
	UpdateCorrelation(ctx context.Context, updates []CorrelationUpdate, fire func(CorrelationState) time.Time) error
}

// CorrelationUpdate is what one batch adds to one group of one rule.
type CorrelationUpdate struct {
	// Rule and Group identify the group (Group is a digest of its values).
	Rule, Group string
	// Values describes the group (JSON), for people reading the store.
	Values string
	// Horizon is how far before the group's newest event buckets matter.
	Horizon time.Duration
	// Buckets are the counts to add, one per Start.
	Buckets []CorrelationBucket
}

// CorrelationBucket counts a group's events within one time bucket.
type CorrelationBucket struct {
	Start       time.Time
	Count       int64
	First, Last time.Time
}

// CorrelationState is a group's stored state after an update: its buckets
// from the oldest updated one less the horizon, oldest first.
type CorrelationState struct {
	Rule, Group string
	Buckets     []CorrelationBucket
	LastSeen    time.Time
	LastFired   time.Time
}

// RuleCorrelatorOptions configures a RuleCorrelator.
type RuleCorrelatorOptions struct {
	// Store keeps the windows; required.
	Store CorrelationStore
	// Rules are the correlation rules; none makes Observe a no-op.
	Rules []CorrelationRule
	// Logger receives one line per firing (rule, group digest, count:
	// never group values); nil discards it.
	Logger *slog.Logger
}

// RuleCorrelator is the pipeline's Correlator: correlation rules over
// sliding windows whose state is in a CorrelationStore. It is safe for
// concurrent use; calls are serialized.
type RuleCorrelator struct {
	store  CorrelationStore
	logger *slog.Logger
	rules  []*corrRule
	byKind map[string][]*corrRule
	mu     sync.Mutex
}

var _ Correlator = (*RuleCorrelator)(nil)

// corrRule is a rule ready to evaluate.
type corrRule struct {
	CorrelationRule
	width   time.Duration
	horizon time.Duration
	window  string // formatted
	fields  []groupField
	title   []titlePart
}

// groupField is one group_by field and the attribute it becomes.
type groupField struct {
	kind string // source, monitor, kind or attributes.
	key  string // attribute key, for attributes.
	out  string // attribute name on the derived event
}

// titlePart is literal text or, when placeholder, the attribute it names.
type titlePart struct {
	text        string
	placeholder bool
}

// NewRuleCorrelator checks the rules and returns a correlator.
func NewRuleCorrelator(opts RuleCorrelatorOptions) (*RuleCorrelator, error) {
	if opts.Store == nil {
		return nil, errors.New("correlator: Store is required")
	}
	c := &RuleCorrelator{store: opts.Store, logger: opts.Logger, byKind: map[string][]*corrRule{}}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	names := map[string]bool{}
	var errs []error
	for i, r := range opts.Rules {
		cr, err := compileRule(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("correlation rule %d (%q): %w", i, r.Name, err))
			continue
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("correlation rule %d: duplicate name %q", i, r.Name))
			continue
		}
		names[r.Name] = true
		c.rules = append(c.rules, cr)
		for _, k := range slices.Compact(slices.Sorted(slices.Values(r.Kinds))) {
			c.byKind[k] = append(c.byKind[k], cr)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// compileRule checks r and prepares it.
func compileRule(r CorrelationRule) (*corrRule, error) {
	switch {
	case r.Name == "":
		return nil, errors.New("no name")
	case len(r.Kinds) == 0:
		return nil, errors.New("no kinds to match")
	case r.Window < MinCorrelationWindow || r.Window > MaxCorrelationWindow:
		return nil, fmt.Errorf("window %s is not between %s and %s", r.Window, MinCorrelationWindow, MaxCorrelationWindow)
	case r.Threshold < 1 || r.Threshold > MaxCorrelationThreshold:
		return nil, fmt.Errorf("threshold %d is not between 1 and %d", r.Threshold, MaxCorrelationThreshold)
	case !strings.HasPrefix(r.Emit.Kind, CorrelationKindPrefix) || len(r.Emit.Kind) == len(CorrelationKindPrefix):
		return nil, fmt.Errorf("derived kind %q does not start with %q", r.Emit.Kind, CorrelationKindPrefix)
	}
	for _, k := range r.Kinds {
		if k == "" || strings.HasPrefix(k, CorrelationKindPrefix) {
			return nil, fmt.Errorf("kind %q cannot be matched (empty, or a derived kind)", k)
		}
	}
	cr := &corrRule{CorrelationRule: r, window: FormatWindow(r.Window)}
	cr.width = (r.Window / CorrelationBuckets).Truncate(time.Microsecond)
	cr.horizon = r.Window + cr.width
	reserved := map[string]bool{}
	for _, a := range CorrelationBuiltinAttributes {
		reserved[a] = true
	}
	for _, f := range r.GroupBy {
		gf, err := parseGroupField(f)
		if err != nil {
			return nil, err
		}
		if reserved[gf.out] {
			return nil, fmt.Errorf("group field %q would set attribute %q twice", f, gf.out)
		}
		reserved[gf.out] = true
		cr.fields = append(cr.fields, gf)
	}
	for k := range r.Emit.Attributes {
		if reserved[k] {
			return nil, fmt.Errorf("extra attribute %q is set by the correlator", k)
		}
	}
	title := r.Emit.Title
	if title == "" {
		title = DefaultCorrelationTitle(r.GroupBy)
	}
	parts, err := ParseCorrelationTitle(title, func(name string) bool { return reserved[name] })
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		cr.title = append(cr.title, titlePart{text: p.Text, placeholder: p.Placeholder})
	}
	return cr, nil
}

// parseGroupField parses a group_by field.
func parseGroupField(f string) (groupField, error) {
	switch f {
	case GroupBySource, GroupByMonitor, GroupByKind:
		return groupField{kind: f, out: f}, nil
	}
	if key, ok := strings.CutPrefix(f, GroupByAttributePrefix); ok && key != "" {
		return groupField{kind: GroupByAttributePrefix, key: key, out: key}, nil
	}
	return groupField{}, fmt.Errorf("group field %q is not source, monitor, kind or attributes.<key>", f)
}

// GroupFieldAttribute returns the attribute a group_by field sets on a
// derived event (ip for attributes.ip), and whether the field is valid.
func GroupFieldAttribute(field string) (string, bool) {
	gf, err := parseGroupField(field)
	return gf.out, err == nil
}

// DefaultCorrelationTitle is the title of a rule that sets none.
func DefaultCorrelationTitle(groupBy []string) string {
	t := "{rule}: {count} events within {window}"
	var gs []string
	for _, f := range groupBy {
		if out, ok := GroupFieldAttribute(f); ok {
			gs = append(gs, out+" {"+out+"}")
		}
	}
	if len(gs) > 0 {
		t += " (" + strings.Join(gs, ", ") + ")"
	}
	return t
}

// TitlePart is a piece of a parsed title: literal text, or the name of a
// placeholder.
type TitlePart struct {
	Text        string
	Placeholder bool
}

// ParseCorrelationTitle splits a title into literal text and {name}
// placeholders; known says which names exist. "{{" and "}}" stand for
// literal braces.
func ParseCorrelationTitle(title string, known func(string) bool) ([]TitlePart, error) {
	var (
		parts []TitlePart
		lit   strings.Builder
	)
	for i := 0; i < len(title); i++ {
		c := title[i]
		switch {
		case c == '{' && i+1 < len(title) && title[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(title) && title[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(title[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("title has an unterminated { at byte %d (write {{ for a literal brace)", i)
			}
			name := title[i+1 : i+1+end]
			if !known(name) {
				return nil, fmt.Errorf("title placeholder {%s} is unknown", name)
			}
			if lit.Len() > 0 {
				parts = append(parts, TitlePart{Text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, TitlePart{Text: name, Placeholder: true})
			i += 1 + end
		case c == '}':
			return nil, fmt.Errorf("title has a stray } at byte %d (write }} for a literal brace)", i)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, TitlePart{Text: lit.String()})
	}
	return parts, nil
}

// FormatWindow formats a window as configured: 5m, 1h, 1h30m, 90s as 1m30s.
func FormatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// AttributeKeys lists every attribute key the correlator's derived events
// may carry (for an attribute allowlist), sorted.
func (c *RuleCorrelator) AttributeKeys() []string {
	keys := slices.Clone(CorrelationBuiltinAttributes)
	for _, r := range c.rules {
		for _, f := range r.fields {
			keys = append(keys, f.out)
		}
		for k := range r.Emit.Attributes {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// Horizon is the longest span of event time the correlator's windows look
// back (the longest window plus one bucket); state idle for longer is of
// no use.
func (c *RuleCorrelator) Horizon() time.Duration {
	var h time.Duration
	for _, r := range c.rules {
		h = max(h, r.horizon)
	}
	return h
}

// matches reports whether ev passes the rule's source and attribute
// conditions (its kind was matched by the index).
func (r *corrRule) matches(ev *event.Event) bool {
	if r.Source != "" && ev.Source != r.Source {
		return false
	}
	for k, v := range r.Attributes {
		if got, ok := ev.Attributes[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// groupValues appends ev's values of the group fields to vals, or returns
// false when one is empty.
func (r *corrRule) groupValues(ev *event.Event, vals []string) ([]string, bool) {
	for _, f := range r.fields {
		var v string
		switch f.kind {
		case GroupBySource:
			v = ev.Source
		case GroupByMonitor:
			v = ev.Monitor
		case GroupByKind:
			v = ev.Kind
		default:
			v = ev.Attributes[f.key]
		}
		if v == "" {
			return vals, false
		}
		vals = append(vals, v)
	}
	return vals, true
}

// amount is what ev adds to its group's count.
func (r *corrRule) amount(ev *event.Event) int64 {
	if r.CountAttribute == "" {
		return 1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(ev.Attributes[r.CountAttribute]), 10, 64)
	if err != nil || n < 1 {
		return 1
	}
	return min(n, MaxCorrelationCountValue)
}

// bucketStart returns the start of the bucket that holds t.
func (r *corrRule) bucketStart(t time.Time) time.Time {
	us, w := t.UnixMicro(), r.width.Microseconds()
	start := us - us%w
	if us%w < 0 {
		start -= w
	}
	return time.UnixMicro(start).UTC()
}

// pendingGroup collects one group's counts within a batch.
type pendingGroup struct {
	rule    *corrRule
	id      string
	values  []string
	buckets map[time.Time]*CorrelationBucket
}

// firing is one derived event to be.
type firing struct {
	rule        *corrRule
	group       *pendingGroup
	at          time.Time
	count       int64
	first, last time.Time
}

// Observe counts the events that match a rule, stores the counts and
// returns the events derived from the windows that reached their
// threshold, oldest first. Events of CorrelatorSource and events without a
// time are ignored. On error nothing is counted and nothing derived.
func (c *RuleCorrelator) Observe(ctx context.Context, evs []event.Event) ([]event.Event, error) {
	if len(c.rules) == 0 || len(evs) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// groups by rule and digest (as the store knows them), and by rule
	// and values (to digest each group's values once).
	groups := map[string]*pendingGroup{}
	byValues := map[string]*pendingGroup{}
	var (
		scratch []string // an event's group values
		kb      []byte   // their key in byValues
	)
	for i := range evs {
		ev := &evs[i]
		if ev.Source == CorrelatorSource || ev.Time.IsZero() {
			continue
		}
		for _, r := range c.byKind[ev.Kind] {
			if !r.matches(ev) {
				continue
			}
			var ok bool
			if scratch, ok = r.groupValues(ev, scratch[:0]); !ok {
				continue
			}
			kb = valuesKey(kb[:0], r.Name, scratch)
			g := byValues[string(kb)] // no allocation for the look-up
			if g == nil {
				vals := slices.Clone(scratch)
				id := groupID(r.Name, vals)
				g = &pendingGroup{rule: r, id: id, values: vals, buckets: map[time.Time]*CorrelationBucket{}}
				byValues[string(kb)] = g
				groups[r.Name+"\x00"+id] = g
			}
			t := ev.Time.UTC().Truncate(time.Microsecond)
			start := r.bucketStart(t)
			n := r.amount(ev)
			if b := g.buckets[start]; b != nil {
				b.Count = min(b.Count+n, math.MaxInt64/2)
				if t.Before(b.First) {
					b.First = t
				}
				if t.After(b.Last) {
					b.Last = t
				}
			} else {
				g.buckets[start] = &CorrelationBucket{Start: start, Count: n, First: t, Last: t}
			}
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	updates := make([]CorrelationUpdate, 0, len(groups))
	for _, g := range groups {
		u := CorrelationUpdate{Rule: g.rule.Name, Group: g.id, Values: g.valuesJSON(), Horizon: g.rule.horizon}
		for _, b := range g.buckets {
			u.Buckets = append(u.Buckets, *b)
		}
		slices.SortFunc(u.Buckets, func(a, b CorrelationBucket) int { return a.Start.Compare(b.Start) })
		updates = append(updates, u)
	}
	// fire may be called again for a group if the store retries; the
	// latest call's firings count.
	fired := map[string][]firing{}
	err := c.store.UpdateCorrelation(ctx, updates, func(st CorrelationState) time.Time {
		key := st.Rule + "\x00" + st.Group
		g := groups[key]
		if g == nil {
			return time.Time{}
		}
		fs := g.rule.evaluate(st, g)
		fired[key] = fs
		if len(fs) == 0 {
			return time.Time{}
		}
		return fs[len(fs)-1].at
	})
	if err != nil {
		return nil, fmt.Errorf("correlate %d events: %w", len(evs), err)
	}
	var all []firing
	for _, fs := range fired {
		all = append(all, fs...)
	}
	slices.SortFunc(all, func(a, b firing) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.rule.Name+a.group.id, b.rule.Name+b.group.id)
	})
	out := make([]event.Event, 0, len(all))
	for _, f := range all {
		out = append(out, f.event())
		c.logger.Info("correlation rule fired", "rule", f.rule.Name, "group", f.group.id, "count", f.count, "window", f.rule.window)
	}
	return out, nil
}

// valuesKey appends to b the key of a rule's group values within a batch
// (each length-prefixed, so that no two lists share a key).
func valuesKey(b []byte, rule string, vals []string) []byte {
	b = strconv.AppendInt(b, int64(len(rule)), 10)
	b = append(append(b, ':'), rule...)
	for _, v := range vals {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(append(b, ':'), v...)
	}
	return b
}

// groupID is the digest of a rule's group values.
func groupID(rule string, vals []string) string {
	parts := make([]string, 0, len(vals)+2)
	parts = append(parts, "correlation.group", rule)
	parts = append(parts, vals...)
	return event.Fingerprint(parts...)
}

// valuesJSON describes the group's values as a JSON object.
func (g *pendingGroup) valuesJSON() string {
	m := make(map[string]string, len(g.values))
	for i, f := range g.rule.fields {
		m[f.out] = g.values[i]
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// evaluate slides the rule's window over a group's buckets and returns the
// firings, oldest first. Windows end at the newest event of each bucket
// from the oldest bucket the batch added to; a window ending less than
// Window after the group's last firing stays silent.
func (r *corrRule) evaluate(st CorrelationState, g *pendingGroup) []firing {
	var from time.Time
	for start := range g.buckets {
		if from.IsZero() || start.Before(from) {
			from = start
		}
	}
	bs := st.Buckets
	lastFired := st.LastFired
	var (
		out []firing
		lo  int
		sum int64
	)
	for i, b := range bs {
		sum += b.Count
		end := b.Last
		// Drop the buckets that end at or before the window's start.
		for lo < i && !bs[lo].Start.Add(r.width).After(end.Add(-r.Window)) {
			sum -= bs[lo].Count
			lo++
		}
		if b.Start.Before(from) {
			continue
		}
		if !lastFired.IsZero() && end.Before(lastFired.Add(r.Window)) {
			continue
		}
		if sum < r.Threshold {
			continue
		}
		first := b.First
		for _, w := range bs[lo:i] {
			if w.First.Before(first) {
				first = w.First
			}
		}
		out = append(out, firing{rule: r, group: g, at: end, count: sum, first: first, last: end})
		lastFired = end
	}
	return out
}

// event builds the derived event of a firing.
func (f *firing) event() event.Event {
	r := f.rule
	attrs := make(map[string]string, len(r.Emit.Attributes)+len(r.fields)+len(CorrelationBuiltinAttributes))
	for k, v := range r.Emit.Attributes {
		attrs[k] = v
	}
	for i, gf := range r.fields {
		attrs[gf.out] = f.group.values[i]
	}
	attrs[AttrCorrelationRule] = r.Name
	attrs[AttrCorrelationCount] = strconv.FormatInt(f.count, 10)
	attrs[AttrCorrelationThreshold] = strconv.FormatInt(r.Threshold, 10)
	attrs[AttrCorrelationWindow] = r.window
	attrs[AttrCorrelationFirstTime] = f.first.UTC().Format(time.RFC3339Nano)
	attrs[AttrCorrelationLastTime] = f.last.UTC().Format(time.RFC3339Nano)
	var title strings.Builder
	for _, p := range r.title {
		if p.placeholder {
			title.WriteString(attrs[p.text])
		} else {
			title.WriteString(p.text)
		}
	}
	return event.Event{
		ID:            event.Fingerprint("correlation.firing", r.Name, f.group.id, strconv.FormatInt(f.at.UnixMicro(), 10)),
		Time:          f.at,
		Source:        CorrelatorSource,
		Kind:          r.Emit.Kind,
		Fingerprint:   event.Fingerprint("correlation.fingerprint", r.Name, f.group.id),
		Title:         truncateRunes(title.String(), MaxCorrelationTitleLen),
		Attributes:    attrs,
		CorrelationID: r.Name + "/" + f.group.id,
	}
}

// truncateRunes shortens s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
