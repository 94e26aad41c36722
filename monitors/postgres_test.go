package monitors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// The PostgreSQL server the tests use, as in internal/store/storetest.
const (
	pgTestURLEnv     = "SECOPSD_TEST_DATABASE_URL"
	pgTestDefaultURL = "postgres://postgres@127.0.0.1:5432/test"
)

// pgTestServer returns the URL of the test server (a superuser), skipping
// the test when it is unreachable, or failing it when $CI is set.
func pgTestServer(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(pgTestURLEnv)
	if base == "" {
		base = pgTestDefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := "postgres not reachable (" + pgTestURLEnv + "): " + err.Error()
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	_ = conn.Close(ctx)
	return base
}

// pgExec runs sql (several statements allowed) on the server at base.
func pgExec(tb testing.TB, base, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("exec: %v\n%s", err, sql)
	}
}

// pgRandom returns a random lower-case hex suffix for names.
func pgRandom() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pgFixture is a throwaway set of schemas and roles on the test server,
// loaded from a testdata/postgres SQL file and dropped when the test ends.
type pgFixture struct {
	base string
	// schema is the exposed schema ({{S}}), auth the accounts schema.
	schema, auth string
	// app, anon, admin are application roles; audit is the monitor's
	// login role, a NOINHERIT member of app.
	app, anon, admin, audit string
	// password is audit's password, which must never leak.
	password string
	// dsn connects as audit.
	dsn string
	// tenantA and tenantB are the two accounts' ids.
	tenantA, tenantB string
}

// newPGFixture creates the roles and schemas and loads file into them.
func newPGFixture(tb testing.TB, file string) *pgFixture {
	tb.Helper()
	base := pgTestServer(tb)
	sfx := pgRandom()
	f := &pgFixture{
		base:     base,
		schema:   "secopsd_rls_" + sfx,
		auth:     "secopsd_auth_" + sfx,
		app:      "secopsd_t" + sfx + "_app",
		anon:     "secopsd_t" + sfx + "_anon",
		admin:    "secopsd_t" + sfx + "_admin",
		audit:    "secopsd_t" + sfx + "_audit",
		password: "pw-" + pgRandom() + "-never-shown",
		tenantA:  "aaaaaaaa-0000-4000-8000-" + sfx,
		tenantB:  "bbbbbbbb-0000-4000-8000-" + sfx,
	}
	roles := []string{f.audit, f.app, f.anon, f.admin}
	tb.Cleanup(func() {
		var b strings.Builder
		b.WriteString("DROP SCHEMA IF EXISTS " + f.schema + " CASCADE; DROP SCHEMA IF EXISTS " + f.auth + " CASCADE;")
		for _, r := range roles {
			b.WriteString("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + r + "') THEN " +
				"EXECUTE 'DROP OWNED BY " + r + " CASCADE'; EXECUTE 'DROP ROLE " + r + "'; END IF; END $$;")
		}
		pgExec(tb, base, b.String())
	})
	pgExec(tb, base, strings.Join([]string{
		"CREATE ROLE " + f.app + " NOLOGIN",
		"CREATE ROLE " + f.anon + " NOLOGIN",
		"CREATE ROLE " + f.admin + " NOLOGIN BYPASSRLS",
		"CREATE ROLE " + f.audit + " LOGIN NOINHERIT PASSWORD '" + f.password + "'",
		"GRANT " + f.app + " TO " + f.audit,
		"CREATE SCHEMA " + f.schema,
		"CREATE SCHEMA " + f.auth,
	}, "; "))
	sql, err := os.ReadFile("testdata/postgres/" + file)
	if err != nil {
		tb.Fatal(err)
	}
	pgExec(tb, base, f.expand(string(sql)))

	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.UserPassword(f.audit, f.password)
	f.dsn = u.String()
	return f
}

// expand replaces the fixture's placeholders.
func (f *pgFixture) expand(sql string) string {
	return strings.NewReplacer(
		"{{S}}", f.schema, "{{AUTH}}", f.auth,
		"{{APP}}", f.app, "{{ANON}}", f.anon, "{{ADMIN}}", f.admin,
		"{{TENANT_A}}", f.tenantA, "{{TENANT_B}}", f.tenantB,
	).Replace(sql)
}

// tenants returns the isolation probe's two tenants.
func (f *pgFixture) tenants() []config.PostgresTenant {
	return []config.PostgresTenant{
		{Name: "a", Claims: `{"sub":"` + f.tenantA + `","role":"authenticated"}`},
		{Name: "b", Claims: `{"sub":"` + f.tenantB + `","role":"authenticated"}`},
	}
}

// pgFindings renders findings as "id object" lines, sorted, where object
// is the part of the target after '#' (empty for the database itself).
func pgFindings(findings []event.Finding) []string {
	out := make([]string, 0, len(findings))
	for _, f := range findings {
		_, object, _ := strings.Cut(f.Target, "#")
		out = append(out, f.ID+" "+object)
	}
	slices.Sort(out)
	return out
}

// pgCheckFindings compares the findings with want and checks what every
// finding must have.
func pgCheckFindings(t *testing.T, res Result, want []string) {
	t.Helper()
	got := pgFindings(res.Findings)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for _, f := range res.Findings {
			t.Logf("%s %s [%s]\n  %s\n  %s", f.ID, f.Target, f.Severity, f.Title, f.Evidence)
		}
		t.Errorf("findings:\n got  %q\n want %q\n missing %q\n extra %q", got, want, pgMinus(want, got), pgMinus(got, want))
	}
	if res.Success != (len(want) == 0) {
		t.Errorf("success = %v with %d findings", res.Success, len(res.Findings))
	}
	fps := map[string]bool{}
	for _, f := range res.Findings {
		if f.Title == "" || f.Evidence == "" || f.Remediation == "" || f.Severity == event.SeverityUnknown {
			t.Errorf("incomplete finding %+v", f)
		}
		if fps[f.Fingerprint] {
			t.Errorf("duplicate fingerprint for %s %s", f.ID, f.Target)
		}
		fps[f.Fingerprint] = true
	}
}

// pgMinus returns the items of a missing from b.
func pgMinus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// pgAssertNoSecret fails if secret appears anywhere in the result or the
// events made from it.
func pgAssertNoSecret(t *testing.T, res Result, secret string) {
	t.Helper()
	b, err := json.Marshal(struct {
		R Result
		E []event.Event
	}{res, res.Events(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Errorf("the secret leaked into the result: %s", b)
	}
}

// pgSeverity returns the severity of the first finding with id.
func pgSeverity(res Result, id string) event.Severity {
	for _, f := range res.Findings {
		if f.ID == id {
			return f.Severity
		}
	}
	return event.SeverityUnknown
}
