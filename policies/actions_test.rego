package secopsd.actions_test

import data.secopsd.actions

# base is a live, idempotent http step of a MAJOR incident on a Wednesday
# morning; tests patch it with object.union, which merges nested objects.
base := {
	"incident": {
		"id": 7,
		"title": "auth-health fails",
		"monitor": "auth-health",
		"category": "authentication",
		"severity": "high",
		"status": "open",
		"failures": 3,
	},
	"tier": "MAJOR",
	"playbook": "auth",
	"step": {"name": "flush-sessions", "type": "http", "target": "auth.internal", "idempotent": true},
	"attempt": 1,
	"attempts_left": 2,
	"builds_left": 5,
	"time": "2026-03-04T10:00:00Z",
	"hour": 10,
	"weekday": "wednesday",
	"maintenance": [],
	"dry_run": false,
}

step_input(patch) := object.union(base, patch)

# with_step is step_input(patch) with its step replaced by step, so that
# step fields can be left out.
with_step(patch, step) := object.union(json.remove(step_input(patch), ["step"]), {"step": step})

build(tier) := step_input({"tier": tier, "step": {"name": "redeploy", "type": "build", "target": "ci", "idempotent": false}})

deny_approval_reason := "denied if nobody answers within 30 minutes"

# --- decision: dry run, live, neither ---------------------------------------

test_live_step_is_guarded if {
	actions.decision == {
		"decision": "allow",
		"reasons": [`MAJOR incident: http step "flush-sessions" of playbook "auth" is idempotent and runs unattended after the diagnosis, within the hard bounds`],
	} with input as base
}

test_dry_run_is_allowed_and_says_what_a_real_run_would_get if {
	actions.decision == {
		"decision": "allow",
		"reasons": [
			"dry run: nothing is executed",
			"a real run would get the decision require_approval",
			`CRITICAL incident: http step "flush-sessions" of playbook "auth" needs a human approval`,
			"approved if nobody answers within 30 minutes (the documented default for CRITICAL incidents)",
		],
	} with input as step_input({"dry_run": true, "tier": "CRITICAL"})
}

test_dry_run_of_a_denied_step_is_allowed if {
	d := actions.decision with input as step_input({"dry_run": true, "maintenance": ["db-upgrade"]})
	d.decision == "allow"
	d.reasons[0] == "dry run: nothing is executed"
	d.reasons[1] == "a real run would get the decision deny"
	d.reasons[2] == "maintenance window in force (db-upgrade): no automated change runs during maintenance"
	count(d.reasons) == 3
}

test_without_boolean_dry_run_is_denied if {
	every dry_run in ["false", "true", 0, null] {
		actions.decision == {
			"decision": "deny",
			"reasons": ["the guardrail policy cannot decide: the input does not say whether this is a dry run"],
		} with input as step_input({"dry_run": dry_run})
	}
	without := actions.decision with input as object.remove(base, ["dry_run"])
	without.decision == "deny"
	empty := actions.decision with input as {}
	empty.decision == "deny"
}

# --- guarded: the denials and the steps without side effects ----------------

test_maintenance_denies_every_tier if {
	every tier in ["MINOR", "MAJOR", "CRITICAL", "BOGUS"] {
		actions.decision == {
			"decision": "deny",
			"reasons": ["maintenance window in force (db-upgrade, cdn-switch): no automated change runs during maintenance"],
		} with input as step_input({"tier": tier, "maintenance": ["db-upgrade", "cdn-switch"]})
	}
}

test_maintenance_wins_over_every_other_denial if {
	d := actions.decision with input as step_input({
		"maintenance": ["freeze"],
		"incident": {"status": "resolved"},
		"attempt": 9,
		"step": {"type": "build"},
		"builds_left": 0,
	})
	d.reasons == ["maintenance window in force (freeze): no automated change runs during maintenance"]
}

test_resolved_incident_is_denied if {
	actions.decision == {
		"decision": "deny",
		"reasons": ["the incident is resolved: there is nothing left to fix"],
	} with input as step_input({"incident": {"status": "resolved"}, "tier": "MINOR"})
}

test_open_and_acknowledged_incidents_are_not_denied_for_status if {
	every status in ["open", "acknowledged"] {
		d := actions.decision with input as step_input({"incident": {"status": status}, "tier": "MINOR"})
		d.decision == "allow"
	}
}

test_steps_without_side_effects_are_allowed if {
	every type in ["notify", "wait", "verify", "escalate"] {
		actions.decision == {
			"decision": "allow",
			"reasons": [sprintf("a %s step changes nothing on the systems secopsd watches", [type])],
		} with input as step_input({"tier": "CRITICAL", "step": {"type": type}, "attempt": 4})
	}
}

test_unknown_step_type_is_denied if {
	every type in ["shell", "HTTP", "", "builds"] {
		actions.decision == {
			"decision": "deny",
			"reasons": [sprintf("step type %q is unknown to the guardrail policy: only http, exec and build steps can be allowed", [type])],
		} with input as step_input({"tier": "MINOR", "step": {"type": type}})
	}
}

test_missing_step_type_is_denied if {
	actions.decision == {
		"decision": "deny",
		"reasons": [`step type "" is unknown to the guardrail policy: only http, exec and build steps can be allowed`],
	} with input as with_step({"tier": "MINOR"}, {"name": "x"})
}

test_fourth_attempt_is_denied if {
	every attempt in [4, 5, 100] {
		actions.decision == {
			"decision": "deny",
			"reasons": [sprintf("attempt %d exceeds the limit of 3 fix attempts per incident: a human takes over", [attempt])],
		} with input as step_input({"tier": "MINOR", "attempt": attempt, "attempts_left": 0})
	}
}

test_third_attempt_is_not_denied_for_attempts if {
	d := actions.decision with input as step_input({"tier": "MINOR", "attempt": 3, "attempts_left": 0})
	d.decision == "allow"
}

test_build_without_budget_is_denied if {
	every builds_left in [0, -1] {
		actions.decision == {
			"decision": "deny",
			"reasons": ["the build budget is spent: at most 5 automated builds run in any rolling hour"],
		} with input as object.union(build("MINOR"), {"builds_left": builds_left})
	}
}

test_build_with_budget_left_is_not_denied_for_budget if {
	d := actions.decision with input as object.union(build("MINOR"), {"builds_left": 1})
	d.decision == "allow"
}

test_spent_build_budget_does_not_deny_other_steps if {
	d := actions.decision with input as step_input({"tier": "MINOR", "builds_left": 0})
	d.decision == "allow"
}

# --- by_tier -----------------------------------------------------------------

test_unknown_tier_is_denied if {
	every tier in ["minor", "SEVERE", ""] {
		actions.decision == {
			"decision": "deny",
			"reasons": ["the incident's tier is not MINOR, MAJOR or CRITICAL: nothing runs without a known tier"],
		} with input as step_input({"tier": tier})
	}
	d := actions.decision with input as object.remove(base, ["tier"])
	d.decision == "deny"
}

test_critical_requires_approval_approved_at_deadline if {
	every step in [
		{"name": "flush-sessions", "type": "http", "idempotent": true},
		{"name": "flush-sessions", "type": "exec", "idempotent": false},
		{"name": "flush-sessions", "type": "build", "idempotent": false},
	] {
		actions.decision == {
			"decision": "require_approval",
			"reasons": [
				sprintf(`CRITICAL incident: %s step "flush-sessions" of playbook "auth" needs a human approval`, [step.type]),
				"approved if nobody answers within 30 minutes (the documented default for CRITICAL incidents)",
			],
			"timeout": "30m",
			"on_timeout": "approve",
		} with input as step_input({"tier": "CRITICAL", "step": step, "hour": 3, "weekday": "sunday"})
	}
}

test_critical_personal_data_breach_is_denied_at_deadline if {
	actions.decision == {
		"decision": "require_approval",
		"reasons": [
			`CRITICAL incident: exec step "flush-sessions" of playbook "auth" needs a human approval`,
			"personal-data-breach incident: denied if nobody answers within 30 minutes, so that no unattended change touches the evidence",
		],
		"timeout": "30m",
		"on_timeout": "deny",
	} with input as step_input({"tier": "CRITICAL", "incident": {"category": "personal-data-breach"}, "step": {"type": "exec"}})
}

test_major_idempotent_steps_are_allowed if {
	every type in ["http", "exec"] {
		actions.decision == {
			"decision": "allow",
			"reasons": [sprintf(`MAJOR incident: %s step "flush-sessions" of playbook "auth" is idempotent and runs unattended after the diagnosis, within the hard bounds`, [type])],
		} with input as step_input({"step": {"type": type}, "hour": 23, "weekday": "saturday"})
	}
}

test_major_non_idempotent_steps_require_approval if {
	every step in [
		{"name": "switch", "type": "http", "idempotent": false},
		{"name": "switch", "type": "exec", "idempotent": false},
		{"name": "switch", "type": "http", "idempotent": "true"},
	] {
		actions.decision == {
			"decision": "require_approval",
			"reasons": [
				sprintf(`MAJOR incident: %s step "switch" of playbook "auth" is not idempotent and needs a human approval`, [step.type]),
				deny_approval_reason,
			],
			"timeout": "30m",
			"on_timeout": "deny",
		} with input as step_input({"step": step})
	}
}

test_major_step_without_idempotent_requires_approval if {
	d := actions.decision with input as with_step({}, {"name": "switch", "type": "http"})
	d.decision == "require_approval"
	d.on_timeout == "deny"
}

test_major_build_requires_approval_in_business_hours if {
	actions.decision == {
		"decision": "require_approval",
		"reasons": [
			`MAJOR incident: build step "redeploy" of playbook "auth" redeploys a service and needs a human approval`,
			"requested during business hours",
			deny_approval_reason,
		],
		"timeout": "30m",
		"on_timeout": "deny",
	} with input as build("MAJOR")
}

test_major_build_requires_approval_outside_business_hours if {
	actions.decision == {
		"decision": "require_approval",
		"reasons": [
			`MAJOR incident: build step "redeploy" of playbook "auth" redeploys a service and needs a human approval`,
			"requested outside business hours (Monday to Friday, 08:00-18:00), when fewer people watch a deploy",
			deny_approval_reason,
		],
		"timeout": "30m",
		"on_timeout": "deny",
	} with input as object.union(build("MAJOR"), {"hour": 22})
}

test_major_idempotent_build_still_requires_approval if {
	d := actions.decision with input as object.union(build("MAJOR"), {"step": {"idempotent": true}})
	d.decision == "require_approval"
}

test_minor_steps_run_unattended if {
	every step in [
		{"name": "restart", "type": "http", "idempotent": false},
		{"name": "restart", "type": "exec", "idempotent": true},
		{"name": "restart", "type": "exec"},
	] {
		actions.decision == {
			"decision": "allow",
			"reasons": [sprintf(`MINOR incident: %s step "restart" of playbook "auth" runs unattended, within the hard bounds`, [step.type])],
		} with input as with_step({"tier": "MINOR", "hour": 2, "weekday": "sunday"}, step)
	}
}

test_minor_build_in_business_hours_is_allowed if {
	actions.decision == {
		"decision": "allow",
		"reasons": [`MINOR incident: build step "redeploy" of playbook "auth" runs unattended, within the hard bounds`],
	} with input as build("MINOR")
}

test_minor_build_outside_business_hours_requires_approval if {
	every when in [
		{"hour": 7, "weekday": "wednesday"},
		{"hour": 18, "weekday": "wednesday"},
		{"hour": 0, "weekday": "monday"},
		{"hour": 12, "weekday": "saturday"},
		{"hour": 12, "weekday": "sunday"},
		{"hour": 12, "weekday": ""},
	] {
		actions.decision == {
			"decision": "require_approval",
			"reasons": [
				`MINOR incident, but build step "redeploy" of playbook "auth" is a build outside business hours (Monday to Friday, 08:00-18:00) and needs a human approval`,
				deny_approval_reason,
			],
			"timeout": "30m",
			"on_timeout": "deny",
		} with input as object.union(build("MINOR"), when)
	}
}

test_business_hours_bounds if {
	every when in [
		{"hour": 8, "weekday": "monday"},
		{"hour": 17, "weekday": "friday"},
		{"hour": 12, "weekday": "Tuesday"},
		{"hour": 9, "weekday": "THURSDAY"},
	] {
		d := actions.decision with input as object.union(build("MINOR"), when)
		d.decision == "allow"
	}
}

test_step_description_tolerates_missing_names if {
	d := actions.decision with input as object.remove(with_step({"tier": "MINOR"}, {"type": "http"}), ["playbook"])
	d.reasons == [`MINOR incident: http step "" of playbook "" runs unattended, within the hard bounds`]
}

# --- invariants --------------------------------------------------------------

# Every combination of tier, step type, idempotency, time and budget yields
# exactly one well-formed decision.
test_every_input_has_one_well_formed_decision if {
	every tier in ["MINOR", "MAJOR", "CRITICAL", "X"] {
		every type in ["http", "exec", "build", "notify", "bogus"] {
			every idempotent in [true, false] {
				every hour in [3, 12] {
					every builds_left in [0, 3] {
						d := actions.decision with input as step_input({
							"tier": tier,
							"step": {"type": type, "idempotent": idempotent},
							"hour": hour,
							"builds_left": builds_left,
						})
						d.decision in {"allow", "deny", "require_approval"}
						count(d.reasons) > 0
						every r in d.reasons {
							is_string(r)
							r != ""
						}
						approval_fields_only_with_approval(d)
					}
				}
			}
		}
	}
}

approval_fields_only_with_approval(d) if {
	d.decision == "require_approval"
	d.timeout == "30m"
	d.on_timeout in {"approve", "deny"}
}

approval_fields_only_with_approval(d) if {
	d.decision != "require_approval"
	object.keys(d) == {"decision", "reasons"}
}
