package config

import (
	"testing"
	"time"
)

func remediationInvalid() map[string]typeInvalidCase {
	return map[string]typeInvalidCase{
		"invalid-remediation-timezone.yml":      {ErrInvalid, 2, "remediation.timezone"},
		"invalid-remediation-step-timeout.yml":  {ErrInvalid, 3, "remediation.step_timeout"},
		"invalid-remediation-approval-poll.yml": {ErrInvalid, 2, "remediation.approval_poll"},
		"invalid-remediation-breaker.yml":       {ErrInvalid, 2, "remediation.breaker_failures"},
		// The hard bounds are not settings: trying to raise one is an
		// unknown key, not a silently ignored one.
		"invalid-remediation-unknown-key.yml": {ErrUnknownKey, 2, "remediation.max_attempts"},
	}
}

func TestRemediationInvalidConfigs(t *testing.T) { runTypeInvalid(t, remediationInvalid()) }

func TestRemediationDefaultsAndValues(t *testing.T) {
	cfg, err := parse([]byte("listen: 127.0.0.1:8080\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Remediation
	if !r.IsEnabled() || r.DryRun || r.Playbooks != "" || r.Location() != time.UTC ||
		r.StepTimeout.Std() != 5*time.Minute || r.BreakerFailures != 3 || r.ApprovalPoll.Std() != 2*time.Second {
		t.Fatalf("defaults = %+v", r)
	}
	cfg, err = parse([]byte("remediation:\n  enabled: false\n  dry_run: true\n  timezone: Europe/Berlin\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	r = cfg.Remediation
	if r.IsEnabled() || !r.DryRun || r.Location().String() != "Europe/Berlin" {
		t.Fatalf("values = %+v", r)
	}
}
