package secopsd.tier_test

import data.secopsd.tier

incident(severity) := {
	"severity": severity,
	"category": "availability",
	"monitor": "homepage",
	"kind": "monitor.check",
	"attributes": {},
}

test_critical_is_critical if {
	tier.tier == "CRITICAL" with input as incident("critical")
}

test_high_is_major if {
	tier.tier == "MAJOR" with input as incident("high")
}

test_lower_severities_are_minor if {
	every sev in ["medium", "low", "info", "unknown", "", "CRITICAL"] {
		tier.tier == "MINOR" with input as incident(sev)
	}
}

test_missing_severity_is_minor if {
	tier.tier == "MINOR" with input as {}
}
