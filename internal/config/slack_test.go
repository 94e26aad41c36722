package config

import (
	"strings"
	"testing"
	"time"
)

func TestSlackInvalidConfigs(t *testing.T) {
	runSectionInvalid(t, "testdata/slack", map[string]typeInvalidCase{
		"invalid-slack-bot-token-missing.yml":      {ErrMissing, 1, "slack.bot_token"},
		"invalid-slack-bot-token-space.yml":        {ErrInvalid, 3, "slack.bot_token"},
		"invalid-slack-signing-secret-missing.yml": {ErrMissing, 1, "slack.signing_secret"},
		"invalid-slack-app-token-missing.yml":      {ErrMissing, 1, "slack.app_token"},
		"invalid-slack-app-token-prefix.yml":       {ErrInvalid, 5, "slack.app_token"},
		"invalid-slack-mode.yml":                   {ErrInvalid, 2, "slack.mode"},
		"invalid-slack-route-channel-missing.yml":  {ErrMissing, 3, "slack.routes[0].channel"},
		"invalid-slack-route-channel.yml":          {ErrInvalid, 4, "slack.routes[0].channel"},
		"invalid-slack-route-mention.yml":          {ErrInvalid, 5, "slack.routes[0].mention"},
		"invalid-slack-route-severity.yml":         {ErrInvalid, 3, "slack.routes[0].severities[0]"},
		"invalid-slack-route-digest.yml":           {ErrInvalid, 5, "slack.routes[0].digest"},
		"invalid-slack-route-matches-nothing.yml":  {ErrMissing, 3, "slack.routes[0]"},
		"invalid-slack-route-unknown-key.yml":      {ErrUnknownKey, 4, "slack.routes[0].chanel"},
		"invalid-slack-approver-user.yml":          {ErrInvalid, 3, "slack.approvers.users[1]"},
		"invalid-slack-approver-usergroup.yml":     {ErrInvalid, 3, "slack.approvers.usergroups[0]"},
		"invalid-slack-backoff-order.yml":          {ErrInvalid, 4, "slack.outbox.max_backoff"},
		"invalid-slack-ui-url.yml":                 {ErrInvalid, 2, "slack.ui_url"},
		"invalid-slack-api-url.yml":                {ErrInvalid, 2, "slack.api_url"},
	})
}

func TestSlackDefaults(t *testing.T) {
	cfg, err := parse([]byte("listen: 127.0.0.1:8080\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Slack
	if s.Enabled || s.Mode != "http" || s.UIURL != "http://127.0.0.1:8080" || s.APIURL != "" ||
		s.Outbox.MinBackoff.Std() != time.Second || s.Outbox.MaxBackoff.Std() != 5*time.Minute {
		t.Errorf("default slack = %+v", s)
	}
	want := []struct{ sev, channel, mention string }{{"critical", "#sec-critical", "here"}, {"high", "#sec-alerts", ""}, {"medium", "#sec-alerts", ""}}
	if len(s.Routes) != len(want) {
		t.Fatalf("default routes = %+v", s.Routes)
	}
	for i, w := range want {
		r := s.Routes[i]
		if len(r.Severities) != 1 || r.Severities[0] != w.sev || r.Channel != w.channel || r.Mention != w.mention || r.Digest != 0 {
			t.Errorf("route %d = %+v, want %+v", i, r, w)
		}
	}
}

// Routes written in the file replace the defaults; an empty list posts
// nothing.
func TestSlackRoutesReplaceDefaults(t *testing.T) {
	cfg, err := parse([]byte(`
slack:
  enabled: true
  bot_token: xoxb-1-2
  signing_secret: s3cr3t
  routes:
    - severities: [low, info]
      categories: [tls]
      channel: C0123ABCD
      mention: usergroup:S0123
      digest: 1h
  approvers:
    users: [U0123ABC]
    usergroups: [S0456DEF]
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Slack.Routes; len(r) != 1 || r[0].Channel != "C0123ABCD" || r[0].Digest.Std() != time.Hour || r[0].Mention != "usergroup:S0123" {
		t.Errorf("routes = %+v", r)
	}
	cfg, err = parse([]byte("slack:\n  routes: []\n"), "t.yml", testEnv)
	if err != nil || len(cfg.Slack.Routes) != 0 {
		t.Errorf("routes: [] = %+v, %v", cfg.Slack.Routes, err)
	}
}

// No token appears in a validation error.
func TestSlackErrorsHideTokens(t *testing.T) {
	_, err := parse([]byte("slack:\n  enabled: true\n  mode: socket\n  bot_token: \"xoxb-SECRET 1\"\n  app_token: xoxb-SECRET2\n"), "t.yml", testEnv)
	if err == nil {
		t.Fatal("parse succeeded")
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error shows a token: %v", err)
	}
}
