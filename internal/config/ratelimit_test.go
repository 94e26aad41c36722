package config

import (
	"reflect"
	"testing"
)

func rateLimitInvalid() map[string]typeInvalidCase {
	return map[string]typeInvalidCase{
		"invalid-ratelimit-max-requests-missing.yml":  {ErrMissing, 2, "monitors[0].max_requests"},
		"invalid-ratelimit-max-requests-over-cap.yml": {ErrInvalid, 5, "monitors[0].max_requests"},
		"invalid-ratelimit-max-requests-negative.yml": {ErrInvalid, 5, "monitors[0].max_requests"},
		"invalid-ratelimit-expect-limit-within.yml":   {ErrInvalid, 6, "monitors[0].expect_limit_within"},
		"invalid-ratelimit-concurrency-zero.yml":      {ErrInvalid, 6, "monitors[0].concurrency"},
		"invalid-ratelimit-concurrency-over.yml":      {ErrInvalid, 6, "monitors[0].concurrency"},
		"invalid-ratelimit-method.yml":                {ErrInvalid, 5, "monitors[0].method"},
		"invalid-ratelimit-url-missing.yml":           {ErrMissing, 2, "monitors[0].url"},
		"invalid-ratelimit-header-name.yml":           {ErrInvalid, 7, `monitors[0].headers["X Bad"]`},
		"invalid-ratelimit-body-file-missing.yml":     {ErrSecret, 7, "monitors[0].body.file"},
	}
}

func TestRateLimitInvalidConfigs(t *testing.T) {
	runTypeInvalid(t, rateLimitInvalid(), "secret-hdr-91c2")
}

func TestRateLimitDefaults(t *testing.T) {
	cfg, err := parse([]byte("monitors:\n  - name: rl\n    type: ratelimit\n    url: https://app.example.com/login\n    max_requests: 30\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Monitors[0]
	if m.Schedule != "@every 24h" {
		t.Errorf("schedule = %q", m.Schedule)
	}
	want := &RateLimitMonitor{URL: "https://app.example.com/login", Method: "GET", MaxRequests: 30, Concurrency: 1}
	if !reflect.DeepEqual(m.RateLimit, want) {
		t.Errorf("ratelimit block = %+v, want %+v", m.RateLimit, want)
	}
	if m.RateLimit.LimitWithin() != 30 {
		t.Errorf("LimitWithin = %d, want max_requests", m.RateLimit.LimitWithin())
	}
	cfg, err = parse([]byte(`monitors:
  - name: rl
    type: ratelimit
    url: https://app.example.com/login
    method: POST
    headers: {Authorization: "Bearer ${SECOPSD_TEST_TOKEN}"}
    body: '{"user":"probe"}'
    max_requests: 1000
    expect_limit_within: 10
    concurrency: 10
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want = &RateLimitMonitor{URL: "https://app.example.com/login", Method: "POST",
		Headers: map[string]Secret{"Authorization": "Bearer tok-from-env"}, Body: `{"user":"probe"}`,
		MaxRequests: 1000, ExpectLimitWithin: 10, Concurrency: 10}
	if got := cfg.Monitors[0].RateLimit; !reflect.DeepEqual(got, want) || got.LimitWithin() != 10 {
		t.Errorf("ratelimit block = %+v, want %+v", got, want)
	}
}
