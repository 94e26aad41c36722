package secretscan

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Severity ranks how bad a leak of a rule's secret is. Its values are the
// severity names of the rest of secopsd: info, low, medium, high, critical.
type Severity string

// The severities a rule may carry.
const (
	// SeverityInfo is a fact worth recording, not a problem.
	SeverityInfo Severity = "info"
	// SeverityLow is a secret that is often public by design (browser API
	// keys, test keys, tokens without privileges).
	SeverityLow Severity = "low"
	// SeverityMedium is a probable secret of unknown reach.
	SeverityMedium Severity = "medium"
	// SeverityHigh is a live credential with scoped access.
	SeverityHigh Severity = "high"
	// SeverityCritical is a credential that grants broad access to
	// production data, infrastructure or billing.
	SeverityCritical Severity = "critical"
)

// Rule describes one kind of secret. A candidate is reported when Regex
// matches, the secret (the SecretGroup submatch) passes every filter, and
// no allowlist entry claims it.
type Rule struct {
	// ID names the rule, lower-case with dashes, such as "aws-access-key-id".
	ID string
	// Description says what the secret is, for people.
	Description string
	// Severity is how bad a leak of this secret is.
	Severity Severity
	// Keywords is a cheap prefilter, found in one pass for all rules: the
	// rule's Regex runs only on input that contains one of them, ignoring
	// ASCII case, so every match of Regex must contain one. Empty means
	// the Regex always runs.
	Keywords []string
	// Regex finds candidates; it must not be nil.
	Regex *regexp.Regexp
	// Anchored says that every match of Regex starts with one of the
	// Keywords: the scanner then tries Regex only where a keyword starts
	// instead of searching the whole input, which is much faster for rules
	// with common keywords. The Regex sees the input from the keyword on;
	// a leading \b is checked against the byte before the keyword.
	Anchored bool
	// SecretGroup is the submatch that holds the secret; 0 is the whole
	// match. A match whose group did not participate is ignored.
	SecretGroup int
	// Entropy is the least Shannon entropy (bits per byte) the secret must
	// have; 0 checks nothing.
	Entropy float64
	// RequireDigit drops secrets without a decimal digit, which in
	// practice are words and identifiers rather than random tokens.
	RequireDigit bool
	// Stopwords drop a secret that contains any of them, ignoring ASCII
	// case: placeholders such as "changeme" or "example".
	Stopwords []string
	// AllowSecret drops a secret that one of these matches.
	AllowSecret []*regexp.Regexp
	// AllowMatch drops a secret if one of these matches its context: the
	// part of the Regex match before the secret, extended back to the start
	// of the word the match begins in (letters, digits, '_', '.', '-'; at
	// most 64 bytes). It excludes key names that look like credentials but
	// are not (public_key, token_url, monkey, …); AllowSecret is for the
	// secret itself.
	AllowMatch []*regexp.Regexp
	// Verify, if set, must return true for the secret to be reported: a
	// structural check a regular expression cannot make, such as decoding
	// a token.
	Verify func(secret []byte) bool
}

// clone returns r with its slices copied, so that a caller changing the
// returned rule cannot change anyone else's.
func (r Rule) clone() Rule {
	r.Keywords = slices.Clone(r.Keywords)
	r.Stopwords = slices.Clone(r.Stopwords)
	r.AllowSecret = slices.Clone(r.AllowSecret)
	r.AllowMatch = slices.Clone(r.AllowMatch)
	return r
}

// DefaultRules returns secopsd's rule set, a fresh slice on every call, in
// priority order: where the secrets of two rules overlap, the earlier rule
// wins. The regular expressions are compiled once per process.
func DefaultRules() []Rule {
	rules := defaultRules()
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = r.clone()
	}
	return out
}

// Rule ids of DefaultRules, in priority order.
const (
	// RuleSupabaseServiceRole is a JWT whose payload claims the
	// service_role role (Supabase, PostgREST): it bypasses Row-Level
	// Security.
	RuleSupabaseServiceRole = "supabase-service-role-jwt"
	// RulePrivateKey is a PEM or PGP private key block.
	RulePrivateKey = "private-key"
	// RuleAWSSecretAccessKey is an AWS secret access key assignment.
	RuleAWSSecretAccessKey = "aws-secret-access-key"
	// RuleAWSAccessKeyID is an AWS access key ID (AKIA…, ASIA…, …).
	RuleAWSAccessKeyID = "aws-access-key-id"
	// RuleAnthropicAdminKey is an Anthropic admin key (sk-ant-admin01-…).
	RuleAnthropicAdminKey = "anthropic-admin-key"
	// RuleAnthropicAPIKey is an Anthropic API key (sk-ant-api03-…).
	RuleAnthropicAPIKey = "anthropic-api-key"
	// RuleOpenAIAPIKey is an OpenAI API key (sk-proj-…, sk-…T3BlbkFJ…).
	RuleOpenAIAPIKey = "openai-api-key"
	// RuleGitHubFineGrained is a GitHub fine-grained personal access
	// token (github_pat_…).
	RuleGitHubFineGrained = "github-fine-grained-pat"
	// RuleGitHubToken is a GitHub token (ghp_, gho_, ghu_, ghs_, ghr_).
	RuleGitHubToken = "github-token"
	// RuleStripeSecretKey is a Stripe live secret or restricted key.
	RuleStripeSecretKey = "stripe-secret-key"
	// RuleStripeTestKey is a Stripe test-mode secret or restricted key.
	RuleStripeTestKey = "stripe-test-key"
	// RuleSlackWebhook is a Slack webhook, workflow or trigger URL.
	RuleSlackWebhook = "slack-webhook-url"
	// RuleSlackToken is a Slack token (xoxb-, xoxp-, xapp-, …).
	RuleSlackToken = "slack-token"
	// RuleGoogleAPIKey is a Google API key (AIza…).
	RuleGoogleAPIKey = "google-api-key"
	// RuleJWT is any other JSON Web Token.
	RuleJWT = "jwt"
	// RuleGenericSecret is a credential-like assignment with a
	// random-looking value (api_key = "…", password: …).
	RuleGenericSecret = "generic-secret"
)

// tokenEnd is what may follow a token: a quote, white space, a separator
// of code, JSON, query strings or markup, an escaped line break, or the end
// of the input.
const tokenEnd = `(?:[\x60'"\s;,<>)}\]&]|\\[nrt]|$)`

// defaultRules compiles the rule set once.
var defaultRules = sync.OnceValue(func() []Rule {
	re := regexp.MustCompile
	return []Rule{
		{
			ID:          RuleSupabaseServiceRole,
			Description: "Supabase (PostgREST) service_role JWT, which bypasses Row-Level Security",
			Severity:    SeverityCritical,
			Keywords:    []string{"eyj"},
			Anchored:    true,
			Regex:       re(`\beyJ[A-Za-z0-9_-]{10,}={0,2}\.eyJ[A-Za-z0-9_-]{10,}={0,2}\.[A-Za-z0-9_-]{10,}={0,2}`),
			Verify:      isServiceRoleJWT,
		},
		{
			ID:          RulePrivateKey,
			Description: "private key (PEM or PGP block)",
			Severity:    SeverityCritical,
			Keywords:    []string{"-----begin"},
			Anchored:    true,
			// At least 64 characters of key material between the armour
			// lines, so that empty templates are not reported.
			Regex: re(`-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]{64,}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----`),
		},
		{
			ID:          RuleAWSSecretAccessKey,
			Description: "AWS secret access key",
			Severity:    SeverityCritical,
			Keywords:    []string{"aws", "secret"},
			Anchored:    true,
			Regex: re(`(?i)(?:aws[\w.-]{0,20}?secret[\w.-]{0,20}|secret[_.-]?access[_.-]?key[\w.-]{0,10})` +
				`[ \t'"]{0,3}(?:=|:|:=|=>)[ \t'"\x60]{0,5}` +
				`((?-i:[A-Za-z0-9/+]{40}))` + `(?:[^A-Za-z0-9/+=]|$)`),
			SecretGroup:  1,
			Entropy:      4,
			RequireDigit: true,
			Stopwords:    []string{"example"},
		},
		{
			ID:          RuleAWSAccessKeyID,
			Description: "AWS access key ID",
			Severity:    SeverityHigh,
			Keywords:    []string{"akia", "asia", "abia", "acca", "a3t"},
			Anchored:    true,
			Regex:       re(`\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`),
			SecretGroup: 1,
			Entropy:     3,
			AllowSecret: []*regexp.Regexp{re(`EXAMPLE$`)},
		},
		{
			ID:          RuleAnthropicAdminKey,
			Description: "Anthropic admin API key",
			Severity:    SeverityCritical,
			Keywords:    []string{"sk-ant-admin01-"},
			Anchored:    true,
			Regex:       re(`\b(sk-ant-admin01-[A-Za-z0-9_-]{93}AA)` + tokenEnd),
			SecretGroup: 1,
		},
		{
			ID:          RuleAnthropicAPIKey,
			Description: "Anthropic API key",
			Severity:    SeverityCritical,
			Keywords:    []string{"sk-ant-api03-"},
			Anchored:    true,
			Regex:       re(`\b(sk-ant-api03-[A-Za-z0-9_-]{93}AA)` + tokenEnd),
			SecretGroup: 1,
		},
		{
			ID:          RuleOpenAIAPIKey,
			Description: "OpenAI API key",
			Severity:    SeverityCritical,
			Keywords:    []string{"sk-"},
			Anchored:    true,
			// Project, service-account and admin keys (with or without
			// the "T3BlbkFJ" marker, base64 of "OpenAI"), and legacy keys
			// with the marker.
			Regex: re(`\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,250}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})` +
				`(?:[^A-Za-z0-9_-]|$)`),
			SecretGroup: 1,
			Entropy:     3,
		},
		{
			ID:          RuleGitHubFineGrained,
			Description: "GitHub fine-grained personal access token",
			Severity:    SeverityCritical,
			Keywords:    []string{"github_pat_"},
			Anchored:    true,
			Regex:       re(`\b(github_pat_[A-Za-z0-9_]{82})\b`),
			SecretGroup: 1,
			Entropy:     3,
		},
		{
			ID:          RuleGitHubToken,
			Description: "GitHub token (personal, OAuth, user-to-server, server-to-server or refresh)",
			Severity:    SeverityCritical,
			Keywords:    []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"},
			Anchored:    true,
			Regex:       re(`\b(gh[pousr]_[A-Za-z0-9]{36})\b`),
			SecretGroup: 1,
			Entropy:     3,
		},
		{
			ID:          RuleStripeSecretKey,
			Description: "Stripe live secret or restricted key",
			Severity:    SeverityCritical,
			Keywords:    []string{"sk_live_", "rk_live_", "sk_prod_", "rk_prod_"},
			Anchored:    true,
			Regex:       re(`\b((?:sk|rk)_(?:live|prod)_[A-Za-z0-9]{10,99})` + tokenEnd),
			SecretGroup: 1,
			Entropy:     2,
		},
		{
			ID:          RuleStripeTestKey,
			Description: "Stripe test-mode secret or restricted key",
			Severity:    SeverityLow,
			Keywords:    []string{"sk_test_", "rk_test_"},
			Anchored:    true,
			Regex:       re(`\b((?:sk|rk)_test_[A-Za-z0-9]{10,99})` + tokenEnd),
			SecretGroup: 1,
			Entropy:     2,
		},
		{
			ID:          RuleSlackWebhook,
			Description: "Slack incoming webhook, workflow or trigger URL",
			Severity:    SeverityMedium,
			Keywords:    []string{"hooks.slack.com"},
			Regex:       re(`(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}`),
		},
		{
			ID:          RuleSlackToken,
			Description: "Slack token (bot, user, app, workspace, legacy or configuration)",
			Severity:    SeverityHigh,
			Keywords:    []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-", "xoxe", "xapp-"},
			Anchored:    true,
			Regex: re(`(?i:xoxe\.xox[bp]-\d-[A-Z0-9]{163,166})` + // configuration access token
				`|(?i:xoxe-\d-[A-Z0-9]{146})` + // configuration refresh token
				`|xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9-]{28,34}` + // user token
				`|xoxb-[0-9]{8,14}-(?:[0-9]{10,13}[A-Za-z0-9-]*|[A-Za-z0-9]{18,26})` + // bot token, also legacy
				`|xox[os]-\d+-\d+-\d+-[A-Fa-f0-9]+` + // legacy token
				`|xox[ar]-(?:\d-)?[A-Za-z0-9]{8,48}(?:-[A-Za-z0-9]+)*` + // legacy workspace token
				`|(?i:xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)`), // app-level token
			Entropy:      2,
			RequireDigit: true,
		},
		{
			ID:          RuleGoogleAPIKey,
			Description: "Google API key (often public by design in browsers: Maps, Firebase)",
			Severity:    SeverityLow,
			Keywords:    []string{"aiza"},
			Anchored:    true,
			Regex:       re(`\b(AIza[A-Za-z0-9_-]{35})` + tokenEnd),
			SecretGroup: 1,
			Entropy:     4,
			Stopwords:   []string{"abcdefghijklmnopqrstuvwxyz", "xxxxxxxx"},
		},
		{
			ID:          RuleJWT,
			Description: "JSON Web Token",
			Severity:    SeverityLow,
			Keywords:    []string{"ey"},
			Anchored:    true,
			Regex:       re(`\b(ey[A-Za-z0-9]{17,}\.ey[A-Za-z0-9/\\_-]{17,}\.(?:[A-Za-z0-9/\\_-]{10,}={0,2})?)` + tokenEnd),
			SecretGroup: 1,
			Entropy:     3,
			// A Supabase anon key is public by design: every browser
			// gets it, and Row-Level Security guards the data.
			Verify: func(tok []byte) bool { return jwtRole(tok) != "anon" },
		},
		genericRule(),
	}
})

// genericRule finds credential-like assignments with a random-looking
// value: api_key = "…", "client_secret": "…", PASSWORD=…, <token>…</token>,
// Authorization: Bearer ….
func genericRule() Rule {
	re := regexp.MustCompile
	// A credential word of a name (the rule is anchored at it: the part of
	// the name before it is only seen by AllowMatch); then up to 20
	// characters of the rest of the name or a type ("var token string =").
	const name = `(?:access|auth|(?-i:[Aa]pi|API)|credential|creds|key|passw(?:or)?d|pwd|secret|token)[ \t\w.-]{0,20}?`
	// An assignment of some language or format; a comma only before a
	// quoted value, as in setenv("API_TOKEN", "…").
	const assign = `[\s'"]{0,3}(?:(?:=|>|:{1,3}=|\|\|:?|:|=>|\?=)[\x60'"\s=]{0,5}|,[ \t]*[\x60'"][\x60'"\s=]{0,4})`
	const scheme = `(?:(?:bearer|token|basic)[ \t]{1,3})?`
	const value = `([\w.=-]{10,150}|[a-z0-9][a-z0-9+/]{11,149}={0,3})`
	// nameEnd ends a word of a key name: the name ends, or goes on with a
	// separator or a capital letter.
	const nameEnd = `(?:(?-i:[^a-z])|$)`
	return Rule{
		ID:           RuleGenericSecret,
		Description:  "credential-like assignment with a random-looking value",
		Severity:     SeverityMedium,
		Keywords:     []string{"access", "api", "auth", "key", "credential", "creds", "passwd", "password", "pwd", "secret", "token"},
		Regex:        re(`(?i)` + name + assign + scheme + value + tokenEnd),
		Anchored:     true,
		SecretGroup:  1,
		Entropy:      3.5,
		RequireDigit: true,
		Stopwords: []string{
			"changeme", "change_me", "change-me", "example", "placeholder", "redacted",
			"your_", "your-", "yourkey", "yourtoken", "yoursecret", "dummy", "sample",
			"xxxxxx", "000000", "123456", "abcdef", "insert", "replace_",
			"abcdefghijklmnopqrstuvwxyz", "qwerty", "notasecret", "not_a_secret", "snapshot",
			// A value naming a credential is a reference, not one.
			"key", "token", "secret", "password", "passwd", "credential",
		},
		AllowSecret: []*regexp.Regexp{
			// Words, identifiers with dashes and dots.
			re(`^[A-Za-z_.-]+$`),
			// A single repeated character.
			re(`^(?:a+|b+|c+|d+|e+|f+|x+|X+|0+|1+|\*+|\.+)$`),
			// Template and environment references.
			re(`^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$|^\{\{.*\}\}$|^%[A-Za-z_]+%$`),
			// Publishable keys meant for browsers: Stripe and Clerk pk_,
			// Mapbox pk., PostHog phc_, Datadog RUM client tokens pub….
			re(`^(?:pk_(?:live|test)_|pk\.|phc_|pub[0-9a-f]{32}$)`),
			// Version strings and dotted numbers.
			re(`^(?:v|rc|r)?\d+(?:\.\d+)+(?:[-._+][\w.-]*)?$`),
			// Dotted names: packages, property paths, host names.
			re(`^[A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*)+$`),
			// Paths.
			re(`^/(?:bin|etc|home|opt|tmp|usr|var|users)/`),
		},
		// A Supabase anon key is public by design (see the JWT rule).
		Verify: func(secret []byte) bool { return jwtRole(secret) != "anon" },
		AllowMatch: []*regexp.Regexp{re(`(?i)` +
			// Names that contain a credential word but name no secret.
			`access(?:ibility|ible|or)|access[_.-]?(?:id|type|level|mode|control|log|count|date|time)` + nameEnd + `|random[_.-]?access|` +
			`api[_.-]?(?:id|name|version|url|uri|endpoint|base|host|path|docs?|prefix|root|server|gateway|level|status)` + nameEnd + `|rapid|capital|` +
			`[a-z0-9-]*api[a-z0-9-]*:jar:|author(?:s|ship|ity|ities)?` + nameEnd + `|auth[_.-]?(?:type|method|mode|url|uri|endpoint|domain|source|provider|header|scheme|state|flow|code[_.-]?url)` + nameEnd + `|` +
			`authentication[_.-]?(?:results?|type|method)|credentials?[_.-]?(?:id|type|name|provider|url|endpoint)` + nameEnd + `|withcredentials|` +
			`(?:bucket|foreign|primary|public|pub|publishable|site|search|schema|sequence|sort|partition|hot|idx|natural|cache|` +
			`storage|state|store|query|route|row|column|unique|lookup|hash|i18n|translation|message|event|item|node|list|group|` +
			`react|component|element|map|dict|index|write|vapid)[_.-]?(?:api[_.-]?)?key` + nameEnd + `|private[_.-]?key[_.-]?(?:file|path)|turkey|` +
			`key[_.-]?(?:alias|board|code|frame|id|length|mesh|name|pair|press(?:ed)?|ring|selector|signature|size|stone|` +
			`store(?:type)?|word|up|down|left|right|type|usage|ops|format|count|index|field|spec|path|file|tab)` + nameEnd + `|` +
			`key[_.-]?vault[_.-]?(?:id|name|url|uri)|keyvaulttostoresecrets|key(?:store|tab)[_.-]?(?:file|path)|issuer[_.-]?key[_.-]?hash|` +
			`(?-i:[DdMm]onkey|[DM]ONKEY)|keying|hockey|jockey|whiskey|` +
			`secret[_.-]?(?:length|name|size|id|ref|path|file|type|arn|version|store|provider|manager)` + nameEnd + `|usersecretsid|` +
			`(?:csrf|xsrf|page|next|continuation|pagination|cursor|sync|public|publishable|client|refresh[_.-]?token[_.-]?url)[_.-]?token` + nameEnd + `|` +
			`io\.jsonwebtoken|(?:api|credentials?|token)[_.-]?(?:endpoint|ur[il])|token[_.-]?(?:type|file|path|name|id|expir\w*|ttl|lifetime|length|count|limit|usage|endpoint|url|uri)` + nameEnd + `|` +
			`password[_.-]?(?:policy|length|hint|field|label|reset|strength|min|max|rules?|expir\w*|variable|changed)` + nameEnd + `|usernamepassword|` +
			`--mount=type=secret`,
		)},
	}
}

// isServiceRoleJWT reports whether tok is a JWT whose payload claims
// "role": "service_role".
func isServiceRoleJWT(tok []byte) bool { return jwtRole(tok) == "service_role" }

// jwtRole returns the "role" claim of the JWT tok, or "" if tok's payload
// does not decode or has none.
func jwtRole(tok []byte) string {
	parts := strings.Split(string(tok), ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Role string `json:"role"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Role
}
