package config

import (
	"reflect"
	"testing"
)

func uiInvalid() map[string]typeInvalidCase {
	return map[string]typeInvalidCase{
		"invalid-ui-url-missing.yml":         {ErrMissing, 2, "monitors[0].url"},
		"invalid-ui-url.yml":                 {ErrInvalid, 4, "monitors[0].url"},
		"invalid-ui-empty-marker.yml":        {ErrInvalid, 7, "monitors[0].expect_markers[1]"},
		"invalid-ui-max-assets-zero.yml":     {ErrInvalid, 5, "monitors[0].max_assets"},
		"invalid-ui-max-assets-too-many.yml": {ErrInvalid, 5, "monitors[0].max_assets"},
		"invalid-ui-check-assets.yml":        {ErrType, 5, "monitors[0].check_assets"},
		"invalid-ui-markers-not-list.yml":    {ErrType, 5, "monitors[0].expect_markers"},
	}
}

func TestUIInvalidConfigs(t *testing.T) {
	runTypeInvalid(t, uiInvalid())
}

func TestUIDefaults(t *testing.T) {
	cfg, err := parse([]byte("monitors:\n  - name: web\n    type: ui\n    url: https://app.example.com/\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Monitors[0]
	if m.Schedule != "@every 15m" {
		t.Errorf("schedule = %q", m.Schedule)
	}
	want := &UIMonitor{URL: "https://app.example.com/", CheckAssets: true, MaxAssets: 50}
	if !reflect.DeepEqual(m.UI, want) {
		t.Errorf("ui block = %+v, want %+v", m.UI, want)
	}
	cfg, err = parse([]byte(`monitors:
  - name: web
    type: ui
    url: https://app.example.com/
    expect_markers: ["<div id=\"root\">", "v1.2"]
    check_assets: false
    max_assets: 500
    check_sri: true
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want = &UIMonitor{URL: "https://app.example.com/", ExpectMarkers: []string{`<div id="root">`, "v1.2"}, MaxAssets: 500, CheckSRI: true}
	if got := cfg.Monitors[0].UI; !reflect.DeepEqual(got, want) {
		t.Errorf("ui block = %+v, want %+v", got, want)
	}
}
