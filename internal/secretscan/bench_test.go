package secretscan

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchBody returns a deterministic 64 KiB body that looks like a web
// page's script: lines of code built from random identifiers, with a
// credential word (key, token, api, auth, access, secret, password …) on
// one line in every `every`, so that the keyword prefilters pass and the
// rules' regular expressions run. every = 1 is the worst case: a credential
// word on every line. With secrets, five real-looking credentials are
// spread through the body.
func benchBody(every int, withSecrets bool) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rnd := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alnum[rng.IntN(len(alnum))]
		}
		return string(b)
	}
	ident := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyz"
		b := make([]byte, 2+rng.IntN(8))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	plain := []func() string{
		func() string { return "function " + ident() + "(e,t){return e." + ident() + "(t)||null}" },
		func() string { return "var " + ident() + "=n." + ident() + ",r=" + ident() + "[" + ident() + "];" },
		func() string {
			return `<div class="` + ident() + " " + ident() + `">` + ident() + " " + ident() + "</div>"
		},
		func() string { return "if(!" + ident() + "){throw new Error(\"" + ident() + " " + ident() + "\")}" },
	}
	keyed := []string{
		`function getKey(e){return e.apiKeyName||"default"}`,
		`const authHeader = "Authorization"; // set by the api client`,
		`if (!token) { throw new Error("missing access token: please sign in") }`,
		`<div class="key-value" data-key="primary">The secret is out</div>`,
		`fetch("/api/v1/items?page=" + page).then(r => r.json())`,
		`import { useAuth } from "./auth"; export const tokenType = "Bearer";`,
		`<input type="password" name="password" autocomplete="current-password">`,
	}
	secrets := []string{
		`const cfg = {aws_secret_access_key: "` + rnd(40) + `"};`,
		`window.STRIPE = "sk_live_` + rnd(24) + `";`,
		`slack: "xoxb-123456789012-1234567890123-` + rnd(24) + `",`,
		`"client_secret": "` + rnd(32) + `",`,
		`github: "ghp_` + rnd(36) + `"`,
	}
	var b bytes.Buffer
	for i := 0; b.Len() < 64<<10; i++ {
		switch {
		case withSecrets && i%150 == 75:
			b.WriteString(secrets[(i/150)%len(secrets)])
		case i%every == 0:
			b.WriteString(keyed[(i/every)%len(keyed)])
		default:
			b.WriteString(plain[i%len(plain)]())
		}
		b.WriteByte('\n')
	}
	return b.Bytes()[:64<<10]
}

func BenchmarkScan(b *testing.B) {
	s := NewScanner(DefaultRules())
	for _, tc := range []struct {
		name    string
		every   int
		secrets bool
	}{
		{"clean", 10, false},
		{"secrets", 10, true},
		{"dense-clean", 1, false},
		{"dense-secrets", 1, true},
	} {
		body := benchBody(tc.every, tc.secrets)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				s.Scan(body)
			}
		})
	}
}

func BenchmarkRedactEvent(b *testing.B) {
	s := NewScanner(DefaultRules())
	ev := `{"user":"alice","action":"login","ip":"203.0.113.7","ua":"Mozilla/5.0","detail":"token=` +
		strings.Repeat("Zf3D0LXCM3EIMbgJ", 2) + `"}`
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		s.Redact(ev)
	}
}

func BenchmarkNewScanner(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewScanner(DefaultRules())
	}
}

// TestBenchBodies checks that the benchmark measures what it says.
func TestBenchBodies(t *testing.T) {
	s := NewScanner(DefaultRules())
	for _, every := range []int{1, 10} {
		if ms := s.Scan(benchBody(every, false)); len(ms) != 0 {
			m := ms[0]
			t.Errorf("clean body (every %d) has %d matches, first %s at line %d", every, len(ms), m.RuleID, m.Line)
		}
		ms := s.Scan(benchBody(every, true))
		rules := map[string]bool{}
		for _, m := range ms {
			rules[m.RuleID] = true
		}
		for _, id := range []string{RuleAWSSecretAccessKey, RuleStripeSecretKey, RuleSlackToken, RuleGenericSecret, RuleGitHubToken} {
			if !rules[id] {
				t.Errorf("body with secrets (every %d): no %s match (got %v)", every, id, rules)
			}
		}
	}
}
