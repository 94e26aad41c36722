package monitors

import (
	"strings"
	"testing"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// cascadeMonitor returns a postgres_cascade monitor of the fixture.
func cascadeMonitor(f *pgFixture, cfg config.PostgresCascadeMonitor) config.Monitor {
	if cfg.DSN == "" {
		cfg.DSN = config.Secret(f.dsn)
	}
	if cfg.Schemas == nil {
		cfg.Schemas = []string{f.schema}
	}
	if cfg.TenantColumn == "" {
		cfg.TenantColumn = "user_id"
	}
	if cfg.AccountsTable == "" {
		cfg.AccountsTable = f.auth + ".users"
	}
	return config.Monitor{Name: "cascade", Type: "postgres_cascade", PostgresCascade: &cfg}
}

func TestPostgresCascadeHardened(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t, "hardened.sql")
	res := ProbePostgresCascade(t.Context(), cascadeMonitor(f, config.PostgresCascadeMonitor{}), Env{}, nil)
	pgCheckFindings(t, res, nil)
	// profiles and todos reference the accounts, notes through profiles.
	if res.Details["tables"] != "3" {
		t.Errorf("details = %v", res.Details)
	}
	pgAssertNoSecret(t, res, f.password)
}

func TestPostgresCascadeBad(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t, "bad.sql")
	s := f.schema
	missing := s + "_nope"
	res := ProbePostgresCascade(t.Context(), cascadeMonitor(f, config.PostgresCascadeMonitor{
		Schemas: []string{s, missing},
	}), Env{}, nil)
	pgCheckFindings(t, res, []string{
		"postgres_cascade.schema_missing schema:" + missing,
		"postgres_cascade.missing_fk " + s + ".open_notes",
		"postgres_cascade.missing_fk " + s + ".tags",
		"postgres_cascade.not_cascade " + s + ".docs",
		"postgres_cascade.not_cascade " + s + ".settings",
		"postgres_cascade.not_cascade " + s + ".messages",
		"postgres_cascade.not_cascade " + s + ".members",
		"postgres_cascade.not_cascade " + s + ".replies",
	})
	want := map[string]string{
		".docs":     "ON DELETE RESTRICT",
		".settings": "ON DELETE SET NULL",
		".messages": "ON DELETE NO ACTION",
		".replies":  "members_user_id_fkey → " + f.auth + ".users (ON DELETE NO ACTION)",
		".tags":     "tags_user_id_fkey → " + s + ".legacy_users",
	}
	for _, fd := range res.Findings {
		if fd.Severity != event.SeverityHigh && fd.ID != FindingPGCascadeSchemaMissing {
			t.Errorf("%s: severity %s", fd.ID, fd.Severity)
		}
		for suffix, text := range want {
			if strings.HasSuffix(fd.Target, suffix) && !strings.Contains(fd.Evidence, text) {
				t.Errorf("%s evidence lacks %q: %s", fd.Target, text, fd.Evidence)
			}
		}
	}

	// exclude_tables, and an unqualified accounts table found through the
	// search path (the fixture's accounts schema is not on it).
	res = ProbePostgresCascade(t.Context(), cascadeMonitor(f, config.PostgresCascadeMonitor{
		ExcludeTables: []string{"open_notes", s + ".tags", "docs", "settings", "messages", "members", "replies"},
	}), Env{}, nil)
	pgCheckFindings(t, res, nil)
	res = ProbePostgresCascade(t.Context(), cascadeMonitor(f, config.PostgresCascadeMonitor{AccountsTable: "users"}), Env{}, nil)
	pgCheckFindings(t, res, []string{"postgres_cascade.accounts_table_missing "})
	res = ProbePostgresCascade(t.Context(), cascadeMonitor(f, config.PostgresCascadeMonitor{AccountsKey: "uuid"}), Env{}, nil)
	pgCheckFindings(t, res, []string{"postgres_cascade.accounts_table_missing "})
	pgAssertNoSecret(t, res, f.password)
}

func TestPostgresCascadeUnreachable(t *testing.T) {
	t.Parallel()
	const secret = "S3cret-Passw0rd"
	m := config.Monitor{Name: "cascade", Type: "postgres_cascade", PostgresCascade: &config.PostgresCascadeMonitor{
		DSN:          config.Secret("postgres://auditor:" + secret + "@127.0.0.1:1/app?connect_timeout=5"),
		TenantColumn: "user_id", AccountsTable: "auth.users",
	}}
	res := ProbePostgresCascade(t.Context(), m, Env{}, nil)
	pgCheckFindings(t, res, []string{"postgres_cascade.unreachable "})
	pgAssertNoSecret(t, res, secret)
	if res.Target != "postgres://127.0.0.1:1/app" {
		t.Errorf("target = %q", res.Target)
	}
	res = ProbePostgresCascade(t.Context(), config.Monitor{Name: "cascade", Type: "postgres_cascade"}, Env{}, nil)
	pgCheckFindings(t, res, []string{FindingConfig + " "})
}
