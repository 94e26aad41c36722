package monitors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// Finding ids of the postgres_rls monitor. Findings about one object
// (table, view, function, role) target postgres://host:port/db#object, so
// each object dedupes to its own incident.
const (
	// FindingPGRLSUnreachable (high): the database could not be reached.
	FindingPGRLSUnreachable = "postgres_rls.unreachable"
	// FindingPGRLSAuditFailed (high): a catalog query failed.
	FindingPGRLSAuditFailed = "postgres_rls.audit_failed"
	// FindingPGRLSSchemaMissing (medium): a configured schema does not exist.
	FindingPGRLSSchemaMissing = "postgres_rls.schema_missing"
	// FindingPGRLSAppRoleMissing (medium): a configured app role does not
	// exist.
	FindingPGRLSAppRoleMissing = "postgres_rls.app_role_missing"
	// FindingPGRLSAppRoleBypass (critical): an app role is a superuser or
	// has BYPASSRLS, so no policy applies to it.
	FindingPGRLSAppRoleBypass = "postgres_rls.app_role_bypasses_rls"
	// FindingPGRLSReadable (critical): a table without row-level security
	// is readable by an app role or PUBLIC.
	FindingPGRLSReadable = "postgres_rls.readable_without_rls"
	// FindingPGRLSWritable (critical): a table without row-level security
	// is writable (INSERT, UPDATE or DELETE) by an app role or PUBLIC.
	FindingPGRLSWritable = "postgres_rls.writable_without_rls"
	// FindingPGRLSDisabled (high): a table without row-level security that
	// no app role can reach yet.
	FindingPGRLSDisabled = "postgres_rls.rls_disabled"
	// FindingPGRLSNotForced (medium): force_rls is set and a table lacks
	// FORCE ROW LEVEL SECURITY.
	FindingPGRLSNotForced = "postgres_rls.force_disabled"
	// FindingPGRLSNoPolicy (medium): row-level security is on without any
	// policy (deny-all) although an app role has privileges on the table.
	FindingPGRLSNoPolicy = "postgres_rls.no_policy"
	// FindingPGRLSPermissiveTrue (critical): a permissive policy with
	// USING (true) or WITH CHECK (true) applies to an app role or PUBLIC.
	FindingPGRLSPermissiveTrue = "postgres_rls.permissive_true"
	// FindingPGRLSAppRoleOwner (high): an app role owns (or has the
	// privileges of the owner of) a table whose RLS is not forced, so its
	// policies do not apply to it.
	FindingPGRLSAppRoleOwner = "postgres_rls.app_role_owns_table"
	// FindingPGRLSSecurityDefiner (high): a SECURITY DEFINER function in an
	// audited schema is executable by an app role or PUBLIC.
	FindingPGRLSSecurityDefiner = "postgres_rls.security_definer_function"
	// FindingPGRLSSearchPath (medium): a function in an audited schema has
	// no fixed search_path.
	FindingPGRLSSearchPath = "postgres_rls.function_search_path"
	// FindingPGRLSDefinerView (high): a view without security_invoker,
	// readable by an app role, reads RLS tables with an owner's privileges
	// that bypass their policies.
	FindingPGRLSDefinerView = "postgres_rls.security_definer_view"
	// FindingPGRLSMatView (high): a materialized view of RLS tables is
	// readable by an app role (its rows were computed without the
	// reader's policies).
	FindingPGRLSMatView = "postgres_rls.materialized_view_exposed"
	// FindingPGRLSCrossTenant (critical): the isolation probe saw another
	// tenant's rows.
	FindingPGRLSCrossTenant = "postgres_rls.cross_tenant_read"
	// FindingPGRLSIsolationError (medium): the isolation probe could not
	// run, or not on every table.
	FindingPGRLSIsolationError = "postgres_rls.isolation_error"
)

// pgPublic is how PUBLIC (every role) is named in privilege checks.
const pgPublic = "public"

// pgRowCap bounds how many rows the isolation probe reads or counts per
// table and tenant.
const pgRowCap = 10000

// pgRLSRolesSQL finds the configured schemas and app roles that exist,
// with, for each role, the roles it is a member of (so that policies TO
// them apply to it) and those whose privileges it has (so that it owns
// what they own). Role memberships are few; working them out here once
// spares the per-table and per-policy queries a subquery per row.
const pgRLSRolesSQL = `
SELECT 'schema', n.nspname, false, false, '{}'::oid[], '{}'::oid[] FROM pg_namespace n WHERE n.nspname = ANY ($1::text[])
UNION ALL
SELECT 'role', r.rolname, r.rolsuper, r.rolbypassrls,
       ARRAY(SELECT m.oid FROM pg_roles m WHERE pg_has_role(r.oid, m.oid, 'MEMBER')),
       ARRAY(SELECT m.oid FROM pg_roles m WHERE pg_has_role(r.oid, m.oid, 'USAGE'))
FROM pg_roles r WHERE r.rolname = ANY ($2::text[])`

// pgRLSTablesSQL lists the tables of the schemas ($1) with their RLS flags,
// which subjects ($2: PUBLIC and the existing app roles) may read or write
// them, and their owner. Column
// privileges are only looked at for tables that have any (colacl), as
// checking every column of every table is what would make this slow.
const pgRLSTablesSQL = `
SELECT c.oid, n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),
       ARRAY(SELECT s FROM unnest($2::text[]) s
             WHERE CASE WHEN has_table_privilege(s, c.oid, 'SELECT') THEN true
                        WHEN x.colacl THEN has_any_column_privilege(s, c.oid, 'SELECT')
                        ELSE false END),
       ARRAY(SELECT s FROM unnest($2::text[]) s
             WHERE CASE WHEN has_table_privilege(s, c.oid, 'INSERT, UPDATE, DELETE') THEN true
                        WHEN x.colacl THEN has_any_column_privilege(s, c.oid, 'INSERT, UPDATE')
                        ELSE false END),
       c.relowner
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM pg_attribute a
                                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND a.attacl IS NOT NULL) AS colacl) x
WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'p')
ORDER BY n.nspname, c.relname`

// pgRLSPoliciesSQL lists the policies on tables of the schemas ($1), with
// their expressions and the roles they are for (0 is PUBLIC).
// An expression that reads a column (a VAR node) cannot be a constant, so
// it is not deparsed (NULL): deparsing 20,000 policies would dominate the
// audit's time.
const pgRLSPoliciesSQL = `
SELECT p.polrelid, p.polname, p.polpermissive, p.polcmd::text,
       CASE WHEN p.polqual IS NULL THEN ''
            WHEN p.polqual::text LIKE '%{VAR %' THEN NULL
            ELSE pg_get_expr(p.polqual, p.polrelid) END,
       CASE WHEN p.polwithcheck IS NULL THEN ''
            WHEN p.polwithcheck::text LIKE '%{VAR %' THEN NULL
            ELSE pg_get_expr(p.polwithcheck, p.polrelid) END,
       p.polroles
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY ($1::text[])
ORDER BY p.polrelid, p.polname`

// pgRowCondition stands for a policy expression that reads the row, which
// the catalog query does not deparse.
const pgRowCondition = "a condition on the row"

// pgRLSFunctionsSQL lists the functions and procedures of the schemas ($1)
// that are neither part of an extension nor written in C, with their
// owner and the subjects ($2) that may execute them.
const pgRLSFunctionsSQL = `
SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       p.prosecdef, coalesce(p.proconfig, '{}'::text[]), o.rolname, o.rolsuper OR o.rolbypassrls,
       ARRAY(SELECT s FROM unnest($2::text[]) s WHERE has_function_privilege(s, p.oid, 'EXECUTE'))
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
JOIN pg_roles o ON o.oid = p.proowner
WHERE n.nspname = ANY ($1::text[]) AND p.prokind IN ('f', 'p') AND l.lanname NOT IN ('c', 'internal')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1`

// pgRLSViewsSQL lists the views and materialized views of the schemas
// ($1) with their options, the subjects ($2) that may read them, the RLS
// tables they read and those of them whose policies the view's owner
// bypasses.
const pgRLSViewsSQL = `
SELECT n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind = 'm',
       coalesce(c.reloptions, '{}'::text[]), o.rolname,
       ARRAY(SELECT s FROM unnest($2::text[]) s WHERE has_any_column_privilege(s, c.oid, 'SELECT')),
       coalesce(deps.protected, '{}'::text[]), coalesce(deps.bypassed, '{}'::text[])
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_roles o ON o.oid = c.relowner
LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT x.name ORDER BY x.name) AS protected,
           array_agg(DISTINCT x.name ORDER BY x.name) FILTER (WHERE x.bypass) AS bypassed
    FROM (SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS name,
                 o.rolsuper OR o.rolbypassrls
                   OR (pg_has_role(c.relowner, t.relowner, 'USAGE') AND NOT t.relforcerowsecurity) AS bypass
          FROM pg_rewrite rw
          JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                          AND d.refclassid = 'pg_class'::regclass
          JOIN pg_class t ON t.oid = d.refobjid
          JOIN pg_namespace tn ON tn.oid = t.relnamespace
          WHERE rw.ev_class = c.oid AND t.oid <> c.oid AND t.relkind IN ('r', 'p') AND t.relrowsecurity) x
) deps ON true
WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('v', 'm')
ORDER BY 3`

// pgRLSProbeTablesSQL tells, for the tables $1, whether the probe role
// $2 may read them and whether they have the tenant column $3.
const pgRLSProbeTablesSQL = `
SELECT c.oid, has_table_privilege($2, c.oid, 'SELECT'),
       EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped)
FROM pg_class c
WHERE c.oid = ANY ($1::oid[])`

// pgTable is one audited table.
type pgTable struct {
	oid                uint32
	schema, name, show string
	rls, force         bool
	owner              string
	ownerOID           uint32
	readers, writers   []string // subjects with SELECT; with INSERT, UPDATE or DELETE
	owners             []string // app roles with the owner's privileges
}

// pgPolicy is one row-level security policy.
type pgPolicy struct {
	table       uint32
	name        string
	permissive  bool
	cmd         string   // r, a, w, d or *
	qual, check string   // "" if absent; pgRowCondition if it reads the row
	roles       []uint32 // the roles it is for; 0 is PUBLIC
	toPublic    bool
	appliesTo   []string // app roles it applies to through membership
}

// applies reports whether the policy applies to subject (an app role or
// PUBLIC).
func (p pgPolicy) applies(subject string) bool {
	return p.toPublic || subject != pgPublic && slices.Contains(p.appliesTo, subject)
}

// pgCommands are the commands a policy with polcmd covers.
func pgCommands(cmd string) []string {
	switch cmd {
	case "r":
		return []string{"SELECT"}
	case "a":
		return []string{"INSERT"}
	case "w":
		return []string{"UPDATE"}
	case "d":
		return []string{"DELETE"}
	}
	return []string{"SELECT", "INSERT", "UPDATE", "DELETE"}
}

// opens returns the commands for which a permissive policy lets every row
// through: USING (true) for reads, updates and deletes, WITH CHECK (true)
// (or USING (true) standing in for a missing WITH CHECK) for writes.
func (p pgPolicy) opens() []string {
	qualTrue, checkTrue := pgAlwaysTrue(p.qual), pgAlwaysTrue(p.check)
	writeTrue := checkTrue || p.check == "" && qualTrue
	var out []string
	for _, c := range pgCommands(p.cmd) {
		switch {
		case c == "INSERT" && writeTrue,
			c == "UPDATE" && (qualTrue || writeTrue),
			(c == "SELECT" || c == "DELETE") && qualTrue:
			out = append(out, c)
		}
	}
	return out
}

// pgAlwaysTrue reports whether a deparsed policy expression is a constant
// true: true, (true), 1 = 1 and the like. Other tautologies are not
// recognised; the isolation probe catches their effect.
func pgAlwaysTrue(expr string) bool {
	e := strings.ToLower(strings.Join(strings.Fields(expr), ""))
	for len(e) > 1 && e[0] == '(' && e[len(e)-1] == ')' {
		e = e[1 : len(e)-1]
	}
	switch e {
	case "true", "1=1", "'t'::boolean", "'true'::boolean", "'on'::boolean", "'yes'::boolean", "'1'::boolean", "true=true":
		return true
	}
	return false
}

// rlsRun is the state of one run of a postgres_rls monitor.
type rlsRun struct {
	m        config.Monitor
	cfg      *config.PostgresRLSMonitor
	c        *pgConn
	target   string
	skip     pgExclusion
	roles    []string // configured app roles that exist
	subjects []string // PUBLIC and roles
	// memberOf and privsOf map each app role to the roles it is a member
	// of and those whose privileges it has (itself included).
	memberOf, privsOf map[string][]uint32
	res               *Result
	logger            *slog.Logger
}

// add records a finding about object (or about the database if "").
func (r *rlsRun) add(object, id string, sev event.Severity, title, evidence, remediation string) {
	target := r.target
	if object != "" {
		target = pgObject(r.target, object)
	}
	r.res.Findings = append(r.res.Findings, newFinding(r.m.Name, target, id, sev, r.m.Name+": "+title, evidence, remediation))
}

// ProbePostgresRLS audits row-level security in a PostgreSQL database with
// a handful of catalog queries (RLS on and forced, policies, privileges of
// the app roles, SECURITY DEFINER functions and views, search_path), and,
// if configured, probes tenant isolation behaviourally inside a read-only
// transaction that is always rolled back.
func ProbePostgresRLS(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) (res Result) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	res = startResult(m, env)
	// Every return path ends here, so Success always matches the findings.
	defer func() { res = res.finish(env) }()
	cfg := m.PostgresRLS
	if cfg == nil || cfg.DSN == "" {
		res.setConfigFailure(m, "postgres_rls monitor has no dsn", "missing postgres_rls dsn",
			"Set dsn in the monitor's configuration.")
		return res
	}
	c := pgConnect(ctx, m, cfg.DSN, &res, FindingPGRLSUnreachable, "audit row-level security")
	if c == nil {
		return res
	}
	defer c.close(ctx)
	if len(cfg.Schemas) == 0 {
		// A configuration built in Go may leave out what the YAML defaults.
		withDefault := *cfg
		withDefault.Schemas = []string{config.DefaultPostgresSchema}
		cfg = &withDefault
	}
	r := &rlsRun{m: m, cfg: cfg, c: c, target: c.target, res: &res, logger: logger.With("monitor", m.Name),
		skip: newPGExclusion(cfg.ExcludeTables)}
	tables, err := r.catalog(ctx)
	if err != nil {
		c.auditFailed(m, &res, err, FindingPGRLSAuditFailed, "row-level security")
		return res
	}
	if iso := cfg.Isolation; iso != nil {
		r.isolation(ctx, iso, tables)
	}
	r.logger.Debug("postgres_rls audit done", "tables", len(tables), "findings", len(res.Findings))
	return res
}

// catalog runs the catalog checks in one read-only transaction and returns
// the audited tables.
func (r *rlsRun) catalog(ctx context.Context) ([]pgTable, error) {
	tx, err := r.c.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Parallel workers only slow these catalog scans down (their start-up
	// costs more than they save), notably on small database servers.
	if _, err := tx.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
		return nil, err
	}

	if err := r.checkRoles(ctx, tx); err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	tables, err := r.loadTables(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	policies, err := r.loadPolicies(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	r.checkTables(tables, policies)
	if err := r.checkFunctions(ctx, tx); err != nil {
		return nil, fmt.Errorf("functions: %w", err)
	}
	if err := r.checkViews(ctx, tx); err != nil {
		return nil, fmt.Errorf("views: %w", err)
	}
	r.res.Details["tables"] = strconv.Itoa(len(tables))
	r.res.Details["policies"] = strconv.Itoa(len(policies))
	return tables, nil
}

// checkRoles finds the schemas and app roles that exist and checks the
// app roles' attributes.
func (r *rlsRun) checkRoles(ctx context.Context, tx pgx.Tx) error {
	want := pgUnique(r.cfg.AppRoles)
	want = slices.DeleteFunc(want, func(s string) bool { return s == pgPublic })
	rows, err := tx.Query(ctx, pgRLSRolesSQL, r.cfg.Schemas, want)
	if err != nil {
		return err
	}
	defer rows.Close()
	schemas := map[string]bool{}
	roles := map[string][2]bool{}
	r.memberOf, r.privsOf = map[string][]uint32{}, map[string][]uint32{}
	for rows.Next() {
		var kind, name string
		var super, bypass bool
		var memberOf, privsOf []uint32
		if err := rows.Scan(&kind, &name, &super, &bypass, &memberOf, &privsOf); err != nil {
			return err
		}
		if kind == "schema" {
			schemas[name] = true
		} else {
			roles[name] = [2]bool{super, bypass}
			r.memberOf[name], r.privsOf[name] = memberOf, privsOf
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, s := range r.cfg.Schemas {
		if !schemas[s] {
			r.add("schema:"+s, FindingPGRLSSchemaMissing, event.SeverityMedium,
				fmt.Sprintf("schema %s does not exist", s),
				fmt.Sprintf("schema %q is configured but not in the database, so nothing in it was audited", s),
				"Fix schemas in the monitor's configuration (names are case-sensitive, as stored).")
		}
	}
	r.subjects = []string{pgPublic}
	for _, name := range want {
		attrs, ok := roles[name]
		if !ok {
			r.add("role:"+name, FindingPGRLSAppRoleMissing, event.SeverityMedium,
				fmt.Sprintf("app role %s does not exist", name),
				fmt.Sprintf("role %q is configured in app_roles but not in the database, so its access was not audited", name),
				"Fix app_roles in the monitor's configuration (names are case-sensitive, as stored).")
			continue
		}
		r.roles = append(r.roles, name)
		r.subjects = append(r.subjects, name)
		if attrs[0] || attrs[1] {
			what := "BYPASSRLS"
			if attrs[0] {
				what = "SUPERUSER"
			}
			r.add("role:"+name, FindingPGRLSAppRoleBypass, event.SeverityCritical,
				fmt.Sprintf("app role %s bypasses row-level security (%s)", name, what),
				fmt.Sprintf("role %q has %s: no row-level security policy applies to anything it does", name, what),
				fmt.Sprintf("ALTER ROLE %s NOSUPERUSER NOBYPASSRLS; give privileged work to a separate role the application's users cannot act as.",
					pgx.Identifier{name}.Sanitize()))
		}
	}
	return nil
}

// loadTables reads the tables of the schemas.
func (r *rlsRun) loadTables(ctx context.Context, tx pgx.Tx) ([]pgTable, error) {
	rows, err := tx.Query(ctx, pgRLSTablesSQL, r.cfg.Schemas, r.subjects)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pgTable
	for rows.Next() {
		var t pgTable
		if err := rows.Scan(&t.oid, &t.schema, &t.name, &t.show, &t.rls, &t.force, &t.owner,
			&t.readers, &t.writers, &t.ownerOID); err != nil {
			return nil, err
		}
		for _, role := range r.roles {
			if slices.Contains(r.privsOf[role], t.ownerOID) {
				t.owners = append(t.owners, role)
			}
		}
		if !r.skip.has(t.schema, t.name) {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}

// loadPolicies reads the policies on tables of the schemas.
func (r *rlsRun) loadPolicies(ctx context.Context, tx pgx.Tx) ([]pgPolicy, error) {
	rows, err := tx.Query(ctx, pgRLSPoliciesSQL, r.cfg.Schemas)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pgPolicy
	for rows.Next() {
		var p pgPolicy
		var qual, check *string
		if err := rows.Scan(&p.table, &p.name, &p.permissive, &p.cmd, &qual, &check, &p.roles); err != nil {
			return nil, err
		}
		p.toPublic = slices.Contains(p.roles, 0)
		for _, role := range r.roles {
			if slices.ContainsFunc(p.roles, func(o uint32) bool { return o != 0 && slices.Contains(r.memberOf[role], o) }) {
				p.appliesTo = append(p.appliesTo, role)
			}
		}
		p.qual, p.check = pgExpr(qual), pgExpr(check)
		out = append(out, p)
	}
	return out, rows.Err()
}

// pgExpr turns a policy expression column into its text, or
// pgRowCondition for one that was not deparsed.
func pgExpr(s *string) string {
	if s == nil {
		return pgRowCondition
	}
	return *s
}

// checkTables raises the findings about tables and their policies.
func (r *rlsRun) checkTables(tables []pgTable, policies []pgPolicy) {
	byTable := map[uint32][]pgPolicy{}
	for _, p := range policies {
		byTable[p.table] = append(byTable[p.table], p)
	}
	for _, t := range tables {
		if !t.rls {
			r.checkNoRLS(t)
			continue
		}
		if r.cfg.ForceRLS && !t.force {
			r.add(t.show, FindingPGRLSNotForced, event.SeverityMedium,
				fmt.Sprintf("table %s does not force row-level security", t.show),
				fmt.Sprintf("%s has row-level security enabled but not forced: its owner %q and roles with the owner's privileges bypass the policies", t.show, t.owner),
				fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY;", t.show))
		}
		if len(t.owners) > 0 && !t.force {
			r.add(t.show, FindingPGRLSAppRoleOwner, event.SeverityHigh,
				fmt.Sprintf("app role %s owns table %s, so its policies do not apply", t.owners[0], t.show),
				fmt.Sprintf("%s is owned by %q; %s %s the owner's privileges and row-level security is not forced, so every row is visible and writable to them",
					t.show, t.owner, strings.Join(t.owners, ", "), pgVerb(len(t.owners), "has", "have")),
				fmt.Sprintf("ALTER TABLE %s OWNER TO <a role the application does not act as>; or ALTER TABLE %s FORCE ROW LEVEL SECURITY;", t.show, t.show))
		}
		if len(byTable[t.oid]) == 0 && (len(t.readers) > 0 || len(t.writers) > 0) {
			r.add(t.show, FindingPGRLSNoPolicy, event.SeverityMedium,
				fmt.Sprintf("table %s has row-level security but no policy", t.show),
				fmt.Sprintf("%s has row-level security enabled and no policy, which denies every row, although %s %s privileges on it",
					t.show, strings.Join(pgUnique(append(slices.Clone(t.readers), t.writers...)), ", "),
					pgVerb(len(pgUnique(append(slices.Clone(t.readers), t.writers...))), "has", "have")),
				fmt.Sprintf("Add the intended policies (CREATE POLICY ... ON %s ...), or revoke the app roles' privileges if the table is server-side only.", t.show))
		}
		r.checkPermissive(t, byTable[t.oid])
	}
}

// checkNoRLS raises the finding for a table without row-level security.
func (r *rlsRun) checkNoRLS(t pgTable) {
	fix := fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY; then add policies scoped to the row's owner "+
		"(e.g. USING (user_id = auth.uid())), or REVOKE ALL ON %s FROM the app roles and PUBLIC.", t.show, t.show)
	switch {
	case len(t.readers) > 0:
		ev := fmt.Sprintf("%s has row-level security disabled and %s can SELECT every row", t.show, pgWho(t.readers))
		if len(t.writers) > 0 {
			ev += fmt.Sprintf("; %s can also INSERT, UPDATE or DELETE", pgWho(t.writers))
		}
		r.add(t.show, FindingPGRLSReadable, event.SeverityCritical,
			fmt.Sprintf("table %s is readable by %s without row-level security", t.show, pgWho(t.readers)), ev, fix)
	case len(t.writers) > 0:
		r.add(t.show, FindingPGRLSWritable, event.SeverityCritical,
			fmt.Sprintf("table %s is writable by %s without row-level security", t.show, pgWho(t.writers)),
			fmt.Sprintf("%s has row-level security disabled and %s can INSERT, UPDATE or DELETE any row", t.show, pgWho(t.writers)), fix)
	default:
		r.add(t.show, FindingPGRLSDisabled, event.SeverityHigh,
			fmt.Sprintf("table %s has row-level security disabled", t.show),
			fmt.Sprintf("%s has row-level security disabled; no app role can reach it today, but a later GRANT would expose every row", t.show),
			fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY; (with no policy it stays closed to the app roles), or exclude it if it is server-side only.", t.show))
	}
}

// checkPermissive raises one finding per table for permissive always-true
// policies that apply to an app role or PUBLIC, unless a restrictive
// policy narrows every command they open for that subject.
func (r *rlsRun) checkPermissive(t pgTable, policies []pgPolicy) {
	var parts, names []string
	for _, p := range policies {
		if !p.permissive {
			continue
		}
		opened := p.opens()
		if len(opened) == 0 {
			continue
		}
		var who []string
		var cmds []string
		for _, s := range r.subjects {
			if !p.applies(s) {
				continue
			}
			var open []string
			for _, c := range opened {
				if !pgRestricted(policies, s, c) {
					open = append(open, c)
				}
			}
			if len(open) > 0 {
				who = append(who, s)
				cmds = pgUnique(append(cmds, open...))
			}
		}
		if len(who) == 0 {
			continue
		}
		names = append(names, p.name)
		parts = append(parts, fmt.Sprintf("policy %q (%s, USING %s, WITH CHECK %s) lets %s %s every row",
			p.name, pgCmdName(p.cmd), pgOrNone(p.qual), pgOrNone(p.check), pgWho(who), strings.Join(cmds, "/")))
	}
	if len(parts) == 0 {
		return
	}
	r.add(t.show, FindingPGRLSPermissiveTrue, event.SeverityCritical,
		fmt.Sprintf("table %s has an always-true policy (%s)", t.show, pgList(names, 3)),
		strings.Join(parts, "; "),
		fmt.Sprintf("Replace USING (true) / WITH CHECK (true) on %s with a condition on the row's owner, "+
			"e.g. USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid()), or scope the policy TO a role the application's users cannot act as.", t.show))
}

// pgRestricted reports whether a restrictive policy with a real condition
// applies to subject for command.
func pgRestricted(policies []pgPolicy, subject, command string) bool {
	for _, p := range policies {
		if p.permissive || !p.applies(subject) || !slices.Contains(pgCommands(p.cmd), command) {
			continue
		}
		// New rows are checked against WITH CHECK, or USING when a FOR ALL
		// or FOR UPDATE policy has none.
		expr := p.qual
		if (command == "INSERT" || command == "UPDATE") && p.check != "" {
			expr = p.check
		}
		if expr != "" && !pgAlwaysTrue(expr) {
			return true
		}
	}
	return false
}

// checkFunctions raises the findings about functions of the schemas.
func (r *rlsRun) checkFunctions(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, pgRLSFunctionsSQL, r.cfg.Schemas, r.subjects)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			show, owner    string
			definer, power bool
			config, execs  []string
		)
		if err := rows.Scan(&show, &definer, &config, &owner, &power, &execs); err != nil {
			return err
		}
		n++
		fixedPath := slices.ContainsFunc(config, func(s string) bool { return strings.HasPrefix(s, "search_path=") })
		if definer && len(execs) > 0 {
			ev := fmt.Sprintf("%s runs with the privileges of its owner %q", show, owner)
			if power {
				ev += " (a superuser or BYPASSRLS role: no row-level security policy applies inside it)"
			}
			ev += fmt.Sprintf(" and %s may EXECUTE it", pgWho(execs))
			if !fixedPath {
				ev += "; it has no fixed search_path"
			}
			r.add("function:"+show, FindingPGRLSSecurityDefiner, event.SeverityHigh,
				fmt.Sprintf("SECURITY DEFINER function %s is callable by %s", show, pgWho(execs)), ev,
				fmt.Sprintf("Make it SECURITY INVOKER (ALTER FUNCTION %s SECURITY INVOKER), move it to a schema the API does not expose, "+
					"or REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC and the app roles.", show, show))
		}
		if !fixedPath {
			sev := event.SeverityMedium
			r.add("function:"+show, FindingPGRLSSearchPath, sev,
				fmt.Sprintf("function %s has no fixed search_path", show),
				fmt.Sprintf("%s resolves unqualified names through the caller's search_path, so objects in another schema can be substituted for the ones it means", show),
				fmt.Sprintf("ALTER FUNCTION %s SET search_path = ''; and schema-qualify the names it uses.", show))
		}
	}
	r.res.Details["functions"] = strconv.Itoa(n)
	return rows.Err()
}

// checkViews raises the findings about views and materialized views of
// the schemas.
func (r *rlsRun) checkViews(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, pgRLSViewsSQL, r.cfg.Schemas, r.subjects)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			schema, name, show, owner             string
			mat                                   bool
			options, readers, protected, bypassed []string
		)
		if err := rows.Scan(&schema, &name, &show, &mat, &options, &owner, &readers, &protected, &bypassed); err != nil {
			return err
		}
		n++
		if r.skip.has(schema, name) || len(readers) == 0 {
			continue
		}
		switch {
		case mat && len(protected) > 0:
			r.add(show, FindingPGRLSMatView, event.SeverityHigh,
				fmt.Sprintf("materialized view %s of RLS tables is readable by %s", show, pgWho(readers)),
				fmt.Sprintf("%s stores rows of %s computed when it was refreshed, without the reader's policies, and %s can SELECT it",
					show, pgList(protected, 5), pgWho(readers)),
				fmt.Sprintf("REVOKE SELECT ON %s FROM PUBLIC and the app roles, or replace it by a view WITH (security_invoker = true).", show))
		case !mat && len(bypassed) > 0 && !pgSecurityInvoker(options):
			r.add(show, FindingPGRLSDefinerView, event.SeverityHigh,
				fmt.Sprintf("view %s bypasses row-level security of %s", show, pgList(bypassed, 3)),
				fmt.Sprintf("%s lacks security_invoker, so it reads %s with the privileges of its owner %q, whose access bypasses their policies; %s can SELECT it",
					show, pgList(bypassed, 5), owner, pgWho(readers)),
				fmt.Sprintf("ALTER VIEW %s SET (security_invoker = true); (PostgreSQL 15 or later), or REVOKE SELECT ON %s FROM the app roles and PUBLIC.", show, show))
		}
	}
	r.res.Details["views"] = strconv.Itoa(n)
	return rows.Err()
}

// pgSecurityInvoker reports whether reloptions turn security_invoker on.
func pgSecurityInvoker(options []string) bool {
	for _, o := range options {
		k, v, _ := strings.Cut(o, "=")
		if strings.EqualFold(k, "security_invoker") {
			switch strings.ToLower(v) {
			case "true", "on", "1", "yes", "t", "y":
				return true
			}
		}
	}
	return false
}

// isolation runs the behavioural probe: for each table with row-level
// security that the probe role may read, acting as that role with each
// tenant's claims, no row of another tenant may be visible.
func (r *rlsRun) isolation(ctx context.Context, iso *config.PostgresIsolation, tables []pgTable) {
	skip := newPGExclusion(iso.ExcludeTables)
	var scope []pgTable
	var oids []uint32
	for _, t := range tables {
		if t.rls && !skip.has(t.schema, t.name) {
			scope = append(scope, t)
			oids = append(oids, t.oid)
		}
	}
	fail := func(evidence string) {
		// Tables the probe skipped may still leak: their cross_tenant_read
		// incidents must not resolve on this run.
		r.res.Inconclusive = true
		r.res.Details["isolation_error"] = evidence
		r.add("", FindingPGRLSIsolationError, event.SeverityMedium,
			"the tenant isolation probe could not run", evidence,
			fmt.Sprintf("Grant the monitor's role membership in %s (GRANT %s TO <monitor role>; on PostgreSQL 16+ WITH INHERIT FALSE, SET TRUE), "+
				"and check isolation.claims_setting and the tenants' claims.", iso.Role, pgx.Identifier{iso.Role}.Sanitize()))
	}
	tx, err := r.c.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		fail("begin: " + r.c.errText(err))
		return
	}
	// Never commit: the probe only reads, and any change must vanish.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	readable := map[uint32]bool{}
	hasColumn := map[uint32]bool{}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", iso.Role).Scan(&exists); err != nil {
		fail("look up role: " + r.c.errText(err))
		return
	}
	if !exists {
		fail(fmt.Sprintf("isolation role %q does not exist", iso.Role))
		return
	}
	rows, err := tx.Query(ctx, pgRLSProbeTablesSQL, oids, iso.Role, iso.TenantColumn)
	if err != nil {
		fail("list tables: " + r.c.errText(err))
		return
	}
	defer rows.Close()
	for rows.Next() {
		var oid uint32
		var sel, col bool
		if err := rows.Scan(&oid, &sel, &col); err != nil {
			rows.Close()
			fail("list tables: " + r.c.errText(err))
			return
		}
		readable[oid], hasColumn[oid] = sel, col && iso.TenantColumn != ""
	}
	if err := rows.Err(); err != nil {
		fail("list tables: " + r.c.errText(err))
		return
	}
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{iso.Role}.Sanitize()); err != nil {
		fail(fmt.Sprintf("SET ROLE %s: %s", iso.Role, r.c.errText(err)))
		return
	}
	var probed, visible int
	var problems []string
	for _, t := range scope {
		if !readable[t.oid] {
			continue
		}
		probed++
		var leak []string
		var err error
		if hasColumn[t.oid] {
			leak, visible, err = r.probeColumn(ctx, tx, iso, t, visible)
		} else {
			leak, visible, err = r.probeOverlap(ctx, tx, iso, t, visible)
		}
		if err != nil {
			if ctx.Err() != nil {
				problems = append(problems, "stopped: "+ctx.Err().Error())
				break
			}
			problems = append(problems, t.show+": "+r.c.errText(err))
			continue
		}
		if len(leak) > 0 {
			r.add(t.show, FindingPGRLSCrossTenant, event.SeverityCritical,
				fmt.Sprintf("table %s leaks rows across tenants", t.show),
				fmt.Sprintf("acting as role %s: %s", iso.Role, strings.Join(leak, "; ")),
				fmt.Sprintf("Fix the policies on %s so that each tenant sees only its own rows (compare the row's owner with the tenant in the claims, "+
					"e.g. USING (user_id = auth.uid())); check for OR branches and shared-visibility conditions.", t.show))
		}
	}
	r.res.Details["isolation_tables"] = strconv.Itoa(probed)
	r.res.Details["isolation_rows_visible"] = strconv.Itoa(visible)
	if len(problems) > 0 {
		fail(fmt.Sprintf("%s could not be probed: %s", pgPlural(len(problems), "table", "tables"), pgList(problems, 3)))
	}
}

// pgSetTenant sets the claims setting to tenant's claims for the rest of the
// current transaction or savepoint.
func pgSetTenant(ctx context.Context, tx pgx.Tx, iso *config.PostgresIsolation, tenant config.PostgresTenant) error {
	_, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", iso.Setting(), tenant.Claims)
	return err
}

// pgSavepoint runs f in a savepoint of tx that is rolled back afterwards,
// so that a failing query spoils neither the transaction nor the settings.
func pgSavepoint(ctx context.Context, tx pgx.Tx, f func(pgx.Tx) error) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	err = f(sp)
	if rerr := sp.Rollback(ctx); err == nil && rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
		err = rerr
	}
	return err
}

// probeColumn counts, per tenant, the visible rows of t whose tenant
// column is not the tenant's id.
func (r *rlsRun) probeColumn(ctx context.Context, tx pgx.Tx, iso *config.PostgresIsolation, t pgTable, visible int) ([]string, int, error) {
	q := fmt.Sprintf(`SELECT (SELECT count(*) FROM (SELECT FROM %[1]s LIMIT %[3]d) a),
       (SELECT count(*) FROM (SELECT FROM %[1]s WHERE %[2]s::text IS DISTINCT FROM $1 LIMIT %[3]d) b)`,
		pgx.Identifier{t.schema, t.name}.Sanitize(), pgx.Identifier{iso.TenantColumn}.Sanitize(), pgRowCap)
	var leak []string
	for _, tenant := range iso.Tenants {
		var all, foreign int
		err := pgSavepoint(ctx, tx, func(sp pgx.Tx) error {
			if err := pgSetTenant(ctx, sp, iso, tenant); err != nil {
				return err
			}
			return sp.QueryRow(ctx, q, tenant.TenantID()).Scan(&all, &foreign)
		})
		if err != nil {
			return nil, visible, err
		}
		visible += all
		if foreign > 0 {
			leak = append(leak, fmt.Sprintf("with tenant %s's claims, %s%s of %s %s a %s other than tenant %s's id",
				tenant.Name, pgAtLeast(foreign), pgPlural(foreign, "row", "rows"), t.show, pgVerb(foreign, "has", "have"), iso.TenantColumn, tenant.Name))
		}
	}
	return leak, visible, nil
}

// probeOverlap reads, per tenant, which rows of t are visible (up to
// pgRowCap) and reports rows visible to two tenants.
func (r *rlsRun) probeOverlap(ctx context.Context, tx pgx.Tx, iso *config.PostgresIsolation, t pgTable, visible int) ([]string, int, error) {
	if len(iso.Tenants) < 2 {
		return nil, visible, nil
	}
	q := fmt.Sprintf(`SELECT tableoid::oid::text || ':' || ctid::text FROM %s LIMIT %d`,
		pgx.Identifier{t.schema, t.name}.Sanitize(), pgRowCap)
	seen := make([]map[string]bool, len(iso.Tenants))
	for i, tenant := range iso.Tenants {
		keys := map[string]bool{}
		err := pgSavepoint(ctx, tx, func(sp pgx.Tx) error {
			if err := pgSetTenant(ctx, sp, iso, tenant); err != nil {
				return err
			}
			rows, err := sp.Query(ctx, q)
			if err != nil {
				return err
			}
			var k string
			_, err = pgx.ForEachRow(rows, []any{&k}, func() error { keys[k] = true; return nil })
			return err
		})
		if err != nil {
			return nil, visible, err
		}
		visible += len(keys)
		seen[i] = keys
	}
	var leak []string
	for i := range iso.Tenants {
		for j := i + 1; j < len(iso.Tenants); j++ {
			shared := 0
			for k := range seen[i] {
				if seen[j][k] {
					shared++
				}
			}
			if shared > 0 {
				leak = append(leak, fmt.Sprintf("%s%s of %s %s visible to both tenant %s and tenant %s",
					pgAtLeast(max(len(seen[i]), len(seen[j]))), pgPlural(shared, "row", "rows"), t.show, pgVerb(shared, "is", "are"), iso.Tenants[i].Name, iso.Tenants[j].Name))
			}
		}
	}
	return leak, visible, nil
}

// pgWho names the subjects that hold a privilege: PUBLIC alone when PUBLIC
// is among them, since then every role does.
func pgWho(subjects []string) string {
	if slices.Contains(subjects, pgPublic) {
		return "PUBLIC (every role)"
	}
	return strings.Join(subjects, ", ")
}

// pgAtLeast returns "at least " when a count reached pgRowCap, so the
// true number may be higher.
func pgAtLeast(n int) string {
	if n >= pgRowCap {
		return "at least "
	}
	return ""
}

// pgCmdName names a policy's command.
func pgCmdName(cmd string) string {
	if cmd == "*" {
		return "ALL"
	}
	return pgCommands(cmd)[0]
}

// pgVerb picks the singular or plural verb for n subjects.
func pgVerb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// pgOrNone renders an empty policy expression as "none".
func pgOrNone(expr string) string {
	if expr == "" {
		return "none"
	}
	return "(" + expr + ")"
}

// pgUnique returns s without duplicates, in first-seen order.
func pgUnique(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
