package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SilenceConfig is a maintenance window: from Start to End, the incidents
// of the listed monitors and categories notify nobody and run no automated
// remediation; their events are still stored and their timelines still
// written. Silences for shorter, unplanned needs are created at run time
// (`secopsd silence add`, POST /api/v1/silences).
type SilenceConfig struct {
	// Name identifies the window in timeline entries; unique.
	Name string `yaml:"name"`
	// Monitors are the monitor names matched ("*" matches every one); an
	// empty list matches any monitor.
	Monitors []string `yaml:"monitors"`
	// Categories are the incident categories matched ("*" matches every
	// one); an empty list matches any category. Monitors and Categories
	// must not both be empty.
	Categories []string `yaml:"categories"`
	// Start and End bound the window, as RFC 3339 times with a zone
	// (2026-12-06T02:00:00+01:00); End is exclusive.
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	// Comment says why.
	Comment string `yaml:"comment"`
}

// Limits of the silences section.
const (
	// MaxSilences bounds the number of configured silences.
	MaxSilences = 256
	// MaxSilenceComment bounds SilenceConfig.Comment.
	MaxSilenceComment = 1024
	// MaxSilenceMatchers bounds SilenceConfig.Monitors and Categories.
	MaxSilenceMatchers = 64
)

// SilenceAll, as a monitor or category of a silence, matches every one.
const SilenceAll = "*"

// categoryName is the form of an incident category to match.
var categoryName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// Window returns the silence's start and end times.
func (s SilenceConfig) Window() (start, end time.Time, err error) {
	if start, err = time.Parse(time.RFC3339, s.Start); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("start: %w", err)
	}
	if end, err = time.Parse(time.RFC3339, s.End); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("end: %w", err)
	}
	return start, end, nil
}

// validateSilences checks the silences section, including that every
// monitor named is configured.
func (c *Config) validateSilences(ch *checker) {
	if len(c.Silences) > MaxSilences {
		ch.errorf("silences", ErrInvalid, "at most %d silences, got %d", MaxSilences, len(c.Silences))
		return
	}
	monitors := map[string]bool{}
	for _, m := range c.Monitors {
		monitors[m.Name] = true
	}
	firstUse := map[string]string{}
	for i := range c.Silences {
		s := &c.Silences[i]
		path := fmt.Sprintf("silences[%d]", i)
		np := joinPath(path, "name")
		switch {
		case s.Name == "":
			ch.errorf(np, ErrMissing, "a silence needs a name")
		case len(s.Name) > MaxMonitorNameLen || !monitorName.MatchString(s.Name):
			ch.errorf(np, ErrInvalid, "invalid silence name %s (use at most %d lower-case letters, digits, _ . and -, starting with a letter or digit)", quote(s.Name), MaxMonitorNameLen)
		default:
			if first, dup := firstUse[s.Name]; dup {
				ch.errorf(np, ErrDuplicate, "duplicate silence name %s (first used at %s)", quote(s.Name), first)
			} else {
				firstUse[s.Name] = np
			}
		}
		if len(s.Monitors) == 0 && len(s.Categories) == 0 {
			ch.errorf(path, ErrMissing, `a silence needs monitors or categories (use monitors: ["*"] for every monitor)`)
		}
		checkMatchers(ch, joinPath(path, "monitors"), s.Monitors, func(v string) string {
			if v == SilenceAll || monitors[v] {
				return ""
			}
			return fmt.Sprintf("unknown monitor %s (name a configured monitor, or \"*\")", quote(v))
		})
		checkMatchers(ch, joinPath(path, "categories"), s.Categories, func(v string) string {
			if v == SilenceAll || categoryName.MatchString(v) {
				return ""
			}
			return fmt.Sprintf("invalid category %s (use lower-case letters, digits, _ . and -, as in personal-data-breach, or \"*\")", quote(v))
		})
		start, end, ok := s.checkTimes(ch, path)
		if ok && !end.After(start) {
			ch.errorf(joinPath(path, "end"), ErrInvalid, "end %s is not after start %s", s.End, s.Start)
		}
		switch {
		case len(s.Comment) > MaxSilenceComment:
			ch.errorf(joinPath(path, "comment"), ErrInvalid, "comment is longer than %d bytes", MaxSilenceComment)
		case !utf8.ValidString(s.Comment) || strings.ContainsFunc(s.Comment, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
			ch.errorf(joinPath(path, "comment"), ErrInvalid, "comment must be text without control characters")
		}
	}
}

// checkTimes parses start and end, recording what is missing or wrong.
func (s *SilenceConfig) checkTimes(ch *checker, path string) (start, end time.Time, ok bool) {
	ok = true
	parse := func(key, v string) time.Time {
		kp := joinPath(path, key)
		if v == "" {
			ch.errorf(kp, ErrMissing, "%s is required (an RFC 3339 time such as 2026-12-06T02:00:00Z)", key)
			ok = false
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			ch.errorf(kp, ErrInvalid, "%s %s is not an RFC 3339 time with a zone (such as 2026-12-06T02:00:00+01:00)", key, quote(v))
			ok = false
		}
		return t
	}
	start, end = parse("start", s.Start), parse("end", s.End)
	return start, end, ok
}

// checkMatchers checks a list of monitors or categories: not too many,
// none repeated, each accepted by check (which returns why not, or "").
func checkMatchers(ch *checker, path string, list []string, check func(string) string) {
	if len(list) > MaxSilenceMatchers {
		ch.errorf(path, ErrInvalid, "at most %d entries, got %d", MaxSilenceMatchers, len(list))
		return
	}
	for i, v := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if j := slices.Index(list[:i], v); j >= 0 {
			ch.errorf(ip, ErrDuplicate, "%s is listed twice (first at %s[%d])", quote(v), path, j)
			continue
		}
		if msg := check(v); msg != "" {
			ch.errorf(ip, ErrInvalid, "%s", msg)
		}
	}
}
