package config

import (
	"time"
)

// RemediationConfig configures automated remediation: where playbooks come
// from, dry-run mode, step timeouts, circuit breakers and the time zone of
// the guardrail policy's clock. The hard bounds (3 fix attempts per
// incident, 5 builds per rolling hour) are not configurable.
type RemediationConfig struct {
	// Enabled runs playbooks at all; when false incidents are only
	// recorded and notified.
	Enabled *bool `yaml:"enabled"`
	// DryRun records every decision and what would be done, executing
	// nothing.
	DryRun bool `yaml:"dry_run"`
	// Playbooks is a directory of playbook YAML files that replaces the
	// built-in ones; "" uses the built-in playbooks.
	Playbooks string `yaml:"playbooks"`
	// Timezone is the IANA time zone of the hour and weekday the
	// guardrail policy sees (business hours).
	Timezone string `yaml:"timezone"`
	// StepTimeout bounds any one step.
	StepTimeout Duration `yaml:"step_timeout"`
	// BreakerFailures is how many consecutive failures of an action target
	// open its circuit breaker.
	BreakerFailures int `yaml:"breaker_failures"`
	// BreakerCooldown is how long an open breaker waits before letting one
	// trial call through (half-open).
	BreakerCooldown Duration `yaml:"breaker_cooldown"`
	// ApprovalPoll is how often approval deadlines and decisions taken
	// elsewhere (CLI, other replicas) are checked.
	ApprovalPoll Duration `yaml:"approval_poll"`
}

// Defaults of the remediation section.
const (
	DefaultStepTimeout     = 5 * time.Minute
	DefaultBreakerFailures = 3
	DefaultBreakerCooldown = 5 * time.Minute
	DefaultApprovalPoll    = 2 * time.Second
	// MaxStepTimeout bounds RemediationConfig.StepTimeout.
	MaxStepTimeout = time.Hour
	// MaxApprovalPoll bounds RemediationConfig.ApprovalPoll, so that
	// deadlines fire within seconds.
	MaxApprovalPoll = 30 * time.Second
)

// DefaultRemediation returns the defaults of the remediation section.
func DefaultRemediation() RemediationConfig {
	enabled := true
	return RemediationConfig{
		Enabled:         &enabled,
		Timezone:        "UTC",
		StepTimeout:     Duration(DefaultStepTimeout),
		BreakerFailures: DefaultBreakerFailures,
		BreakerCooldown: Duration(DefaultBreakerCooldown),
		ApprovalPoll:    Duration(DefaultApprovalPoll),
	}
}

// IsEnabled reports whether remediation runs.
func (r RemediationConfig) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// Location returns the configured time zone (validated at load).
func (r RemediationConfig) Location() *time.Location {
	loc, err := time.LoadLocation(r.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

func (r *RemediationConfig) validate(ch *checker) {
	if _, err := time.LoadLocation(r.Timezone); err != nil || r.Timezone == "" {
		ch.errorf("remediation.timezone", ErrInvalid, "unknown time zone %s (use an IANA name such as UTC or Europe/Berlin)", quote(r.Timezone))
	}
	if d := r.StepTimeout.Std(); d < time.Second || d > MaxStepTimeout {
		ch.errorf("remediation.step_timeout", ErrInvalid, "step_timeout must be between 1s and %s, got %s", Duration(MaxStepTimeout), r.StepTimeout)
	}
	if n := r.BreakerFailures; n < 1 || n > 100 {
		ch.errorf("remediation.breaker_failures", ErrInvalid, "breaker_failures must be between 1 and 100, got %d", n)
	}
	if d := r.BreakerCooldown.Std(); d < time.Second {
		ch.errorf("remediation.breaker_cooldown", ErrInvalid, "breaker_cooldown must be at least 1s, got %s", r.BreakerCooldown)
	}
	if d := r.ApprovalPoll.Std(); d < 100*time.Millisecond || d > MaxApprovalPoll {
		ch.errorf("remediation.approval_poll", ErrInvalid, "approval_poll must be between 100ms and %s, got %s", Duration(MaxApprovalPoll), r.ApprovalPoll)
	}
}
