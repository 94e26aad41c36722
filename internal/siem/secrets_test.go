package siem_test

import (
	"encoding/base64"
	"math/rand/v2"
	"strings"
)

// The fake credentials of these tests are built at run time, so that the
// repository holds nothing that secret scanners would flag.

// fake returns n deterministic pseudo-random characters of alphabet.
func fake(seed uint64, alphabet string, n int) string {
	rng := rand.New(rand.NewPCG(seed, 0x1e57))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lower  = "abcdefghijklmnopqrstuvwxyz0123456789"
	upper2 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b64    = alnum + "+/"
	b64url = alnum + "-_"
	digits = "0123456789"
)

// secretSample is one credential of a secretscan rule.
type secretSample struct {
	rule   string
	secret string
}

// secretSamples returns one credential per kind the issue names (AWS key,
// Slack token, GitHub token, private key block, JWT) and a few more. The
// lower-case ones fit where only lower-case names are allowed (source,
// kind).
func secretSamples() []secretSample {
	enc := base64.RawURLEncoding.EncodeToString
	jwt := enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(`{"sub":"u1","n":7}`)) + "." + fake(7, b64url, 43)
	var pem strings.Builder
	pem.WriteString("-----BEGIN RSA PRIVATE KEY-----\n")
	for i := range 4 {
		pem.WriteString(fake(uint64(10+i), b64, 64) + "\n")
	}
	pem.WriteString("-----END RSA PRIVATE KEY-----")
	return []secretSample{
		{"aws-access-key-id", "AKIA" + fake(1, upper2, 16)},
		{"github-token", "ghp_" + fake(2, alnum, 36)},
		{"github-token-lower", "ghp_" + fake(3, lower, 36)},
		{"slack-token", "xoxb-" + fake(4, digits, 12) + "-" + fake(5, digits, 13) + "-" + fake(6, lower, 24)},
		{"jwt", jwt},
		{"private-key", pem.String()},
		{"stripe-secret-key", "sk_live_" + fake(8, lower, 24)},
		{"anthropic-api-key", "sk-ant-api03-" + fake(9, b64url, 93) + "AA"},
	}
}
