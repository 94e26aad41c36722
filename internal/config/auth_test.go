package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// authInvalidDir holds the invalid configurations of the auth section.
const authInvalidDir = "testdata/auth"

func TestAuthInvalidConfigs(t *testing.T) {
	tests := map[string]typeInvalidCase{
		"invalid-auth-master-key-short.yml":    {ErrInvalid, 2, "auth.master_key"},
		"invalid-auth-key-cache-ttl.yml":       {ErrInvalid, 3, "auth.key_cache_ttl"},
		"invalid-auth-trusted-proxy.yml":       {ErrInvalid, 4, "auth.trusted_proxies[1]"},
		"invalid-auth-rps-negative.yml":        {ErrInvalid, 4, "auth.rate_limits.read.rps"},
		"invalid-auth-burst-zero.yml":          {ErrInvalid, 3, "auth.rate_limits.ingest.burst"},
		"invalid-auth-unknown-key.yml":         {ErrUnknownKey, 2, "auth.public_helth"},
		"invalid-auth-public-metrics-type.yml": {ErrType, 2, "auth.public_metrics"},
		"invalid-auth-rate-limit-class.yml":    {ErrUnknownKey, 3, "auth.rate_limits.login"},
		"invalid-auth-rps-type.yml":            {ErrType, 3, "auth.rate_limits.admin.rps"},
	}
	runSectionInvalid(t, authInvalidDir, tests, "s3cr3t")
}

func TestAuthDefaults(t *testing.T) {
	cfg, err := parse([]byte("listen: 127.0.0.1:8080\n"), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Auth, DefaultAuth()) {
		t.Errorf("auth = %+v, want the defaults %+v", cfg.Auth, DefaultAuth())
	}
	a := cfg.Auth
	if !a.PublicHealth || a.PublicMetrics || a.KeyCacheTTL.Std() != 5*time.Second || a.MasterKey != "" || len(a.TrustedProxies) != 0 {
		t.Errorf("auth defaults = %+v", a)
	}
	if a.RateLimits.AuthFailure.RPS >= a.RateLimits.Read.RPS {
		t.Errorf("failed authentications are not limited more strictly than reads: %+v", a.RateLimits)
	}
}

func TestAuthSection(t *testing.T) {
	cfg, err := parse([]byte(`auth:
  master_key: ${SECOPSD_TEST_TOKEN}-0123456789abcdef0123456789abcdef
  public_health: false
  public_metrics: true
  key_cache_ttl: 0s
  trusted_proxies: [10.0.0.0/8, 192.168.1.7, "fd00::/8", "::ffff:172.16.0.1"]
  rate_limits:
    ingest: {rps: 0}
    read: {rps: 2.5}
`), "t.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Auth
	if a.MasterKey.Reveal() != "tok-from-env-0123456789abcdef0123456789abcdef" || a.PublicHealth || !a.PublicMetrics || a.KeyCacheTTL != 0 {
		t.Errorf("auth = %+v", a)
	}
	if a.MasterKey.String() != "<redacted>" {
		t.Errorf("master key prints as %q", a.MasterKey.String())
	}
	// Keys left out keep their defaults, key by key.
	want := DefaultAuth().RateLimits
	want.Ingest.RPS = 0
	want.Read.RPS = 2.5
	if a.RateLimits != want {
		t.Errorf("rate limits = %+v, want %+v", a.RateLimits, want)
	}
	got := a.TrustedProxyPrefixes()
	wantP := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("172.16.0.1/32"),
	}
	if !reflect.DeepEqual(got, wantP) {
		t.Errorf("TrustedProxyPrefixes = %v, want %v", got, wantP)
	}
}
