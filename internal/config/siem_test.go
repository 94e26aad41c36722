package config

import (
	"reflect"
	"testing"
	"time"
)

// siemInvalidDir holds one invalid siem section per file.
const siemInvalidDir = "testdata/siem"

func TestSIEMInvalidConfigs(t *testing.T) {
	tests := map[string]typeInvalidCase{
		"invalid-siem-max-events.yml":           {ErrInvalid, 2, "siem.max_request_events"},
		"invalid-siem-max-bytes.yml":            {ErrInvalid, 3, "siem.max_request_bytes"},
		"invalid-siem-queue-size.yml":           {ErrInvalid, 2, "siem.queue_size"},
		"invalid-siem-batch-rows.yml":           {ErrInvalid, 2, "siem.batch_max_rows"},
		"invalid-siem-batch-interval.yml":       {ErrInvalid, 2, "siem.batch_interval"},
		"invalid-siem-max-age.yml":              {ErrInvalid, 2, "siem.max_event_age"},
		"invalid-siem-allow-key.yml":            {ErrInvalid, 3, "siem.attributes.allow[1]"},
		"invalid-siem-deny-duplicate.yml":       {ErrDuplicate, 5, "siem.attributes.deny[1]"},
		"invalid-siem-fingerprint-not-list.yml": {ErrType, 2, "siem.fingerprint_attributes"},
		"invalid-siem-unknown-key.yml":          {ErrUnknownKey, 2, "siem.queue"},
	}
	runSectionInvalid(t, siemInvalidDir, tests)
}

func TestSIEMDefaults(t *testing.T) {
	cfg, err := parse([]byte("listen: 127.0.0.1:8080\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := SIEMConfig{
		MaxRequestEvents: 1000,
		MaxRequestBytes:  1 << 20,
		MaxEventAge:      Duration(7 * 24 * time.Hour),
		QueueSize:        64,
		BatchMaxRows:     1000,
		BatchInterval:    Duration(20 * time.Millisecond),
	}
	if !reflect.DeepEqual(cfg.SIEM, want) {
		t.Errorf("defaults = %+v, want %+v", cfg.SIEM, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}
}

func TestSIEMParse(t *testing.T) {
	cfg, err := parse([]byte(`siem:
  max_request_events: 500
  max_request_bytes: 2097152
  max_event_age: 1d
  queue_size: 8
  batch_max_rows: 5000
  batch_interval: 0s
  fingerprint_attributes: [user, ip]
  attributes:
    allow: [user, ip, route, status]
    deny: [internal_note]
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := SIEMConfig{
		MaxRequestEvents:      500,
		MaxRequestBytes:       2 << 20,
		MaxEventAge:           Duration(24 * time.Hour),
		QueueSize:             8,
		BatchMaxRows:          5000,
		BatchInterval:         0,
		FingerprintAttributes: []string{"user", "ip"},
		Attributes: SIEMAttributes{
			Allow: []string{"user", "ip", "route", "status"},
			Deny:  []string{"internal_note"},
		},
	}
	if !reflect.DeepEqual(cfg.SIEM, want) {
		t.Errorf("siem = %+v, want %+v", cfg.SIEM, want)
	}
}
