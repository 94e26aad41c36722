package config

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Defaults and limits of the postgres_rls and postgres_cascade monitor
// types.
const (
	// DefaultPostgresSchema is the schema audited when schemas is not set.
	DefaultPostgresSchema = "public"
	// DefaultClaimsSetting is the setting (GUC) that carries the JWT claims
	// for row-level security policies, as Supabase/PostgREST use it.
	DefaultClaimsSetting = "request.jwt.claims"
	// DefaultClaimsTenantKey is the key of the claims object whose value is
	// a tenant's id when the tenant sets no id.
	DefaultClaimsTenantKey = "sub"
	// DefaultAccountsKey is the key column of the accounts table.
	DefaultAccountsKey = "id"
	// MaxPostgresIdentifier is the longest identifier PostgreSQL keeps
	// (NAMEDATALEN - 1 bytes).
	MaxPostgresIdentifier = 63
	// MinIsolationTenants is how many tenants the isolation probe needs to
	// compare.
	MinIsolationTenants = 2
)

// PostgresRLSMonitor is the type-specific configuration of a postgres_rls
// monitor, which audits row-level security in a PostgreSQL database.
type PostgresRLSMonitor struct {
	// DSN is the connection string of the monitor's own read-only role.
	DSN Secret `yaml:"dsn"`
	// Schemas are the schemas whose tables, views and functions are audited.
	Schemas []string `yaml:"schemas"`
	// AppRoles are the roles the application's users act as (such as anon
	// and authenticated); PUBLIC is always audited too.
	AppRoles []string `yaml:"app_roles"`
	// ForceRLS requires FORCE ROW LEVEL SECURITY on every table.
	ForceRLS bool `yaml:"force_rls"`
	// ExcludeTables are tables and views ("table" or "schema.table") left
	// out of every check.
	ExcludeTables []string `yaml:"exclude_tables"`
	// Isolation, when set, runs a behavioural cross-tenant read probe.
	Isolation *PostgresIsolation `yaml:"isolation"`
}

// PostgresIsolation configures the postgres_rls monitor's behavioural
// probe: acting as Role with each tenant's claims, no tenant may see
// another tenant's rows.
type PostgresIsolation struct {
	// Role is the role the probe switches to (SET ROLE) for its reads.
	Role string `yaml:"role"`
	// ClaimsSetting is the custom setting (GUC) the policies read the
	// claims from; empty means DefaultClaimsSetting.
	ClaimsSetting string `yaml:"claims_setting"`
	// TenantColumn, when set, is the column holding a row's tenant id: in
	// tables that have it, every visible row must carry the tenant's id.
	// Tables without it are checked by comparing the rows each tenant sees.
	TenantColumn string `yaml:"tenant_column"`
	// ExcludeTables are tables ("table" or "schema.table") whose rows are
	// shared between tenants by design; the probe skips them.
	ExcludeTables []string `yaml:"exclude_tables"`
	// Tenants are the (test) tenants the probe acts as; at least two.
	Tenants []PostgresTenant `yaml:"tenants"`
}

// PostgresTenant is one tenant the isolation probe acts as.
type PostgresTenant struct {
	// Name names the tenant in findings.
	Name string `yaml:"name"`
	// Claims is the JSON object set as the claims setting for the tenant.
	Claims string `yaml:"claims"`
	// ID is the tenant's value of the tenant column; empty means the
	// claims' "sub".
	ID string `yaml:"id"`
}

// TenantID returns the tenant's id: ID, or else the claims' "sub" string
// ("" if there is none).
func (t PostgresTenant) TenantID() string {
	if t.ID != "" {
		return t.ID
	}
	var claims map[string]any
	if json.Unmarshal([]byte(t.Claims), &claims) != nil {
		return ""
	}
	sub, _ := claims[DefaultClaimsTenantKey].(string)
	return sub
}

// Setting returns the claims setting the probe sets: ClaimsSetting, or
// DefaultClaimsSetting if it is empty.
func (p *PostgresIsolation) Setting() string {
	if p.ClaimsSetting == "" {
		return DefaultClaimsSetting
	}
	return p.ClaimsSetting
}

// PostgresCascadeMonitor is the type-specific configuration of a
// postgres_cascade monitor, which checks that deleting an account deletes
// every row that belongs to it.
type PostgresCascadeMonitor struct {
	// DSN is the connection string of the monitor's own read-only role.
	DSN Secret `yaml:"dsn"`
	// Schemas are the schemas whose tables are checked.
	Schemas []string `yaml:"schemas"`
	// TenantColumn is the column that ties a row to an account, such as
	// user_id.
	TenantColumn string `yaml:"tenant_column"`
	// AccountsTable is the table of accounts, such as auth.users.
	AccountsTable string `yaml:"accounts_table"`
	// AccountsKey is the accounts table's key column the tenant column
	// references.
	AccountsKey string `yaml:"accounts_key"`
	// ExcludeTables are tables ("table" or "schema.table") left out.
	ExcludeTables []string `yaml:"exclude_tables"`
}

// defaultPostgresRLSMonitor returns the defaults of a postgres_rls block:
// the public schema, no app roles beyond PUBLIC, FORCE not required, no
// isolation probe.
func defaultPostgresRLSMonitor() *PostgresRLSMonitor {
	return &PostgresRLSMonitor{Schemas: []string{DefaultPostgresSchema}}
}

// defaultPostgresCascadeMonitor returns the defaults of a postgres_cascade
// block: the public schema and accounts key id.
func defaultPostgresCascadeMonitor() *PostgresCascadeMonitor {
	return &PostgresCascadeMonitor{Schemas: []string{DefaultPostgresSchema}, AccountsKey: DefaultAccountsKey}
}

// validate checks a postgres_rls block; path is the monitor's path.
func (b *PostgresRLSMonitor) validate(c *checker, path string) {
	pgValidateDSN(c, joinPath(path, "dsn"), b.DSN)
	pgValidateNames(c, joinPath(path, "schemas"), b.Schemas, "schema", true)
	pgValidateNames(c, joinPath(path, "app_roles"), b.AppRoles, "role", false)
	pgValidateTables(c, joinPath(path, "exclude_tables"), b.ExcludeTables)
	if b.Isolation != nil {
		b.Isolation.validate(c, joinPath(path, "isolation"))
	}
}

// pgClaimsSetting matches a custom setting name (extension.name, dotted), the
// only kind the probe may set: built-in settings such as role must never be
// changed through it.
var pgClaimsSetting = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+$`)

// validate checks the isolation probe's settings.
func (p *PostgresIsolation) validate(c *checker, path string) {
	rp := joinPath(path, "role")
	if p.Role == "" {
		c.errorf(rp, ErrMissing, "role is required for the isolation probe (the role the application's users act as, e.g. authenticated)")
	} else if msg := pgCheckIdent(p.Role, "role"); msg != "" {
		c.errorf(rp, ErrInvalid, "%s", msg)
	}
	if !pgClaimsSetting.MatchString(p.Setting()) {
		c.errorf(joinPath(path, "claims_setting"), ErrInvalid,
			"claims_setting %s must be a custom setting name with a dot, such as %s", quote(p.ClaimsSetting), DefaultClaimsSetting)
	}
	if p.TenantColumn != "" {
		if msg := pgCheckIdent(p.TenantColumn, "column"); msg != "" {
			c.errorf(joinPath(path, "tenant_column"), ErrInvalid, "%s", msg)
		}
	}
	pgValidateTables(c, joinPath(path, "exclude_tables"), p.ExcludeTables)
	tp := joinPath(path, "tenants")
	if len(p.Tenants) < MinIsolationTenants {
		c.errorf(tp, ErrMissing, "the isolation probe needs at least %d tenants to compare, got %d", MinIsolationTenants, len(p.Tenants))
	}
	seen := map[string]bool{}
	for i, t := range p.Tenants {
		ip := pgItemPath(tp, i)
		switch {
		case t.Name == "":
			c.errorf(joinPath(ip, "name"), ErrMissing, "tenant name is required")
		case seen[t.Name]:
			c.errorf(joinPath(ip, "name"), ErrDuplicate, "duplicate tenant name %s", quote(t.Name))
		}
		seen[t.Name] = true
		cp := joinPath(ip, "claims")
		var claims map[string]any
		switch {
		case t.Claims == "":
			c.errorf(cp, ErrMissing, "claims are required: the JSON object the policies read from %s", p.Setting())
			continue
		case json.Unmarshal([]byte(t.Claims), &claims) != nil || claims == nil:
			c.errorf(cp, ErrInvalid, "claims must be a JSON object such as '{\"sub\": \"…\", \"role\": \"authenticated\"}'")
			continue
		}
		if p.TenantColumn != "" && t.TenantID() == "" {
			c.errorf(joinPath(ip, "id"), ErrMissing,
				"tenant %s needs an id (its value of %s) or claims with a %q string", quote(t.Name), p.TenantColumn, DefaultClaimsTenantKey)
		}
	}
}

// validate checks a postgres_cascade block; path is the monitor's path.
func (b *PostgresCascadeMonitor) validate(c *checker, path string) {
	pgValidateDSN(c, joinPath(path, "dsn"), b.DSN)
	pgValidateNames(c, joinPath(path, "schemas"), b.Schemas, "schema", true)
	pgValidateTables(c, joinPath(path, "exclude_tables"), b.ExcludeTables)
	cp := joinPath(path, "tenant_column")
	if b.TenantColumn == "" {
		c.errorf(cp, ErrMissing, "tenant_column is required for a postgres_cascade monitor (the column tying a row to an account, e.g. user_id)")
	} else if msg := pgCheckIdent(b.TenantColumn, "column"); msg != "" {
		c.errorf(cp, ErrInvalid, "%s", msg)
	}
	ap := joinPath(path, "accounts_table")
	if b.AccountsTable == "" {
		c.errorf(ap, ErrMissing, "accounts_table is required for a postgres_cascade monitor (e.g. auth.users or public.users)")
	} else if msg := pgCheckTable(b.AccountsTable); msg != "" {
		c.errorf(ap, ErrInvalid, "%s", msg)
	}
	if msg := pgCheckIdent(b.AccountsKey, "column"); msg != "" {
		c.errorf(joinPath(path, "accounts_key"), ErrInvalid, "%s", msg)
	}
}

// pgValidateDSN checks that a DSN is present and looks like a
// PostgreSQL connection string (a postgres:// URL or key=value pairs).
// Messages never include the DSN, which may hold a password.
func pgValidateDSN(c *checker, path string, dsn Secret) {
	raw := strings.TrimSpace(dsn.Reveal())
	if raw == "" {
		c.errorf(path, ErrMissing, "dsn is required (postgres://USER@HOST:5432/DB?sslmode=verify-full or host=... user=... dbname=...)")
		return
	}
	if scheme, _, ok := strings.Cut(raw, "://"); ok {
		if s := strings.ToLower(scheme); s != "postgres" && s != "postgresql" {
			c.errorf(path, ErrInvalid, "dsn must be a postgres:// or postgresql:// URL, or key=value pairs")
			return
		}
		if _, err := url.Parse(raw); err != nil {
			c.errorf(path, ErrInvalid, "dsn is not a valid postgres:// URL")
		}
		return
	}
	if !strings.Contains(raw, "=") {
		c.errorf(path, ErrInvalid, "dsn is neither a postgres:// URL nor key=value pairs")
	}
}

// pgValidateNames checks a list of identifiers (schemas, roles): each
// non-empty, at most MaxPostgresIdentifier bytes, no duplicates; required
// means the list must not be empty.
func pgValidateNames(c *checker, path string, names []string, what string, required bool) {
	if required && len(names) == 0 {
		c.errorf(path, ErrMissing, "at least one %s is required", what)
	}
	seen := map[string]bool{}
	for i, n := range names {
		ip := pgItemPath(path, i)
		if msg := pgCheckIdent(n, what); msg != "" {
			c.errorf(ip, ErrInvalid, "%s", msg)
			continue
		}
		if seen[n] {
			c.errorf(ip, ErrDuplicate, "%s %s is listed twice", what, quote(n))
		}
		seen[n] = true
	}
}

// pgValidateTables checks a list of table names, "table" or
// "schema.table".
func pgValidateTables(c *checker, path string, names []string) {
	for i, n := range names {
		if msg := pgCheckTable(n); msg != "" {
			c.errorf(pgItemPath(path, i), ErrInvalid, "%s", msg)
		}
	}
}

// pgCheckIdent returns why s is not a usable PostgreSQL identifier
// (written as stored, without quotes), or "".
func pgCheckIdent(s, what string) string {
	switch {
	case s == "":
		return "empty " + what + " name"
	case len(s) > MaxPostgresIdentifier:
		return what + " name " + quote(s) + " is longer than 63 bytes"
	case strings.ContainsAny(s, "\x00"):
		return what + " name contains a NUL byte"
	}
	return ""
}

// pgCheckTable returns why s is not "table" or "schema.table", or "".
func pgCheckTable(s string) string {
	schema, table, qualified := strings.Cut(s, ".")
	if !qualified {
		return pgCheckIdent(s, "table")
	}
	if strings.Contains(table, ".") {
		return "table name " + quote(s) + " must be table or schema.table"
	}
	if msg := pgCheckIdent(schema, "schema"); msg != "" {
		return msg
	}
	return pgCheckIdent(table, "table")
}

// pgItemPath appends a list index to a key path, as in schemas[2].
func pgItemPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
