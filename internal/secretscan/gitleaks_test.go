package secretscan

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// gitleaksCases is the gitleaks rule-case vector file (MIT, see its README
// and LICENSE), read at test time from the shared vectors.
const gitleaksCases = "../../../shared/vectors/gitleaks/rule-cases.jsonl.gz"

// gitleaksMapping maps each gitleaks rule id that DefaultRules covers to the
// rules of ours that must agree with it. Gitleaks rules not listed here
// (about 200 vendor-specific ones) are out of scope. A true positive agrees
// when one of our secrets overlaps gitleaks' secret; the test also counts
// exact spans. Deliberately wider spans: for slack-legacy-workspace-token
// (xoxa-2-…, xoxr-…) gitleaks' secret stops at the first dash-separated
// part, ours runs to the end of the token, so that redaction removes all of
// it (27 of 31 cases).
var gitleaksMapping = map[string][]string{
	"aws-access-token":             {RuleAWSAccessKeyID},
	"anthropic-api-key":            {RuleAnthropicAPIKey},
	"anthropic-admin-api-key":      {RuleAnthropicAdminKey},
	"openai-api-key":               {RuleOpenAIAPIKey},
	"github-pat":                   {RuleGitHubToken},
	"github-oauth":                 {RuleGitHubToken},
	"github-app-token":             {RuleGitHubToken},
	"github-refresh-token":         {RuleGitHubToken},
	"github-fine-grained-pat":      {RuleGitHubFineGrained},
	"stripe-access-token":          {RuleStripeSecretKey, RuleStripeTestKey},
	"slack-bot-token":              {RuleSlackToken},
	"slack-user-token":             {RuleSlackToken},
	"slack-app-token":              {RuleSlackToken},
	"slack-legacy-bot-token":       {RuleSlackToken},
	"slack-legacy-token":           {RuleSlackToken},
	"slack-legacy-workspace-token": {RuleSlackToken},
	"slack-config-access-token":    {RuleSlackToken},
	"slack-config-refresh-token":   {RuleSlackToken},
	"slack-webhook-url":            {RuleSlackWebhook},
	"private-key":                  {RulePrivateKey},
	"jwt":                          {RuleJWT, RuleSupabaseServiceRole},
	"gcp-api-key":                  {RuleGoogleAPIKey},
	"generic-api-key":              {RuleGenericSecret},
}

// gitleaksExceptions are the cases, by id, on which we deliberately differ
// from gitleaks, with the reason. The test fails if one of them starts to
// agree, so the list stays exact.
var gitleaksExceptions = map[int]string{
	// gitleaks allowlists 15 specific Google API keys that ship inside
	// Google's own SDKs and browsers. We do not carry lists of specific
	// keys: a Google API key is low severity here (browser keys are public
	// by design), and an operator silences one known-public key by its
	// fingerprint (the secrets monitor's ignore_fingerprints).
	2111: knownPublicKey, 2112: knownPublicKey, 2113: knownPublicKey, 2114: knownPublicKey,
	2115: knownPublicKey, 2116: knownPublicKey, 2117: knownPublicKey, 2118: knownPublicKey,
	2119: knownPublicKey, 2120: knownPublicKey, 2121: knownPublicKey, 2122: knownPublicKey,
	2123: knownPublicKey, 2124: knownPublicKey, 2125: knownPublicKey,
	// gitleaks' generic rule has this one 32-hex value as a stopword (a
	// key published in a popular library); same reason as above.
	6711: knownPublicKey,
	// The JWT of this case is the anon key of Supabase's local development
	// stack ("role": "anon"), whatever the variable's name. Anon keys are
	// public by design (every browser of a Supabase app gets one; Row-Level
	// Security guards the data), so neither the JWT nor the generic rule
	// reports them; service_role keys are critical.
	3215: "Supabase anon key: public by design",
}

// knownPublicKey is the reason of the exceptions above.
const knownPublicKey = "gitleaks allowlists this specific known-public value; we carry no lists of specific keys (use ignore_fingerprints)"

// gitleaksCase is one line of rule-cases.jsonl.gz.
type gitleaksCase struct {
	ID      int      `json:"id"`
	Rule    string   `json:"rule"`
	Kind    string   `json:"kind"` // tp or fp
	Input   string   `json:"input"`
	Path    string   `json:"path"`
	Secrets []string `json:"secrets"`
}

func loadGitleaksCases(t testing.TB) []gitleaksCase {
	t.Helper()
	f, err := os.Open(gitleaksCases)
	if errors.Is(err, fs.ErrNotExist) {
		if os.Getenv("CI") != "" {
			t.Fatalf("gitleaks vectors missing: %v", err)
		}
		t.Skipf("gitleaks vectors not present: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var cases []gitleaksCase
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var c gitleaksCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("decode case: %v", err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 1000 {
		t.Fatalf("only %d gitleaks cases; is the vector file truncated?", len(cases))
	}
	return cases
}

// subsetScanner returns a scanner of only the given default rules, like
// gitleaks' single-rule detector.
func subsetScanner(t testing.TB, ids []string) *Scanner {
	t.Helper()
	var rules []Rule
	for _, r := range DefaultRules() {
		if slices.Contains(ids, r.ID) {
			rules = append(rules, r)
		}
	}
	if len(rules) != len(ids) {
		t.Fatalf("mapping names unknown rules: %v", ids)
	}
	return NewScanner(rules)
}

// agrees reports whether our verdict on c matches gitleaks', and whether a
// true positive's secret was found with exactly gitleaks' span.
func agrees(s *Scanner, c gitleaksCase) (ok, exact bool) {
	ms := s.Scan([]byte(c.Input))
	if c.Kind == "fp" {
		return len(ms) == 0, false
	}
	for _, m := range ms {
		got := c.Input[m.Start:m.End]
		for _, want := range c.Secrets {
			if got == want {
				return true, true
			}
			if strings.Contains(got, want) || strings.Contains(want, got) {
				ok = true
			}
		}
	}
	return ok, false
}

func TestGitleaksRuleCases(t *testing.T) {
	cases := loadGitleaksCases(t)
	type tally struct{ tp, tpOK, tpExact, fp, fpOK int }
	perRule := map[string]*tally{}
	scanners := map[string]*Scanner{}
	seenExceptions := map[int]bool{}
	var total tally
	for _, c := range cases {
		ids, mapped := gitleaksMapping[c.Rule]
		if !mapped {
			continue
		}
		s := scanners[c.Rule]
		if s == nil {
			s = subsetScanner(t, ids)
			scanners[c.Rule] = s
		}
		tl := perRule[c.Rule]
		if tl == nil {
			tl = &tally{}
			perRule[c.Rule] = tl
		}
		ok, exact := agrees(s, c)
		switch c.Kind {
		case "tp":
			tl.tp++
			if ok {
				tl.tpOK++
			}
			if exact {
				tl.tpExact++
			}
		case "fp":
			tl.fp++
			if ok {
				tl.fpOK++
			}
		default:
			t.Fatalf("case %d: unknown kind %q", c.ID, c.Kind)
		}
		reason, excepted := gitleaksExceptions[c.ID]
		switch {
		case !ok && !excepted:
			t.Errorf("case %d (%s %s): we disagree with gitleaks; input %q", c.ID, c.Rule, c.Kind, clip(c.Input))
		case ok && excepted:
			t.Errorf("case %d (%s %s): listed as an exception (%s) but now agrees; remove it", c.ID, c.Rule, c.Kind, reason)
		case excepted:
			seenExceptions[c.ID] = true
		}
	}
	for id := range gitleaksExceptions {
		if !seenExceptions[id] && !t.Failed() {
			t.Errorf("exception %d matches no mapped case", id)
		}
	}
	names := make([]string, 0, len(perRule))
	for n := range perRule {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tl := perRule[n]
		t.Logf("%-30s tp %3d/%-3d (exact span %3d)  fp %2d/%-2d", n, tl.tpOK, tl.tp, tl.tpExact, tl.fpOK, tl.fp)
		total.tp += tl.tp
		total.tpOK += tl.tpOK
		total.tpExact += tl.tpExact
		total.fp += tl.fp
		total.fpOK += tl.fpOK
	}
	t.Logf("overall: %d/%d cases agree (tp %d/%d, exact span %d; fp %d/%d); %d documented exceptions",
		total.tpOK+total.fpOK, total.tp+total.fp, total.tpOK, total.tp, total.tpExact, total.fpOK, total.fp, len(gitleaksExceptions))
}

// TestGitleaksRedaction redacts every true-positive case of a mapped rule
// with the full default rule set and checks that no part of the secret
// remains.
func TestGitleaksRedaction(t *testing.T) {
	cases := loadGitleaksCases(t)
	s := NewScanner(DefaultRules())
	n := 0
	for _, c := range cases {
		if _, mapped := gitleaksMapping[c.Rule]; !mapped || c.Kind != "tp" {
			continue
		}
		if _, excepted := gitleaksExceptions[c.ID]; excepted {
			continue
		}
		n++
		red, changed := s.Redact(c.Input)
		if !changed {
			t.Errorf("case %d (%s): nothing redacted in %q", c.ID, c.Rule, clip(c.Input))
			continue
		}
		for _, secret := range c.Secrets {
			if part, leaked := leaksPart(red, secret); leaked {
				t.Errorf("case %d (%s): redacted output %q still holds %q of the secret", c.ID, c.Rule, clip(red), part)
			}
		}
		if again := s.Scan([]byte(red)); len(again) > 0 {
			t.Errorf("case %d (%s): redacted output %q still matches %s", c.ID, c.Rule, clip(red), again[0].RuleID)
		}
	}
	t.Logf("redacted %d true-positive cases", n)
}

// leaksPart reports whether s contains a part of secret at least 8 bytes
// long (the whole secret if it is shorter), returning the part.
func leaksPart(s, secret string) (string, bool) {
	const window = 8
	if len(secret) <= window {
		return secret, strings.Contains(s, secret)
	}
	for i := 0; i+window <= len(secret); i++ {
		if part := secret[i : i+window]; strings.Contains(s, part) {
			return part, true
		}
	}
	return "", false
}

// clip shortens s for a test message.
func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
