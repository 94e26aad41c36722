package siem_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/siem"
)

func newMinimizer(t testing.TB, opts siem.MinimizerOptions) *siem.Minimizer {
	t.Helper()
	m, err := siem.NewMinimizer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestContentLikeKeys(t *testing.T) {
	m := newMinimizer(t, siem.MinimizerOptions{})
	dropped := []string{
		"prompt", "Prompt", "response", "body", "message", "msg", "text", "content", "comment",
		"password", "PASSWORD", "passwd", "pwd", "secret", "token", "cookie", "Set-Cookie", "authorization",
		"auth", "session", "session_id", "sessionId", "email", "user_email", "phone",
		"userPassword", "passwordHash", "password_type", "db_secret_ref", "x-auth-token", "csrf_token",
		"accessToken", "refresh-token", "apiKey", "api_key", "API_KEY", "privateKey", "http.request.body",
		"request.body", "llm.prompt", "completion_text", "authtoken", "bearer", "credentials",
		"chat_message", "raw-payload", "query", "sessionid", "xsession",
	}
	kept := []string{
		"user", "user_id", "ip", "route", "status", "method", "response_status", "responseStatus",
		"response_time_ms", "body_size", "body_bytes", "prompt_tokens", "token_count", "auth_method",
		"auth_result", "message_count", "request_id", "user_agent", "context", "authority", "tenant",
		"attempts", "mfa", "country", "path", "host", "session_status", "keyboard",
	}
	for _, k := range dropped {
		if !m.ContentLike(k) {
			t.Errorf("ContentLike(%q) = false, want dropped", k)
		}
	}
	for _, k := range kept {
		if m.ContentLike(k) {
			t.Errorf("ContentLike(%q) = true, want kept", k)
		}
	}
}

func TestMinimizeAttributes(t *testing.T) {
	m := newMinimizer(t, siem.MinimizerOptions{Deny: []string{"internal_note", "ticket"}})
	ev := event.Event{Source: "app", Kind: "auth.failure", Attributes: map[string]string{
		"user": "u-1", "ip": "203.0.113.7", "password": "hunter2", "prompt": "tell me", "Internal-Note": "x",
		"ticket_ref": "T-1", "minimized_dropped": "0", "severity_hint": "critical",
	}}
	dropped, redacted := m.Minimize(&ev)
	want := map[string]string{"user": "u-1", "ip": "203.0.113.7", "minimized_dropped": "6"}
	if !maps.Equal(ev.Attributes, want) || dropped != 6 || redacted != 0 {
		t.Errorf("Minimize = %d dropped, %d redacted, attributes %v; want 6, 0, %v", dropped, redacted, ev.Attributes, want)
	}

	allow := newMinimizer(t, siem.MinimizerOptions{Allow: []string{"User", "route", "password"}})
	ev = event.Event{Attributes: map[string]string{"user": "u-1", "route": "/login", "ip": "x", "password": "p"}}
	allow.Minimize(&ev)
	want = map[string]string{"user": "u-1", "route": "/login", "minimized_dropped": "2"}
	if !maps.Equal(ev.Attributes, want) {
		t.Errorf("with an allowlist: attributes %v, want %v (content-like keys are dropped even if allowed)", ev.Attributes, want)
	}

	ev = event.Event{Attributes: map[string]string{"user": "u-1"}}
	if d, r := m.Minimize(&ev); d != 0 || r != 0 || !maps.Equal(ev.Attributes, map[string]string{"user": "u-1"}) {
		t.Errorf("clean event changed: %d, %d, %v", d, r, ev.Attributes)
	}
}

// TestAllowlistSparesSecopsdsOwnEvents: the allowlist selects what
// applications keep; secopsd's own events (API rate-limit hits, purges,
// derived events) keep their metadata, but still lose content-like keys
// and secrets.
func TestAllowlistSparesSecopsdsOwnEvents(t *testing.T) {
	m := newMinimizer(t, siem.MinimizerOptions{Allow: []string{"user"}})
	for _, src := range []string{"secopsd", siem.CorrelatorSource} {
		ev := event.Event{Source: src, Kind: "ratelimit.hit", Attributes: map[string]string{
			"route": "/api/v1/events", "count": "7", "ip": "203.0.113.7", "password": "hunter2",
			"note": "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
		}}
		m.Minimize(&ev)
		if ev.Attributes["route"] != "/api/v1/events" || ev.Attributes["count"] != "7" || ev.Attributes["ip"] != "203.0.113.7" {
			t.Errorf("source %s: own metadata dropped: %v", src, ev.Attributes)
		}
		if _, ok := ev.Attributes["password"]; ok || strings.Contains(ev.Attributes["note"], "ghp_") {
			t.Errorf("source %s: content or secret kept: %v", src, ev.Attributes)
		}
	}
	for _, src := range []string{"secopsd-fake", "app", "secopsdx"} {
		ev := event.Event{Source: src, Attributes: map[string]string{"user": "u", "route": "/x"}}
		m.Minimize(&ev)
		if _, ok := ev.Attributes["route"]; ok {
			t.Errorf("source %s escaped the allowlist: %v", src, ev.Attributes)
		}
	}
}

func TestMinimizeRedactsSecretsEverywhere(t *testing.T) {
	m := newMinimizer(t, siem.MinimizerOptions{})
	for _, s := range secretSamples() {
		t.Run(s.rule, func(t *testing.T) {
			ev := event.Event{
				ID: s.secret, Source: s.secret, Kind: s.secret, Title: "login by " + s.secret,
				Fingerprint: s.secret, Monitor: s.secret, Category: s.secret, CorrelationID: s.secret,
				Time: time.Now(),
				Attributes: map[string]string{
					"user":   "u-1",
					"detail": "header was " + s.secret + " (sic)",
					s.secret: "value under a secret key",
				},
			}
			_, redacted := m.Minimize(&ev)
			if redacted == 0 {
				t.Fatal("nothing redacted")
			}
			dump := strings.Join([]string{ev.ID, ev.Source, ev.Kind, ev.Title, ev.Fingerprint, ev.Monitor, ev.Category, ev.CorrelationID}, "|")
			for k, v := range ev.Attributes {
				dump += "|" + k + "=" + v
			}
			if strings.Contains(dump, s.secret) || strings.Contains(dump, s.secret[len(s.secret)-20:]) {
				t.Errorf("secret survived minimization: %s", dump)
			}
			if !strings.Contains(ev.Attributes["detail"], "[REDACTED:") || !strings.HasSuffix(ev.Attributes["detail"], " (sic)") {
				t.Errorf("detail = %q, want the secret replaced in place", ev.Attributes["detail"])
			}
			if ev.Attributes[siem.AttrMinimizedRedacted] == "" {
				t.Errorf("no %s attribute: %v", siem.AttrMinimizedRedacted, ev.Attributes)
			}
			if keys := slices.Sorted(maps.Keys(ev.Attributes)); !slices.Equal(keys, []string{"detail", "minimized_redacted", "user"}) {
				t.Errorf("attribute keys %v, want the secret key dropped", keys)
			}
		})
	}
}

func TestNewMinimizerRejectsBadDenyWord(t *testing.T) {
	if _, err := siem.NewMinimizer(siem.MinimizerOptions{Deny: []string{"a b"}}); err == nil {
		t.Error("deny word with a space accepted")
	}
}

func BenchmarkMinimize(b *testing.B) {
	m := newMinimizer(b, siem.MinimizerOptions{})
	attrs := map[string]string{"user": "u-1234", "ip": "203.0.113.7", "route": "/api/v1/login", "status": "401", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}
	b.ReportAllocs()
	for b.Loop() {
		ev := event.Event{Source: "billing-api", Kind: "auth.failure", Attributes: maps.Clone(attrs)}
		m.Minimize(&ev)
	}
}
