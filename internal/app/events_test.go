package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// syncLog is a log sink safe for the daemon's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// eventID is the id the daemon stores for a client's event id.
func eventID(source, clientID string) string {
	return event.Fingerprint("ingest.id", source, clientID)
}

// ingestDaemon starts a daemon without monitors on storeURL with extra
// YAML appended, and stops it when the test ends.
func ingestDaemon(t *testing.T, storeURL, extra string, log io.Writer) *app.App {
	t.Helper()
	a := newIngestDaemon(t, storeURL, extra, log)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return a
}

// newIngestDaemon starts a daemon that the test must stop.
func newIngestDaemon(t *testing.T, storeURL, extra string, log io.Writer) *app.App {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("listen: 127.0.0.1:0\nstore:\n  url: %q\npolicies: ../../policies\n%s", storeURL, extra)), "ingest.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	if log == nil {
		log = io.Discard
	}
	a, err := app.New(context.Background(), app.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

func ingestKey(t *testing.T, a *app.App, role auth.Role) string {
	t.Helper()
	k, err := a.Auth().CreateKey(context.Background(), auth.KeySpec{Role: role, Name: "ingest test", Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return k.Token
}

// call sends a request with a bearer token and decodes the JSON answer.
func call(t *testing.T, method, url, token, ctype, body string, out any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header
}

func appEvent(kind, extra string) string {
	return `{"time": "` + time.Now().UTC().Format(time.RFC3339Nano) + `", "source": "checkout", "kind": "` + kind + `"` + extra + `}`
}

func runIngestEndToEnd(t *testing.T, storeURL string) {
	var logs syncLog
	a := ingestDaemon(t, storeURL, "siem:\n  attributes:\n    deny: [internal_ref]\n", &logs)
	base := "http://" + a.Addr() + "/api/v1/events"
	ingest, viewer := ingestKey(t, a, auth.RoleIngest), ingestKey(t, a, auth.RoleViewer)
	secret := "ghp_" + "x7Kd2PqL9mZt" + "4Rb8Wn3Yc6Hf" + "1Jg5Sv0Ae2Qo" // built here, not a literal token

	var lines []string
	for i := range 30 {
		lines = append(lines, appEvent("auth.failure", fmt.Sprintf(`, "id": "req-%d", "attributes": {"user": "u-%d", "ip": "203.0.113.%d", "internal_ref": "r", "detail": "token %s"}`, i, i%3, i, secret)))
	}
	var rc map[string]int
	code, _ := call(t, "POST", base, ingest, "application/x-ndjson", strings.Join(lines, "\n"), &rc)
	if code != http.StatusAccepted || rc["accepted"] != 30 {
		t.Fatalf("POST = %d %v, want 202 with 30 accepted", code, rc)
	}
	// Durable before the answer: the store has them now.
	evs, err := a.Store().ListEvents(context.Background(), store.EventFilter{Source: "checkout", Limit: 100})
	if err != nil || len(evs) != 30 {
		t.Fatalf("stored %d events (%v), want 30 right after the 202", len(evs), err)
	}
	for _, ev := range evs {
		if _, ok := ev.Attributes["internal_ref"]; ok || strings.Contains(ev.Attributes["detail"], secret) {
			t.Fatalf("event not minimized: %v", ev.Attributes)
		}
	}

	// Paging through GET with the viewer key.
	var ids []string
	q := "?source=checkout&kind=auth.failure&limit=8"
	for range 10 {
		var page api.EventPage
		if code, _ := call(t, "GET", base+q, viewer, "", "", &page); code != http.StatusOK {
			t.Fatalf("GET %s = %d", q, code)
		}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		if page.NextCursor == "" {
			break
		}
		q = "?source=checkout&kind=auth.failure&limit=8&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if len(ids) != 30 {
		t.Errorf("paged %d events, want 30", len(ids))
	}

	// Roles: ingest keys cannot read, viewer keys cannot write.
	if code, _ := call(t, "GET", base, ingest, "", "", nil); code != http.StatusForbidden {
		t.Errorf("GET with an ingest key = %d, want 403", code)
	}
	if code, _ := call(t, "POST", base, viewer, "application/json", appEvent("x", ""), nil); code != http.StatusForbidden {
		t.Errorf("POST with a viewer key = %d, want 403", code)
	}
	var bad map[string]any
	if code, _ := call(t, "POST", base, ingest, "application/json", "["+appEvent("x", "")+`, {"time": "now"}]`, &bad); code != http.StatusBadRequest || bad["index"] != 1.0 || bad["field"] != "time" {
		t.Errorf("bad event = %d %v, want 400 index 1 field time", code, bad)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the secret reached the log")
	}
	dump, err := storetest.DumpTables(context.Background(), a.Store())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, secret) {
		t.Error("the secret was persisted")
	}
}

func TestIngestEndToEndSQLite(t *testing.T) {
	runIngestEndToEnd(t, storetest.SQLiteURL(t))
}

func TestIngestEndToEndPostgres(t *testing.T) {
	runIngestEndToEnd(t, storetest.PostgresURL(t))
}

// TestStopStoresEventsInFlight stops the daemon while clients are sending:
// every request answered 2xx has its events in the store afterwards.
func TestStopStoresEventsInFlight(t *testing.T) {
	url := storetest.SQLiteURL(t)
	a := newIngestDaemon(t, url, "", nil)
	token := ingestKey(t, a, auth.RoleIngest)
	base := "http://" + a.Addr() + "/api/v1/events"
	type sent struct {
		ids []string
		ok  bool
	}
	results := make(chan sent, 64)
	for c := range 8 {
		go func() {
			for r := 0; ; r++ {
				var evs, ids []string
				for i := range 20 {
					id := fmt.Sprintf("s-%d-%d-%d", c, r, i)
					ids = append(ids, id)
					evs = append(evs, appEvent("deploy", `, "id": "`+id+`"`))
				}
				req, _ := http.NewRequest("POST", base, bytes.NewReader([]byte("["+strings.Join(evs, ",")+"]")))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					results <- sent{}
					return
				}
				_ = resp.Body.Close()
				results <- sent{ids: ids, ok: resp.StatusCode == http.StatusAccepted}
				if resp.StatusCode != http.StatusAccepted {
					return
				}
			}
		}()
	}
	var acked []string
	for len(acked) < 200 {
		s := <-results
		if s.ok {
			acked = append(acked, s.ids...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for done := 0; done < 8; {
		s := <-results
		if s.ok {
			acked = append(acked, s.ids...)
			continue
		}
		done++
	}
	st := storetest.OpenURL(t, url)
	have := map[string]bool{}
	after := store.EventCursor{}
	for {
		page, err := st.TailEvents(context.Background(), after, store.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, ev := range page {
			have[ev.ID] = true
		}
		after = page[len(page)-1].Cursor()
	}
	for _, id := range acked {
		if !have[eventID("checkout", id)] {
			t.Fatalf("event %s was acknowledged but is not stored", id)
		}
	}
	t.Logf("%d acknowledged events all stored", len(acked))
}
