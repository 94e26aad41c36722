package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	// The SLA time zone must load on hosts without a zoneinfo database
	// (distroless and scratch images).
	_ "time/tzdata"
)

// SLAConfig sets the SLA clocks of incidents. Each clock starts when the
// incident opens; acknowledge stops at the first acknowledgement (or the
// resolution), resolve and breach_notification at the resolution. A clock
// that runs out is recorded in the incident's timeline (sla.breached) once
// and escalated to the notifier.
type SLAConfig struct {
	// Timezone is the IANA time zone in which business days (Monday to
	// Friday) are counted, such as Europe/Berlin; default UTC.
	Timezone string `yaml:"timezone"`
	// Acknowledge is how long an incident may stay unacknowledged, per
	// severity.
	Acknowledge SLASeverities `yaml:"acknowledge"`
	// Resolve is how long an incident may stay unresolved, per severity.
	Resolve SLASeverities `yaml:"resolve"`
	// BreachNotification is the clock of personal-data breaches.
	BreachNotification SLABreachNotification `yaml:"breach_notification"`
}

// SLASeverities gives a clock's period per incident severity.
type SLASeverities struct {
	Critical SLAPeriod `yaml:"critical"`
	High     SLAPeriod `yaml:"high"`
	Medium   SLAPeriod `yaml:"medium"`
	Low      SLAPeriod `yaml:"low"`
	Info     SLAPeriod `yaml:"info"`
}

// SLABreachNotification is the clock of incidents whose category makes
// them personal-data breaches (GDPR art. 33: notify the authority within
// 72 hours of becoming aware).
type SLABreachNotification struct {
	// Within is the clock's period.
	Within SLAPeriod `yaml:"within"`
	// Categories are the incident categories that run the clock.
	Categories []string `yaml:"categories"`
}

// SLAPeriod is the period of an SLA clock: a duration such as 72h or 7d,
// a whole number of business days such as 2bd, or none (also 0) for no
// clock.
type SLAPeriod string

// Defaults and limits of the sla section.
const (
	// DefaultSLATimezone counts business days in UTC.
	DefaultSLATimezone = "UTC"
	// DefaultSLAAcknowledge is the acknowledge period of every severity
	// from low up.
	DefaultSLAAcknowledge SLAPeriod = "2bd"
	// DefaultSLAResolveCritical and DefaultSLAResolveHigh are the resolve
	// periods of critical and high incidents; medium and low have none.
	DefaultSLAResolveCritical SLAPeriod = "7d"
	DefaultSLAResolveHigh     SLAPeriod = "30d"
	// DefaultSLABreachNotification is the breach-notification period.
	DefaultSLABreachNotification SLAPeriod = "72h"
	// DefaultSLABreachCategory is the category of personal-data breaches.
	DefaultSLABreachCategory = "personal-data-breach"
	// SLANone is the period of no clock.
	SLANone SLAPeriod = "none"

	// MinSLAPeriod and MaxSLAPeriod bound a duration period.
	MinSLAPeriod = time.Minute
	MaxSLAPeriod = 365 * 24 * time.Hour
	// MaxSLABusinessDays bounds a business-day period (about a year).
	MaxSLABusinessDays = 260
)

// DefaultSLA returns the defaults of the sla section, after a common
// public disclosure policy: acknowledge within 2 business days, resolve
// critical incidents within 7 days and high ones within 30, notify
// personal-data breaches within 72 hours.
func DefaultSLA() SLAConfig {
	return SLAConfig{
		Timezone: DefaultSLATimezone,
		Acknowledge: SLASeverities{
			Critical: DefaultSLAAcknowledge, High: DefaultSLAAcknowledge,
			Medium: DefaultSLAAcknowledge, Low: DefaultSLAAcknowledge, Info: SLANone,
		},
		Resolve: SLASeverities{
			Critical: DefaultSLAResolveCritical, High: DefaultSLAResolveHigh,
			Medium: SLANone, Low: SLANone, Info: SLANone,
		},
		BreachNotification: SLABreachNotification{
			Within:     DefaultSLABreachNotification,
			Categories: []string{DefaultSLABreachCategory},
		},
	}
}

// errSLAPeriod explains the accepted forms of a period.
var errSLAPeriod = errors.New(`use a duration such as 72h or 7d, business days such as 2bd, or none`)

// Parse returns the period as a duration or a number of business days;
// both are zero for none.
func (p SLAPeriod) Parse() (d time.Duration, businessDays int, err error) {
	s := strings.TrimSpace(string(p))
	switch {
	case s == "" || s == "none" || s == "0":
		return 0, 0, nil
	case strings.HasSuffix(s, "bd"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "bd"))
		if err != nil || n < 1 || n > MaxSLABusinessDays {
			return 0, 0, fmt.Errorf("business days must be a whole number from 1 to %d before bd", MaxSLABusinessDays)
		}
		return 0, n, nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return 0, 0, errSLAPeriod
	}
	if v.Std() < MinSLAPeriod || v.Std() > MaxSLAPeriod {
		return 0, 0, fmt.Errorf("must be between %s and %s", Duration(MinSLAPeriod), Duration(MaxSLAPeriod))
	}
	return v.Std(), 0, nil
}

// Location returns the time zone of business days.
func (s SLAConfig) Location() (*time.Location, error) {
	if s.Timezone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(s.Timezone)
}

// BySeverity returns the periods keyed by severity name (critical, high,
// medium, low, info).
func (s SLASeverities) BySeverity() map[string]SLAPeriod {
	return map[string]SLAPeriod{"critical": s.Critical, "high": s.High, "medium": s.Medium, "low": s.Low, "info": s.Info}
}

// validate checks the sla section.
func (s *SLAConfig) validate(ch *checker) {
	if s.Timezone == "" || strings.ContainsAny(s.Timezone, " ") {
		ch.errorf("sla.timezone", ErrInvalid, "timezone %s is not an IANA time zone (such as UTC or Europe/Berlin)", quote(s.Timezone))
	} else if _, err := time.LoadLocation(s.Timezone); err != nil {
		ch.errorf("sla.timezone", ErrInvalid, "unknown time zone %s (use an IANA name such as UTC or Europe/Berlin)", quote(s.Timezone))
	}
	for _, clock := range []struct {
		key string
		sev SLASeverities
	}{{"acknowledge", s.Acknowledge}, {"resolve", s.Resolve}} {
		for _, sev := range []string{"critical", "high", "medium", "low", "info"} {
			checkSLAPeriod(ch, "sla."+clock.key+"."+sev, clock.sev.BySeverity()[sev])
		}
	}
	checkSLAPeriod(ch, "sla.breach_notification.within", s.BreachNotification.Within)
	checkMatchers(ch, "sla.breach_notification.categories", s.BreachNotification.Categories, func(v string) string {
		if categoryName.MatchString(v) {
			return ""
		}
		return fmt.Sprintf("invalid category %s (use lower-case letters, digits, _ . and -, as in personal-data-breach)", quote(v))
	})
}

func checkSLAPeriod(ch *checker, path string, p SLAPeriod) {
	if _, _, err := p.Parse(); err != nil {
		ch.errorf(path, ErrInvalid, "invalid period %s: %v", quote(string(p)), err)
	}
}
