# Package secopsd.tier chooses an incident's tier, which decides how much
# human involvement its remediation needs.
#
# Input: {severity, category, monitor, kind, attributes: {string: string}}.
#
# Each rule starts with an equality on input.severity against a distinct
# constant, so OPA indexes them and at most one can match; everything else
# is MINOR.
package secopsd.tier

default tier := "MINOR"

tier := "CRITICAL" if input.severity == "critical"

tier := "MAJOR" if input.severity == "high"
