package secopsd.classify_test

import data.secopsd.classify

check(outcome, attributes) := {
	"kind": "monitor.check",
	"source": "monitor",
	"monitor": "homepage",
	"outcome": outcome,
	"fingerprint": "fp",
	"title": "homepage check",
	"attributes": attributes,
}

test_fail_without_finding_severity_is_high if {
	classify.decision == {
		"severity": "high",
		"category": "availability",
		"open_incident": true,
		"reason": "monitor check failed; no valid finding_severity, default high",
	} with input as check("fail", {"monitor_type": "http"})
}

test_fail_takes_each_valid_finding_severity if {
	every sev, opens in {
		"info": false,
		"low": false,
		"medium": true,
		"high": true,
		"critical": true,
	} {
		classify.decision == {
			"severity": sev,
			"category": "availability",
			"open_incident": opens,
			"reason": "monitor check failed; severity from finding_severity",
		} with input as check("fail", {"monitor_type": "http", "finding_severity": sev})
	}
}

test_fail_invalid_finding_severity_is_high if {
	every bad in ["urgent", "unknown", "", "severity(9)", "HIGH", " low"] {
		d := classify.decision with input as check("fail", {"monitor_type": "http", "finding_severity": bad})
		d.severity == "high"
		d.open_incident
		d.reason == "monitor check failed; no valid finding_severity, default high"
	}
}

test_fail_without_attributes if {
	classify.decision == {
		"severity": "high",
		"category": "monitoring",
		"open_incident": true,
		"reason": "monitor check failed; no valid finding_severity, default high",
	} with input as {"kind": "monitor.check", "outcome": "fail"}
}

test_unknown_monitor_type_is_monitoring if {
	every attrs in [{"monitor_type": "tls"}, {"monitor_type": ""}, {}] {
		d := classify.decision with input as check("fail", attrs)
		d.category == "monitoring"
	}
}

test_pass_is_info_without_incident if {
	classify.decision == {
		"severity": "info",
		"category": "availability",
		"open_incident": false,
		"reason": "monitor check passed",
	} with input as check("pass", {"monitor_type": "http", "finding_severity": "critical"})
}

test_pass_unknown_monitor_type if {
	d := classify.decision with input as check("pass", {"monitor_type": "dns"})
	d.category == "monitoring"
	not d.open_incident
}

test_check_without_outcome_is_info if {
	every outcome in ["", "error", "FAIL"] {
		classify.decision == {
			"severity": "info",
			"category": "availability",
			"open_incident": false,
			"reason": "monitor check without a pass or fail outcome",
		} with input as check(outcome, {"monitor_type": "http"})
	}
}

test_unknown_kind_is_uncategorized if {
	every kind in ["auth.failure", "monitor.checks", "MONITOR.CHECK", ""] {
		classify.decision == {
			"severity": "info",
			"category": "uncategorized",
			"open_incident": false,
			"reason": "no classification rule for this kind",
		} with input as {
			"kind": kind,
			"source": "app",
			"outcome": "fail",
			"attributes": {"monitor_type": "http", "finding_severity": "critical"},
		}
	}
}

test_missing_kind_is_uncategorized if {
	d := classify.decision with input as {}
	d.category == "uncategorized"
	d.severity == "info"
	not d.open_incident
}
