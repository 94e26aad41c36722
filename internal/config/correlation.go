package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// CorrelationConfig configures the SIEM's correlation rules
// (siem.correlation): sliding windows over the stored events that derive
// one event when a group's count reaches a threshold. See
// internal/siem/correlate.go for the semantics.
type CorrelationConfig struct {
	// Rules are the correlation rules. Left out (or null), the rules of
	// DefaultCorrelationRules apply; an empty list disables correlation.
	Rules []CorrelationRule `yaml:"rules"`
}

// CorrelationRule is one correlation rule.
type CorrelationRule struct {
	// Name identifies the rule (and its stored state).
	Name string `yaml:"name"`
	// Match selects the events the rule counts.
	Match CorrelationMatch `yaml:"match"`
	// GroupBy are the fields whose values make a group, each counted on
	// its own: source, monitor, kind or attributes.<key>. An event without
	// a value for one of them is not counted; none counts all matching
	// events together.
	GroupBy []string `yaml:"group_by"`
	// Window is the length of the sliding window, in event time.
	Window Duration `yaml:"window"`
	// Threshold is the count within the window that fires the rule.
	Threshold int `yaml:"threshold"`
	// CountAttribute, if set, names an integer attribute that an event
	// adds to the count instead of 1; a missing, non-integer or
	// non-positive value adds 1.
	CountAttribute string `yaml:"count_attribute"`
	// Emit describes the event the rule derives.
	Emit CorrelationEmit `yaml:"emit"`
}

// CorrelationMatch selects the events a rule counts.
type CorrelationMatch struct {
	// Kinds are the event kinds counted (at least one).
	Kinds []string `yaml:"kinds"`
	// Source, if set, is the only source counted.
	Source string `yaml:"source"`
	// Attributes, if set, are attribute values a counted event must have.
	Attributes map[string]string `yaml:"attributes"`
}

// CorrelationEmit describes the event a rule derives.
type CorrelationEmit struct {
	// Kind is the derived event's kind; it starts with "correlation.".
	Kind string `yaml:"kind"`
	// Title is the derived event's title, with {name} placeholders for
	// the derived event's attributes: rule, count, threshold, window,
	// first_time, last_time and the group values ({ip} for
	// attributes.ip). Empty names the rule, count, window and group.
	Title string `yaml:"title"`
	// Attributes are extra attributes of the derived event.
	Attributes map[string]string `yaml:"attributes"`
}

// Limits of the correlation rules, equal to those of internal/siem (a
// test in internal/app keeps them equal).
const (
	// MaxCorrelationRules bounds the number of rules.
	MaxCorrelationRules = 256
	// MinCorrelationWindow and MaxCorrelationWindow bound a rule's window.
	MinCorrelationWindow = time.Second
	MaxCorrelationWindow = 7 * 24 * time.Hour
	// MaxCorrelationThreshold bounds a rule's threshold.
	MaxCorrelationThreshold = 1_000_000_000
	// MaxCorrelationGroupBy bounds a rule's group fields.
	MaxCorrelationGroupBy = 8
	// MaxCorrelationAttributes bounds match.attributes and
	// emit.attributes.
	MaxCorrelationAttributes = 32
	// MaxCorrelationValueLen bounds an attribute value in a rule, in
	// bytes (the limit of an ingested attribute value).
	MaxCorrelationValueLen = 1024
	// MaxCorrelationTitleLen bounds emit.title, in characters.
	MaxCorrelationTitleLen = 256
	// CorrelationKindPrefix leads every derived kind.
	CorrelationKindPrefix = "correlation."
)

// CorrelationBuiltinAttributes are the attributes every derived event
// carries (and title placeholders); group values and extra attributes may
// not reuse them.
var CorrelationBuiltinAttributes = []string{"rule", "count", "threshold", "window", "first_time", "last_time"}

// correlationName is the form of rule names, kinds and sources: that of
// ingested kinds and sources.
var correlationName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// DefaultCorrelationRules returns the rules that apply when
// siem.correlation.rules is left out:
//
//   - credential_stuffing: 20 auth.failure (summing their count attribute,
//     as secopsd's own API aggregates them) from one attributes.ip within
//     5 minutes → correlation.credential_stuffing;
//   - ratelimit_abuse: 100 ratelimit.hit (summing count) from one
//     attributes.ip within 10 minutes → correlation.ratelimit_abuse;
//   - admin_access_probing: 10 admin.access_denied (summing count) from one
//     attributes.ip within 10 minutes → correlation.admin_access_probing.
func DefaultCorrelationRules() []CorrelationRule {
	return []CorrelationRule{
		{
			Name:           "credential_stuffing",
			Match:          CorrelationMatch{Kinds: []string{"auth.failure"}},
			GroupBy:        []string{"attributes.ip"},
			Window:         Duration(5 * time.Minute),
			Threshold:      20,
			CountAttribute: "count",
			Emit: CorrelationEmit{
				Kind:  "correlation.credential_stuffing",
				Title: "credential stuffing: {count} authentication failures from {ip} within {window}",
			},
		},
		{
			Name:           "ratelimit_abuse",
			Match:          CorrelationMatch{Kinds: []string{"ratelimit.hit"}},
			GroupBy:        []string{"attributes.ip"},
			Window:         Duration(10 * time.Minute),
			Threshold:      100,
			CountAttribute: "count",
			Emit: CorrelationEmit{
				Kind:  "correlation.ratelimit_abuse",
				Title: "rate-limit abuse: {count} rate-limited requests from {ip} within {window}",
			},
		},
		{
			Name:           "admin_access_probing",
			Match:          CorrelationMatch{Kinds: []string{"admin.access_denied"}},
			GroupBy:        []string{"attributes.ip"},
			Window:         Duration(10 * time.Minute),
			Threshold:      10,
			CountAttribute: "count",
			Emit: CorrelationEmit{
				Kind:  "correlation.admin_access_probing",
				Title: "admin access probing: {count} denied administrative requests from {ip} within {window}",
			},
		},
	}
}

// EffectiveRules returns the rules in force: Rules, or the defaults when
// Rules was left out.
func (c CorrelationConfig) EffectiveRules() []CorrelationRule {
	if c.Rules == nil {
		return DefaultCorrelationRules()
	}
	return c.Rules
}

// CorrelationGroupAttribute returns the attribute a group_by field sets on
// a derived event (ip for attributes.ip, source for source), and whether
// the field is valid.
func CorrelationGroupAttribute(field string) (string, bool) {
	switch field {
	case "source", "monitor", "kind":
		return field, true
	}
	key, ok := strings.CutPrefix(field, "attributes.")
	if !ok || !siemAttributeKey.MatchString(key) {
		return "", false
	}
	return key, true
}

// validateCorrelation checks siem.correlation and that the retention of
// correlation state covers every window.
func (c *Config) validateCorrelation(ch *checker) {
	const base = "siem.correlation.rules"
	rules := c.SIEM.Correlation.Rules
	if len(rules) > MaxCorrelationRules {
		ch.errorf(base, ErrInvalid, "at most %d rules, got %d", MaxCorrelationRules, len(rules))
		return
	}
	names := map[string]int{}
	for i := range rules {
		path := fmt.Sprintf("%s[%d]", base, i)
		r := &rules[i]
		r.validate(ch, path)
		if r.Name == "" {
			continue
		}
		if first, dup := names[r.Name]; dup {
			ch.errorf(path+".name", ErrDuplicate, "duplicate rule name %s (first used by %s[%d])", quote(r.Name), base, first)
			continue
		}
		names[r.Name] = i
	}
	keep := c.Retention.CorrelationState
	for i, r := range rules {
		if r.Window > keep && keep > 0 {
			ch.errorf(fmt.Sprintf("%s[%d].window", base, i), ErrInvalid,
				"window %s is longer than retention.correlation_state (%s): the state of an open window would be purged; shorten the window or raise retention.correlation_state", r.Window, keep)
		}
	}
}

// validate checks one rule.
func (r *CorrelationRule) validate(ch *checker, path string) {
	switch {
	case r.Name == "":
		ch.errorf(path+".name", ErrMissing, "a correlation rule needs a name")
	case !correlationName.MatchString(r.Name):
		ch.errorf(path+".name", ErrInvalid, "invalid rule name %s (use 1 to 64 characters of a-z 0-9 . _ -, starting with a letter or digit)", quote(r.Name))
	}

	mp := path + ".match"
	if len(r.Match.Kinds) == 0 {
		ch.errorf(mp+".kinds", ErrMissing, "a correlation rule needs at least one kind to match")
	}
	seenKinds := map[string]int{}
	for j, k := range r.Match.Kinds {
		kp := fmt.Sprintf("%s.kinds[%d]", mp, j)
		switch {
		case !correlationName.MatchString(k):
			ch.errorf(kp, ErrInvalid, "invalid kind %s (use 1 to 64 characters of a-z 0-9 . _ -, starting with a letter or digit)", quote(k))
		case strings.HasPrefix(k, CorrelationKindPrefix):
			ch.errorf(kp, ErrInvalid, "kind %s is a derived kind: correlation rules do not count derived events", quote(k))
		default:
			if first, dup := seenKinds[k]; dup {
				ch.errorf(kp, ErrDuplicate, "duplicate kind %s (first at %s.kinds[%d])", quote(k), mp, first)
			}
			seenKinds[k] = j
		}
	}
	if r.Match.Source != "" && !correlationName.MatchString(r.Match.Source) {
		ch.errorf(mp+".source", ErrInvalid, "invalid source %s (use 1 to 64 characters of a-z 0-9 . _ -, starting with a letter or digit)", quote(r.Match.Source))
	}
	checkCorrelationAttributes(ch, mp+".attributes", r.Match.Attributes, nil)

	reserved := map[string]string{}
	for _, a := range CorrelationBuiltinAttributes {
		reserved[a] = "a built-in attribute of derived events"
	}
	if len(r.GroupBy) > MaxCorrelationGroupBy {
		ch.errorf(path+".group_by", ErrInvalid, "at most %d group fields, got %d", MaxCorrelationGroupBy, len(r.GroupBy))
	} else {
		for j, f := range r.GroupBy {
			fp := fmt.Sprintf("%s.group_by[%d]", path, j)
			out, ok := CorrelationGroupAttribute(f)
			if !ok {
				ch.errorf(fp, ErrInvalid, "invalid group field %s (use source, monitor, kind or attributes.<key>)", quote(f))
				continue
			}
			if what, taken := reserved[out]; taken {
				sentinel := ErrInvalid
				if strings.HasPrefix(what, "group field") {
					sentinel = ErrDuplicate
				}
				ch.errorf(fp, sentinel, "group field %s sets the derived event's attribute %s, which is %s", quote(f), quote(out), what)
				continue
			}
			reserved[out] = fmt.Sprintf("group field %s", quote(f))
		}
	}

	switch w := r.Window.Std(); {
	case w == 0:
		ch.errorf(path+".window", ErrMissing, "a correlation rule needs a window, such as 5m")
	case w < MinCorrelationWindow || w > MaxCorrelationWindow:
		ch.errorf(path+".window", ErrInvalid, "window must be between %s and %s, got %s", Duration(MinCorrelationWindow), Duration(MaxCorrelationWindow), r.Window)
	}
	if r.Threshold < 1 || r.Threshold > MaxCorrelationThreshold {
		ch.errorf(path+".threshold", ErrInvalid, "threshold must be between 1 and %d, got %d", MaxCorrelationThreshold, r.Threshold)
	}
	if r.CountAttribute != "" && !siemAttributeKey.MatchString(r.CountAttribute) {
		ch.errorf(path+".count_attribute", ErrInvalid, "invalid attribute key %s (use 1 to 64 letters, digits, _ . and -)", quote(r.CountAttribute))
	}

	ep := path + ".emit"
	switch k := r.Emit.Kind; {
	case k == "":
		ch.errorf(ep+".kind", ErrMissing, "a correlation rule needs the kind of the event it derives, such as %sbrute_force", CorrelationKindPrefix)
	case !correlationName.MatchString(k) || !strings.HasPrefix(k, CorrelationKindPrefix) || k == CorrelationKindPrefix:
		ch.errorf(ep+".kind", ErrInvalid, "invalid derived kind %s (use %s followed by a-z 0-9 . _ -, at most 64 characters in all)", quote(k), CorrelationKindPrefix)
	}
	if msg := checkCorrelationTitle(r.Emit.Title, reserved); msg != "" {
		ch.errorf(ep+".title", ErrInvalid, "%s", msg)
	}
	checkCorrelationAttributes(ch, ep+".attributes", r.Emit.Attributes, reserved)
}

// checkCorrelationAttributes checks a mapping of attribute keys to values;
// reserved keys, if given, may not be set.
func checkCorrelationAttributes(ch *checker, path string, attrs map[string]string, reserved map[string]string) {
	if len(attrs) > MaxCorrelationAttributes {
		ch.errorf(path, ErrInvalid, "at most %d attributes, got %d", MaxCorrelationAttributes, len(attrs))
		return
	}
	for k, v := range attrs {
		kp := mapKeyPath(path, k)
		switch {
		case !siemAttributeKey.MatchString(k):
			ch.errorf(kp, ErrInvalid, "invalid attribute key %s (use 1 to 64 letters, digits, _ . and -)", quote(k))
		case reserved[k] != "":
			ch.errorf(kp, ErrInvalid, "attribute %s is set by the correlator (%s)", quote(k), reserved[k])
		case len(v) > MaxCorrelationValueLen || !utf8.ValidString(v):
			ch.errorf(kp, ErrInvalid, "attribute value must be valid UTF-8 of at most %d bytes", MaxCorrelationValueLen)
		}
	}
}

// checkCorrelationTitle explains what is wrong with a title whose
// placeholders must be among known, or returns "".
func checkCorrelationTitle(title string, known map[string]string) string {
	if n := utf8.RuneCountInString(title); n > MaxCorrelationTitleLen {
		return fmt.Sprintf("title must be at most %d characters, got %d", MaxCorrelationTitleLen, n)
	}
	for i := 0; i < len(title); i++ {
		switch c := title[i]; {
		case (c == '{' || c == '}') && i+1 < len(title) && title[i+1] == c:
			i++
		case c == '{':
			end := strings.IndexByte(title[i+1:], '}')
			if end < 0 {
				return "unterminated { in title (write {{ for a literal brace)"
			}
			if name := title[i+1 : i+1+end]; known[name] == "" {
				return fmt.Sprintf("unknown placeholder {%s} in title (use the derived event's attributes: %s)", name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
			i += 1 + end
		case c == '}':
			return "stray } in title (write }} for a literal brace)"
		}
	}
	return ""
}
