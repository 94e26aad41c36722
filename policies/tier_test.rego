package secopsd.tier_test

import data.secopsd.tier

incident(severity, category) := {
	"severity": severity,
	"category": category,
	"monitor": "homepage",
	"kind": "monitor.check",
	"attributes": {},
}

test_critical_is_critical if {
	every category in ["availability", "authentication", "web-hardening", "", "personal-data-breach"] {
		tier.tier == "CRITICAL" with input as incident("critical", category)
	}
}

test_high_is_major if {
	every category in ["authentication", "data-access", "rate-limiting", "web-hardening", "Availability", ""] {
		tier.tier == "MAJOR" with input as incident("high", category)
	}
}

test_high_availability_is_minor if {
	tier.tier == "MINOR" with input as incident("high", "availability")
}

test_critical_availability_is_critical if {
	tier.tier == "CRITICAL" with input as incident("critical", "availability")
}

test_lower_severities_are_minor if {
	every sev in ["medium", "low", "info", "unknown", "", "CRITICAL", "High"] {
		tier.tier == "MINOR" with input as incident(sev, "availability")
	}
}

test_missing_severity_is_minor if {
	tier.tier == "MINOR" with input as {}
}

test_missing_category_is_tiered_by_severity if {
	tier.tier == "MAJOR" with input as {"severity": "high"}
	tier.tier == "CRITICAL" with input as {"severity": "critical"}
	tier.tier == "MINOR" with input as {"severity": "medium"}
}

test_breach_and_secret_exposure_are_critical_at_any_severity if {
	every category in ["personal-data-breach", "secret-exposure"] {
		every sev in ["critical", "high", "medium", "low", "info", "unknown", ""] {
			tier.tier == "CRITICAL" with input as incident(sev, category)
		}
	}
}

test_breach_without_severity_is_critical if {
	tier.tier == "CRITICAL" with input as {"category": "personal-data-breach"}
}

test_critical_categories_match_exactly if {
	every category in ["Personal-Data-Breach", "personal_data_breach", "secret-exposure ", "secrets"] {
		tier.tier == "MINOR" with input as incident("low", category)
	}
}

test_medium_security_category_is_major if {
	every category in ["authentication", "access-control", "privilege-escalation", "data-access"] {
		tier.tier == "MAJOR" with input as incident("medium", category)
	}
}

test_low_security_category_is_minor if {
	every category in ["authentication", "access-control", "privilege-escalation", "data-access"] {
		every sev in ["low", "info", "unknown"] {
			tier.tier == "MINOR" with input as incident(sev, category)
		}
	}
}

test_medium_other_category_is_minor if {
	every category in ["availability", "web-hardening", "rate-limiting", "monitoring", "Authentication", ""] {
		tier.tier == "MINOR" with input as incident("medium", category)
	}
}

test_attributes_never_change_the_tier if {
	every attrs in [{"tier": "CRITICAL"}, {"tier_override": "MINOR"}, {"category": "personal-data-breach"}] {
		tier.tier == "MINOR" with input as object.union(incident("low", "availability"), {"attributes": attrs})
		tier.tier == "MAJOR" with input as object.union(incident("high", "authentication"), {"attributes": attrs})
	}
}

test_monitor_and_kind_do_not_change_the_tier if {
	every monitor in ["secrets", "postgres_rls", ""] {
		tier.tier == "MINOR" with input as object.union(incident("low", "availability"), {"monitor": monitor, "kind": "secret.leaked"})
	}
}
