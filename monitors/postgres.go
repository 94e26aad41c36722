package monitors

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
)

// pgCloseTimeout bounds closing a connection after the run, whose own
// context may already be done.
const pgCloseTimeout = 5 * time.Second

// pgApplicationName is the application_name secopsd's audit connections
// use, so that a DBA can tell them apart in pg_stat_activity.
const pgApplicationName = "secopsd"

// errPGBadDSN is returned for a DSN that does not parse. Its text never
// includes the DSN: pgx's parse errors may quote it with its password.
var errPGBadDSN = errors.New("dsn is not a valid PostgreSQL connection string")

// pgConn is one audit connection and what may be shown about it.
type pgConn struct {
	conn *pgx.Conn
	// target is postgres://host:port/db, without user or password.
	target string
	// secrets are the strings that must never appear in a message.
	secrets []string
}

// pgParse parses dsn and returns its config and the target shown for it;
// the error never contains the DSN.
func pgParse(dsn config.Secret) (*pgx.ConnConfig, string, error) {
	cfg, err := pgx.ParseConfig(dsn.Reveal())
	if err != nil {
		return nil, "", errPGBadDSN
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = pgApplicationName
	}
	return cfg, pgTarget(cfg), nil
}

// pgTarget renders host, port and database of cfg as a URL without
// credentials.
func pgTarget(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		// A Unix socket directory.
		return "postgres:///" + cfg.Database + "?host=" + host + "&port=" + strconv.Itoa(int(cfg.Port))
	}
	return "postgres://" + net.JoinHostPort(host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
}

// pgOpen connects with dsn. On failure target is still set when the DSN
// parsed, and the error text has every secret of the DSN removed.
func pgOpen(ctx context.Context, dsn config.Secret) (*pgConn, string, error) {
	cfg, target, err := pgParse(dsn)
	if err != nil {
		return nil, "", err
	}
	secrets := []string{dsn.Reveal(), cfg.Password}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, target, errors.New(pgScrub(pgErrorText(err), secrets))
	}
	return &pgConn{conn: conn, target: target, secrets: secrets}, target, nil
}

// Remediations shared by the postgres monitors' findings.
const (
	pgUnreachableRemediation = "Check that the database is up and reachable from secopsd, and the dsn's host, port, " +
		"database, user, password and sslmode."
	pgAuditFailedRemediation = "Check the monitor role's privileges (it needs to read the system catalogs) and the database's logs."
)

// pgConnect opens the audit connection of a run of postgres monitor m and
// sets res's target and attempts. When the database cannot be reached it
// records finding id (high), "<monitor>: cannot connect to the database to
// <purpose>", and returns nil.
func pgConnect(ctx context.Context, m config.Monitor, dsn config.Secret, res *Result, id, purpose string) *pgConn {
	c, target, err := pgOpen(ctx, dsn)
	res.Target, res.Attempts = target, 1
	if err != nil {
		msg := err.Error()
		res.Details["error"] = msg
		res.Findings = []event.Finding{newFinding(m.Name, target, id, event.SeverityHigh,
			m.Name+": cannot connect to the database to "+purpose, msg, pgUnreachableRemediation)}
		return nil
	}
	return c
}

// auditFailed records on res that an audit query of monitor m failed with
// err: the run is inconclusive, with finding id (high), "<monitor>: the
// <what> audit query failed".
func (c *pgConn) auditFailed(m config.Monitor, res *Result, err error, id, what string) {
	msg := c.errText(err)
	res.Details["error"] = msg
	res.Inconclusive = true
	res.Findings = append(res.Findings, newFinding(m.Name, c.target, id, event.SeverityHigh,
		m.Name+": the "+what+" audit query failed", msg, pgAuditFailedRemediation))
}

// close closes the connection, even after the run's context is done.
func (c *pgConn) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgCloseTimeout)
	defer cancel()
	_ = c.conn.Close(ctx)
}

// errText renders err for a finding or a log line, without any secret of
// the DSN.
func (c *pgConn) errText(err error) string { return pgScrub(pgErrorText(err), c.secrets) }

// pgErrorText renders err on one line; a server error keeps its SQLSTATE.
func pgErrorText(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity + ": " + pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// pgScrub replaces every non-empty secret in s by <redacted>.
func pgScrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return s
}

// pgObject is what a finding about one database object targets:
// postgres://host:port/db#object.
func pgObject(target, object string) string { return target + "#" + object }

// pgExclusion matches tables against a list of "table" and "schema.table"
// names, written as stored (unquoted, case-sensitive).
type pgExclusion struct {
	bare, qualified map[string]bool
}

// newPGExclusion builds the matcher of names.
func newPGExclusion(lists ...[]string) pgExclusion {
	x := pgExclusion{bare: map[string]bool{}, qualified: map[string]bool{}}
	for _, names := range lists {
		for _, n := range names {
			if strings.Contains(n, ".") {
				x.qualified[n] = true
			} else {
				x.bare[n] = true
			}
		}
	}
	return x
}

// has reports whether schema.table is excluded.
func (x pgExclusion) has(schema, table string) bool {
	return x.bare[table] || x.qualified[schema+"."+table]
}

// pgPlural returns n with the singular or plural noun.
func pgPlural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// pgList joins up to max items, saying how many more there are.
func pgList(items []string, limit int) string {
	if len(items) <= limit {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:limit], ", ") + " and " + strconv.Itoa(len(items)-limit) + " more"
}
