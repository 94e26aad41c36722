package config

import (
	"time"
)

// RetentionConfig says how long each kind of data is kept and how often
// the purge runs. Every purge that deletes something (and every purge of
// raw events, even of nothing) is recorded in the store's append-only
// purge log and as a secopsd.retention.purge event.
type RetentionConfig struct {
	// Events is how long a raw event is kept after the store received it
	// (its received_at, not the time the event claims): an event that
	// arrives late still lives for the whole period, and a client cannot
	// shorten or lengthen the life of its events by the times it sends.
	Events Duration `yaml:"events"`
	// Nonces is how long the nonce of a signed API request is remembered,
	// and so when it may be purged. It must cover the signature's
	// timestamp window (at least 10m), or a replay could get through.
	Nonces Duration `yaml:"nonces"`
	// CorrelationState is how long the state of correlation windows is
	// kept after its last update; state older than the longest window is
	// useless.
	CorrelationState Duration `yaml:"correlation_state"`
	// Interval is how often raw events and correlation state are purged.
	// Expired nonces are purged every minute (or every Interval, if that
	// is shorter).
	Interval Duration `yaml:"interval"`
	// Timelines says what happens to incident timelines: only "keep" is
	// supported; they are kept until explicitly archived.
	Timelines string `yaml:"timelines"`
}

// Defaults and limits of the retention section.
const (
	// DefaultRetentionEvents keeps raw events for 7 days.
	DefaultRetentionEvents = 7 * 24 * time.Hour
	// DefaultRetentionNonces keeps nonces for 10 minutes: the timestamp
	// window of a signed request, 5 minutes either way.
	DefaultRetentionNonces = 10 * time.Minute
	// DefaultRetentionCorrelationState keeps correlation state for a day.
	DefaultRetentionCorrelationState = 24 * time.Hour
	// DefaultRetentionInterval purges events and correlation state hourly.
	DefaultRetentionInterval = time.Hour
	// RetentionTimelinesKeep keeps incident timelines until they are
	// explicitly archived (the only policy so far).
	RetentionTimelinesKeep = "keep"

	// MinRetentionEvents is the least RetentionConfig.Events, so that a
	// slip such as 7m for 7d cannot wipe the event log.
	MinRetentionEvents = time.Hour
	// MinRetentionNonces is the least RetentionConfig.Nonces: the whole
	// timestamp window of a signed request (auth.NonceTTL, twice the
	// allowed clock skew of 5 minutes). A test keeps the two equal.
	MinRetentionNonces = 10 * time.Minute
	// MaxRetentionNonces bounds RetentionConfig.Nonces.
	MaxRetentionNonces = 24 * time.Hour
	// MinRetentionCorrelationState is the least
	// RetentionConfig.CorrelationState.
	MinRetentionCorrelationState = time.Hour
	// MaxRetention bounds the retention of events and correlation state:
	// about ten years.
	MaxRetention = 3650 * 24 * time.Hour
	// MinRetentionInterval and MaxRetentionInterval bound
	// RetentionConfig.Interval.
	MinRetentionInterval = time.Minute
	MaxRetentionInterval = 24 * time.Hour
)

// DefaultRetention returns the defaults of the retention section: raw
// events 7d, nonces 10m, correlation state 1d, a purge every hour,
// timelines kept.
func DefaultRetention() RetentionConfig {
	return RetentionConfig{
		Events:           Duration(DefaultRetentionEvents),
		Nonces:           Duration(DefaultRetentionNonces),
		CorrelationState: Duration(DefaultRetentionCorrelationState),
		Interval:         Duration(DefaultRetentionInterval),
		Timelines:        RetentionTimelinesKeep,
	}
}

// validateRetention checks the retention section and its agreement with
// the rest of the configuration: an event may not be older when it is
// accepted (siem.max_event_age) than the retention of raw events.
func (c *Config) validateRetention(ch *checker) {
	r := &c.Retention
	between := func(key string, d Duration, lo, hi time.Duration) {
		if d.Std() < lo || d.Std() > hi {
			ch.errorf("retention."+key, ErrInvalid, "%s must be between %s and %s, got %s", key, Duration(lo), Duration(hi), d)
		}
	}
	between("events", r.Events, MinRetentionEvents, MaxRetention)
	if r.Nonces.Std() < MinRetentionNonces {
		ch.errorf("retention.nonces", ErrInvalid, "nonces must be at least %s, the timestamp window of a signed request (a shorter retention would let a replayed request through), got %s", Duration(MinRetentionNonces), r.Nonces)
	} else if r.Nonces.Std() > MaxRetentionNonces {
		ch.errorf("retention.nonces", ErrInvalid, "nonces must be at most %s, got %s", Duration(MaxRetentionNonces), r.Nonces)
	}
	between("correlation_state", r.CorrelationState, MinRetentionCorrelationState, MaxRetention)
	between("interval", r.Interval, MinRetentionInterval, MaxRetentionInterval)
	if r.Timelines != RetentionTimelinesKeep {
		ch.errorf("retention.timelines", ErrInvalid, "unknown timeline policy %s (use %s: timelines are kept until explicitly archived)", quote(r.Timelines), RetentionTimelinesKeep)
	}
	if c.SIEM.MaxEventAge > r.Events && r.Events.Std() >= MinRetentionEvents {
		// Locate the problem at the key the file changed: max_event_age if
		// it is written, else retention.events lowered below its default.
		path := "siem.max_event_age"
		if _, written := ch.lines[path]; !written && ch.lines != nil {
			path = "retention.events"
		}
		ch.errorf(path, ErrInvalid, "siem.max_event_age (%s) must not exceed retention.events (%s): an event older than the retention of raw events must not be accepted at all; lower siem.max_event_age or raise retention.events", c.SIEM.MaxEventAge, r.Events)
	}
}
