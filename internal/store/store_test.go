package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

func fixedTime() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }

func TestOpenUnsupportedScheme(t *testing.T) {
	for _, url := range []string{
		"mysql://root:hunter2@db/secopsd",
		"./data/secopsd.db",
		"root:hunter2@db/secopsd",
	} {
		_, err := store.Open(t.Context(), url, store.Options{})
		if !errors.Is(err, store.ErrUnsupportedScheme) {
			t.Errorf("Open(%q) error = %v, want ErrUnsupportedScheme", url, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "hunter2") {
			t.Errorf("error leaks the password: %s", msg)
		}
		if !strings.Contains(msg, "sqlite://") || !strings.Contains(msg, "postgres://") {
			t.Errorf("error does not list the accepted schemes: %s", msg)
		}
	}
	_, err := store.Open(t.Context(), "mysql://db/x", store.Options{})
	if err == nil || !strings.Contains(err.Error(), `"mysql"`) {
		t.Errorf("error does not name the scheme: %v", err)
	}
}

func TestOpenPostgresUnreachable(t *testing.T) {
	for _, url := range []string{
		"postgres://secopsd:hunter2@127.0.0.1:1/secopsd?connect_timeout=5",
		"postgresql://secopsd@127.0.0.1:1/secopsd?password=hunter2&connect_timeout=5",
	} {
		s, err := store.Open(t.Context(), url, store.Options{Migrate: true})
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded", store.RedactURL(url))
		}
		msg := err.Error()
		if strings.Contains(msg, "hunter2") {
			t.Errorf("error leaks the password: %s", msg)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("error spans several lines: %q", msg)
		}
		if !strings.Contains(msg, "unreachable") || !strings.Contains(msg, "127.0.0.1:1") {
			t.Errorf("error does not say which server is unreachable: %s", msg)
		}
	}
}

func TestOpenRejectsNegativeMaxConns(t *testing.T) {
	_, err := store.Open(t.Context(), "sqlite:///nonexistent/x.db", store.Options{MaxConns: -1})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("error = %v, want ErrInvalid", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db":                     "postgres://u:xxxxx@h:5432/db",
		"postgres://u@h/db?sslmode=disable":                 "postgres://u@h/db?sslmode=disable",
		"postgres://u@h/db?password=secret&sslmode=require": "postgres://u@h/db?password=xxxxx&sslmode=require",
		"postgres://u@h/db?sslpassword=secret":              "postgres://u@h/db?sslpassword=xxxxx",
		"sqlite://./data/secopsd.db":                        "sqlite://./data/secopsd.db",
		"postgres://u:se%zzcret@h/db":                       "<unparsable URL>",
	} {
		if got := store.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// benchCreateAndAppend measures the engine's write path: open an incident,
// then append three entries in separate transactions.
func benchCreateAndAppend(b *testing.B, s store.Store) {
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		inc, err := s.CreateIncident(ctx, incident.Incident{Fingerprint: fmt.Sprintf("bench-%d", i), Title: "bench"},
			incident.Entry{Time: fixedTime(), Actor: incident.ActorEngine, Kind: incident.KindOpened})
		if err != nil {
			b.Fatal(err)
		}
		for j := range 3 {
			_, _, err := s.MutateIncident(ctx, inc.ID, func(inc *incident.Incident) ([]incident.Entry, error) {
				inc.Failures++
				return []incident.Entry{{Time: fixedTime(), Actor: incident.ActorEngine, Kind: incident.KindFailure,
					Payload: map[string]int{"n": j}}}, nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
