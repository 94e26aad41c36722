package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// AuthConfig secures secopsd's own HTTP API: which probes are public,
// how requests are signed and verified, and the rate limits. API keys
// themselves live in the store (`secopsd apikey create`).
type AuthConfig struct {
	// MasterKey derives every key's request-signing secret. Empty means a
	// random key generated at first start and kept in the store, shared by
	// replicas on one PostgreSQL database. Changing it invalidates every
	// signing secret handed out.
	MasterKey Secret `yaml:"master_key"`
	// PublicHealth serves /healthz and /readyz without a key.
	PublicHealth bool `yaml:"public_health"`
	// PublicMetrics serves /metrics without a key; otherwise it needs a
	// viewer key.
	PublicMetrics bool `yaml:"public_metrics"`
	// KeyCacheTTL is how long a verified key is trusted before its row is
	// read again: a revoked key stops working within this time. 0 reads
	// the row on every request. bcrypt runs only once per key either way.
	KeyCacheTTL Duration `yaml:"key_cache_ttl"`
	// TrustedProxies are addresses or CIDR prefixes of reverse proxies
	// whose X-Forwarded-For header names the client; empty trusts none,
	// and the TCP peer is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RateLimits are the token buckets per route class.
	RateLimits AuthRateLimits `yaml:"rate_limits"`
}

// AuthRateLimits are the rate limits of each route class. Each applies per
// API key and, separately, per client address (IPv6 by /64).
type AuthRateLimits struct {
	// Ingest applies to routes for ingest keys (POST /api/v1/events).
	Ingest AuthLimit `yaml:"ingest"`
	// Read applies to routes for viewer keys (GET incidents and events,
	// protected /metrics).
	Read AuthLimit `yaml:"read"`
	// Admin applies to routes for admin keys.
	Admin AuthLimit `yaml:"admin"`
	// AuthFailure bounds failed authentications per client address: once
	// spent, every request from the address gets 429 until it refills.
	AuthFailure AuthLimit `yaml:"auth_failure"`
}

// AuthLimit is one token bucket: RPS requests per second on average, in
// bursts of up to Burst. An RPS of 0 disables the limit.
type AuthLimit struct {
	// RPS is the sustained rate in requests per second; 0 means no limit.
	RPS float64 `yaml:"rps"`
	// Burst is how many requests may come at once.
	Burst int `yaml:"burst"`
}

// Defaults and limits of the auth section.
const (
	// DefaultAuthKeyCacheTTL is how long a verified key is trusted before
	// its row is read again.
	DefaultAuthKeyCacheTTL = 5 * time.Second
	// MaxAuthKeyCacheTTL bounds AuthConfig.KeyCacheTTL, and so the time a
	// revocation takes to apply.
	MaxAuthKeyCacheTTL = 10 * time.Second
	// MinAuthMasterKeyLen is the least length of AuthConfig.MasterKey.
	MinAuthMasterKeyLen = 32
	// MaxAuthRPS and MaxAuthBurst bound an AuthLimit.
	MaxAuthRPS   = 1_000_000
	MaxAuthBurst = 1_000_000
	// MaxAuthTrustedProxies bounds AuthConfig.TrustedProxies.
	MaxAuthTrustedProxies = 256
)

// DefaultAuth returns the auth defaults: public health probes, protected
// metrics, a 5 s key cache, no trusted proxies, and rate limits of 100/s
// (burst 200) for ingestion, 20/s (40) for reads, 5/s (10) for admin
// routes and 1/s (5) for failed authentications.
func DefaultAuth() AuthConfig {
	return AuthConfig{
		PublicHealth: true,
		KeyCacheTTL:  Duration(DefaultAuthKeyCacheTTL),
		RateLimits: AuthRateLimits{
			Ingest:      AuthLimit{RPS: 100, Burst: 200},
			Read:        AuthLimit{RPS: 20, Burst: 40},
			Admin:       AuthLimit{RPS: 5, Burst: 10},
			AuthFailure: AuthLimit{RPS: 1, Burst: 5},
		},
	}
}

// TrustedProxyPrefixes returns TrustedProxies parsed; a bare address is a
// one-address prefix. Call it on a validated configuration.
func (a AuthConfig) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range a.TrustedProxies {
		if p, ok := parsePrefix(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix parses a CIDR prefix or a bare address.
func parsePrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// validate checks the auth section.
func (a AuthConfig) validate(ch *checker) {
	if mk := a.MasterKey.Reveal(); mk != "" && len(mk) < MinAuthMasterKeyLen {
		ch.errorf("auth.master_key", ErrInvalid, "master_key must be at least %d bytes long, got %d (generate one with: openssl rand -hex 32)", MinAuthMasterKeyLen, len(mk))
	}
	if t := a.KeyCacheTTL.Std(); t < 0 || t > MaxAuthKeyCacheTTL {
		ch.errorf("auth.key_cache_ttl", ErrInvalid, "key_cache_ttl must be between 0 and %s, got %s", Duration(MaxAuthKeyCacheTTL), a.KeyCacheTTL)
	}
	if n := len(a.TrustedProxies); n > MaxAuthTrustedProxies {
		ch.errorf("auth.trusted_proxies", ErrInvalid, "at most %d trusted proxies, got %d", MaxAuthTrustedProxies, n)
	}
	for i, s := range a.TrustedProxies {
		if _, ok := parsePrefix(s); !ok {
			ch.errorf(fmt.Sprintf("auth.trusted_proxies[%d]", i), ErrInvalid, "invalid trusted proxy %s (use an IP address or a CIDR prefix such as 10.0.0.0/8)", quote(s))
		}
	}
	for _, l := range []struct {
		name  string
		limit AuthLimit
	}{
		{"ingest", a.RateLimits.Ingest},
		{"read", a.RateLimits.Read},
		{"admin", a.RateLimits.Admin},
		{"auth_failure", a.RateLimits.AuthFailure},
	} {
		path := "auth.rate_limits." + l.name
		if r := l.limit.RPS; r < 0 || r > MaxAuthRPS || r != r {
			ch.errorf(joinPath(path, "rps"), ErrInvalid, "rps must be between 0 (no limit) and %d, got %g", MaxAuthRPS, r)
		}
		if b := l.limit.Burst; b < 0 || b > MaxAuthBurst || (l.limit.RPS > 0 && b < 1) {
			ch.errorf(joinPath(path, "burst"), ErrInvalid, "burst must be between 1 and %d when rps is set, got %d", MaxAuthBurst, b)
		}
	}
}
