package siem

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/secretscan"
)

// ContentWords are the words that make an attribute key content-like: an
// event keeps metadata only, never what a user or a system said, nor a
// credential or a personal contact. A key is dropped when, compared
// case-insensitively, one of its parts (split at '_', '.', '-' and
// lower-to-upper case changes) is one of these words, or when it begins or
// ends with one of them that is at least five letters long ("passwordHash",
// "xsessionid"); SensitiveWords are dropped wherever they appear in the key.
// A key whose last part is a MetadataQualifier ("response_status",
// "body_size", "prompt_tokens") describes content without holding it and is
// kept, unless it contains a SensitiveWord.
var ContentWords = []string{
	"prompt", "completion", "response", "body", "payload", "message", "msg", "text", "content",
	"comment", "note", "query", "input", "output",
	"password", "passwd", "passphrase", "pwd", "pass", "secret", "token", "cookie", "cookies",
	"authorization", "auth", "session", "sid", "credential", "credentials", "creds", "bearer",
	"apikey", "signature", "otp", "pin", "ssn",
	"email", "mail", "phone",
}

// SensitiveWords are dropped wherever they appear in a key, even inside
// another word, and even with a metadata qualifier.
var SensitiveWords = []string{
	"password", "passwd", "passphrase", "secret", "cookie", "authorization", "credential", "bearer",
	"apikey", "privatekey",
}

// MetadataQualifiers, as the last part of a key, mark an attribute that
// describes content rather than holding it.
var MetadataQualifiers = []string{
	"count", "size", "bytes", "len", "length", "tokens", "type", "kind", "status", "code",
	"ms", "duration", "time", "method", "result", "outcome", "format", "encoding", "lang",
}

// Attributes that Minimize adds to an event when it removed anything: how
// many attributes it dropped and how many values it redacted.
const (
	AttrMinimizedDropped  = "minimized_dropped"
	AttrMinimizedRedacted = "minimized_redacted"
	// AttrSeverityHint holds the severity a client suggested; the
	// classification policy decides.
	AttrSeverityHint = "severity_hint"
)

// reservedPrefix marks attribute keys that only secopsd sets.
const reservedPrefix = "minimized_"

// MinimizerOptions configures a Minimizer.
type MinimizerOptions struct {
	// Allow, when not empty, lists the only attribute keys kept (compared
	// case-insensitively), in addition to those secopsd sets itself.
	Allow []string
	// Deny are extra content-like words, matched like ContentWords.
	Deny []string
	// Scanner finds the secrets to redact; nil uses secretscan's default
	// rules, shared with the secrets monitor.
	Scanner *secretscan.Scanner
}

// Minimizer applies data minimization to events before anything stores,
// logs, classifies or forwards them: it drops content-like and
// non-allowlisted attributes and redacts secret-looking values. It is safe
// for concurrent use.
type Minimizer struct {
	allow     map[string]bool // nil: every key not denied
	words     map[string]bool
	prefixes  []string // words of 5+ letters, matched at the start or end
	sensitive []string
	qualifier map[string]bool
	scanner   *secretscan.Scanner
	// perField skips the one-scan prefilter (for tests that compare).
	perField bool
}

// NewMinimizer returns a minimizer for opts.
func NewMinimizer(opts MinimizerOptions) (*Minimizer, error) {
	m := &Minimizer{
		words:     map[string]bool{},
		sensitive: SensitiveWords,
		qualifier: map[string]bool{},
		scanner:   opts.Scanner,
	}
	if m.scanner == nil {
		m.scanner = secretscan.NewScanner(secretscan.DefaultRules())
	}
	words := append(append([]string{}, ContentWords...), opts.Deny...)
	for _, w := range words {
		w = strings.ToLower(w)
		if !validAttributeKey(w) {
			return nil, fmt.Errorf("minimizer: invalid deny word %q", w)
		}
		m.words[w] = true
		// A denied key written in full ("internal_note") also matches as
		// one word once separators are removed.
		m.words[strings.NewReplacer("_", "", ".", "", "-", "").Replace(w)] = true
		if len(w) >= 5 {
			m.prefixes = append(m.prefixes, w)
		}
	}
	for _, q := range MetadataQualifiers {
		m.qualifier[q] = true
	}
	if len(opts.Allow) > 0 {
		m.allow = make(map[string]bool, len(opts.Allow))
		for _, k := range opts.Allow {
			m.allow[strings.ToLower(k)] = true
		}
	}
	return m, nil
}

// Redact returns s with every secret replaced by [REDACTED:<rule>] and
// whether it replaced any.
func (m *Minimizer) Redact(s string) (string, bool) {
	if s == "" {
		return s, false
	}
	return m.scanner.Redact(s)
}

// RedactString is Redact without the flag, for error messages.
func (m *Minimizer) RedactString(s string) string {
	r, _ := m.Redact(s)
	return r
}

// ContentLike reports whether an attribute key names content rather than
// metadata (see ContentWords).
func (m *Minimizer) ContentLike(key string) bool {
	lower := strings.ToLower(key)
	for _, w := range m.sensitive {
		if strings.Contains(lower, w) {
			return true
		}
	}
	parts := splitKey(key)
	if len(parts) == 0 {
		return false
	}
	if m.qualifier[parts[len(parts)-1]] && len(parts) > 1 {
		return false
	}
	for _, p := range parts {
		if m.words[p] {
			return true
		}
	}
	joined := strings.Join(parts, "")
	if m.words[joined] {
		return true
	}
	for _, w := range m.prefixes {
		if strings.HasPrefix(joined, w) || strings.HasSuffix(joined, w) {
			return true
		}
	}
	return false
}

// splitKey splits a key into lower-case parts at '_', '.', '-' and where a
// lower-case letter or digit is followed by an upper-case one.
func splitKey(key string) []string {
	var parts []string
	start := 0
	flush := func(end int) {
		if end > start {
			parts = append(parts, strings.ToLower(key[start:end]))
		}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_' || c == '.' || c == '-':
			flush(i)
			start = i + 1
		case i > start && unicode.IsUpper(rune(c)) && !unicode.IsUpper(rune(key[i-1])):
			flush(i)
			start = i
		}
	}
	flush(len(key))
	return parts
}

// Minimize applies data minimization to ev in place: it redacts secrets
// in the source, kind, title, fingerprint and id, drops content-like,
// reserved and (with an allowlist) non-allowlisted attributes, redacts
// secrets in the remaining attribute values (an attribute whose key looks
// like a secret is dropped) and records what it removed in the
// minimized_dropped and minimized_redacted attributes. The attributes
// minimized_* and severity_hint are reserved to secopsd and dropped.
func (m *Minimizer) Minimize(ev *event.Event) (dropped, redacted int) {
	// The allowlist selects what applications may keep; secopsd's own
	// events (rate-limit hits, failed authentications, purges, derived
	// events) carry metadata secopsd chose, and keep it.
	allow := m.allow
	if OwnSource(ev.Source) {
		allow = nil
	}
	for k := range ev.Attributes {
		if strings.HasPrefix(strings.ToLower(k), reservedPrefix) ||
			strings.EqualFold(k, AttrSeverityHint) || // only secopsd sets it, from a validated severity
			(allow != nil && !allow[strings.ToLower(k)]) ||
			m.ContentLike(k) {
			delete(ev.Attributes, k)
			dropped++
		}
	}
	scalars := [...]*string{&ev.Source, &ev.Kind, &ev.Title, &ev.Fingerprint, &ev.ID, &ev.Monitor, &ev.Category, &ev.CorrelationID}
	if m.mayHoldSecret(scalars[:], ev.Attributes) {
		for _, s := range scalars {
			if r, ok := m.Redact(*s); ok {
				*s = r
				redacted++
			}
		}
		for k, v := range ev.Attributes {
			if _, ok := m.Redact(k); ok {
				delete(ev.Attributes, k)
				redacted++
				continue
			}
			if r, ok := m.Redact(v); ok {
				ev.Attributes[k] = r
				redacted++
			}
		}
	}
	if dropped > 0 || redacted > 0 {
		if ev.Attributes == nil {
			ev.Attributes = make(map[string]string, 2)
		}
		if dropped > 0 {
			ev.Attributes[AttrMinimizedDropped] = strconv.Itoa(dropped)
		}
		if redacted > 0 {
			ev.Attributes[AttrMinimizedRedacted] = strconv.Itoa(redacted)
		}
	}
	return dropped, redacted
}

// mayHoldSecret scans every string of an event at once, separated by line
// breaks, and reports whether the scanner finds anything. Only then are
// the strings redacted one by one: scanning one text is much cheaper than
// scanning many short ones, and an event without a secret is the common
// case. A secret the scanner finds in a string alone it also finds with
// the string between line breaks (no rule's secret spans a line break
// except a private key block, which then still matches); a match that
// only exists across strings merely costs the slow path.
func (m *Minimizer) mayHoldSecret(scalars []*string, attrs map[string]string) bool {
	if m.perField {
		return true
	}
	n := 0
	for _, s := range scalars {
		n += len(*s) + 1
	}
	for k, v := range attrs {
		n += len(k) + len(v) + 2
	}
	buf := make([]byte, 0, n)
	for _, s := range scalars {
		buf = append(append(buf, *s...), '\n')
	}
	for k, v := range attrs {
		buf = append(append(append(append(buf, k...), '\n'), v...), '\n')
	}
	return len(m.scanner.Scan(buf)) > 0
}

// OwnSource reports whether source is one of secopsd's own ("secopsd" or
// "secopsd/…", such as the correlator's). Ingestion refuses these sources
// from clients, so only events secopsd produces itself carry them.
func OwnSource(source string) bool {
	return source == "secopsd" || strings.HasPrefix(source, "secopsd/")
}
