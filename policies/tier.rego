# Package secopsd.tier chooses an incident's tier, which decides how much
# human involvement its remediation needs:
#   MINOR     a matching auto-fix playbook runs unattended;
#   MAJOR     a diagnosis step first, then bounded autonomous resolution;
#   CRITICAL  every side-effecting step needs a human approval
#             (policies/actions.rego).
#
# Input: {severity, category, monitor, kind, attributes: {string: string}};
#        severity is one of info, low, medium, high, critical (or unknown).
#
# The tiers, most severe first:
#   - incidents of a category with legal or credential consequences
#     (personal-data-breach: the 72-hour notification clock runs;
#     secret-exposure: a credential is public) are CRITICAL whatever their
#     severity;
#   - otherwise a critical severity is CRITICAL and a high one MAJOR,
#     except for availability incidents: a service that is down but not
#     critically so is MINOR, because its fix (restart, fail over to a
#     fallback) is the routine an unattended playbook exists for, and
#     every side-effecting step still passes policies/actions.rego;
#   - a medium incident of a security category (authentication,
#     access-control, privilege-escalation, data-access) is MAJOR, so that
#     it is diagnosed before anything acts;
#   - everything else is MINOR.
# Attributes come from the events (ultimately from the applications that
# push them) and are never trusted to raise or lower a tier.
#
# Exactly one tier exists for every input:
#   - every rule is led by an equality on input.category or input.severity
#     against its own constant, so OPA's rule index selects the few that
#     can apply;
#   - rules that can match together give the same tier (the high rule
#     excludes the categories that are CRITICAL by themselves), so they
#     never conflict;
#   - `default tier` covers everything else.
package secopsd.tier

default tier := "MINOR"

tier := "CRITICAL" if input.category == "personal-data-breach"

tier := "CRITICAL" if input.category == "secret-exposure"

tier := "CRITICAL" if input.severity == "critical"

tier := "MAJOR" if {
	input.severity == "high"
	not fixed_category
	not routine_category
}

tier := "MAJOR" if {
	input.severity == "medium"
	input.category in {"authentication", "access-control", "privilege-escalation", "data-access"}
}

# fixed_category is true for the categories whose tier does not depend on
# the severity.
fixed_category if input.category in {"personal-data-breach", "secret-exposure"}

# routine_category is true for the categories whose high-severity
# incidents are fixed unattended (MINOR).
routine_category if input.category == "availability"
