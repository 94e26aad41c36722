# Package secopsd.actions is the guardrail of automated remediation: before
# every side-effecting playbook step (http, exec, build) it decides whether
# the step may run, and why.
#
# Input (incident.ActionInput in Go):
#   {incident: {id, title, monitor, category, severity, status, failures},
#    tier: MINOR | MAJOR | CRITICAL, playbook,
#    step: {name, type, target, idempotent},
#    attempt (1-based), attempts_left (attempts after this one),
#    builds_left (builds the rolling-hour budget still allows),
#    time (RFC 3339, UTC), hour (0-23), weekday ("monday"...) in the
#    daemon's time zone, maintenance: [names of windows in force],
#    dry_run}
# A missing step.idempotent counts as false.
#
# Decision: {decision: allow | deny | require_approval, reasons: [sentences],
#            approvers: [names]?, timeout: duration string?,
#            on_timeout: approve | deny?}
#   - reasons is required and never empty: it goes to the timeline and to
#     the approvers;
#   - approvers, timeout and on_timeout are only valid with
#     require_approval. Omitted, approvers means any admin, timeout 30m,
#     and on_timeout approve for a CRITICAL incident (the documented
#     default) and deny for any other tier. Any other field, decision
#     value or a timeout that is not a positive duration of at most 24h
#     makes the decision invalid, and the engine then denies the step.
#
# The defaults, first match wins:
#   1. a dry run is allowed (nothing is executed); its reasons say what a
#      real run would get;
#   2. deny while a maintenance window is in force (the engine suppresses
#      automation before asking; this is defence in depth) and for a
#      resolved incident;
#   3. allow steps without side effects (notify, wait, verify, escalate);
#      deny any step type other than http, exec and build;
#   4. deny an attempt beyond the third, and a build when the rolling-hour
#      build budget is spent (Go enforces both bounds too: at most 3
#      attempts per incident, 5 builds per rolling hour; attempts_left is
#      informational, as Go reports 0 for the last attempt);
#   5. by tier:
#      CRITICAL  require_approval; approved at the 30-minute deadline,
#                except for a personal-data-breach incident, where an
#                unanswered step is denied so that no unattended change
#                touches the evidence;
#      MAJOR     builds and non-idempotent steps require_approval (denied
#                at the deadline); idempotent http/exec steps are allowed;
#      MINOR     allowed, except builds outside business hours (Monday to
#                Friday, 08:00-18:00), which require_approval (denied at
#                the deadline);
#      unknown   deny.
#
# Exactly one decision exists for every input:
#   - the two top-level `decision` rules are led by equalities on
#     input.dry_run against true and false, so at most one applies, and
#     `default decision` (deny) covers an input without a boolean dry_run;
#   - `guarded` is one else-chain ending in an unconditional else;
#   - the `by_tier` rules are led by equalities on input.tier against
#     distinct constants, so OPA's rule index selects at most one, and
#     `default by_tier` (deny) covers an unknown tier; each tier's rule is
#     an else-chain ending in an unconditional else.
package secopsd.actions

default decision := {
	"decision": "deny",
	"reasons": ["the guardrail policy cannot decide: the input does not say whether this is a dry run"],
}

decision := guarded if input.dry_run == false

decision := {
	"decision": "allow",
	"reasons": array.concat(
		["dry run: nothing is executed", sprintf("a real run would get the decision %s", [guarded.decision])],
		guarded.reasons,
	),
} if input.dry_run == true

# guarded is the decision for a step that will really run.
guarded := deny(sprintf(
	"maintenance window in force (%s): no automated change runs during maintenance",
	[concat(", ", input.maintenance)],
)) if {
	count(input.maintenance) > 0
} else := deny("the incident is resolved: there is nothing left to fix") if {
	input.incident.status == "resolved"
} else := allow(sprintf("a %s step changes nothing on the systems secopsd watches", [input.step.type])) if {
	input.step.type in {"notify", "wait", "verify", "escalate"}
} else := deny(sprintf(
	"step type %q is unknown to the guardrail policy: only http, exec and build steps can be allowed",
	[object.get(input, ["step", "type"], "")],
)) if {
	not side_effecting
} else := deny(sprintf(
	"attempt %d exceeds the limit of 3 fix attempts per incident: a human takes over",
	[input.attempt],
)) if {
	input.attempt > 3
} else := deny("the build budget is spent: at most 5 automated builds run in any rolling hour") if {
	input.step.type == "build"
	input.builds_left < 1
} else := by_tier

default by_tier := {
	"decision": "deny",
	"reasons": ["the incident's tier is not MINOR, MAJOR or CRITICAL: nothing runs without a known tier"],
}

by_tier := critical if input.tier == "CRITICAL"

by_tier := major if input.tier == "MAJOR"

by_tier := minor if input.tier == "MINOR"

# critical: a human approves every side-effecting step.
critical := approval(
	[
		sprintf("CRITICAL incident: %s needs a human approval", [step_description]),
		"personal-data-breach incident: denied if nobody answers within 30 minutes, so that no unattended change touches the evidence",
	],
	"deny",
) if {
	input.incident.category == "personal-data-breach"
} else := approval(
	[
		sprintf("CRITICAL incident: %s needs a human approval", [step_description]),
		"approved if nobody answers within 30 minutes (the documented default for CRITICAL incidents)",
	],
	"approve",
)

# major: idempotent steps run after the diagnosis; builds and steps that
# must not run twice wait for a human.
major := approval(
	[
		sprintf("MAJOR incident: %s redeploys a service and needs a human approval", [step_description]),
		hours_note,
		"denied if nobody answers within 30 minutes",
	],
	"deny",
) if {
	input.step.type == "build"
} else := approval(
	[
		sprintf("MAJOR incident: %s is not idempotent and needs a human approval", [step_description]),
		"denied if nobody answers within 30 minutes",
	],
	"deny",
) if {
	not idempotent
} else := allow(sprintf(
	"MAJOR incident: %s is idempotent and runs unattended after the diagnosis, within the hard bounds",
	[step_description],
))

# minor: the playbook runs unattended, but nobody deploys at night alone.
minor := approval(
	[
		sprintf("MINOR incident, but %s is a build outside business hours (Monday to Friday, 08:00-18:00) and needs a human approval", [step_description]),
		"denied if nobody answers within 30 minutes",
	],
	"deny",
) if {
	input.step.type == "build"
	not business_hours
} else := allow(sprintf("MINOR incident: %s runs unattended, within the hard bounds", [step_description]))

# side_effecting is true for the step types that change the systems
# secopsd watches. It is a rule of its own because `not input.step.type in
# {...}` would not hold when the step has no type: OPA does not satisfy
# `not` over a call (`in` is one) whose argument is undefined.
side_effecting if input.step.type in {"http", "exec", "build"}

# business_hours is true from 08:00 to 18:00, Monday to Friday, in the
# daemon's time zone.
business_hours if {
	lower(input.weekday) in {"monday", "tuesday", "wednesday", "thursday", "friday"}
	input.hour >= 8
	input.hour < 18
}

hours_note := "requested during business hours" if {
	business_hours
} else := "requested outside business hours (Monday to Friday, 08:00-18:00), when fewer people watch a deploy"

idempotent if input.step.idempotent == true

# step_description names the step in reasons, e.g. `http step "restart" of
# playbook "auth"`.
step_description := sprintf("%s step %q of playbook %q", [
	object.get(input, ["step", "type"], ""),
	object.get(input, ["step", "name"], ""),
	object.get(input, "playbook", ""),
])

allow(reason) := {"decision": "allow", "reasons": [reason]}

deny(reason) := {"decision": "deny", "reasons": [reason]}

approval(reasons, on_timeout) := {
	"decision": "require_approval",
	"reasons": reasons,
	"timeout": "30m",
	"on_timeout": on_timeout,
}
