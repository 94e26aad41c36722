package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/store"
)

// authConfig writes a configuration without monitors whose key cache
// lives one second.
func authConfig(t *testing.T, dir, listen, storeURL string) string {
	t.Helper()
	return writeFile(t, dir, "secopsd.yaml", fmt.Sprintf(`
listen: %s
store:
  url: %q
policies: %s
log: {level: info}
shutdown_timeout: 5s
auth:
  key_cache_ttl: 1s
`, listen, storeURL, mustAbs(t, "../../policies")))
}

// binaryRun runs the built secopsd binary (no race detector, so bcrypt at
// cost 12 takes its real time) and returns exit code and stdout.
func binaryRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func TestAPIKeyCreateListRevoke(t *testing.T) {
	dir := t.TempDir()
	storeURL := "sqlite://" + filepath.Join(dir, "data", "secopsd.db")
	cfg := authConfig(t, dir, "127.0.0.1:0", storeURL)

	code, out, errOut := cli(t, "apikey", "create", "--role", "viewer", "--name", "grafana", "--expires", "90d", "--json", "--config", cfg)
	if code != 0 {
		t.Fatalf("apikey create: %d %s", code, errOut)
	}
	var viewer struct {
		auth.Key
		Status        string `json:"status"`
		Token         string `json:"key"`
		SigningSecret string `json:"signing_secret"`
	}
	if err := json.Unmarshal([]byte(out), &viewer); err != nil {
		t.Fatalf("apikey create --json: %v\n%s", err, out)
	}
	id, secret, ok := auth.ParseToken(viewer.Token)
	if !ok || id != viewer.ID || viewer.Role != auth.RoleViewer || viewer.Name != "grafana" || viewer.Status != "active" || viewer.SigningSecret != "" {
		t.Fatalf("created key = %+v", viewer)
	}
	if viewer.ExpiresAt == nil || viewer.ExpiresAt.Sub(viewer.CreatedAt) != 90*24*time.Hour {
		t.Errorf("expiry = %v, want 90 days after %v", viewer.ExpiresAt, viewer.CreatedAt)
	}
	if strings.Contains(errOut, secret) {
		t.Error("the key appears on standard error")
	}

	st, err := store.Open(context.Background(), storeURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetAPIKey(context.Background(), id)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(stored.SecretHash)); err != nil || cost != 12 {
		t.Errorf("stored bcrypt cost = %d, %v; want 12", cost, err)
	}
	if strings.Contains(stored.SecretHash, secret) {
		t.Error("the secret is stored in clear")
	}

	code, out = binaryRun(t, "apikey", "create", "--role", "admin", "--config", cfg)
	if code != 0 || !strings.Contains(out, "API key:         secopsd_") || !strings.Contains(out, "Signing secret:  ") || !strings.Contains(out, "shown only this once") {
		t.Fatalf("apikey create --role admin: %d\n%s", code, out)
	}

	code, out, _ = cli(t, "apikey", "list", "--json", "--config", cfg)
	var list []struct {
		auth.Key
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 2 {
		t.Fatalf("apikey list --json: %d %v\n%s", code, err, out)
	}
	if strings.Contains(out, "$2a$") || strings.Contains(out, secret) {
		t.Errorf("apikey list shows a hash or secret:\n%s", out)
	}
	if list[0].ID != id || list[1].Role != auth.RoleAdmin || !list[1].RequireSignature || list[1].Status != "active" {
		t.Errorf("apikey list = %+v", list)
	}
	code, out, _ = cli(t, "apikey", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ID") || !strings.Contains(out, "STATUS") || !strings.Contains(out, id) || !strings.Contains(out, "grafana") {
		t.Errorf("apikey list:\n%s", out)
	}

	code, out, errOut = cli(t, "apikey", "revoke", id, "--config", cfg)
	if code != 0 || !strings.Contains(out, "Revoked API key "+id) {
		t.Errorf("apikey revoke: %d %q %q", code, out, errOut)
	}
	code, out, _ = cli(t, "apikey", "list", "--json", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"status": "revoked"`) {
		t.Errorf("list after revoke:\n%s", out)
	}
	if code, out, _ := cli(t, "apikey", "revoke", id, "--config", cfg); code != 0 || !strings.Contains(out, "already revoked") {
		t.Errorf("second revoke: %d %q", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"apikey", "revoke", "zzzzzzzzzzzz"}, 1, "no API key with ID zzzzzzzzzzzz"},
		{[]string{"apikey", "revoke", "not-an-id"}, 2, "not a key ID"},
		{[]string{"apikey", "revoke"}, 2, "exactly one key ID"},
		{[]string{"apikey", "create"}, 2, "--role"},
		{[]string{"apikey", "create", "--role", "root"}, 2, "--role"},
		{[]string{"apikey", "create", "--role", "viewer", "--expires", "soon"}, 2, "--expires"},
		{[]string{"apikey", "create", "--role", "viewer", "--expires", "0s"}, 2, "--expires"},
		{[]string{"apikey", "create", "--role", "viewer", "--name", strings.Repeat("n", 65)}, 2, "name"},
		{[]string{"apikey", "frobnicate"}, 2, "create, list or revoke"},
		{[]string{"apikey"}, 2, "create, list or revoke"},
	} {
		code, _, errOut := cli(t, append(tc.args, "--config", cfg)...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, errOut)
		}
		oneLine(t, errOut, tc.want)
	}
}

func TestAPIKeysAgainstTheDaemon(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	cfg := authConfig(t, dir, listen, "sqlite://"+filepath.Join(dir, "data", "secopsd.db"))
	d := startDaemon(t, cfg)
	base := "http://" + listen
	poll(t, 20*time.Second, "the daemon to listen", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if resp, err := http.Get(base + "/api/v1/incidents"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Keys created while the daemon runs work at once.
	create := func(role string) (token, signing string) {
		code, out := binaryRun(t, "apikey", "create", "--role", role, "--json", "--config", cfg)
		var k struct {
			Token         string `json:"key"`
			SigningSecret string `json:"signing_secret"`
		}
		if err := json.Unmarshal([]byte(out), &k); code != 0 || err != nil {
			t.Fatalf("apikey create --role %s: %d %v", role, code, err)
		}
		return k.Token, k.SigningSecret
	}
	viewer, _ := create("viewer")
	admin, signing := create("admin")

	t.Setenv(envAPIKey, viewer)
	if code, out, errOut := cli(t, "api", "--config", cfg, "/api/v1/incidents?status=open"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("api as viewer: %d %q %q", code, out, errOut)
	}
	t.Setenv(envAPIKey, admin)
	if code, _, errOut := cli(t, "api", "--config", cfg, "/api/v1/incidents"); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("api as admin without the signing secret: %d %q, want 401", code, errOut)
	}
	t.Setenv(envSigningSecret, signing)
	if code, out, errOut := cli(t, "api", "--config", cfg, "/api/v1/incidents"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("signed api call as admin: %d %q %q", code, out, errOut)
	}
	t.Setenv(envSigningSecret, "")

	// Revoking through the CLI stops the key on the running daemon within
	// its key_cache_ttl (1s).
	t.Setenv(envAPIKey, viewer)
	id, _, _ := auth.ParseToken(viewer)
	if code, _, errOut := cli(t, "apikey", "revoke", id, "--config", cfg); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	poll(t, 5*time.Second, "the revoked key to be refused", func() bool {
		code, _, errOut := cli(t, "api", "--config", cfg, "/api/v1/incidents")
		return code == 1 && strings.Contains(errOut, "401")
	})

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Wait()
	log := d.stderr.String()
	if !strings.Contains(log, "apikey create --role admin") {
		t.Errorf("a daemon started without keys does not say how to create one:\n%s", log)
	}
	for _, s := range []string{viewer, admin, signing} {
		if strings.Contains(log, s) {
			t.Error("a key or signing secret appears in the daemon's log")
		}
	}
}
