package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// day is the length of the "d" unit: always 24 hours, ignoring daylight
// saving time, as in a schedule interval.
const day = 24 * time.Hour

// durationHint is appended to every duration error.
const durationHint = "(use e.g. 90s, 15m, 2h, 7d)"

// errNotDuration is the generic reason ParseDuration gives.
var errNotDuration = errors.New("not a duration")

// durationMessage explains why s is not a valid Duration.
func durationMessage(s string, reason error) string {
	if errors.Is(reason, errNotDuration) {
		return fmt.Sprintf("invalid duration %q %s", s, durationHint)
	}
	return fmt.Sprintf("invalid duration %q: %v %s", s, reason, durationHint)
}

// ParseDuration parses a Go duration ("90s", "1h30m", "500ms") optionally
// led by a whole number of days ("7d", "1d12h"). Negative durations are
// rejected.
func ParseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, errNotDuration
	}
	if s[0] == '-' {
		return 0, errors.New("must not be negative")
	}
	if s[0] == '+' {
		return 0, errors.New("unexpected sign")
	}
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || i == 0 {
			return 0, errors.New("days must be a whole number before the d, as in 7d or 1d12h")
		}
		if n > math.MaxInt64/int64(day) {
			return 0, errors.New("too large")
		}
		days, rest = n, s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, errors.New("unexpected sign")
		}
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, errNotDuration
		}
	}
	total := time.Duration(days) * day
	if d > math.MaxInt64-total {
		return 0, errors.New("too large")
	}
	return Duration(total + d), nil
}

// String formats d the way it is written in the configuration: "15m",
// "90s" as "1m30s", "168h" as "7d", "36h" as "1d12h".
func (d Duration) String() string {
	if d < 0 {
		return time.Duration(d).String()
	}
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if days := time.Duration(d) / day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
	}
	if rest := time.Duration(d) % day; rest > 0 {
		s := rest.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		b.WriteString(s)
	}
	return b.String()
}

// MarshalText writes d as String does, so JSON and YAML output round-trip.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses d with ParseDuration, so Duration also works in
// other YAML or JSON documents and in flags.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return &Error{Err: ErrDuration, Msg: durationMessage(string(text), err)}
	}
	*d = v
	return nil
}
