package monitors

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/secretscan"
)

// The fake credentials of these tests are built at run time, so that the
// repository holds nothing that secret scanners would flag.

const (
	secretsAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	secretsB64url = secretsAlnum + "-_"
	secretsUpper2 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

// secretsFake returns n deterministic pseudo-random characters of alphabet.
func secretsFake(seed uint64, alphabet string, n int) string {
	rng := rand.New(rand.NewPCG(seed, 0x1ea4))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// secretsJWT returns a signed-looking JWT with the given JSON payload.
func secretsJWT(seed uint64, payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + "." + secretsFake(seed, secretsB64url, 43)
}

// secretsFixture is a set of leaked credentials.
type secretsFixture struct {
	awsID, awsSecret, stripe, serviceRole, slack, google, generic string
	ghHeader, ghCookie, session, sessionJWT, pem                  string
}

func newSecretsFixture(seed uint64) secretsFixture {
	f := func(n uint64, alphabet string, length int) string { return secretsFake(seed*100+n, alphabet, length) }
	var pem strings.Builder
	pem.WriteString("-----BEGIN EC PRIVATE KEY-----\n")
	for i := range 3 {
		pem.WriteString(f(uint64(20+i), secretsAlnum+"+/", 64) + "\n")
	}
	pem.WriteString("-----END EC PRIVATE KEY-----")
	return secretsFixture{
		awsID:       "AKIA" + f(1, secretsUpper2, 16),
		awsSecret:   f(2, secretsAlnum+"+/", 40),
		stripe:      "sk_live_" + f(3, secretsAlnum, 24),
		serviceRole: secretsJWT(seed*100+4, `{"iss":"supabase","role":"service_role","exp":2000000000}`),
		slack:       "xoxb-" + f(5, "0123456789", 12) + "-" + f(6, "0123456789", 13) + "-" + f(7, secretsAlnum, 24),
		google:      "AIza" + f(8, secretsB64url, 35),
		generic:     f(9, secretsAlnum, 32),
		ghHeader:    "ghp_" + f(10, secretsAlnum, 36),
		ghCookie:    "ghs_" + f(11, secretsAlnum, 36),
		session:     f(12, secretsAlnum, 40),
		sessionJWT:  secretsJWT(seed*100+13, `{"sub":"anonymous","exp":2000000000}`),
		pem:         pem.String(),
	}
}

func (x secretsFixture) all() []string {
	return []string{x.awsID, x.awsSecret, x.stripe, x.serviceRole, x.slack, x.google, x.generic,
		x.ghHeader, x.ghCookie, x.session, x.sessionJWT, x.pem}
}

// leakyBody is a page that leaks every fixture secret but the header ones;
// blank lines above move the secrets down without changing them.
func (x secretsFixture) leakyBody(blank int) string {
	return strings.Repeat("\n", blank) + `<!doctype html>
<html><head><title>Shop</title></head><body>
<script>
window.__ENV__ = {
  AWS_ACCESS_KEY_ID: "` + x.awsID + `",
  AWS_SECRET_ACCESS_KEY: "` + x.awsSecret + `",
  STRIPE_SECRET: "` + x.stripe + `",
  SUPABASE_KEY: "` + x.serviceRole + `",
  slack: "` + x.slack + `",
  mapsKey: "` + x.google + `",
  api_token: "` + x.generic + `",
};
</script>
<pre>` + x.pem + `</pre>
<p>Also ` + x.stripe + ` again.</p>
</body></html>
`
}

// hardenedBody is a page full of look-alikes that are not secrets.
const hardenedBody = `<!doctype html>
<html><head><title>Docs</title>
<meta name="csrf-token" content="Zk3mQ9xR2vT8bN5pL1wY7cH4jF6sD0aE">
</head><body>
<script>
const config = {
  apiUrl: "https://api.example.com/v1",
  apiVersion: "2024-06-01",
  publishableKey: "pk_live_0a1B2c3D4e5F6g7H8i9J0k1L",
  apiKey: process.env.API_KEY,
  password: "${DB_PASSWORD}",
  token: "<redacted>",
  secret: "changeme-please-123",
  awsKey: "AKIAIOSFODNN7EXAMPLE",
  github: "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  tokenType: "Bearer",
};
function onKeyDown(e) { if (e.key === "Enter") submit(); }
</script>
<p>Set <code>STRIPE_SECRET_KEY=sk_live_...</code> in your environment; never commit it.</p>
<pre>-----BEGIN PRIVATE KEY-----
(your key here)
-----END PRIVATE KEY-----</pre>
</body></html>
`

// secretsMonitor returns a secrets monitor of urls with the defaults.
func secretsMonitor(t *testing.T, name string, urls ...string) config.Monitor {
	t.Helper()
	m, ok := config.DefaultMonitor("secrets")
	if !ok {
		t.Fatal("no secrets monitor type")
	}
	m.Name = name
	m.Secrets.URLs = urls
	m.Labels = map[string]string{"team": "web"}
	return m
}

// secretsTLSServer serves handler over TLS and returns the Env to reach it.
func secretsTLSServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, Env) {
	t.Helper()
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	return srv, Env{Transport: func() http.RoundTripper { return srv.Client().Transport }}
}

// secretsLeakyHandler serves the fixture's leaks: the page body, a debug
// header and cookies.
func secretsLeakyHandler(x secretsFixture, blank int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Debug-Token", x.ghHeader)
		// Session cookies issued to the client are not leaks…
		w.Header().Add("Set-Cookie", "session_token="+x.session+"; Path=/; HttpOnly; Secure")
		w.Header().Add("Set-Cookie", "auth="+x.sessionJWT+"; Path=/; HttpOnly; Secure")
		// …but a vendor credential in a cookie is.
		w.Header().Add("Set-Cookie", "gh="+x.ghCookie+"; Path=/")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, x.leakyBody(blank))
	}
}

type secretsWant struct {
	id    string
	sev   event.Severity
	place string // evidence prefix
}

func TestSecretsFindsLeaks(t *testing.T) {
	x := newSecretsFixture(1)
	srv, env := secretsTLSServer(t, secretsLeakyHandler(x, 0))
	m := secretsMonitor(t, "leaks", srv.URL+"/app")
	res := ProbeSecrets(context.Background(), m, env, nil)
	if res.Success {
		t.Fatal("leaky page passed")
	}
	want := []secretsWant{
		{"secrets.github-token", event.SeverityCritical, "Set-Cookie (HTTP 200)"},
		{"secrets.github-token", event.SeverityCritical, "X-Debug-Token (HTTP 200)"},
		{"secrets.aws-access-key-id", event.SeverityHigh, "body line 5 "},
		{"secrets.aws-secret-access-key", event.SeverityCritical, "body line 6 "},
		{"secrets.stripe-secret-key", event.SeverityCritical, "body line 7 "},
		{"secrets.supabase-service-role-jwt", event.SeverityCritical, "body line 8 "},
		{"secrets.slack-token", event.SeverityHigh, "body line 9 "},
		{"secrets.google-api-key", event.SeverityLow, "body line 10 "},
		{"secrets.generic-secret", event.SeverityMedium, "body line 11 "},
		{"secrets.private-key", event.SeverityCritical, "body line 14 "},
	}
	if len(res.Findings) != len(want) {
		for _, f := range res.Findings {
			t.Logf("%s %s %s", f.ID, f.Severity, f.Evidence)
		}
		t.Fatalf("%d findings, want %d", len(res.Findings), len(want))
	}
	target := srv.URL + "/app"
	for i, w := range want {
		f := res.Findings[i]
		if f.ID != w.id || f.Severity != w.sev {
			t.Errorf("finding %d = %s %s, want %s %s", i, f.ID, f.Severity, w.id, w.sev)
		}
		if !strings.Contains(f.Evidence, w.place) {
			t.Errorf("%s: evidence %q does not locate it at %q", f.ID, f.Evidence, w.place)
		}
		rule := strings.TrimPrefix(f.ID, FindingSecretsPrefix)
		if !strings.Contains(f.Evidence, "rule "+rule) || !strings.Contains(f.Evidence, "secret fingerprint ") {
			t.Errorf("%s: evidence %q lacks the rule or fingerprint", f.ID, f.Evidence)
		}
		if f.Target != target || !strings.Contains(f.Title, target) || f.Remediation == "" {
			t.Errorf("%s: target %q, title %q", f.ID, f.Target, f.Title)
		}
	}
	// The Stripe key is in the body twice: one finding, two occurrences.
	if e := res.Findings[4].Evidence; !strings.Contains(e, "2 occurrences") {
		t.Errorf("repeated secret: evidence %q", e)
	}
	if res.Findings[7].Remediation == res.Findings[6].Remediation || !strings.Contains(res.Findings[7].Remediation, "ignore_fingerprints") {
		t.Errorf("a low finding should suggest ignore_fingerprints: %q", res.Findings[7].Remediation)
	}
	d := res.Details
	if d["urls"] != "1" || d["urls_scanned"] != "1" || d["secrets_found"] != "10" || d["bytes_scanned"] == "0" {
		t.Errorf("details: %v", d)
	}
	if res.Monitor != "leaks" || res.Type != "secrets" || res.Target != target || res.Attempts != 1 ||
		res.Labels["team"] != "web" || res.Start.IsZero() || res.Duration <= 0 {
		t.Errorf("result: %+v", res)
	}
	// Each finding becomes a failing event with its own fingerprint.
	evs := res.Events(time.Now())
	fps := map[string]bool{}
	for _, ev := range evs {
		if ev.Outcome != event.OutcomeFail || ev.Attributes["finding_severity"] == "" || ev.Attributes["target"] != target {
			t.Errorf("event %+v", ev)
		}
		fps[ev.Fingerprint] = true
	}
	if len(evs) != len(want) || len(fps) != len(want) {
		t.Errorf("%d events with %d distinct fingerprints, want %d", len(evs), len(fps), len(want))
	}
}

func TestSecretsHardenedPasses(t *testing.T) {
	var auth string
	srv, env := secretsTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("Set-Cookie", "session_token=Zk3mQ9xR2vT8bN5pL1wY7cH4jF6sD0aE1; Path=/; HttpOnly; Secure")
		w.Header().Set("X-Request-Id", "4f9c2a7e-1b3d-4e5f-8a9b-0c1d2e3f4a5b")
		fmt.Fprint(w, hardenedBody)
		// A Supabase anon key is public by design.
		fmt.Fprintf(w, "<script>const SUPABASE_ANON_KEY = %q;</script>\n",
			secretsJWT(42, `{"iss":"supabase","role":"anon","exp":2000000000}`))
	})
	m := secretsMonitor(t, "docs", srv.URL+"/", srv.URL+"/docs")
	m.Secrets.Headers = map[string]config.Secret{"Authorization": "Bearer cfg-token-value"}
	res := ProbeSecrets(context.Background(), m, env, nil)
	for _, f := range res.Findings {
		t.Errorf("unexpected finding %s %s: %s", f.ID, f.Severity, f.Evidence)
	}
	if !res.Success || res.Attempts != 2 || res.Details["urls_scanned"] != "2" || res.Details["secrets_found"] != "0" {
		t.Errorf("result: %+v", res)
	}
	if auth != "Bearer cfg-token-value" {
		t.Errorf("configured header not sent: %q", auth)
	}
	if want := srv.URL + "/ (+1 more)"; res.Target != want {
		t.Errorf("target %q, want %q", res.Target, want)
	}
	if evs := res.Events(time.Now()); len(evs) != 1 || evs[0].Outcome != event.OutcomePass {
		t.Errorf("events: %+v", evs)
	}
}

func TestSecretsFingerprintsAreStable(t *testing.T) {
	x := newSecretsFixture(2)
	blank := 0
	srv, env := secretsTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		secretsLeakyHandler(x, blank)(w, r)
	})
	byID := func(res Result) map[string]string {
		out := map[string]string{}
		for _, f := range res.Findings {
			key := f.ID
			if strings.Contains(f.Evidence, "header") || strings.HasPrefix(f.Evidence, "Set-Cookie") || strings.HasPrefix(f.Evidence, "X-Debug") {
				key += " " + strings.SplitN(f.Evidence, " ", 2)[0]
			}
			out[key] = f.Fingerprint
		}
		return out
	}
	m := secretsMonitor(t, "leaks", srv.URL+"/")
	first := byID(ProbeSecrets(context.Background(), m, env, nil))
	blank = 7 // the same secrets, further down the page
	moved := ProbeSecrets(context.Background(), m, env, nil)
	if !strings.Contains(moved.Findings[2].Evidence, "body line 12 ") {
		t.Fatalf("secret did not move: %s", moved.Findings[2].Evidence)
	}
	if second := byID(moved); !mapsEqual(first, second) {
		t.Errorf("fingerprints changed when the secrets moved lines:\n%v\n%v", first, second)
	}
	// Another secret of the same kind at the same place is another finding.
	x.stripe = "sk_live_" + secretsFake(99, secretsAlnum, 24)
	other := byID(ProbeSecrets(context.Background(), m, env, nil))
	if other["secrets.stripe-secret-key"] == first["secrets.stripe-secret-key"] {
		t.Error("a different secret kept the fingerprint")
	}
	if other["secrets.aws-access-key-id"] != first["secrets.aws-access-key-id"] {
		t.Error("an unchanged secret changed fingerprint")
	}
	// The same secret at another URL or of another monitor is another finding.
	m2 := secretsMonitor(t, "leaks", srv.URL+"/other")
	if byID(ProbeSecrets(context.Background(), m2, env, nil))["secrets.aws-access-key-id"] == first["secrets.aws-access-key-id"] {
		t.Error("the same secret at another URL has the same fingerprint")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSecretsNeverLeaksSecrets checks that no part of any leaked secret,
// nor of the configured request header or URL password, appears in the
// Result, its Events, or the logs.
func TestSecretsNeverLeaksSecrets(t *testing.T) {
	x := newSecretsFixture(3)
	srv, env := secretsTLSServer(t, secretsLeakyHandler(x, 0))
	const headerSecret = "hdr-" + "Q8vX2mN7pK4sL9wR"
	const urlPassword = "pw-" + "T5yU1iO3pA6sD8fG"
	u := strings.Replace(srv.URL, "https://", "https://probe:"+urlPassword+"@", 1)
	m := secretsMonitor(t, "leaks", u+"/a", u+"/b", "https://127.0.0.1:1/unreachable")
	m.Secrets.Headers = map[string]config.Secret{"Authorization": config.Secret("Bearer " + headerSecret)}

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res := ProbeSecrets(context.Background(), m, env, logger.With("monitor", m.Name))
	if len(res.Findings) < 20 {
		t.Fatalf("only %d findings", len(res.Findings))
	}
	resJSON, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	evJSON, err := json.Marshal(res.Events(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, f := range res.Findings {
		texts = append(texts, f.Title, f.Evidence, f.Remediation, f.Target, f.Fingerprint)
	}
	for k, v := range res.Details {
		texts = append(texts, k+"="+v)
	}
	outputs := map[string]string{
		"result":  string(resJSON),
		"events":  string(evJSON),
		"texts":   strings.Join(texts, "\n"),
		"logs":    logs.String(),
		"printed": fmt.Sprintf("%+v %#v", res, res),
	}
	if logs.Len() == 0 {
		t.Error("no log lines to check")
	}
	secrets := append(x.all(), headerSecret, urlPassword)
	for name, out := range outputs {
		for _, s := range secrets {
			if part, leaked := secretsLeakedPart(out, s); leaked {
				t.Errorf("%s holds %q, part of a secret", name, part)
			}
		}
	}
}

// secretsLeakedPart reports whether out holds 8 or more consecutive bytes
// of secret.
func secretsLeakedPart(out, secret string) (string, bool) {
	const window = 8
	for i := 0; i+window <= len(secret); i++ {
		part := secret[i : i+window]
		if strings.Contains(part, "-----") || strings.Contains(part, "PRIVATE") || strings.Contains(part, "\n") {
			continue // the PEM armour is not secret
		}
		if strings.Contains(out, part) {
			return part, true
		}
	}
	return "", false
}

func TestSecretsIgnore(t *testing.T) {
	x := newSecretsFixture(4)
	srv, env := secretsTLSServer(t, secretsLeakyHandler(x, 0))
	m := secretsMonitor(t, "leaks", srv.URL+"/")
	m.Secrets.IgnoreRules = []string{secretscan.RuleGoogleAPIKey, secretscan.RuleGitHubToken, "no-such-rule"}
	m.Secrets.IgnoreFingerprints = []string{secretscan.Fingerprint([]byte(x.stripe))}
	res := ProbeSecrets(context.Background(), m, env, nil)
	var ids []string
	for _, f := range res.Findings {
		ids = append(ids, f.ID)
	}
	want := []string{"secrets.aws-access-key-id", "secrets.aws-secret-access-key", "secrets.supabase-service-role-jwt",
		"secrets.slack-token", "secrets.generic-secret", "secrets.private-key"}
	if !slices.Equal(ids, want) {
		t.Errorf("findings %v, want %v", ids, want)
	}
	// Ignored: the Google key, the GitHub tokens of the header and the
	// cookie, and the Stripe key's two occurrences.
	if res.Details["secrets_ignored"] != "5" || res.Details["ignore_rules_unknown"] != "no-such-rule" {
		t.Errorf("details: %v", res.Details)
	}
}

func TestSecretsFetchFailure(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL + "/gone"
	srv.Close()
	res := ProbeSecrets(context.Background(), secretsMonitor(t, "leaks", dead), Env{}, nil)
	if res.Success || len(res.Findings) != 1 {
		t.Fatalf("result: %+v", res)
	}
	f := res.Findings[0]
	if f.ID != FindingSecretsFetchFailed || f.Severity != event.SeverityLow || f.Target != dead {
		t.Errorf("finding: %+v", f)
	}
	if res.Details["urls_failed"] != "1" || res.Details["error"] == "" {
		t.Errorf("details: %v", res.Details)
	}
	// A run whose deadline has passed fetches nothing and says so.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = ProbeSecrets(ctx, secretsMonitor(t, "leaks", "https://a.example/", "https://b.example/"), Env{}, nil)
	if res.Success || len(res.Findings) != 2 || res.Attempts != 0 || !strings.Contains(res.Details["error"], "canceled") {
		t.Errorf("cancelled run: %+v", res)
	}
}

func TestSecretsScansErrorPagesAndCapsBody(t *testing.T) {
	x := newSecretsFixture(5)
	srv, env := secretsTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "panic: db connect failed\nDATABASE_PASSWORD=%s\n", x.generic)
		fmt.Fprint(w, strings.Repeat("x", 4096))
		fmt.Fprintf(w, "\nlate: %s\n", x.ghHeader)
	})
	m := secretsMonitor(t, "leaks", srv.URL+"/")
	m.Secrets.MaxBody = 1024
	res := ProbeSecrets(context.Background(), m, env, nil)
	if len(res.Findings) != 1 || res.Findings[0].ID != "secrets.generic-secret" ||
		!strings.HasPrefix(res.Findings[0].Evidence, "body line 2 (HTTP 500)") {
		t.Fatalf("findings: %+v", res.Findings)
	}
	if res.Details["body_truncated_urls"] != "1" || res.Details["body_cap_bytes"] != "1024" || res.Details["bytes_scanned"] != "1024" {
		t.Errorf("details: %v", res.Details)
	}
}

func TestSecretsCapsFindingsPerURL(t *testing.T) {
	srv, env := secretsTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		for i := range maxSecretsFindingsPerURL + 10 {
			fmt.Fprintf(w, "key%d: ghp_%s\n", i, secretsFake(uint64(1000+i), secretsAlnum, 36))
		}
		fmt.Fprintf(w, "last: %s\n", newSecretsFixture(6).pem)
	})
	res := ProbeSecrets(context.Background(), secretsMonitor(t, "leaks", srv.URL+"/"), env, nil)
	if len(res.Findings) != maxSecretsFindingsPerURL || res.Details["findings_capped"] != "11" {
		t.Fatalf("%d findings, details %v", len(res.Findings), res.Details)
	}
	for _, f := range res.Findings {
		if f.Severity != event.SeverityCritical {
			t.Errorf("kept a %s finding over critical ones", f.Severity)
		}
	}
}

func TestSecretsMissingConfig(t *testing.T) {
	for _, m := range []config.Monitor{
		{Name: "x", Type: "secrets"},
		{Name: "x", Type: "secrets", Secrets: &config.SecretsMonitor{}},
	} {
		res := ProbeSecrets(context.Background(), m, Env{}, nil)
		if res.Success || len(res.Findings) != 1 || res.Findings[0].ID != FindingConfig {
			t.Errorf("result: %+v", res)
		}
	}
	res := ProbeSecrets(context.Background(), secretsMonitor(t, "x", "ftp://files.example/"), Env{}, nil)
	if res.Success || len(res.Findings) != 1 || res.Findings[0].ID != FindingConfig || res.Attempts != 0 {
		t.Errorf("invalid url: %+v", res)
	}
}

func TestSecretsProberRegistered(t *testing.T) {
	if Probers()["secrets"] == nil {
		t.Fatal("secrets is not in Probers")
	}
}
