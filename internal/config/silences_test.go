package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSilencesInvalidConfigs(t *testing.T) {
	runSectionInvalid(t, "testdata/silences", map[string]typeInvalidCase{
		"invalid-silence-name-missing.yml":       {ErrMissing, 2, "silences[0].name"},
		"invalid-silence-name-duplicate.yml":     {ErrDuplicate, 6, "silences[1].name"},
		"invalid-silence-no-matcher.yml":         {ErrMissing, 2, "silences[0]"},
		"invalid-silence-unknown-monitor.yml":    {ErrInvalid, 4, "silences[0].monitors[0]"},
		"invalid-silence-category.yml":           {ErrInvalid, 5, "silences[0].categories[1]"},
		"invalid-silence-duplicate-category.yml": {ErrDuplicate, 3, "silences[0].categories[2]"},
		"invalid-silence-start-format.yml":       {ErrInvalid, 4, "silences[0].start"},
		"invalid-silence-end-missing.yml":        {ErrMissing, 2, "silences[0].end"},
		"invalid-silence-end-before-start.yml":   {ErrInvalid, 5, "silences[0].end"},
		"invalid-silence-unknown-key.yml":        {ErrUnknownKey, 5, "silences[0].until"},
	})
}

// The unknown-monitor message says what is expected.
func TestSilenceUnknownMonitorMessage(t *testing.T) {
	data, err := os.ReadFile("testdata/silences/invalid-silence-unknown-monitor.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = parse(data, "s.yml", testEnv)
	if err == nil || !strings.Contains(err.Error(), `unknown monitor "api-healht"`) || !strings.Contains(err.Error(), "configured monitor") {
		t.Errorf("error = %v; want it to name the monitor and what is expected", err)
	}
}

func TestSilencesParse(t *testing.T) {
	cfg, err := parse([]byte(`
silences:
  - name: db-upgrade
    monitors: [api-health]
    categories: ["*"]
    start: 2026-12-06T02:00:00+01:00
    end: "2026-12-06T04:00:00+01:00"
    comment: PostgreSQL upgrade, CHG-1234
  - name: freeze
    monitors: ["*"]
    start: 2026-12-24T00:00:00Z
    end: 2026-12-27T00:00:00Z
monitors:
  - name: api-health
    type: http
    url: http://127.0.0.1:9000/healthz
`), "s.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Silences) != 2 {
		t.Fatalf("silences = %+v", cfg.Silences)
	}
	s := cfg.Silences[0]
	want := SilenceConfig{Name: "db-upgrade", Monitors: []string{"api-health"}, Categories: []string{"*"},
		Start: "2026-12-06T02:00:00+01:00", End: "2026-12-06T04:00:00+01:00", Comment: "PostgreSQL upgrade, CHG-1234"}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("silence = %+v, want %+v", s, want)
	}
	start, end, err := s.Window()
	if err != nil {
		t.Fatal(err)
	}
	if !start.Equal(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)) || end.Sub(start) != 2*time.Hour {
		t.Errorf("window = %v – %v", start, end)
	}
	if Default().Silences != nil {
		t.Errorf("default silences = %v, want none", Default().Silences)
	}
}
