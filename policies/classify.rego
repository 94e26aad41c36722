# Package secopsd.classify turns one event into a decision: its severity,
# category, whether it opens an incident, and why.
#
# Input:    {kind, source, monitor, outcome, fingerprint, title,
#            attributes: {string: string}}
# Decision: {severity, category, open_incident, reason}; severity is one of
#           info, low, medium, high, critical.
#
# Exactly one decision exists for every input:
#   - each top-level `decision` rule is led by an equality on input.kind
#     against its own constant, so OPA's rule index selects at most one of
#     them whatever the number of kinds;
#   - a kind's branches form an else-chain that ends in an unconditional
#     else, so the kind's decision is always defined and never conflicts;
#   - `default decision` covers every kind without a rule.
# To classify a new kind, add one `decision := <helper> if input.kind == "<kind>"`
# rule and write <helper> as an else-chain.
#
# Sets and maps are written inline in rule bodies: a constant rule such as
# `severities := {...}` is rebuilt on every evaluation, which costs
# allocations on the hot path.
package secopsd.classify

default decision := {
	"severity": "info",
	"category": "uncategorized",
	"open_incident": false,
	"reason": "no classification rule for this kind",
}

decision := monitor_check if input.kind == "monitor.check"

# monitor_check classifies the result of a scheduled monitor check. A
# failure takes the severity of the monitor's finding when that is a valid
# severity name, else high; it opens an incident from medium up. A pass is
# info and opens nothing.
monitor_check := {
	"severity": sev,
	"category": monitor_category,
	"open_incident": sev in {"medium", "high", "critical"},
	"reason": "monitor check failed; severity from finding_severity",
} if {
	input.outcome == "fail"
	sev := input.attributes.finding_severity
	sev in {"info", "low", "medium", "high", "critical"}
} else := {
	"severity": "high",
	"category": monitor_category,
	"open_incident": true,
	"reason": "monitor check failed; no valid finding_severity, default high",
} if {
	input.outcome == "fail"
} else := {
	"severity": "info",
	"category": monitor_category,
	"open_incident": false,
	"reason": "monitor check passed",
} if {
	input.outcome == "pass"
} else := {
	"severity": "info",
	"category": monitor_category,
	"open_incident": false,
	"reason": "monitor check without a pass or fail outcome",
}

# monitor_category is the category of the monitor type (attributes.monitor_type)
# that produced the event; a type without an entry here is "monitoring".
default monitor_category := "monitoring"

monitor_category := {
	"http": "availability",
}[input.attributes.monitor_type]
