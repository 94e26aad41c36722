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
#   - one rule is led instead by startswith(input.kind, "correlation."),
#     which OPA indexes too (a prefix trie), so it costs nothing for other
#     kinds; no equality rule may name a correlation.* kind, so the two
#     never meet: the correlation.* kinds are told apart inside that rule's
#     else-chain, exact kinds first, then the fallback for the kinds of
#     any other configured correlation rule;
#   - a kind's branches form an else-chain that ends in an unconditional
#     else, so the kind's decision is always defined and never conflicts;
#   - `default decision` covers every kind without a rule.
# To classify a new kind, add one `decision := <helper> if input.kind ==
# "<kind>"` rule (or a constant object instead of <helper>) and write
# <helper> as an else-chain; for a correlation.<name> kind, add a branch to
# the `correlation` else-chain instead. BenchmarkClassifyRules checks that
# the cost stays flat up to 1,000 rules, and TestClassifyPolicyShape that
# every rule keeps this shape.
#
# Attributes are strings: counts and sizes are read with to_number, and a
# value that is not a number leaves its branch undefined, so the next
# branch of the else-chain applies.
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

# ---------------------------------------------------------------------------
# Monitors (kind monitor.check, produced by secopsd's scheduler).

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
# Categories are shared with the application kinds below where they are
# about the same thing (secrets, access control, rate limiting, TLS), so
# that playbooks and tiers can match on one category.
default monitor_category := "monitoring"

monitor_category := {
	"http": "availability",
	"ui": "ui-rendering",
	"headers": "web-hardening",
	"tls": "transport-security",
	"securitytxt": "vulnerability-disclosure",
	"postgres_rls": "data-access",
	"postgres_cascade": "data-lifecycle",
	"access": "access-control",
	"ratelimit": "rate-limiting",
	"secrets": "secret-exposure",
}[input.attributes.monitor_type]

# ---------------------------------------------------------------------------
# Authentication and access control. secopsd's own API records auth.failure
# and ratelimit.hit aggregated per subject and flush interval, with the
# number of occurrences in attributes.count; applications may do the same.

decision := auth_failure if input.kind == "auth.failure"

# auth_failure: low for a few failures; medium for a burst of 10 or more in
# one event, or for a revoked key or a replayed signed request (someone
# holds a credential they should not). None opens an incident: repeated
# failures across events are the credential-stuffing correlation's job.
auth_failure := {
	"severity": "medium",
	"category": "authentication",
	"open_incident": false,
	"reason": "10 or more authentication failures in one event (count)",
} if {
	to_number(input.attributes.count) >= 10
} else := {
	"severity": "medium",
	"category": "authentication",
	"open_incident": false,
	"reason": "authentication with a revoked key or a replayed signed request",
} if {
	input.attributes.reason in {"revoked", "replayed_nonce"}
} else := {
	"severity": "low",
	"category": "authentication",
	"open_incident": false,
	"reason": "authentication failure",
}

decision := {
	"severity": "medium",
	"category": "access-control",
	"open_incident": false,
	"reason": "a request for an administrative function was denied",
} if input.kind == "admin.access_denied"

decision := {
	"severity": "high",
	"category": "privilege-escalation",
	"open_incident": true,
	"reason": "a principal's role was escalated",
} if input.kind == "role.escalation"

decision := {
	"severity": "high",
	"category": "privilege-escalation",
	"open_incident": true,
	"reason": "a principal's privileges were changed",
} if input.kind == "privilege.change"

# The auditor UI's own sign-ins (audit of the auditors). A failed sign-in
# is low, like an API authentication failure; the events feed the
# correlation rules and the timeline of who looked at what.
decision := {
	"severity": "low",
	"category": "authentication",
	"open_incident": false,
	"reason": "failed sign-in to the auditor UI",
} if input.kind == "ui.signin_failed"

decision := {
	"severity": "info",
	"category": "audit",
	"open_incident": false,
	"reason": "sign-in to the auditor UI",
} if input.kind == "ui.signin"

decision := {
	"severity": "info",
	"category": "audit",
	"open_incident": false,
	"reason": "sign-out from the auditor UI",
} if input.kind == "ui.signout"

decision := ratelimit_hit if input.kind == "ratelimit.hit"

# ratelimit_hit: low for a rate-limit hit; medium when one event counts 100
# hits or more, or when the limit on failed authentications per address
# (class auth_failure: brute force) was hit.
ratelimit_hit := {
	"severity": "medium",
	"category": "rate-limiting",
	"open_incident": false,
	"reason": "100 or more rate-limit hits in one event (count)",
} if {
	to_number(input.attributes.count) >= 100
} else := {
	"severity": "medium",
	"category": "rate-limiting",
	"open_incident": false,
	"reason": "the limit on failed authentications per address was hit",
} if {
	input.attributes.class == "auth_failure"
} else := {
	"severity": "low",
	"category": "rate-limiting",
	"open_incident": false,
	"reason": "rate limit hit",
}

# ---------------------------------------------------------------------------
# Application integrity and change.

decision := {
	"severity": "medium",
	"category": "input-validation",
	"open_incident": false,
	"reason": "a request did not match the application's schema",
} if input.kind == "schema.violation"

decision := {
	"severity": "info",
	"category": "change-management",
	"open_incident": false,
	"reason": "deployment recorded",
} if input.kind == "deploy"

# ---------------------------------------------------------------------------
# Secrets, certificates and data.

decision := {
	"severity": "critical",
	"category": "secret-exposure",
	"open_incident": true,
	"reason": "a secret was leaked",
} if input.kind == "secret.leaked"

decision := tls_certificate_expiring if input.kind == "tls.certificate_expiring"

# tls_certificate_expiring follows the tls monitor's thresholds on
# attributes.days_left: critical within 7 days (or past expiry), medium
# within 30, low beyond. Without a valid days_left it is medium, as the
# sender reports an expiry it considers near.
tls_certificate_expiring := {
	"severity": "critical",
	"category": "transport-security",
	"open_incident": true,
	"reason": "certificate expires within 7 days (days_left)",
} if {
	to_number(input.attributes.days_left) <= 7
} else := {
	"severity": "medium",
	"category": "transport-security",
	"open_incident": true,
	"reason": "certificate expires within 30 days (days_left)",
} if {
	to_number(input.attributes.days_left) <= 30
} else := {
	"severity": "low",
	"category": "transport-security",
	"open_incident": false,
	"reason": "certificate expires in more than 30 days (days_left)",
} if {
	to_number(input.attributes.days_left) > 30
} else := {
	"severity": "medium",
	"category": "transport-security",
	"open_incident": true,
	"reason": "certificate expiry reported without a valid days_left",
}

decision := {
	"severity": "critical",
	"category": "transport-security",
	"open_incident": true,
	"reason": "a certificate has expired",
} if input.kind == "tls.certificate_expired"

decision := data_export if input.kind == "data.export"

# data_export: an export is low unless it is large: 10,000 records
# (attributes.records) or 100 MiB (attributes.bytes) and up are medium.
data_export := {
	"severity": "medium",
	"category": "data-access",
	"open_incident": false,
	"reason": "large data export: 10,000 or more records (records)",
} if {
	to_number(input.attributes.records) >= 10000
} else := {
	"severity": "medium",
	"category": "data-access",
	"open_incident": false,
	"reason": "large data export: 100 MiB or more (bytes)",
} if {
	to_number(input.attributes.bytes) >= 104857600
} else := {
	"severity": "low",
	"category": "data-access",
	"open_incident": false,
	"reason": "data export",
}

# A personal-data breach starts the 72-hour notification clock, which keys
# on the category "personal-data-breach".
decision := {
	"severity": "critical",
	"category": "personal-data-breach",
	"open_incident": true,
	"reason": "personal data breach: the 72-hour notification clock applies",
} if input.kind == "personal_data.breach"

# ---------------------------------------------------------------------------
# Events secopsd derives or records itself.

decision := correlation if startswith(input.kind, "correlation.")

# correlation classifies the events of secopsd's correlation rules (see
# decision): credential stuffing is high, rate-limit abuse medium or high,
# and the kind of any other configured rule medium; all open an incident,
# as a correlation rule exists to raise what single events do not.
correlation := {
	"severity": "high",
	"category": "authentication",
	"open_incident": true,
	"reason": "credential stuffing: many authentication failures from one source",
} if {
	input.kind == "correlation.credential_stuffing"
} else := ratelimit_abuse if {
	input.kind == "correlation.ratelimit_abuse"
} else := {
	"severity": "medium",
	"category": "correlation",
	"open_incident": true,
	"reason": "a correlation rule fired",
}

# ratelimit_abuse: sustained rate-limit hits from one source; high from
# 1,000 hits in the window (attributes.count), else medium.
ratelimit_abuse := {
	"severity": "high",
	"category": "rate-limiting",
	"open_incident": true,
	"reason": "rate-limit abuse: 1,000 or more hits in the window (count)",
} if {
	to_number(input.attributes.count) >= 1000
} else := {
	"severity": "medium",
	"category": "rate-limiting",
	"open_incident": true,
	"reason": "rate-limit abuse: repeated rate-limit hits from one source",
}

decision := {
	"severity": "info",
	"category": "retention",
	"open_incident": false,
	"reason": "retention purge recorded",
} if input.kind == "secopsd.retention.purge"
