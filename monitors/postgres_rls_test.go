package monitors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// rlsMonitor returns a postgres_rls monitor of the fixture.
func rlsMonitor(f *pgFixture, cfg config.PostgresRLSMonitor) config.Monitor {
	if cfg.DSN == "" {
		cfg.DSN = config.Secret(f.dsn)
	}
	if cfg.Schemas == nil {
		cfg.Schemas = []string{f.schema}
	}
	return config.Monitor{Name: "rls", Type: "postgres_rls", Labels: map[string]string{"team": "db"}, PostgresRLS: &cfg}
}

func TestPostgresRLSHardened(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t, "hardened.sql")
	m := rlsMonitor(f, config.PostgresRLSMonitor{
		AppRoles: []string{f.app, f.anon},
		ForceRLS: true,
		Isolation: &config.PostgresIsolation{
			Role:         f.app,
			TenantColumn: "user_id",
			Tenants:      f.tenants(),
		},
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res := ProbePostgresRLS(t.Context(), m, Env{}, logger)
	pgCheckFindings(t, res, nil)
	if strings.Contains(logs.String(), f.password) || !strings.Contains(logs.String(), "postgres_rls audit done") {
		t.Errorf("log: %s", logs.String())
	}
	if res.Details["tables"] != "5" || res.Details["isolation_tables"] != "4" || res.Details["views"] != "1" {
		t.Errorf("details = %v, want 5 tables, 4 probed, 1 view", res.Details)
	}
	// The probe must have seen rows, or it proved nothing: a's 2 notes,
	// 1 todo, 1 profile and 2 tags, b's 1, 1, 1 and 1.
	if got := res.Details["isolation_rows_visible"]; got != "10" {
		t.Errorf("isolation_rows_visible = %s, want 10", got)
	}
	if res.Target == "" || strings.Contains(res.Target, f.audit) || res.Labels["team"] != "db" || res.Duration <= 0 {
		t.Errorf("result = %+v", res)
	}
	pgAssertNoSecret(t, res, f.password)

	// The overlap comparison also works without a tenant column.
	m.PostgresRLS.Isolation.TenantColumn = ""
	res = ProbePostgresRLS(t.Context(), m, Env{}, nil)
	pgCheckFindings(t, res, nil)
	if res.Details["isolation_tables"] != "4" {
		t.Errorf("details = %v", res.Details)
	}
}

func TestPostgresRLSBad(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t, "bad.sql")
	ghost := f.app + "_ghost"
	missing := f.schema + "_nope"
	m := rlsMonitor(f, config.PostgresRLSMonitor{
		Schemas:  []string{f.schema, missing},
		AppRoles: []string{f.app, f.anon, f.admin, ghost},
		ForceRLS: true,
		Isolation: &config.PostgresIsolation{
			Role:         f.app,
			TenantColumn: "user_id",
			Tenants:      f.tenants(),
		},
	})
	res := ProbePostgresRLS(t.Context(), m, Env{}, nil)
	s := f.schema
	pgCheckFindings(t, res, []string{
		"postgres_rls.schema_missing schema:" + missing,
		"postgres_rls.app_role_missing role:" + ghost,
		"postgres_rls.app_role_bypasses_rls role:" + f.admin,
		"postgres_rls.readable_without_rls " + s + ".open_notes",
		"postgres_rls.writable_without_rls " + s + ".inbox",
		"postgres_rls.rls_disabled " + s + ".audit_trail",
		"postgres_rls.force_disabled " + s + ".docs",
		"postgres_rls.permissive_true " + s + ".docs",
		"postgres_rls.cross_tenant_read " + s + ".docs",
		"postgres_rls.force_disabled " + s + ".settings",
		"postgres_rls.no_policy " + s + ".settings",
		"postgres_rls.force_disabled " + s + ".owned",
		"postgres_rls.app_role_owns_table " + s + ".owned",
		"postgres_rls.cross_tenant_read " + s + ".owned",
		"postgres_rls.force_disabled " + s + ".messages",
		"postgres_rls.cross_tenant_read " + s + ".messages",
		"postgres_rls.force_disabled " + s + ".comments",
		"postgres_rls.cross_tenant_read " + s + ".comments",
		"postgres_rls.security_definer_function function:" + s + ".all_docs()",
		"postgres_rls.function_search_path function:" + s + ".all_docs()",
		"postgres_rls.function_search_path function:" + s + ".slugify(t text)",
		"postgres_rls.security_definer_view " + s + ".message_feed",
		"postgres_rls.materialized_view_exposed " + s + ".message_stats",
	})
	for id, want := range map[string]event.Severity{
		FindingPGRLSReadable:        event.SeverityCritical,
		FindingPGRLSWritable:        event.SeverityCritical,
		FindingPGRLSPermissiveTrue:  event.SeverityCritical,
		FindingPGRLSCrossTenant:     event.SeverityCritical,
		FindingPGRLSAppRoleBypass:   event.SeverityCritical,
		FindingPGRLSDisabled:        event.SeverityHigh,
		FindingPGRLSAppRoleOwner:    event.SeverityHigh,
		FindingPGRLSSecurityDefiner: event.SeverityHigh,
		FindingPGRLSDefinerView:     event.SeverityHigh,
		FindingPGRLSMatView:         event.SeverityHigh,
		FindingPGRLSNotForced:       event.SeverityMedium,
		FindingPGRLSNoPolicy:        event.SeverityMedium,
		FindingPGRLSSearchPath:      event.SeverityMedium,
		FindingPGRLSAppRoleMissing:  event.SeverityMedium,
		FindingPGRLSSchemaMissing:   event.SeverityMedium,
	} {
		if got := pgSeverity(res, id); got != want {
			t.Errorf("%s: severity %s, want %s", id, got, want)
		}
	}
	// Evidence names who can do what, and the leak's size.
	for _, fd := range res.Findings {
		switch {
		case fd.ID == FindingPGRLSReadable && !strings.Contains(fd.Evidence, f.anon):
			t.Errorf("readable evidence lacks the role: %s", fd.Evidence)
		case fd.ID == FindingPGRLSPermissiveTrue && !(strings.Contains(fd.Evidence, `"docs_read"`) && strings.Contains(fd.Evidence, `"docs_write"`)):
			t.Errorf("permissive evidence lacks the policies: %s", fd.Evidence)
		case fd.ID == FindingPGRLSCrossTenant && strings.HasSuffix(fd.Target, ".docs") &&
			!strings.Contains(fd.Evidence, "with tenant a's claims, 1 row of "+s+".docs has a user_id other than tenant a's id"):
			t.Errorf("cross-tenant evidence: %s", fd.Evidence)
		case fd.ID == FindingPGRLSCrossTenant && strings.HasSuffix(fd.Target, ".comments") &&
			!strings.Contains(fd.Evidence, "2 rows of "+s+".comments are visible to both tenant a and tenant b"):
			t.Errorf("cross-tenant evidence: %s", fd.Evidence)
		}
	}
	if !res.Conclusive() {
		t.Error("the bad fixture's run is inconclusive")
	}
	if testing.Verbose() {
		for _, fd := range res.Findings {
			t.Logf("%s [%s] %s\n  title: %s\n  evidence: %s\n  fix: %s", fd.ID, fd.Severity, fd.Target, fd.Title, fd.Evidence, fd.Remediation)
		}
	}
	pgAssertNoSecret(t, res, f.password)

	// Without force_rls, app roles or the probe, only what concerns PUBLIC
	// remains: PUBLIC's always-true INSERT policy and callable definer.
	res = ProbePostgresRLS(t.Context(), rlsMonitor(f, config.PostgresRLSMonitor{}), Env{}, nil)
	pgCheckFindings(t, res, []string{
		"postgres_rls.rls_disabled " + s + ".open_notes",
		"postgres_rls.rls_disabled " + s + ".inbox",
		"postgres_rls.rls_disabled " + s + ".audit_trail",
		"postgres_rls.permissive_true " + s + ".docs",
		"postgres_rls.security_definer_function function:" + s + ".all_docs()",
		"postgres_rls.function_search_path function:" + s + ".all_docs()",
		"postgres_rls.function_search_path function:" + s + ".slugify(t text)",
	})

	// exclude_tables silences a table and a view.
	res = ProbePostgresRLS(t.Context(), rlsMonitor(f, config.PostgresRLSMonitor{
		ExcludeTables: []string{"open_notes", s + ".inbox", "audit_trail", s + ".docs"},
	}), Env{}, nil)
	pgCheckFindings(t, res, []string{
		"postgres_rls.security_definer_function function:" + s + ".all_docs()",
		"postgres_rls.function_search_path function:" + s + ".all_docs()",
		"postgres_rls.function_search_path function:" + s + ".slugify(t text)",
	})
}

func TestPostgresRLSIsolationErrors(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t, "hardened.sql")
	for name, iso := range map[string]config.PostgresIsolation{
		// The monitor's role is not a member of anon: SET ROLE is refused.
		"not a member": {Role: f.anon, Tenants: f.tenants()},
		"no such role": {Role: f.app + "_ghost", Tenants: f.tenants()},
		// Claims that are not JSON break the policies' ::json cast.
		"bad claims": {Role: f.app, Tenants: []config.PostgresTenant{{Name: "a", Claims: "{oops"}, {Name: "b", Claims: "{}"}}},
	} {
		t.Run(name, func(t *testing.T) {
			res := ProbePostgresRLS(t.Context(), rlsMonitor(f, config.PostgresRLSMonitor{Isolation: &iso}), Env{}, nil)
			pgCheckFindings(t, res, []string{"postgres_rls.isolation_error "})
			if res.Conclusive() {
				t.Error("a run whose probe failed is conclusive")
			}
			t.Log(res.Findings[0].Evidence)
		})
	}
}

func TestPostgresRLSUnreachable(t *testing.T) {
	t.Parallel()
	const secret = "S3cret-Passw0rd"
	for name, dsn := range map[string]string{
		"refused":  "postgres://auditor:" + secret + "@127.0.0.1:1/app?connect_timeout=5",
		"bad port": "postgres://auditor:" + secret + "@127.0.0.1:99999x/app",
		"keyvalue": "host=127.0.0.1 port=1 user=auditor password=" + secret + " dbname=app connect_timeout=5",
	} {
		t.Run(name, func(t *testing.T) {
			m := config.Monitor{Name: "rls", Type: "postgres_rls", PostgresRLS: &config.PostgresRLSMonitor{DSN: config.Secret(dsn)}}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			res := ProbePostgresRLS(t.Context(), m, Env{}, logger)
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the secret leaked into the log: %s", logs.String())
			}
			pgCheckFindings(t, res, []string{"postgres_rls.unreachable "})
			if res.Conclusive() {
				t.Error("an unreachable run is conclusive")
			}
			if pgSeverity(res, FindingPGRLSUnreachable) != event.SeverityHigh {
				t.Errorf("severity: %+v", res.Findings)
			}
			pgAssertNoSecret(t, res, secret)
			t.Log(res.Findings[0].Evidence)
		})
	}
	res := ProbePostgresRLS(t.Context(), config.Monitor{Name: "rls", Type: "postgres_rls"}, Env{}, nil)
	pgCheckFindings(t, res, []string{FindingConfig + " "})
}

func TestPostgresRLSCancelled(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t, "hardened.sql")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := ProbePostgresRLS(ctx, rlsMonitor(f, config.PostgresRLSMonitor{}), Env{}, nil)
	if res.Success || len(res.Findings) != 1 {
		t.Errorf("cancelled run: %+v", res)
	}
	pgAssertNoSecret(t, res, f.password)
}

func TestPGAlwaysTrue(t *testing.T) {
	for expr, want := range map[string]bool{
		"true": true, "(true)": true, "((true))": true, "(1 = 1)": true, "'t'::boolean": true,
		"": false, "false": false, "(user_id = auth.uid())": false, "(true AND (user_id = uid()))": false,
	} {
		if got := pgAlwaysTrue(expr); got != want {
			t.Errorf("pgAlwaysTrue(%q) = %v", expr, got)
		}
	}
}

func TestPGPolicyOpens(t *testing.T) {
	for _, tc := range []struct {
		p    pgPolicy
		want string
	}{
		{pgPolicy{cmd: "r", qual: "true"}, "SELECT"},
		{pgPolicy{cmd: "r", qual: "(a = b)"}, ""},
		{pgPolicy{cmd: "a", check: "true"}, "INSERT"},
		{pgPolicy{cmd: "w", qual: "(a = b)", check: "true"}, "UPDATE"},
		{pgPolicy{cmd: "d", qual: "true"}, "DELETE"},
		{pgPolicy{cmd: "*", qual: "true"}, "SELECT INSERT UPDATE DELETE"},
		{pgPolicy{cmd: "*", qual: "true", check: "(a = b)"}, "SELECT UPDATE DELETE"},
		{pgPolicy{cmd: "*", qual: "(a = b)", check: "true"}, "INSERT UPDATE"},
	} {
		if got := strings.Join(tc.p.opens(), " "); got != tc.want {
			t.Errorf("%+v opens %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestPGRestricted(t *testing.T) {
	owner := pgPolicy{cmd: "*", qual: pgRowCondition, toPublic: true}
	selectOnly := pgPolicy{cmd: "r", qual: pgRowCondition, appliesTo: []string{"app"}}
	always := pgPolicy{cmd: "*", qual: "true", toPublic: true}
	for _, tc := range []struct {
		policies         []pgPolicy
		subject, command string
		want             bool
	}{
		{[]pgPolicy{owner}, "app", "INSERT", true}, // USING stands in for WITH CHECK
		{[]pgPolicy{owner}, "public", "DELETE", true},
		{[]pgPolicy{selectOnly}, "app", "SELECT", true},
		{[]pgPolicy{selectOnly}, "app", "UPDATE", false},
		{[]pgPolicy{selectOnly}, "anon", "SELECT", false},
		{[]pgPolicy{always}, "app", "SELECT", false}, // a restrictive true narrows nothing
		{[]pgPolicy{{cmd: "*", qual: pgRowCondition, permissive: true, toPublic: true}}, "app", "SELECT", false},
	} {
		if got := pgRestricted(tc.policies, tc.subject, tc.command); got != tc.want {
			t.Errorf("pgRestricted(%+v, %s, %s) = %v", tc.policies, tc.subject, tc.command, got)
		}
	}
}

func TestPGTarget(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:pw@db.internal:6543/app?sslmode=require": "postgres://db.internal:6543/app",
		"host=/var/run/postgresql dbname=app user=u":           "postgres:///app?host=/var/run/postgresql&port=5432",
	} {
		_, got, err := pgParse(config.Secret(dsn))
		if err != nil || got != want {
			t.Errorf("pgParse(%q) = %q, %v; want %q", dsn, got, err, want)
		}
	}
	if _, _, err := pgParse("postgres://u:pw@h:x/db"); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("bad dsn: %v", err)
	}
}

// BenchmarkPostgresRLS5000Tables audits a schema of 5,000 tables, each with
// row-level security and four policies, granted to two app roles. The
// tables live in a throwaway database, so that other tests' catalog churn
// (dead rows in pg_class, pg_policy …) does not skew the figure; without
// CREATEDB they live in a throwaway schema of the test database instead.
func BenchmarkPostgresRLS5000Tables(b *testing.B) {
	base := pgTestServer(b)
	sfx := pgRandom()
	schema, app, anon := "secopsd_bench", "secopsd_b"+sfx+"_app", "secopsd_b"+sfx+"_anon"
	const tables, batch = 5000, 250
	// Registered first, so it runs last: the roles outlive the objects
	// that depend on them.
	b.Cleanup(func() { pgExec(b, base, "DROP ROLE IF EXISTS "+app+"; DROP ROLE IF EXISTS "+anon) })
	dsn := pgBenchDatabase(b, base, "secopsd_bench_"+sfx)
	if dsn == base {
		schema += "_" + sfx
	}
	b.Cleanup(func() {
		if dsn == base {
			// Drop in batches: one transaction cannot lock 5,000 tables.
			for i := 0; i < tables; i += batch {
				pgExec(b, dsn, fmt.Sprintf(`DO $$ BEGIN FOR i IN %d..%d LOOP
					EXECUTE format('DROP TABLE IF EXISTS %s.t%%s', i); END LOOP; END $$`, i, i+batch-1, schema))
			}
			pgExec(b, dsn, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		}
	})
	pgExec(b, base, fmt.Sprintf("CREATE ROLE %s NOLOGIN; CREATE ROLE %s NOLOGIN", app, anon))
	pgExec(b, dsn, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO %[2]s, %[3]s;
		CREATE FUNCTION %[1]s.uid() RETURNS uuid LANGUAGE sql STABLE SET search_path = ''
			AS $$ SELECT (nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub')::uuid $$;`, schema, app, anon))
	for i := 0; i < tables; i += batch {
		pgExec(b, dsn, fmt.Sprintf(`DO $$ BEGIN FOR i IN %[1]d..%[2]d LOOP
			EXECUTE format('CREATE TABLE %[3]s.t%%s (id bigint PRIMARY KEY, user_id uuid NOT NULL, body text)', i);
			EXECUTE format('ALTER TABLE %[3]s.t%%s ENABLE ROW LEVEL SECURITY', i);
			EXECUTE format('ALTER TABLE %[3]s.t%%s FORCE ROW LEVEL SECURITY', i);
			EXECUTE format('CREATE POLICY s ON %[3]s.t%%s FOR SELECT TO %[4]s USING (user_id = %[3]s.uid())', i);
			EXECUTE format('CREATE POLICY i ON %[3]s.t%%s FOR INSERT TO %[4]s WITH CHECK (user_id = %[3]s.uid())', i);
			EXECUTE format('CREATE POLICY u ON %[3]s.t%%s FOR UPDATE TO %[4]s USING (user_id = %[3]s.uid())', i);
			EXECUTE format('CREATE POLICY d ON %[3]s.t%%s FOR DELETE TO %[4]s USING (user_id = %[3]s.uid())', i);
			EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %[3]s.t%%s TO %[4]s', i);
			END LOOP; END $$`, i, min(i+batch, tables)-1, schema, app))
	}
	pgExec(b, dsn, "ANALYZE pg_catalog.pg_class; ANALYZE pg_catalog.pg_policy")
	m := config.Monitor{Name: "bench", Type: "postgres_rls", PostgresRLS: &config.PostgresRLSMonitor{
		DSN: config.Secret(dsn), Schemas: []string{schema}, AppRoles: []string{app, anon}, ForceRLS: true,
	}}
	ctx := context.Background()
	if res := ProbePostgresRLS(ctx, m, Env{}, nil); !res.Success || res.Details["tables"] != "5000" || res.Details["policies"] != "20000" {
		b.Fatalf("audit: %+v", res)
	}
	for b.Loop() {
		if res := ProbePostgresRLS(ctx, m, Env{}, nil); !res.Success {
			b.Fatalf("audit: %+v", res.Findings)
		}
	}
}

// pgBenchDatabase creates database name on the server at base and returns
// its URL, dropping it when the benchmark ends; it returns base itself if
// the role may not create databases.
func pgBenchDatabase(b *testing.B, base, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Logf("no database of its own (%v): using a schema of the test database", err)
		return base
	}
	b.Cleanup(func() { pgExec(b, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
