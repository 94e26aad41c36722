package config

import (
	"reflect"
	"testing"
	"time"
)

// correlationInvalidDir holds one invalid siem.correlation per file.
const correlationInvalidDir = "testdata/correlation"

func TestCorrelationInvalidConfigs(t *testing.T) {
	const r = "siem.correlation.rules"
	tests := map[string]typeInvalidCase{
		"invalid-correlation-name-missing.yml":            {ErrMissing, 4, r + "[0].name"},
		"invalid-correlation-name-duplicate.yml":          {ErrDuplicate, 9, r + "[1].name"},
		"invalid-correlation-name.yml":                    {ErrInvalid, 4, r + "[0].name"},
		"invalid-correlation-kinds-missing.yml":           {ErrMissing, 5, r + "[0].match.kinds"},
		"invalid-correlation-kind-derived.yml":            {ErrInvalid, 7, r + "[0].match.kinds[0]"},
		"invalid-correlation-group-by.yml":                {ErrInvalid, 8, r + "[0].group_by[1]"},
		"invalid-correlation-group-by-builtin.yml":        {ErrInvalid, 7, r + "[0].group_by[0]"},
		"invalid-correlation-group-by-duplicate.yml":      {ErrDuplicate, 8, r + "[0].group_by[1]"},
		"invalid-correlation-window-missing.yml":          {ErrMissing, 4, r + "[0].window"},
		"invalid-correlation-window-long.yml":             {ErrInvalid, 6, r + "[0].window"},
		"invalid-correlation-window-retention.yml":        {ErrInvalid, 6, r + "[0].window"},
		"invalid-correlation-threshold.yml":               {ErrInvalid, 7, r + "[0].threshold"},
		"invalid-correlation-count-attribute.yml":         {ErrInvalid, 8, r + "[0].count_attribute"},
		"invalid-correlation-emit-kind.yml":               {ErrInvalid, 9, r + "[0].emit.kind"},
		"invalid-correlation-emit-kind-missing.yml":       {ErrMissing, 8, r + "[0].emit.kind"},
		"invalid-correlation-title-placeholder.yml":       {ErrInvalid, 11, r + "[0].emit.title"},
		"invalid-correlation-emit-attribute-reserved.yml": {ErrInvalid, 13, r + "[0].emit.attributes.ip"},
		"invalid-correlation-match-attribute-key.yml":     {ErrInvalid, 8, r + `[0].match.attributes["login route"]`},
		"invalid-correlation-unknown-key.yml":             {ErrUnknownKey, 7, r + "[0].treshold"},
		"invalid-correlation-rules-not-list.yml":          {ErrType, 3, r},
	}
	runSectionInvalid(t, correlationInvalidDir, tests)
}

func TestCorrelationDefaults(t *testing.T) {
	cfg, err := parse([]byte("siem:\n  correlation: {}\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SIEM.Correlation.Rules != nil {
		t.Errorf("rules left out decoded as %+v, want nil", cfg.SIEM.Correlation.Rules)
	}
	if got := cfg.SIEM.Correlation.EffectiveRules(); !reflect.DeepEqual(got, DefaultCorrelationRules()) {
		t.Errorf("effective rules = %+v, want the defaults", got)
	}
	names := map[string]bool{}
	for _, r := range DefaultCorrelationRules() {
		names[r.Name] = true
	}
	for _, want := range []string{"credential_stuffing", "ratelimit_abuse", "admin_access_probing"} {
		if !names[want] {
			t.Errorf("default rules lack %s", want)
		}
	}
	// The defaults pass validation as if written in the file.
	c := Default()
	c.SIEM.Correlation.Rules = DefaultCorrelationRules()
	if err := c.Validate(); err != nil {
		t.Errorf("default rules do not validate: %v", err)
	}

	cfg, err = parse([]byte("siem:\n  correlation:\n    rules: []\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if rules := cfg.SIEM.Correlation.EffectiveRules(); rules == nil || len(rules) != 0 {
		t.Errorf("rules: [] gives %+v, want an empty (disabling) list", rules)
	}
}

// TestCorrelationExampleShowsTheDefaults: configs/example.yaml documents
// the default rules as they are.
func TestCorrelationExampleShowsTheDefaults(t *testing.T) {
	t.Setenv("EXAMPLE_STATUS_TOKEN", "example-token")
	cfg, err := Load("../../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.SIEM.Correlation.Rules
	for i := range got {
		if len(got[i].Match.Attributes) == 0 {
			got[i].Match.Attributes = nil
		}
		if len(got[i].Emit.Attributes) == 0 {
			got[i].Emit.Attributes = nil
		}
	}
	if want := DefaultCorrelationRules(); !reflect.DeepEqual(got, want) {
		t.Errorf("example rules:\n%+v\nwant the defaults:\n%+v", got, want)
	}
}

func TestCorrelationParse(t *testing.T) {
	cfg, err := parse([]byte(`siem:
  correlation:
    rules:
      - name: checkout-brute-force
        match:
          kinds: [auth.failure, login.failure]
          source: checkout
          attributes: {route: /login}
        group_by: [source, attributes.user_id]
        window: 90s
        threshold: 5
        emit:
          kind: correlation.brute_force
          title: "{{brute force}} {count} for {user_id} on {source} between {first_time} and {last_time}"
          attributes: {playbook: auth}
      - name: any-failure-flood
        match: {kinds: [auth.failure]}
        window: 1m
        threshold: 1000
        emit: {kind: correlation.failure_flood}
retention:
  correlation_state: 1h
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := []CorrelationRule{
		{
			Name: "checkout-brute-force",
			Match: CorrelationMatch{
				Kinds:      []string{"auth.failure", "login.failure"},
				Source:     "checkout",
				Attributes: map[string]string{"route": "/login"},
			},
			GroupBy:   []string{"source", "attributes.user_id"},
			Window:    Duration(90 * time.Second),
			Threshold: 5,
			Emit: CorrelationEmit{
				Kind:       "correlation.brute_force",
				Title:      "{{brute force}} {count} for {user_id} on {source} between {first_time} and {last_time}",
				Attributes: map[string]string{"playbook": "auth"},
			},
		},
		{
			Name:      "any-failure-flood",
			Match:     CorrelationMatch{Kinds: []string{"auth.failure"}},
			Window:    Duration(time.Minute),
			Threshold: 1000,
			Emit:      CorrelationEmit{Kind: "correlation.failure_flood"},
		},
	}
	if got := cfg.SIEM.Correlation.EffectiveRules(); !reflect.DeepEqual(got, want) {
		t.Errorf("rules = %+v\nwant %+v", got, want)
	}
}

func TestCorrelationGroupAttribute(t *testing.T) {
	for field, want := range map[string]string{
		"source": "source", "monitor": "monitor", "kind": "kind",
		"attributes.ip": "ip", "attributes.user.id": "user.id",
		"ip": "", "attributes.": "", "attributes.a b": "", "Source": "",
	} {
		got, ok := CorrelationGroupAttribute(field)
		if got != want || ok != (want != "") {
			t.Errorf("CorrelationGroupAttribute(%q) = %q, %v; want %q", field, got, ok, want)
		}
	}
}
