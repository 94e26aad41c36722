package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Silences and maintenance windows: while one matches an incident, the
// engine sends no notification about it (it records, once per silence, that
// it suppressed some) and remediation runs no automation; events are still
// stored and incidents still opened, extended and resolved. Silences come
// from the configuration (named maintenance windows) and from the store
// (created at run time through the API or the CLI).

// Timeline entry kinds about silences.
const (
	// KindNotifySuppressed records that notifications about the incident
	// were suppressed by silences; written once per incident and silence.
	KindNotifySuppressed = "notify.suppressed"
	// KindNotifyResumed records that the silences which suppressed
	// notifications about an unresolved incident ended; the people
	// notified of it learn of the incident then.
	KindNotifyResumed = "notify.resumed"
)

// ActorSilence writes the entries about silences.
const ActorSilence = "secopsd/silence"

// Limits of silences.
const (
	// MaxSilenceDuration is the longest a silence created at run time may
	// last.
	MaxSilenceDuration = 30 * 24 * time.Hour
	// MaxSilenceComment bounds a silence's comment.
	MaxSilenceComment = 1024
	// MaxSilenceMatchers bounds the monitors and the categories of a
	// silence.
	MaxSilenceMatchers = 64
	// DefaultSilenceCacheTTL is how long the silences read from the store
	// are used before they are read again.
	DefaultSilenceCacheTTL = 5 * time.Second
)

// SilenceAll, as a monitor or category of a silence, matches every one.
const SilenceAll = "*"

// Errors about silences.
var (
	// ErrSilenceNotFound is returned for an unknown silence id.
	ErrSilenceNotFound = errors.New("silence not found")
	// ErrSilenceEnded is returned when expiring a silence that has ended.
	ErrSilenceEnded = errors.New("silence has already ended")
	// ErrInvalidSilence is wrapped by the errors of Silence.Validate.
	ErrInvalidSilence = errors.New("invalid silence")
)

// Silence suppresses notifications and automation for the incidents it
// matches while it is in force: from StartsAt (inclusive) to EndsAt
// (exclusive). It matches an incident whose monitor is one of Monitors and
// whose category is one of Categories; an empty list (or one holding "*")
// matches any, but not both lists may be empty.
type Silence struct {
	// ID identifies a silence kept in the store; 0 for one from the
	// configuration.
	ID int64 `json:"id,omitempty"`
	// Name identifies a silence from the configuration.
	Name string `json:"name,omitempty"`
	// Monitors are the monitor names matched.
	Monitors []string `json:"monitors"`
	// Categories are the incident categories matched.
	Categories []string `json:"categories"`
	// StartsAt and EndsAt bound the time the silence is in force.
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	// Comment says why.
	Comment string `json:"comment,omitempty"`
	// CreatedBy is who created a silence at run time; CreatedAt when.
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// ExpiredAt and ExpiredBy say who ended the silence early.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`
	ExpiredBy string     `json:"expired_by,omitempty"`
}

// Ref names the silence in timeline entries: its configured name, or
// "silence:ID" for one kept in the store.
func (s Silence) Ref() string {
	if s.ID > 0 {
		return "silence:" + strconv.FormatInt(s.ID, 10)
	}
	return s.Name
}

// State returns "pending", "active" or "ended" at t.
func (s Silence) State(t time.Time) string {
	switch {
	case t.Before(s.StartsAt):
		return "pending"
	case t.Before(s.EndsAt):
		return "active"
	default:
		return "ended"
	}
}

// Matches reports whether the silence is in force at t and matches inc.
func (s Silence) Matches(inc Incident, t time.Time) bool {
	return !t.Before(s.StartsAt) && t.Before(s.EndsAt) &&
		matchesAny(s.Monitors, inc.Monitor) && matchesAny(s.Categories, inc.Category)
}

func matchesAny(list []string, v string) bool {
	return len(list) == 0 || slices.Contains(list, SilenceAll) || slices.Contains(list, v)
}

// Validate checks the silence's matchers, times and comment; errors wrap
// ErrInvalidSilence and name the field.
func (s Silence) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidSilence))
	}
	if len(s.Monitors) == 0 && len(s.Categories) == 0 {
		bad("monitors", `a silence needs at least one monitor or category (use "*" to match every one)`)
	}
	for field, list := range map[string][]string{"monitors": s.Monitors, "categories": s.Categories} {
		if len(list) > MaxSilenceMatchers {
			bad(field, "at most %d, got %d", MaxSilenceMatchers, len(list))
			continue
		}
		for i, v := range list {
			if msg := checkMatcher(v); msg != "" {
				bad(fmt.Sprintf("%s[%d]", field, i), "%s", msg)
			}
		}
	}
	switch {
	case s.StartsAt.IsZero():
		bad("starts_at", "required")
	case s.EndsAt.IsZero():
		bad("ends_at", "required")
	case !s.EndsAt.After(s.StartsAt):
		bad("ends_at", "%s is not after starts_at %s", s.EndsAt.UTC().Format(time.RFC3339), s.StartsAt.UTC().Format(time.RFC3339))
	}
	if len(s.Comment) > MaxSilenceComment {
		bad("comment", "longer than %d bytes", MaxSilenceComment)
	} else if !utf8.ValidString(s.Comment) || strings.ContainsFunc(s.Comment, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		bad("comment", "must be UTF-8 text without control characters")
	}
	return errors.Join(errs...)
}

// checkMatcher returns why v cannot be a monitor or category to match, or "".
func checkMatcher(v string) string {
	switch {
	case v == "":
		return "empty"
	case len(v) > 128:
		return "longer than 128 bytes"
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Sprintf("%q holds spaces or control characters", v)
	}
	return ""
}

// SilenceFilter selects stored silences. Zero fields do not filter.
type SilenceFilter struct {
	// EndsAfter keeps the silences that end after this time (in force or
	// pending at that time).
	EndsAfter time.Time
	// Limit bounds how many are returned (0: the store's default).
	Limit int
}

// SilenceStore keeps the silences created at run time.
type SilenceStore interface {
	// CreateSilence stores a silence (its ID is assigned) and returns it.
	CreateSilence(ctx context.Context, s Silence) (Silence, error)
	// GetSilence returns one silence or ErrSilenceNotFound.
	GetSilence(ctx context.Context, id int64) (Silence, error)
	// ListSilences returns the silences that match f, newest first.
	ListSilences(ctx context.Context, f SilenceFilter) ([]Silence, error)
	// ExpireSilence ends a silence at at (a pending one never starts),
	// recording who; ErrSilenceEnded if it had ended, ErrSilenceNotFound
	// if there is none.
	ExpireSilence(ctx context.Context, id int64, actor string, at time.Time) (Silence, error)
}

// Silencer tells which silences are in force for an incident; *Silences
// implements it.
type Silencer interface {
	// Active returns the references (Silence.Ref) of the silences in
	// force for inc at t, sorted; none means not silenced.
	Active(inc Incident, t time.Time) []string
}

// SilencesOptions configures Silences.
type SilencesOptions struct {
	// Static are the maintenance windows of the configuration; each needs
	// a unique Name.
	Static []Silence
	// Store keeps the silences created at run time; nil allows none.
	Store SilenceStore
	// CacheTTL is how long stored silences are used before being read
	// again (default DefaultSilenceCacheTTL): a silence created by
	// another process takes effect within it.
	CacheTTL time.Duration
	// Now tells the time (default time.Now).
	Now func() time.Time
	// Logger receives store errors; nil discards them.
	Logger *slog.Logger
}

// Silences merges the configured maintenance windows with the silences in
// the store, which it caches for a few seconds. It is safe for concurrent
// use.
type Silences struct {
	static []Silence
	store  SilenceStore
	ttl    time.Duration
	now    func() time.Time
	logger *slog.Logger

	mu        sync.Mutex
	cached    []Silence
	fetchedAt time.Time
	fresh     bool
}

var _ Silencer = (*Silences)(nil)

// NewSilences checks the static silences and returns a Silences.
func NewSilences(opts SilencesOptions) (*Silences, error) {
	var errs []error
	seen := map[string]bool{}
	for i, s := range opts.Static {
		if s.ID != 0 || s.Name == "" {
			errs = append(errs, fmt.Errorf("silence %d: a configured silence needs a name and no id: %w", i, ErrInvalidSilence))
		} else if seen[s.Name] {
			errs = append(errs, fmt.Errorf("silence %q: duplicate name: %w", s.Name, ErrInvalidSilence))
		}
		seen[s.Name] = true
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("silence %q: %w", s.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Silences{static: slices.Clone(opts.Static), store: opts.Store, ttl: opts.CacheTTL, now: opts.Now, logger: opts.Logger}
	if s.ttl <= 0 {
		s.ttl = DefaultSilenceCacheTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// storeTimeout bounds a read of the stored silences from Active, which
// has no context of its own.
const storeTimeout = 5 * time.Second

// Active returns the references of the silences in force for inc at t,
// sorted. If the store cannot be read it uses the silences read last (and
// logs): a store outage never silences anything new.
func (s *Silences) Active(inc Incident, t time.Time) []string {
	var out []string
	for _, sil := range s.static {
		if sil.Matches(inc, t) {
			out = append(out, sil.Ref())
		}
	}
	for _, sil := range s.stored() {
		if sil.Matches(inc, t) {
			out = append(out, sil.Ref())
		}
	}
	sort.Strings(out)
	return out
}

// stored returns the cached store silences, reading them again when the
// cache is older than the TTL.
func (s *Silences) stored() []Silence {
	if s.store == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.fresh && now.Sub(s.fetchedAt) < s.ttl && !now.Before(s.fetchedAt) {
		return s.cached
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	// Silences that end before the cache's own expiry are kept too: the
	// check compares each with the time asked about.
	list, err := s.store.ListSilences(ctx, SilenceFilter{EndsAfter: now.Add(-s.ttl), Limit: 1000})
	if err != nil {
		s.logger.Warn("cannot read silences; using the ones read last", "err", err)
		return s.cached
	}
	s.cached, s.fetchedAt, s.fresh = list, now, true
	return s.cached
}

// Now returns the time silences are checked against.
func (s *Silences) Now() time.Time { return s.now() }

// invalidate makes the next Active read the store.
func (s *Silences) invalidate() {
	s.mu.Lock()
	s.fresh = false
	s.mu.Unlock()
}

// List returns the configured silences followed by the stored ones,
// newest first; without all only those not ended yet.
func (s *Silences) List(ctx context.Context, all bool) ([]Silence, error) {
	now := s.now()
	out := []Silence{}
	for _, sil := range s.static {
		if all || now.Before(sil.EndsAt) {
			out = append(out, sil)
		}
	}
	if s.store == nil {
		return out, nil
	}
	f := SilenceFilter{Limit: 1000}
	if !all {
		f.EndsAfter = now
	}
	stored, err := s.store.ListSilences(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	return append(out, stored...), nil
}

// Create stores a silence created at run time by sil.CreatedBy. StartsAt
// defaults to now; the silence must end in the future, last at most
// MaxSilenceDuration and have a comment. The daemon that created it uses
// it at once, others within their cache TTL.
func (s *Silences) Create(ctx context.Context, sil Silence) (Silence, error) {
	if s.store == nil {
		return Silence{}, errors.New("create silence: no silence store")
	}
	now := s.now()
	sil.ID, sil.Name, sil.ExpiredAt, sil.ExpiredBy = 0, "", nil, ""
	sil.CreatedAt = NormalizeTime(now)
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	sil.StartsAt, sil.EndsAt = NormalizeTime(sil.StartsAt), NormalizeTime(sil.EndsAt)
	sil.Comment = strings.TrimSpace(sil.Comment)
	actor, err := checkActor(sil.CreatedBy)
	if err != nil {
		return Silence{}, fmt.Errorf("created_by: %w", err)
	}
	sil.CreatedBy = actor
	var errs []error
	if err := sil.Validate(); err != nil {
		errs = append(errs, err)
	}
	if sil.Comment == "" {
		errs = append(errs, fmt.Errorf("comment: say why notifications are silenced: %w", ErrInvalidSilence))
	}
	if !sil.EndsAt.IsZero() && !sil.EndsAt.After(now) {
		errs = append(errs, fmt.Errorf("ends_at: %s is not in the future: %w", sil.EndsAt.Format(time.RFC3339), ErrInvalidSilence))
	}
	if d := sil.EndsAt.Sub(sil.StartsAt); d > MaxSilenceDuration {
		errs = append(errs, fmt.Errorf("ends_at: the silence would last %s, more than the %s allowed: %w", d, MaxSilenceDuration, ErrInvalidSilence))
	}
	if err := errors.Join(errs...); err != nil {
		return Silence{}, err
	}
	created, err := s.store.CreateSilence(ctx, sil)
	if err != nil {
		return Silence{}, fmt.Errorf("create silence: %w", err)
	}
	s.invalidate()
	s.logger.Info("silence created", "silence", created.Ref(), "by", created.CreatedBy,
		"monitors", created.Monitors, "categories", created.Categories, "ends_at", created.EndsAt)
	return created, nil
}

// Expire ends a stored silence now, recording actor.
func (s *Silences) Expire(ctx context.Context, id int64, actor string) (Silence, error) {
	if s.store == nil {
		return Silence{}, fmt.Errorf("expire silence %d: %w", id, ErrSilenceNotFound)
	}
	actor, err := checkActor(actor)
	if err != nil {
		return Silence{}, err
	}
	sil, err := s.store.ExpireSilence(ctx, id, actor, s.now())
	if err != nil {
		return Silence{}, fmt.Errorf("expire silence %d: %w", id, err)
	}
	s.invalidate()
	s.logger.Info("silence expired", "silence", sil.Ref(), "by", actor)
	return sil, nil
}

// Silenced returns the references of the silences and maintenance windows
// in force for inc at t (none without Options.Silences). Remediation skips
// automation while there are any.
func (e *Engine) Silenced(inc Incident, t time.Time) []string {
	if e.wf.silences == nil {
		return nil
	}
	return e.wf.silences.Active(inc, t)
}

// silencingNotifier is the engine's notifier when silences are configured:
// a notification about a silenced incident is not delivered, and the
// first one per incident and silence is recorded in the timeline.
type silencingNotifier struct {
	e    *Engine
	next Notifier
}

// Notify delivers n unless its incident is silenced.
func (s silencingNotifier) Notify(ctx context.Context, n Notification) (bool, error) {
	names := s.e.Silenced(n.Incident, s.e.clock.Now())
	if len(names) == 0 {
		return s.next.Notify(ctx, n)
	}
	s.e.recordSuppressed(ctx, n, names)
	return false, nil
}

// recordSuppressed appends a notify.suppressed entry naming the silences
// that had not suppressed a notification about the incident before.
func (e *Engine) recordSuppressed(ctx context.Context, n Notification, names []string) {
	id := n.Incident.ID
	if m, err := e.loadMarks(ctx, id); err == nil && allMarked(m.suppressed, names) {
		return
	}
	now := e.clock.Now()
	_, _, err := e.appendMarked(ctx, id, func(m *marks, _ Incident) []Entry {
		var fresh []string
		for _, name := range names {
			if !m.suppressed[name] {
				fresh = append(fresh, name)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		return []Entry{{Time: now, Actor: ActorSilence, Kind: KindNotifySuppressed, Payload: map[string]any{
			"silences":   fresh,
			"active":     names,
			"suppressed": n.Entry.Kind,
			"entry_seq":  n.Entry.Seq,
			"reason":     "notifications about this incident are suppressed while a silence or maintenance window is in force; events are still recorded",
		}}}
	})
	if err != nil {
		e.logger.Warn("cannot record a suppressed notification", "incident", id, "err", err)
		return
	}
	e.logger.Debug("notification suppressed", "incident", id, "kind", n.Entry.Kind, "silences", names)
}

func allMarked(set map[string]bool, names []string) bool {
	for _, n := range names {
		if !set[n] {
			return false
		}
	}
	return true
}

// ResumeNotifications finds the unresolved incidents whose notifications
// were suppressed by silences that are no longer in force (and no other
// is), records notify.resumed and notifies about each, so that an incident
// that outlives a maintenance window reaches people. It returns how many
// it resumed. The app calls it every minute, with CheckSLAs.
func (e *Engine) ResumeNotifications(ctx context.Context, now time.Time) (int, error) {
	if e.wf.silences == nil {
		return 0, nil
	}
	incs, err := e.unresolved(ctx)
	if err != nil {
		return 0, err
	}
	resumed := 0
	var errs []error
	for _, inc := range incs {
		m, err := e.loadMarks(ctx, inc.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(m.pending) == 0 || len(e.Silenced(inc, now)) > 0 {
			continue
		}
		updated, appended, err := e.appendMarked(ctx, inc.ID, func(m *marks, cur Incident) []Entry {
			if len(m.pending) == 0 || cur.Status == StatusResolved {
				return nil
			}
			return []Entry{{Time: now, Actor: ActorSilence, Kind: KindNotifyResumed, Payload: map[string]any{
				"silences": sortedKeys(m.pending),
				"status":   string(cur.Status),
				"reason":   "the silences that suppressed notifications ended while the incident is unresolved",
			}}}
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("resume notifications of incident %d: %w", inc.ID, err))
			continue
		}
		for _, en := range appended {
			resumed++
			e.notify(ctx, updated, en)
		}
	}
	return resumed, errors.Join(errs...)
}

// unresolved returns every unresolved incident, in pages.
func (e *Engine) unresolved(ctx context.Context) ([]Incident, error) {
	var out []Incident
	for _, st := range []Status{StatusOpen, StatusAcknowledged} {
		var before int64
		for {
			page, err := e.store.ListIncidents(ctx, Filter{Status: st, Limit: 1000, BeforeID: before})
			if err != nil {
				return nil, fmt.Errorf("list %s incidents: %w", st, err)
			}
			if len(page) == 0 {
				break
			}
			out = append(out, page...)
			before = page[len(page)-1].ID
		}
	}
	return out, nil
}
