package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// retentionInvalidDir holds one invalid retention section per file.
const retentionInvalidDir = "testdata/retention"

func TestRetentionInvalidConfigs(t *testing.T) {
	tests := map[string]typeInvalidCase{
		"invalid-retention-events-short.yml":               {ErrInvalid, 2, "retention.events"},
		"invalid-retention-events-long.yml":                {ErrInvalid, 2, "retention.events"},
		"invalid-retention-nonces-short.yml":               {ErrInvalid, 2, "retention.nonces"},
		"invalid-retention-nonces-long.yml":                {ErrInvalid, 2, "retention.nonces"},
		"invalid-retention-correlation-state.yml":          {ErrInvalid, 2, "retention.correlation_state"},
		"invalid-retention-interval.yml":                   {ErrInvalid, 2, "retention.interval"},
		"invalid-retention-timelines.yml":                  {ErrInvalid, 2, "retention.timelines"},
		"invalid-retention-unknown-key.yml":                {ErrUnknownKey, 2, "retention.raw_events"},
		"invalid-retention-bad-duration.yml":               {ErrDuration, 2, "retention.events"},
		"invalid-retention-max-event-age.yml":              {ErrInvalid, 2, "siem.max_event_age"},
		"invalid-retention-events-below-max-event-age.yml": {ErrInvalid, 3, "retention.events"},
	}
	runSectionInvalid(t, retentionInvalidDir, tests)
}

// TestRetentionCrossCheckNamesBothKeys: the max_event_age problem names
// both keys and their values, wherever it is located.
func TestRetentionCrossCheckNamesBothKeys(t *testing.T) {
	for _, name := range []string{"invalid-retention-max-event-age.yml", "invalid-retention-events-below-max-event-age.yml"} {
		data, err := os.ReadFile(filepath.Join(retentionInvalidDir, name))
		if err != nil {
			t.Fatal(err)
		}
		_, err = parse(data, name, testEnv)
		if err == nil {
			t.Fatalf("%s: parse succeeded", name)
		}
		for _, want := range []string{"siem.max_event_age", "retention.events"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %s", name, err, want)
			}
		}
	}
	// A configuration built in Go is checked too.
	cfg := Default()
	cfg.Retention.Events = Duration(24 * time.Hour)
	if err := cfg.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "retention.events (1d)") {
		t.Errorf("Validate = %v, want the cross-check", err)
	}
	cfg.SIEM.MaxEventAge = Duration(24 * time.Hour)
	if err := cfg.Validate(); err != nil {
		t.Errorf("max_event_age equal to retention.events: %v", err)
	}
}

func TestRetentionDefaults(t *testing.T) {
	cfg, err := parse([]byte("listen: 127.0.0.1:8080\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := RetentionConfig{
		Events:           Duration(7 * 24 * time.Hour),
		Nonces:           Duration(10 * time.Minute),
		CorrelationState: Duration(24 * time.Hour),
		Interval:         Duration(time.Hour),
		Timelines:        "keep",
	}
	if cfg.Retention != want {
		t.Errorf("defaults = %+v, want %+v", cfg.Retention, want)
	}
	if cfg.SIEM.MaxEventAge != cfg.Retention.Events {
		t.Errorf("default siem.max_event_age %s differs from retention.events %s", cfg.SIEM.MaxEventAge, cfg.Retention.Events)
	}
}

func TestRetentionParse(t *testing.T) {
	cfg, err := parse([]byte(`siem:
  max_event_age: 1d
retention:
  events: 30d
  nonces: 15m
  correlation_state: 2h
  interval: 5m
  timelines: keep
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := RetentionConfig{
		Events:           Duration(30 * 24 * time.Hour),
		Nonces:           Duration(15 * time.Minute),
		CorrelationState: Duration(2 * time.Hour),
		Interval:         Duration(5 * time.Minute),
		Timelines:        "keep",
	}
	if cfg.Retention != want {
		t.Errorf("retention = %+v, want %+v", cfg.Retention, want)
	}
	// The bounds themselves are allowed.
	if _, err := parse([]byte(`siem:
  max_event_age: 1h
retention:
  events: 1h
  nonces: 10m
  correlation_state: 1h
  interval: 1m
`), "t.yml", testEnv); err != nil {
		t.Fatalf("lower bounds: %v", err)
	}
	if _, err := parse([]byte("retention:\n  events: 3650d\n  nonces: 1d\n  correlation_state: 3650d\n  interval: 1d\n"), "t.yml", testEnv); err != nil {
		t.Fatalf("upper bounds: %v", err)
	}
}
