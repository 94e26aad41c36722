package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/store"
)

// Environment variables read by `secopsd api`.
const (
	envAPIKey        = "SECOPSD_API_KEY"
	envSigningSecret = "SECOPSD_SIGNING_SECRET"
)

// cmdAPIKey dispatches `secopsd apikey create|list|revoke`.
func cmdAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "apikey: want a subcommand: create, list or revoke"}
	}
	switch args[0] {
	case "create":
		return cmdAPIKeyCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return cmdAPIKeyList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return cmdAPIKeyRevoke(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, msg: fmt.Sprintf("apikey: unknown subcommand %q (want create, list or revoke)", args[0])}
}

// createdKey is the output of `apikey create --json`: the only time the
// key and signing secret are shown.
type createdKey struct {
	auth.Key
	Status        auth.KeyStatus `json:"status"`
	Token         string         `json:"key"`
	SigningSecret string         `json:"signing_secret,omitempty"`
}

func cmdAPIKeyCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("apikey create", stderr)
	role := fs.String("role", "", "the key's `role`: admin, viewer or ingest (required)")
	name := fs.String("name", "", "a label for the key, e.g. the application that uses it")
	expires := fs.String("expires", "", "lifetime such as 90d or 12h (default: never expires)")
	signed := fs.Bool("signed", false, "require signed requests (always on for admin keys)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("apikey create: unexpected argument %q", pos[0])}
	}
	r, err := auth.ParseRole(*role)
	if *role == "" || err != nil {
		return &exitError{code: 2, msg: "apikey create: --role: want admin, viewer or ingest"}
	}
	var ttl time.Duration
	if *expires != "" && *expires != "never" {
		d, err := config.ParseDuration(*expires)
		if err != nil || d <= 0 {
			return &exitError{code: 2, msg: fmt.Sprintf("apikey create: --expires %q: want a positive duration such as 90d, 12h or 30m, or never", *expires)}
		}
		ttl = d.Std()
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	st, err := openConfiguredStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	mk, err := auth.LoadMasterKey(ctx, st, []byte(cfg.Auth.MasterKey.Reveal()))
	if err != nil {
		return err
	}
	k, err := auth.CreateKey(ctx, st, mk, auth.KeySpec{Name: *name, Role: r, TTL: ttl, Signed: *signed}, time.Now())
	if errors.Is(err, auth.ErrInvalidSpec) {
		msg := strings.TrimSuffix(strings.TrimPrefix(err.Error(), "create api key: "), ": "+auth.ErrInvalidSpec.Error())
		return &exitError{code: 2, msg: "apikey create: " + msg}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, createdKey{Key: k.Key, Status: k.Key.Status(time.Now()), Token: k.Token, SigningSecret: k.SigningSecret})
	}
	exp := "never expires"
	if k.Key.ExpiresAt != nil {
		exp = "expires " + k.Key.ExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "Created API key %s (role %s, %s).\n\n", k.Key.ID, k.Key.Role, exp)
	fmt.Fprintf(stdout, "  API key:         %s\n", k.Token)
	if k.SigningSecret != "" {
		fmt.Fprintf(stdout, "  Signing secret:  %s\n", k.SigningSecret)
	}
	fmt.Fprintln(stdout, "\nStore them now: they are shown only this once (secopsd keeps a bcrypt hash of the key).")
	fmt.Fprintln(stdout, `Send the key as "Authorization: Bearer <key>".`)
	if k.SigningSecret != "" {
		fmt.Fprintln(stdout, "This key must sign every request (README, \"API keys\"); `secopsd api` does it for you:")
		fmt.Fprintf(stdout, "  %s=<key> %s=<signing secret> secopsd api /api/v1/incidents\n", envAPIKey, envSigningSecret)
	}
	return nil
}

// listedKey is one element of `apikey list --json`.
type listedKey struct {
	auth.Key
	Status auth.KeyStatus `json:"status"`
}

func cmdAPIKeyList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("apikey list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if *asJSON {
		out := make([]listedKey, 0, len(keys))
		for _, k := range keys {
			out = append(out, listedKey{Key: k, Status: k.Status(now)})
		}
		return printJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSIGNED\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, dash(k.Name), k.Role, yesNo(k.RequireSignature),
			k.CreatedAt.Format(time.RFC3339), timeOr(k.ExpiresAt, "never"), timeOr(k.LastUsedAt, "-"), k.Status(now))
	}
	return tw.Flush()
}

func cmdAPIKeyRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("apikey revoke", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "apikey revoke: want exactly one key ID (see `secopsd apikey list`)"}
	}
	id := pos[0]
	if !auth.ValidKeyID(id) {
		return &exitError{code: 2, msg: fmt.Sprintf("apikey revoke: %q is not a key ID (want the %d-character ID that `apikey list` shows)", id, auth.KeyIDLen)}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	st, err := openConfiguredStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	k, err := st.GetAPIKey(ctx, id)
	if err == nil && k.RevokedAt != nil {
		fmt.Fprintf(stdout, "API key %s was already revoked at %s.\n", k.ID, k.RevokedAt.Format(time.RFC3339))
		return nil
	}
	if err == nil {
		k, err = st.RevokeAPIKey(ctx, id, time.Now())
	}
	if errors.Is(err, auth.ErrKeyNotFound) {
		return &exitError{code: 1, msg: fmt.Sprintf("no API key with ID %s", id)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Revoked API key %s (role %s%s). Running daemons refuse it within %s (auth.key_cache_ttl).\n",
		k.ID, k.Role, nameSuffix(k.Name), cfg.Auth.KeyCacheTTL)
	return nil
}

// cmdAPI sends one request to a running daemon with the API key (and,
// when given, the signing secret) from the environment: a small client for
// operators and scripts, and the reference for signing requests.
func cmdAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("api", stderr)
	method := fs.String("method", "GET", "HTTP `method`")
	data := fs.String("data", "", "request body from `FILE` (- for standard input)")
	base := fs.String("url", "", "the daemon's base `URL` (default: http:// and the configuration's listen address)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 || !strings.HasPrefix(pos[0], "/") {
		return &exitError{code: 2, msg: "api: want exactly one path, such as /api/v1/incidents?status=open"}
	}
	token := os.Getenv(envAPIKey)
	id, _, ok := auth.ParseToken(token)
	if !ok {
		return &exitError{code: 2, msg: fmt.Sprintf("api: set %s to an API key (secopsd_…)", envAPIKey)}
	}
	if *base == "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		*base = "http://" + dialAddr(cfg.Listen)
	}
	var body []byte
	switch *data {
	case "":
	case "-":
		body, err = io.ReadAll(os.Stdin)
	default:
		body, err = os.ReadFile(*data)
	}
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("api: read --data: %v", err)}
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(*method), strings.TrimRight(*base, "/")+pos[0], bytes.NewReader(body))
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("api: %v", err)}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret := os.Getenv(envSigningSecret); secret != "" {
		if err := auth.SignRequest(req, id, secret, body, time.Now(), ""); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("api: %s: %v", envSigningSecret, err)}
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("api: %v", err)}
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		msg := "api: " + resp.Status
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			msg += " (retry after " + ra + "s)"
		}
		return &exitError{code: 1, msg: msg}
	}
	return nil
}

// dialAddr turns a listen address into one to connect to: an unspecified
// host becomes loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// openConfiguredStore opens cfg's store with migrations applied.
func openConfiguredStore(ctx context.Context, cfg *config.Config, stderr io.Writer) (store.Store, error) {
	return app.OpenStore(ctx, cfg, newLogger(cfg, stderr), true)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func nameSuffix(name string) string {
	if name == "" {
		return ""
	}
	return ", name " + name
}
