package config

import (
	"reflect"
	"testing"
)

// TestPostgresInvalidConfigs maps each testdata/postgres/invalid-*.yml to
// its one problem. They live in a directory of their own so that the
// generic table in config_test.go does not have to list them.
func TestPostgresInvalidConfigs(t *testing.T) {
	runSectionInvalid(t, "testdata/postgres", map[string]typeInvalidCase{
		"invalid-rls-dsn-missing.yml":               {ErrMissing, 2, "monitors[0].dsn"},
		"invalid-rls-dsn-scheme.yml":                {ErrInvalid, 4, "monitors[0].dsn"},
		"invalid-rls-dsn-garbage.yml":               {ErrInvalid, 4, "monitors[0].dsn"},
		"invalid-rls-schemas-empty.yml":             {ErrMissing, 5, "monitors[0].schemas"},
		"invalid-rls-schema-duplicate.yml":          {ErrDuplicate, 7, "monitors[0].schemas[1]"},
		"invalid-rls-app-role-long.yml":             {ErrInvalid, 7, "monitors[0].app_roles[1]"},
		"invalid-rls-force-type.yml":                {ErrType, 5, "monitors[0].force_rls"},
		"invalid-rls-exclude-table.yml":             {ErrInvalid, 5, "monitors[0].exclude_tables[0]"},
		"invalid-rls-isolation-unknown-key.yml":     {ErrUnknownKey, 6, "monitors[0].isolation.rol"},
		"invalid-rls-isolation-role-missing.yml":    {ErrMissing, 5, "monitors[0].isolation.role"},
		"invalid-rls-claims-setting.yml":            {ErrInvalid, 7, "monitors[0].isolation.claims_setting"},
		"invalid-rls-tenants-one.yml":               {ErrMissing, 7, "monitors[0].isolation.tenants"},
		"invalid-rls-claims-json.yml":               {ErrInvalid, 11, "monitors[0].isolation.tenants[1].claims"},
		"invalid-rls-tenant-id-missing.yml":         {ErrMissing, 10, "monitors[0].isolation.tenants[1].id"},
		"invalid-rls-tenant-duplicate.yml":          {ErrDuplicate, 10, "monitors[0].isolation.tenants[1].name"},
		"invalid-cascade-tenant-column-missing.yml": {ErrMissing, 2, "monitors[0].tenant_column"},
		"invalid-cascade-accounts-missing.yml":      {ErrMissing, 2, "monitors[0].accounts_table"},
		"invalid-cascade-accounts-key-empty.yml":    {ErrInvalid, 7, "monitors[0].accounts_key"},
		"invalid-cascade-rls-key.yml":               {ErrUnknownKey, 7, "monitors[0].force_rls"},
	}, "pg-secret-9f2c")
}

func TestPostgresConfig(t *testing.T) {
	src := `monitors:
  - name: rls-min
    type: postgres_rls
    dsn: postgres://auditor:${SECOPSD_TEST_TOKEN}@db.internal:5432/app
  - name: rls
    type: postgres_rls
    dsn: {value: "host=db.internal user=auditor password=${SECOPSD_TEST_TOKEN} dbname=app"}
    schemas: [public, api]
    app_roles: [anon, authenticated]
    force_rls: true
    exclude_tables: [spatial_ref_sys, api.public_posts]
    isolation:
      role: authenticated
      tenant_column: user_id
      exclude_tables: [countries]
      tenants:
        - name: alice
          claims: '{"sub": "11111111-1111-4111-8111-111111111111", "role": "authenticated"}'
        - name: bob
          claims: '{"sub": "22222222-2222-4222-8222-222222222222"}'
          id: 22222222-2222-4222-8222-222222222222
  - name: cascade-min
    type: postgres_cascade
    dsn: postgres://auditor@db.internal/app
    tenant_column: user_id
    accounts_table: auth.users
  - name: cascade
    type: postgres_cascade
    dsn: postgres://auditor@db.internal/app
    schemas: [public, billing]
    tenant_column: owner_id
    accounts_table: users
    accounts_key: uuid
    exclude_tables: [audit_log]
`
	cfg, err := parse([]byte(src), "", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	rlsMin, _ := cfg.MonitorByName("rls-min")
	if rlsMin.Schedule != "@every 24h" || rlsMin.PostgresRLS == nil ||
		!reflect.DeepEqual(*rlsMin.PostgresRLS, PostgresRLSMonitor{DSN: "postgres://auditor:tok-from-env@db.internal:5432/app", Schemas: []string{"public"}}) {
		t.Errorf("rls defaults: %+v %+v", rlsMin, rlsMin.PostgresRLS)
	}
	rls, _ := cfg.MonitorByName("rls")
	r := rls.PostgresRLS
	if r.DSN.Reveal() != "host=db.internal user=auditor password=tok-from-env dbname=app" || !r.ForceRLS ||
		!reflect.DeepEqual(r.Schemas, []string{"public", "api"}) || !reflect.DeepEqual(r.AppRoles, []string{"anon", "authenticated"}) ||
		!reflect.DeepEqual(r.ExcludeTables, []string{"spatial_ref_sys", "api.public_posts"}) {
		t.Errorf("rls block: %+v", r)
	}
	iso := r.Isolation
	if iso == nil || iso.Role != "authenticated" || iso.Setting() != DefaultClaimsSetting || iso.TenantColumn != "user_id" ||
		len(iso.Tenants) != 2 || !reflect.DeepEqual(iso.ExcludeTables, []string{"countries"}) {
		t.Fatalf("isolation: %+v", iso)
	}
	if a, b := iso.Tenants[0], iso.Tenants[1]; a.TenantID() != "11111111-1111-4111-8111-111111111111" ||
		b.TenantID() != "22222222-2222-4222-8222-222222222222" || a.Name != "alice" {
		t.Errorf("tenants: %+v", iso.Tenants)
	}
	cMin, _ := cfg.MonitorByName("cascade-min")
	if cMin.Schedule != "@every 24h" || !reflect.DeepEqual(*cMin.PostgresCascade, PostgresCascadeMonitor{
		DSN: "postgres://auditor@db.internal/app", Schemas: []string{"public"}, TenantColumn: "user_id",
		AccountsTable: "auth.users", AccountsKey: "id",
	}) {
		t.Errorf("cascade defaults: %+v", cMin.PostgresCascade)
	}
	c, _ := cfg.MonitorByName("cascade")
	if p := c.PostgresCascade; p.AccountsKey != "uuid" || p.AccountsTable != "users" || p.TenantColumn != "owner_id" ||
		!reflect.DeepEqual(p.Schemas, []string{"public", "billing"}) || !reflect.DeepEqual(p.ExcludeTables, []string{"audit_log"}) {
		t.Errorf("cascade block: %+v", p)
	}
}

func TestPostgresTenantID(t *testing.T) {
	for _, tc := range []struct {
		t    PostgresTenant
		want string
	}{
		{PostgresTenant{Claims: `{"sub": "u1"}`}, "u1"},
		{PostgresTenant{Claims: `{"sub": "u1"}`, ID: "org"}, "org"},
		{PostgresTenant{Claims: `{"sub": 7}`}, ""},
		{PostgresTenant{Claims: `not json`}, ""},
	} {
		if got := tc.t.TenantID(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.t, got, tc.want)
		}
	}
}
