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

# app returns an application event of kind with attributes.
app(kind, attributes) := {
	"kind": kind,
	"source": "billing-api",
	"fingerprint": "fp",
	"title": kind,
	"attributes": attributes,
}

# decide returns the decision for an application event.
decide(kind, attributes) := d if {
	d := classify.decision with input as app(kind, attributes)
}

# ---------------------------------------------------------------------------
# The decision rule itself.

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

test_every_monitor_type_has_its_category if {
	every type, category in {
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
	} {
		d := classify.decision with input as check("fail", {"monitor_type": type, "finding_severity": "medium"})
		d.category == category
		d.severity == "medium"
		d.open_incident
	}
}

test_unknown_monitor_type_is_monitoring if {
	every attrs in [{"monitor_type": "dns"}, {"monitor_type": "HTTP"}, {"monitor_type": ""}, {}] {
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
	every kind in ["app.unknown", "monitor.checks", "MONITOR.CHECK", "auth.failures", "deploy.started", "correlation", "Correlation.x", "xcorrelation.x", ""] {
		classify.decision == {
			"severity": "info",
			"category": "uncategorized",
			"open_incident": false,
			"reason": "no classification rule for this kind",
		} with input as {
			"kind": kind,
			"source": "app",
			"outcome": "fail",
			"attributes": {"monitor_type": "http", "finding_severity": "critical", "count": "1000"},
		}
	}
}

test_missing_kind_is_uncategorized if {
	d := classify.decision with input as {}
	d.category == "uncategorized"
	d.severity == "info"
	not d.open_incident
}

# Every decision, for every kind with a rule and a sample of attributes,
# has the four fields with the right types and a valid severity.
test_every_decision_is_well_formed if {
	every kind in [
		"monitor.check", "auth.failure", "admin.access_denied", "role.escalation",
		"privilege.change", "ratelimit.hit", "schema.violation", "deploy",
		"secret.leaked", "tls.certificate_expiring", "tls.certificate_expired",
		"data.export", "personal_data.breach", "correlation.credential_stuffing",
		"correlation.ratelimit_abuse", "correlation.other", "secopsd.retention.purge",
		"ui.signin", "ui.signin_failed", "ui.signout", "other",
	] {
		every attrs in [{}, {"count": "5000", "days_left": "3", "records": "1", "reason": "revoked"}, {"count": "x", "days_left": "x"}] {
			d := decide(kind, attrs)
			object.keys(d) == {"severity", "category", "open_incident", "reason"}
			d.severity in {"info", "low", "medium", "high", "critical"}
			is_string(d.category)
			d.category != ""
			is_boolean(d.open_incident)
			is_string(d.reason)
			d.reason != ""
		}
	}
}

# ---------------------------------------------------------------------------
# Authentication and access control.

test_auth_failure_single_is_low if {
	every attrs in [{}, {"count": "1", "reason": "bad_secret", "ip": "192.0.2.1"}, {"count": "9"}, {"count": "-20"}] {
		decide("auth.failure", attrs) == {
			"severity": "low",
			"category": "authentication",
			"open_incident": false,
			"reason": "authentication failure",
		}
	}
}

test_auth_failure_burst_is_medium if {
	every n in ["10", "11", "250", "10.0", "1e6"] {
		decide("auth.failure", {"count": n, "reason": "unknown_key"}) == {
			"severity": "medium",
			"category": "authentication",
			"open_incident": false,
			"reason": "10 or more authentication failures in one event (count)",
		}
	}
}

test_auth_failure_stolen_credential_is_medium if {
	every reason in ["revoked", "replayed_nonce"] {
		decide("auth.failure", {"count": "1", "reason": reason}) == {
			"severity": "medium",
			"category": "authentication",
			"open_incident": false,
			"reason": "authentication with a revoked key or a replayed signed request",
		}
	}
}

test_auth_failure_other_reasons_are_low if {
	every reason in ["missing", "malformed", "bad_signature", "expired", "REVOKED", ""] {
		d := decide("auth.failure", {"count": "1", "reason": reason})
		d.severity == "low"
	}
}

test_auth_failure_count_not_a_number_falls_through if {
	every bad in ["", "ten", "10x", " "] {
		decide("auth.failure", {"count": bad}).severity == "low"
		decide("auth.failure", {"count": bad, "reason": "revoked"}).reason == "authentication with a revoked key or a replayed signed request"
	}
}

test_admin_access_denied_is_medium if {
	decide("admin.access_denied", {"route": "/admin/users", "count": "500"}) == {
		"severity": "medium",
		"category": "access-control",
		"open_incident": false,
		"reason": "a request for an administrative function was denied",
	}
}

test_role_escalation_is_high_and_opens if {
	decide("role.escalation", {}) == {
		"severity": "high",
		"category": "privilege-escalation",
		"open_incident": true,
		"reason": "a principal's role was escalated",
	}
}

test_privilege_change_is_high_and_opens if {
	decide("privilege.change", {"role": "admin"}) == {
		"severity": "high",
		"category": "privilege-escalation",
		"open_incident": true,
		"reason": "a principal's privileges were changed",
	}
}

test_ratelimit_hit_is_low if {
	every attrs in [{}, {"count": "1", "class": "read", "scope": "key"}, {"count": "99", "class": "ingest"}, {"count": "many"}] {
		decide("ratelimit.hit", attrs) == {
			"severity": "low",
			"category": "rate-limiting",
			"open_incident": false,
			"reason": "rate limit hit",
		}
	}
}

test_ratelimit_hit_many_is_medium if {
	every n in ["100", "5000"] {
		decide("ratelimit.hit", {"count": n, "class": "read"}) == {
			"severity": "medium",
			"category": "rate-limiting",
			"open_incident": false,
			"reason": "100 or more rate-limit hits in one event (count)",
		}
	}
}

test_ratelimit_hit_auth_failure_class_is_medium if {
	decide("ratelimit.hit", {"count": "1", "class": "auth_failure", "scope": "ip"}) == {
		"severity": "medium",
		"category": "rate-limiting",
		"open_incident": false,
		"reason": "the limit on failed authentications per address was hit",
	}
}

# ---------------------------------------------------------------------------
# Application integrity and change.

test_schema_violation_is_medium if {
	decide("schema.violation", {"route": "/api/orders"}) == {
		"severity": "medium",
		"category": "input-validation",
		"open_incident": false,
		"reason": "a request did not match the application's schema",
	}
}

test_ui_signin_failed_is_low_authentication if {
	decide("ui.signin_failed", {"reason": "unknown_key", "ip": "192.0.2.1"}) == {
		"severity": "low",
		"category": "authentication",
		"open_incident": false,
		"reason": "failed sign-in to the auditor UI",
	}
}

test_ui_signin_and_signout_are_audit_info if {
	d1 := decide("ui.signin", {})
	d1.severity == "info"
	d1.category == "audit"
	not d1.open_incident
	d2 := decide("ui.signout", {})
	d2.severity == "info"
	d2.category == "audit"
	not d2.open_incident
}

test_deploy_is_info if {
	decide("deploy", {"version": "1.2.3"}) == {
		"severity": "info",
		"category": "change-management",
		"open_incident": false,
		"reason": "deployment recorded",
	}
}

# ---------------------------------------------------------------------------
# Secrets, certificates and data.

test_secret_leaked_is_critical_and_opens if {
	decide("secret.leaked", {"rule": "aws-access-key"}) == {
		"severity": "critical",
		"category": "secret-exposure",
		"open_incident": true,
		"reason": "a secret was leaked",
	}
}

test_certificate_expiring_soon_is_critical if {
	every days in ["7", "1", "0", "-3", "6.5"] {
		decide("tls.certificate_expiring", {"days_left": days}) == {
			"severity": "critical",
			"category": "transport-security",
			"open_incident": true,
			"reason": "certificate expires within 7 days (days_left)",
		}
	}
}

test_certificate_expiring_within_30_days_is_medium if {
	every days in ["8", "7.5", "30"] {
		decide("tls.certificate_expiring", {"days_left": days}) == {
			"severity": "medium",
			"category": "transport-security",
			"open_incident": true,
			"reason": "certificate expires within 30 days (days_left)",
		}
	}
}

test_certificate_expiring_later_is_low if {
	every days in ["31", "30.5", "365"] {
		decide("tls.certificate_expiring", {"days_left": days}) == {
			"severity": "low",
			"category": "transport-security",
			"open_incident": false,
			"reason": "certificate expires in more than 30 days (days_left)",
		}
	}
}

test_certificate_expiring_without_days_is_medium if {
	every attrs in [{}, {"days_left": ""}, {"days_left": "soon"}, {"days": "3"}] {
		decide("tls.certificate_expiring", attrs) == {
			"severity": "medium",
			"category": "transport-security",
			"open_incident": true,
			"reason": "certificate expiry reported without a valid days_left",
		}
	}
}

test_certificate_expired_is_critical if {
	decide("tls.certificate_expired", {"days_left": "100"}) == {
		"severity": "critical",
		"category": "transport-security",
		"open_incident": true,
		"reason": "a certificate has expired",
	}
}

test_data_export_is_low if {
	every attrs in [{}, {"records": "9999", "bytes": "104857599"}, {"records": "lots"}, {"bytes": "1 GiB"}] {
		decide("data.export", attrs) == {
			"severity": "low",
			"category": "data-access",
			"open_incident": false,
			"reason": "data export",
		}
	}
}

test_data_export_many_records_is_medium if {
	every attrs in [{"records": "10000"}, {"records": "2000000", "bytes": "10"}] {
		decide("data.export", attrs) == {
			"severity": "medium",
			"category": "data-access",
			"open_incident": false,
			"reason": "large data export: 10,000 or more records (records)",
		}
	}
}

test_data_export_many_bytes_is_medium if {
	every attrs in [{"bytes": "104857600"}, {"records": "12", "bytes": "5000000000"}, {"records": "n/a", "bytes": "104857600"}] {
		decide("data.export", attrs) == {
			"severity": "medium",
			"category": "data-access",
			"open_incident": false,
			"reason": "large data export: 100 MiB or more (bytes)",
		}
	}
}

test_personal_data_breach_is_critical_and_opens if {
	decide("personal_data.breach", {"records": "1"}) == {
		"severity": "critical",
		"category": "personal-data-breach",
		"open_incident": true,
		"reason": "personal data breach: the 72-hour notification clock applies",
	}
}

# ---------------------------------------------------------------------------
# Events secopsd derives or records itself.

test_credential_stuffing_is_high_and_opens if {
	d := classify.decision with input as {
		"kind": "correlation.credential_stuffing",
		"source": "secopsd/correlator",
		"attributes": {"rule": "credential_stuffing", "ip": "192.0.2.7", "count": "20"},
	}
	d == {
		"severity": "high",
		"category": "authentication",
		"open_incident": true,
		"reason": "credential stuffing: many authentication failures from one source",
	}
}

test_ratelimit_abuse_is_medium if {
	every attrs in [{}, {"count": "999"}, {"count": "x"}] {
		decide("correlation.ratelimit_abuse", attrs) == {
			"severity": "medium",
			"category": "rate-limiting",
			"open_incident": true,
			"reason": "rate-limit abuse: repeated rate-limit hits from one source",
		}
	}
}

test_ratelimit_abuse_large_is_high if {
	every n in ["1000", "250000"] {
		decide("correlation.ratelimit_abuse", {"count": n}) == {
			"severity": "high",
			"category": "rate-limiting",
			"open_incident": true,
			"reason": "rate-limit abuse: 1,000 or more hits in the window (count)",
		}
	}
}

test_other_correlation_is_medium_and_opens if {
	every kind in ["correlation.monitor_flapping", "correlation.admin_denied_burst", "correlation.", "correlation.credential_stuffing.v2", "correlation.Credential_Stuffing"] {
		decide(kind, {"count": "5000"}) == {
			"severity": "medium",
			"category": "correlation",
			"open_incident": true,
			"reason": "a correlation rule fired",
		}
	}
}

# A kind with its own rule never takes the correlation.* fallback, so the
# two never conflict.
test_correlation_rules_win_over_the_fallback if {
	every kind in ["correlation.credential_stuffing", "correlation.ratelimit_abuse"] {
		d := decide(kind, {})
		d.reason != "a correlation rule fired"
		d.category != "correlation"
	}
}

test_retention_purge_is_info if {
	decide("secopsd.retention.purge", {"data_type": "events", "deleted": "120000"}) == {
		"severity": "info",
		"category": "retention",
		"open_incident": false,
		"reason": "retention purge recorded",
	}
}
