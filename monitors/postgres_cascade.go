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

// Finding ids of the postgres_cascade monitor. Findings about one table
// target postgres://host:port/db#schema.table.
const (
	// FindingPGCascadeUnreachable (high): the database could not be reached.
	FindingPGCascadeUnreachable = "postgres_cascade.unreachable"
	// FindingPGCascadeAuditFailed (high): a catalog query failed.
	FindingPGCascadeAuditFailed = "postgres_cascade.audit_failed"
	// FindingPGCascadeSchemaMissing (medium): a configured schema does not
	// exist.
	FindingPGCascadeSchemaMissing = "postgres_cascade.schema_missing"
	// FindingPGCascadeAccountsMissing (high): the accounts table or its key
	// column does not exist.
	FindingPGCascadeAccountsMissing = "postgres_cascade.accounts_table_missing"
	// FindingPGCascadeMissingFK (high): a table has the tenant column but
	// no foreign key from it that leads to the accounts table.
	FindingPGCascadeMissingFK = "postgres_cascade.missing_fk"
	// FindingPGCascadeNotCascade (high): the foreign keys from the tenant
	// column lead to the accounts table, but not all with ON DELETE
	// CASCADE, so deleting an account leaves or blocks the rows.
	FindingPGCascadeNotCascade = "postgres_cascade.not_cascade"
)

// pgMaxChain bounds how many foreign keys a chain from a tenant column to
// the accounts table may have (notes.user_id → profiles.id → users.id is 2).
const pgMaxChain = 6

// pgCascadeAccountsSQL finds the accounts table ($1 schema or "" for the
// search path, $2 name) and the attnum of its key column $3 (0 if absent).
const pgCascadeAccountsSQL = `
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       coalesce((SELECT a.attnum FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped), 0)::int
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $2 AND c.relkind IN ('r', 'p')
  AND (n.nspname = $1 OR $1 = '' AND pg_table_is_visible(c.oid))
ORDER BY n.nspname = $1 DESC
LIMIT 1`

// pgCascadeTablesSQL lists the tables of the schemas ($1) that have the
// tenant column ($2), with its attnum; partitions are covered by their
// parent.
const pgCascadeTablesSQL = `
SELECT c.oid, n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attnum::int
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY n.nspname, c.relname`

// pgCascadeSchemasSQL returns the configured schemas ($1) that exist.
const pgCascadeSchemasSQL = `SELECT n.nspname FROM pg_namespace n WHERE n.nspname = ANY ($1::text[])`

// pgCascadeFKSQL lists every foreign key column pair of the database: the
// referencing table and column, the referenced table and column, the
// delete action and the constraint's name.
const pgCascadeFKSQL = `
SELECT k.conrelid, k.col, k.confrelid, k.fcol, k.confdeltype::text, k.conname,
       quote_ident(n.nspname) || '.' || quote_ident(t.relname)
FROM (SELECT c.conrelid, c.confrelid, c.confdeltype, c.conname, u.col, u.fcol
      FROM pg_constraint c, unnest(c.conkey, c.confkey) AS u(col, fcol)
      WHERE c.contype = 'f') k
JOIN pg_class t ON t.oid = k.confrelid
JOIN pg_namespace n ON n.oid = t.relnamespace`

// pgColumn is one column, by table oid and attnum.
type pgColumn struct {
	rel uint32
	att int16
}

// pgFK is one column pair of a foreign key.
type pgFK struct {
	to     pgColumn
	action string // confdeltype: a, r, c, n or d
	name   string // the constraint
	toShow string // the referenced table
}

// pgDeleteAction renders confdeltype as SQL.
func pgDeleteAction(a string) string {
	switch a {
	case "c":
		return "ON DELETE CASCADE"
	case "r":
		return "ON DELETE RESTRICT"
	case "n":
		return "ON DELETE SET NULL"
	case "d":
		return "ON DELETE SET DEFAULT"
	}
	return "ON DELETE NO ACTION"
}

// pgChain is a path of foreign keys from a tenant column.
type pgChain []pgFK

// cascades reports whether every step of the chain cascades.
func (c pgChain) cascades() bool {
	for _, fk := range c {
		if fk.action != "c" {
			return false
		}
	}
	return true
}

// describe renders the chain as "fk (ON DELETE …) → table, …".
func (c pgChain) describe() string {
	parts := make([]string, len(c))
	for i, fk := range c {
		parts[i] = fmt.Sprintf("%s → %s (%s)", fk.name, fk.toShow, pgDeleteAction(fk.action))
	}
	return strings.Join(parts, ", then ")
}

// ProbePostgresCascade checks, from the catalog only, that every table of
// the schemas with the tenant column has a foreign key from that column
// leading to the accounts table (directly or through other tables' keys)
// with ON DELETE CASCADE at every step, so that deleting an account
// deletes all of its rows.
func ProbePostgresCascade(ctx context.Context, m config.Monitor, env Env, logger *slog.Logger) (res Result) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("monitor", m.Name)
	res = startResult(m, env)
	// Every return path ends here, so Success always matches the findings.
	defer func() { res = res.finish(env) }()
	cfg := m.PostgresCascade
	if cfg == nil || cfg.DSN == "" || cfg.TenantColumn == "" || cfg.AccountsTable == "" {
		res.setConfigFailure(m, "postgres_cascade monitor is not configured",
			"missing postgres_cascade dsn, tenant_column or accounts_table",
			"Set dsn, tenant_column and accounts_table in the monitor's configuration.")
		return res
	}
	c := pgConnect(ctx, m, cfg.DSN, &res, FindingPGCascadeUnreachable, "check delete cascades")
	if c == nil {
		return res
	}
	defer c.close(ctx)
	add := func(object, id string, sev event.Severity, title, evidence, remediation string) {
		t := c.target
		if object != "" {
			t = pgObject(c.target, object)
		}
		res.Findings = append(res.Findings, newFinding(m.Name, t, id, sev, m.Name+": "+title, evidence, remediation))
	}
	if len(cfg.Schemas) == 0 {
		// A configuration built in Go may leave out what the YAML defaults.
		withDefault := *cfg
		withDefault.Schemas = []string{config.DefaultPostgresSchema}
		cfg = &withDefault
	}
	if err := pgCascadeAudit(ctx, c, cfg, &res, add); err != nil {
		c.auditFailed(m, &res, err, FindingPGCascadeAuditFailed, "delete-cascade")
	}
	logger.Debug("postgres_cascade audit done", "tables", res.Details["tables"], "findings", len(res.Findings))
	return res
}

// pgCascadeAudit runs the catalog queries in one read-only transaction and
// adds the findings.
func pgCascadeAudit(ctx context.Context, c *pgConn, cfg *config.PostgresCascadeMonitor, res *Result,
	add func(object, id string, sev event.Severity, title, evidence, remediation string)) error {
	tx, err := c.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	existing, err := pgCollect[string](ctx, tx, pgCascadeSchemasSQL, cfg.Schemas)
	if err != nil {
		return fmt.Errorf("schemas: %w", err)
	}
	for _, s := range cfg.Schemas {
		if !slices.Contains(existing, s) {
			add("schema:"+s, FindingPGCascadeSchemaMissing, event.SeverityMedium,
				fmt.Sprintf("schema %s does not exist", s),
				fmt.Sprintf("schema %q is configured but not in the database, so nothing in it was checked", s),
				"Fix schemas in the monitor's configuration (names are case-sensitive, as stored).")
		}
	}

	key := cfg.AccountsKey
	if key == "" {
		key = config.DefaultAccountsKey
	}
	schema, name, qualified := strings.Cut(cfg.AccountsTable, ".")
	if !qualified {
		schema, name = "", cfg.AccountsTable
	}
	var accounts pgColumn
	var accountsShow string
	var keyAtt int
	err = tx.QueryRow(ctx, pgCascadeAccountsSQL, schema, name, key).Scan(&accounts.rel, &accountsShow, &keyAtt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		add("", FindingPGCascadeAccountsMissing, event.SeverityHigh,
			fmt.Sprintf("accounts table %s does not exist", cfg.AccountsTable),
			fmt.Sprintf("accounts_table %q is not a table in the database (or not visible to the monitor's role)", cfg.AccountsTable),
			"Fix accounts_table in the monitor's configuration (schema.table, case-sensitive, as stored).")
		return nil
	case err != nil:
		return fmt.Errorf("accounts table: %w", err)
	case keyAtt == 0:
		add("", FindingPGCascadeAccountsMissing, event.SeverityHigh,
			fmt.Sprintf("accounts table %s has no column %s", accountsShow, key),
			fmt.Sprintf("%s has no column %q to be referenced", accountsShow, key),
			"Fix accounts_key in the monitor's configuration.")
		return nil
	}
	accounts.att = int16(keyAtt)

	fks := map[pgColumn][]pgFK{}
	rows, err := tx.Query(ctx, pgCascadeFKSQL)
	if err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var from pgColumn
		var fk pgFK
		if err := rows.Scan(&from.rel, &from.att, &fk.to.rel, &fk.to.att, &fk.action, &fk.name, &fk.toShow); err != nil {
			return fmt.Errorf("foreign keys: %w", err)
		}
		fks[from] = append(fks[from], fk)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("foreign keys: %w", err)
	}

	skip := newPGExclusion(cfg.ExcludeTables)
	rows, err = tx.Query(ctx, pgCascadeTablesSQL, cfg.Schemas, cfg.TenantColumn)
	if err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	defer rows.Close()
	type table struct {
		col                pgColumn
		schema, name, show string
	}
	var tables []table
	for rows.Next() {
		var t table
		var att int
		if err := rows.Scan(&t.col.rel, &t.schema, &t.name, &t.show, &att); err != nil {
			return fmt.Errorf("tables: %w", err)
		}
		t.col.att = int16(att)
		if t.col.rel != accounts.rel && !skip.has(t.schema, t.name) {
			tables = append(tables, t)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	res.Details["tables"] = strconv.Itoa(len(tables))
	res.Details["accounts_table"] = accountsShow

	for _, t := range tables {
		chains := pgChains(fks, t.col, accounts, nil)
		if len(chains) == 0 {
			evidence := fmt.Sprintf("%s.%s has no foreign key leading to %s(%s)", t.show, cfg.TenantColumn, accountsShow, key)
			if other := fks[t.col]; len(other) > 0 {
				names := make([]string, len(other))
				for i, fk := range other {
					names[i] = fk.name + " → " + fk.toShow
				}
				evidence += "; its foreign keys " + pgList(names, 3) + " do not reach it"
			}
			add(t.show, FindingPGCascadeMissingFK, event.SeverityHigh,
				fmt.Sprintf("table %s has no foreign key from %s to %s", t.show, cfg.TenantColumn, accountsShow),
				evidence+": deleting an account leaves its rows behind",
				fmt.Sprintf("ALTER TABLE %s ADD FOREIGN KEY (%s) REFERENCES %s (%s) ON DELETE CASCADE; (delete or fix orphaned rows first)",
					t.show, pgx.Identifier{cfg.TenantColumn}.Sanitize(), accountsShow, pgx.Identifier{key}.Sanitize()))
			continue
		}
		if pgAnyCascades(chains) {
			continue
		}
		best := chains[0]
		var blocking pgFK
		for _, fk := range best {
			if fk.action != "c" {
				blocking = fk
				break
			}
		}
		add(t.show, FindingPGCascadeNotCascade, event.SeverityHigh,
			fmt.Sprintf("table %s: deleting an account does not cascade (%s)", t.show, pgDeleteAction(blocking.action)),
			fmt.Sprintf("%s.%s: %s; %s", t.show, cfg.TenantColumn, best.describe(), pgActionEffect(blocking.action)),
			fmt.Sprintf("Recreate foreign key %s with ON DELETE CASCADE (ALTER TABLE ... DROP CONSTRAINT %s, ADD ... ON DELETE CASCADE).",
				blocking.name, pgx.Identifier{blocking.name}.Sanitize()))
	}
	return nil
}

// pgActionEffect says what a non-cascading delete action does to an
// account's rows.
func pgActionEffect(a string) string {
	switch a {
	case "n", "d":
		return "deleting an account keeps its rows, with the reference cleared"
	}
	return "deleting an account fails while it has rows here, or leaves them behind if they are removed by hand"
}

// pgAnyCascades reports whether one of the chains cascades all the way.
func pgAnyCascades(chains []pgChain) bool {
	for _, c := range chains {
		if c.cascades() {
			return true
		}
	}
	return false
}

// pgChains returns the foreign-key chains from col to target, direct keys
// first, following at most pgMaxChain keys and never a column twice.
func pgChains(fks map[pgColumn][]pgFK, col, target pgColumn, path pgChain) []pgChain {
	if len(path) >= pgMaxChain {
		return nil
	}
	var direct, longer []pgChain
	for _, fk := range fks[col] {
		if fk.to == col || pgVisited(path, fk.to) {
			continue
		}
		next := append(slices.Clone(path), fk)
		if fk.to == target {
			direct = append(direct, next)
			continue
		}
		longer = append(longer, pgChains(fks, fk.to, target, next)...)
	}
	return append(direct, longer...)
}

// pgVisited reports whether the chain already passes through col.
func pgVisited(path pgChain, col pgColumn) bool {
	for _, fk := range path {
		if fk.to == col {
			return true
		}
	}
	return false
}

// pgCollect runs a query of one column and returns its values.
func pgCollect[T any](ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return pgx.CollectRows(rows, pgx.RowTo[T])
}
