package config

import (
	"testing"
	"time"
)

func TestSLAInvalidConfigs(t *testing.T) {
	runSectionInvalid(t, "testdata/sla", map[string]typeInvalidCase{
		"invalid-sla-timezone.yml":         {ErrInvalid, 2, "sla.timezone"},
		"invalid-sla-period.yml":           {ErrInvalid, 3, "sla.acknowledge.high"},
		"invalid-sla-business-days.yml":    {ErrInvalid, 3, "sla.resolve.critical"},
		"invalid-sla-too-long.yml":         {ErrInvalid, 3, "sla.resolve.high"},
		"invalid-sla-unknown-severity.yml": {ErrUnknownKey, 3, "sla.acknowledge.urgent"},
		"invalid-sla-breach-category.yml":  {ErrInvalid, 3, "sla.breach_notification.categories[0]"},
		"invalid-sla-not-mapping.yml":      {ErrType, 2, "sla.resolve"},
		"invalid-sla-breach-within.yml":    {ErrInvalid, 3, "sla.breach_notification.within"},
	})
}

func TestSLADefaults(t *testing.T) {
	cfg, err := parse([]byte("listen: 127.0.0.1:8080\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SLA
	if s.Timezone != "UTC" || s.Acknowledge.Critical != "2bd" || s.Acknowledge.Low != "2bd" || s.Acknowledge.Info != SLANone ||
		s.Resolve.Critical != "7d" || s.Resolve.High != "30d" || s.Resolve.Medium != SLANone ||
		s.BreachNotification.Within != "72h" || len(s.BreachNotification.Categories) != 1 || s.BreachNotification.Categories[0] != "personal-data-breach" {
		t.Errorf("default sla = %+v", s)
	}
}

// A key the file leaves out keeps its default; one it sets replaces it.
func TestSLAPartialOverride(t *testing.T) {
	cfg, err := parse([]byte(`
sla:
  timezone: Europe/Berlin
  resolve:
    medium: 90d
    critical: none
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.SLA
	if s.Resolve.Medium != "90d" || s.Resolve.Critical != "none" || s.Resolve.High != "30d" || s.Acknowledge.High != "2bd" {
		t.Errorf("sla = %+v", s)
	}
	loc, err := s.Location()
	if err != nil || loc.String() != "Europe/Berlin" {
		t.Errorf("Location = %v, %v", loc, err)
	}
}

func TestSLAPeriodParse(t *testing.T) {
	tests := []struct {
		in   SLAPeriod
		d    time.Duration
		bd   int
		fail bool
	}{
		{"2bd", 0, 2, false},
		{"260bd", 0, 260, false},
		{"7d", 7 * 24 * time.Hour, 0, false},
		{"72h", 72 * time.Hour, 0, false},
		{"1d12h", 36 * time.Hour, 0, false},
		{"90m", 90 * time.Minute, 0, false},
		{"none", 0, 0, false},
		{"0", 0, 0, false},
		{"", 0, 0, false},
		{"0bd", 0, 0, true},
		{"261bd", 0, 0, true},
		{"1.5bd", 0, 0, true},
		{"-2bd", 0, 0, true},
		{"bd", 0, 0, true},
		{"30s", 0, 0, true},
		{"366d", 0, 0, true},
		{"-1h", 0, 0, true},
		{"soon", 0, 0, true},
	}
	for _, tc := range tests {
		d, bd, err := tc.in.Parse()
		if (err != nil) != tc.fail || d != tc.d || bd != tc.bd {
			t.Errorf("Parse(%q) = %v, %d, %v; want %v, %d, fail=%v", tc.in, d, bd, err, tc.d, tc.bd, tc.fail)
		}
	}
}
