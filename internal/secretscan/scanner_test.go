package secretscan

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The fake credentials of these tests are built at run time, so that the
// repository holds nothing that secret scanners (ours, gitleaks, GitHub
// push protection) would flag.

// fake returns n deterministic pseudo-random characters of alphabet,
// seeded by seed.
func fake(seed uint64, alphabet string, n int) string {
	rng := rand.New(rand.NewPCG(seed, 0x5ec))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upper2 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b64    = alnum + "+/"
	b64url = alnum + "-_"
	digits = "0123456789"
	hexd   = "0123456789abcdef"
)

// fakeJWT returns a signed-looking JWT with the given JSON payload.
func fakeJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + "." + fake(7, b64url, 43)
}

// fakePEM returns a private key block of the given kind ("RSA ", "EC ", "").
func fakePEM(kind string) string {
	var b strings.Builder
	b.WriteString("-----BEGIN " + kind + "PRIVATE KEY-----\n")
	for i := range 4 {
		b.WriteString(fake(uint64(10+i), b64, 64) + "\n")
	}
	b.WriteString("-----END " + kind + "PRIVATE KEY-----")
	return b.String()
}

// ruleCase is an input and the one secret (rule and text) it holds, or
// no secret when rule is "".
type ruleCase struct {
	name   string
	input  string
	rule   string
	secret string
}

func ruleCases() []ruleCase {
	awsID := "AKIA" + fake(1, upper2, 16)
	awsTmp := "ASIA" + fake(2, upper2, 16)
	awsSecret := fake(3, b64, 40)
	ant := "sk-ant-api03-" + fake(4, b64url, 93) + "AA"
	antAdmin := "sk-ant-admin01-" + fake(5, b64url, 93) + "AA"
	oaiProj := "sk-proj-" + fake(6, b64url, 74) + "T3BlbkFJ" + fake(8, b64url, 74)
	oaiProjNoMarker := "sk-proj-" + fake(9, b64url, 120)
	oaiLegacy := "sk-" + fake(11, alnum, 20) + "T3BlbkFJ" + fake(12, alnum, 20)
	ghp := "ghp_" + fake(13, alnum, 36)
	ghs := "ghs_" + fake(14, alnum, 36)
	ghFine := "github_pat_" + fake(15, alnum+"_", 82)
	stripeLive := "sk_live_" + fake(16, alnum, 24)
	stripeRestricted := "rk_live_" + fake(17, alnum, 24)
	stripeTest := "sk_test_" + fake(18, alnum, 24)
	slackBot := "xoxb-" + fake(19, digits, 12) + "-" + fake(20, digits, 13) + "-" + fake(21, alnum, 24)
	slackUser := "xoxp-" + fake(22, digits, 11) + "-" + fake(23, digits, 11) + "-" + fake(24, digits, 12) + "-" + fake(25, hexd, 32)
	slackApp := "xapp-1-A" + fake(26, upper2, 10) + "-" + fake(27, digits, 13) + "-" + fake(28, hexd, 64)
	webhook := "https://hooks.slack.com/services/T" + fake(29, upper2, 8) + "/B" + fake(30, upper2, 10) + "/" + fake(31, alnum, 24)
	google := "AIza" + fake(32, b64url, 35)
	serviceRole := fakeJWT(`{"iss":"supabase","ref":"abcdefghijklmnop","role":"service_role","iat":1700000000,"exp":2000000000}`)
	user := fakeJWT(`{"sub":"1234567890","name":"Jane","iat":1700000000}`)
	anon := fakeJWT(`{"iss":"supabase","ref":"abcdefghijklmnop","role":"anon","iat":1700000000,"exp":2000000000}`)
	pem := fakePEM("RSA ")
	generic := fake(33, alnum, 32)
	return []ruleCase{
		{"aws key id", `aws_access_key_id = ` + awsID, RuleAWSAccessKeyID, awsID},
		{"aws temporary key id", `"AccessKeyId": "` + awsTmp + `"`, RuleAWSAccessKeyID, awsTmp},
		{"aws documentation key id", `AKIAIOSFODNN7EXAMPLE`, "", ""},
		{"aws key id inside a word", `XAKIA` + fake(1, upper2, 16), "", ""},
		{"aws secret env", `AWS_SECRET_ACCESS_KEY=` + awsSecret, RuleAWSSecretAccessKey, awsSecret},
		{"aws secret json", `{"SecretAccessKey": "` + awsSecret + `"}`, RuleAWSSecretAccessKey, awsSecret},
		{"aws secret documentation", `aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`, "", ""},
		{"anthropic", `ANTHROPIC_API_KEY="` + ant + `"`, RuleAnthropicAPIKey, ant},
		{"anthropic admin", antAdmin, RuleAnthropicAdminKey, antAdmin},
		{"anthropic wrong suffix", strings.TrimSuffix(ant, "AA") + "BB", "", ""},
		{"openai project", `OPENAI_API_KEY=` + oaiProj, RuleOpenAIAPIKey, oaiProj},
		{"openai project without marker", `key: "` + oaiProjNoMarker + `"`, RuleOpenAIAPIKey, oaiProjNoMarker},
		{"openai legacy", oaiLegacy, RuleOpenAIAPIKey, oaiLegacy},
		{"openai too short", `sk-proj-abc123`, "", ""},
		{"github pat", `token ` + ghp, RuleGitHubToken, ghp},
		{"github server token", ghs, RuleGitHubToken, ghs},
		{"github placeholder", `ghp_` + strings.Repeat("x", 36), "", ""},
		{"github fine-grained", ghFine, RuleGitHubFineGrained, ghFine},
		{"stripe live", `Stripe("` + stripeLive + `")`, RuleStripeSecretKey, stripeLive},
		{"stripe restricted", stripeRestricted, RuleStripeSecretKey, stripeRestricted},
		{"stripe test", `stripe.api_key = "` + stripeTest + `"`, RuleStripeTestKey, stripeTest},
		{"stripe publishable", `publishableKey: "pk_live_` + fake(34, alnum, 24) + `"`, "", ""},
		{"stripe inside a word", `task_test_` + fake(35, alnum, 24), "", ""},
		{"slack bot", slackBot, RuleSlackToken, slackBot},
		{"slack user", `"token": "` + slackUser + `"`, RuleSlackToken, slackUser},
		{"slack app", slackApp, RuleSlackToken, slackApp},
		{"slack placeholder", `xoxb-xxxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx`, "", ""},
		{"slack webhook", `SLACK_WEBHOOK=` + webhook, RuleSlackWebhook, webhook},
		{"google", `apiKey: "` + google + `",`, RuleGoogleAPIKey, google},
		{"google placeholder", `AIzaSyabcdefghijklmnopqrstuvwxyz1234567`, "", ""},
		{"supabase service role", `createClient(url, "` + serviceRole + `")`, RuleSupabaseServiceRole, serviceRole},
		{"supabase anon", `const SUPABASE_ANON_KEY = "` + anon + `";`, "", ""},
		{"other jwt", `Authorization: Bearer ` + user, RuleJWT, user},
		{"private key", "config = \"\"\"\n" + pem + "\n\"\"\"", RulePrivateKey, pem},
		{"private key template", "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----", "", ""},
		{"public key", "-----BEGIN PUBLIC KEY-----\n" + fake(36, b64, 128) + "\n-----END PUBLIC KEY-----", "", ""},
		{"generic api key", `api_key = "` + generic + `"`, RuleGenericSecret, generic},
		{"generic password", `DB_PASSWORD=` + generic, RuleGenericSecret, generic},
		{"generic bearer", `Authorization: Bearer ` + generic, RuleGenericSecret, generic},
		{"generic xml", `<apiToken>` + generic + `</apiToken>`, RuleGenericSecret, generic},
		{"generic query string", `https://api.example.com/v1?api_key=` + generic + `&q=1`, RuleGenericSecret, generic},
		{"generic placeholder", `api_key = "changeme-123456789"`, "", ""},
		{"generic env reference", `api_key = "${API_KEY}"`, "", ""},
		{"generic redacted", `password: <redacted>`, "", ""},
		{"generic stars", `password: "********"`, "", ""},
		{"generic word", `password = "correcthorsebatterystaple"`, "", ""},
		{"generic version", `api_version = "2024-06-01.preview3"`, "", ""},
		{"generic public key name", `public_key = "` + generic + `"`, "", ""},
		{"generic token url", `token_url = "https://auth.example.com/` + generic + `"`, "", ""},
		{"generic low entropy", `secret = "aaaaaaaaab1"`, "", ""},
		{"generic monkey", `monkey = "` + generic + `"`, "", ""},
		{"generic camel case name", `keyDownEvent = "` + generic + `"`, "", ""},
	}
}

func TestDefaultRules(t *testing.T) {
	s := NewScanner(DefaultRules())
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			ms := s.Scan([]byte(tc.input))
			if tc.rule == "" {
				for _, m := range ms {
					t.Errorf("unexpected %s match %q", m.RuleID, tc.input[m.Start:m.End])
				}
				return
			}
			if len(ms) != 1 {
				t.Fatalf("want one %s match, got %d: %+v", tc.rule, len(ms), ms)
			}
			m := ms[0]
			if m.RuleID != tc.rule {
				t.Errorf("rule = %s, want %s", m.RuleID, tc.rule)
			}
			if got := tc.input[m.Start:m.End]; got != tc.secret {
				t.Errorf("secret = %q, want %q", got, tc.secret)
			}
			r, ok := s.Rule(m.RuleID)
			if !ok || m.Severity != r.Severity {
				t.Errorf("severity = %s, want the rule's %s", m.Severity, r.Severity)
			}
			if want := Fingerprint([]byte(tc.secret)); m.Fingerprint != want {
				t.Errorf("fingerprint = %s, want %s", m.Fingerprint, want)
			}
		})
	}
}

// TestAnchoredMatchesUnanchored checks the anchored fast path against the
// plain regular expression search on every rule case.
func TestAnchoredMatchesUnanchored(t *testing.T) {
	plain := DefaultRules()
	for i := range plain {
		plain[i].Anchored = false
	}
	fast, slow := NewScanner(DefaultRules()), NewScanner(plain)
	for _, tc := range ruleCases() {
		got, want := fast.Scan([]byte(tc.input)), slow.Scan([]byte(tc.input))
		if !slices.Equal(got, want) {
			t.Errorf("%s: anchored %+v, unanchored %+v", tc.name, got, want)
		}
	}
}

func TestSeverities(t *testing.T) {
	want := map[string]Severity{
		RuleSupabaseServiceRole: SeverityCritical,
		RulePrivateKey:          SeverityCritical,
		RuleAWSSecretAccessKey:  SeverityCritical,
		RuleAWSAccessKeyID:      SeverityHigh,
		RuleAnthropicAdminKey:   SeverityCritical,
		RuleAnthropicAPIKey:     SeverityCritical,
		RuleOpenAIAPIKey:        SeverityCritical,
		RuleGitHubFineGrained:   SeverityCritical,
		RuleGitHubToken:         SeverityCritical,
		RuleStripeSecretKey:     SeverityCritical,
		RuleStripeTestKey:       SeverityLow,
		RuleSlackWebhook:        SeverityMedium,
		RuleSlackToken:          SeverityHigh,
		RuleGoogleAPIKey:        SeverityLow,
		RuleJWT:                 SeverityLow,
		RuleGenericSecret:       SeverityMedium,
	}
	rules := DefaultRules()
	if len(rules) != len(want) {
		t.Errorf("%d rules, want %d", len(rules), len(want))
	}
	for _, r := range rules {
		if r.Severity != want[r.ID] {
			t.Errorf("%s: severity %q, want %q", r.ID, r.Severity, want[r.ID])
		}
		if r.Description == "" || !regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`).MatchString(r.ID) {
			t.Errorf("%s: bad id or no description", r.ID)
		}
		for _, k := range r.Keywords {
			if k != strings.ToLower(k) {
				t.Errorf("%s: keyword %q is not lower-case", r.ID, k)
			}
		}
	}
}

func TestOverlapPriority(t *testing.T) {
	s := NewScanner(DefaultRules())
	// The generic rule also sees `token = <JWT>`; the JWT rules win, and
	// the service-role rule beats the plain JWT rule.
	sr := fakeJWT(`{"role":"service_role"}`)
	ms := s.Scan([]byte(`SUPABASE_SERVICE_ROLE_TOKEN = "` + sr + `"`))
	if len(ms) != 1 || ms[0].RuleID != RuleSupabaseServiceRole {
		t.Fatalf("got %+v, want one %s", ms, RuleSupabaseServiceRole)
	}
	gh := "ghp_" + fake(40, alnum, 36)
	ms = s.Scan([]byte(`GITHUB_TOKEN=` + gh))
	if len(ms) != 1 || ms[0].RuleID != RuleGitHubToken {
		t.Fatalf("got %+v, want one %s", ms, RuleGitHubToken)
	}
}

func TestLinesAndOffsets(t *testing.T) {
	s := NewScanner(DefaultRules())
	a, b := "ghp_"+fake(41, alnum, 36), "sk_live_"+fake(42, alnum, 30)
	input := "line one\nline two " + a + "\n\n\nx = \"" + b + "\"\n"
	ms := s.Scan([]byte(input))
	if len(ms) != 2 {
		t.Fatalf("got %+v", ms)
	}
	if ms[0].Line != 2 || input[ms[0].Start:ms[0].End] != a {
		t.Errorf("first: %+v", ms[0])
	}
	if ms[1].Line != 5 || input[ms[1].Start:ms[1].End] != b {
		t.Errorf("second: %+v", ms[1])
	}
}

func TestFingerprint(t *testing.T) {
	sum := sha256.Sum256([]byte("s3cr3t"))
	if got, want := Fingerprint([]byte("s3cr3t")), hex.EncodeToString(sum[:])[:8]; got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
}

func TestRedact(t *testing.T) {
	s := NewScanner(DefaultRules())
	for _, tc := range ruleCases() {
		got, changed := s.Redact(tc.input)
		if tc.rule == "" {
			if changed || got != tc.input {
				t.Errorf("%s: redacted a clean input to %q", tc.name, got)
			}
			continue
		}
		if !changed {
			t.Errorf("%s: nothing redacted", tc.name)
			continue
		}
		if part, leaked := leaksPart(got, tc.secret); leaked {
			t.Errorf("%s: %q still holds %q", tc.name, got, part)
		}
		if !strings.Contains(got, "[REDACTED:"+tc.rule+"]") {
			t.Errorf("%s: %q does not name rule %s", tc.name, got, tc.rule)
		}
		if again, changed := s.Redact(got); changed || again != got {
			t.Errorf("%s: redacting twice changed %q to %q", tc.name, got, again)
		}
	}
	// Overlapping secrets of several rules go as one span.
	sr := fakeJWT(`{"role":"service_role"}`)
	got, _ := s.Redact(`token: ` + sr)
	if got != `token: [REDACTED:`+RuleSupabaseServiceRole+`]` {
		t.Errorf("overlap: %q", got)
	}
}

func TestDefaultRulesAreFresh(t *testing.T) {
	a := DefaultRules()
	a[0].ID = "changed"
	a[len(a)-1].Keywords[0] = "changed"
	_ = append(a[:1], Rule{ID: "appended"})
	b := DefaultRules()
	if b[0].ID != RuleSupabaseServiceRole || b[len(b)-1].Keywords[0] == "changed" || len(b) < 2 {
		t.Errorf("DefaultRules returned shared state: %v", b[0].ID)
	}
	s := NewScanner(DefaultRules())
	rs := s.Rules()
	rs[0].ID = "changed"
	if r, ok := s.Rule(RuleSupabaseServiceRole); !ok || r.ID != RuleSupabaseServiceRole {
		t.Error("Scanner.Rules returned shared state")
	}
	if _, ok := s.Rule("no-such-rule"); ok {
		t.Error("Rule found an unknown id")
	}
}

func TestNewScannerPanics(t *testing.T) {
	re := regexp.MustCompile(`x(y)`)
	for name, rules := range map[string][]Rule{
		"no regex":       {{ID: "a"}},
		"bad group":      {{ID: "a", Regex: re, SecretGroup: 2}},
		"duplicate":      {{ID: "a", Regex: re}, {ID: "a", Regex: re}},
		"anchored bare":  {{ID: "a", Regex: re, Anchored: true}},
		"empty keyword":  {{ID: "a", Regex: re, Keywords: []string{""}}},
		"negative group": {{ID: "a", Regex: re, SecretGroup: -1}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			NewScanner(rules)
		}()
	}
}

func TestCustomRules(t *testing.T) {
	// A rule set of one's own: no keywords (the regex always runs), and
	// keywords in any case.
	s := NewScanner([]Rule{
		{ID: "internal-token", Severity: SeverityHigh, Regex: regexp.MustCompile(`\bitk_[0-9a-f]{16}\b`)},
		{ID: "other", Severity: SeverityLow, Keywords: []string{"OTHER-"}, Anchored: true, Regex: regexp.MustCompile(`other-(\d{6})`), SecretGroup: 1},
	})
	ms := s.Scan([]byte("a itk_0123456789abcdef b other-123456 OTHER-654321"))
	if len(ms) != 2 || ms[0].RuleID != "internal-token" || ms[1].RuleID != "other" || ms[1].End-ms[1].Start != 6 {
		t.Errorf("got %+v", ms)
	}
	if got := NewScanner(nil).Scan([]byte("anything")); got != nil {
		t.Errorf("empty scanner found %+v", got)
	}
	var zero Scanner
	if got := zero.Scan([]byte("ghp_" + fake(1, alnum, 36))); got != nil {
		t.Errorf("zero scanner found %+v", got)
	}
}

func TestEntropy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{{"", 0}, {"aaaa", 0}, {"ab", 1}, {"abcd", 2}, {"0123456789abcdef", 4}} {
		if got := Entropy([]byte(tc.in)); got != tc.want {
			t.Errorf("Entropy(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestKeywordIndex(t *testing.T) {
	words := [][]byte{[]byte("he"), []byte("she"), []byte("his"), []byte("hers"), []byte("sk-"), []byte("-----begin")}
	k := newKeywordIndex(words)
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "hesirHESR-kKbgn "
	for range 500 {
		data := []byte(fake(rng.Uint64(), alphabet, rng.IntN(200)))
		type hit struct{ w, at int }
		var got, want []hit
		k.find(data, func(w, at int) { got = append(got, hit{w, at}) })
		lower := strings.ToLower(string(data))
		for wi, w := range words {
			for at := 0; at+len(w) <= len(lower); at++ {
				if lower[at:at+len(w)] == string(w) {
					want = append(want, hit{wi, at})
				}
			}
		}
		cmp := func(a, b hit) int {
			if a.at != b.at {
				return a.at - b.at
			}
			return a.w - b.w
		}
		slices.SortFunc(got, cmp)
		slices.SortFunc(want, cmp)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: got %v, want %v", data, got, want)
		}
	}
}

func TestConcurrentScan(t *testing.T) {
	s := NewScanner(DefaultRules())
	cases := ruleCases()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				tc := cases[(g+i)%len(cases)]
				ms := s.Scan([]byte(tc.input))
				if (tc.rule == "") != (len(ms) == 0) {
					t.Errorf("%s: %d matches", tc.name, len(ms))
				}
				s.Redact(tc.input)
			}
		})
	}
	wg.Wait()
}

func FuzzScan(f *testing.F) {
	for _, tc := range ruleCases() {
		f.Add(tc.input)
	}
	s := NewScanner(DefaultRules())
	f.Fuzz(func(t *testing.T, in string) {
		ms := s.Scan([]byte(in))
		prev := 0
		for _, m := range ms {
			if m.Start < prev || m.Start >= m.End || m.End > len(in) {
				t.Fatalf("bad span %+v in %d bytes (previous end %d)", m, len(in), prev)
			}
			if want := 1 + strings.Count(in[:m.Start], "\n"); m.Line != want {
				t.Fatalf("line %d, want %d", m.Line, want)
			}
			prev = m.End
		}
		red, changed := s.Redact(in)
		if changed != (len(ms) > 0) {
			t.Fatalf("Redact changed=%v with %d matches", changed, len(ms))
		}
		if !changed && red != in {
			t.Fatal("Redact changed the input but says it did not")
		}
	})
}
