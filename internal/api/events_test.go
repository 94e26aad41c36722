package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/siem"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// passGuard lets every request through: these tests are about the event
// handlers; the role each route requires is tested with the real
// authenticator in TestEventRoutesNeedTheirRoles.
type passGuard struct{}

func (passGuard) Require(_ auth.Role, h http.Handler) http.Handler { return h }

// pipelineIngester adapts a real pipeline to api.EventIngester, as the
// daemon does.
type pipelineIngester struct{ p *siem.Pipeline }

func (pi pipelineIngester) IngestEvents(ctx context.Context, ct string, body io.Reader) (int, int, error) {
	rc, err := pi.p.Ingest(ctx, ct, body)
	return rc.Accepted, rc.Duplicates, err
}

// storeReader adapts the store to api.EventReader, as the daemon does.
type storeReader struct{ st store.Store }

func (r storeReader) QueryEvents(ctx context.Context, q api.EventQuery) ([]event.Event, error) {
	f := store.EventFilter{Since: q.Since, Until: q.Until, MinSeverity: q.MinSeverity, Source: q.Source, Kind: q.Kind, Limit: q.Limit}
	if q.After != nil {
		f.Before = &store.EventCursor{Time: q.After.Time, ID: q.After.ID}
	}
	return r.st.ListEvents(ctx, f)
}

// eventServer serves the API over a real pipeline on a real SQLite store.
func eventServer(t *testing.T, ing api.EventIngester) (*httptest.Server, store.Store) {
	t.Helper()
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	if ing == nil {
		cls, err := siem.NewClassifier(context.Background(), siem.ClassifierOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := siem.NewPipeline(siem.PipelineOptions{Store: st, Classifier: cls, MaxRequestEvents: 10, MaxRequestBytes: 8192})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close(context.Background()) })
		ing = pipelineIngester{p}
	}
	h, err := api.NewHandler(api.Options{Incidents: st, Ready: st.Ping, Auth: passGuard{}, Ingest: ing, Events: storeReader{st}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st
}

func post(t *testing.T, url, ctype, body string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST answered %d without a JSON body: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, out
}

func ev(kind string, extra string) string {
	return `{"time": "` + time.Now().UTC().Format(time.RFC3339Nano) + `", "source": "shop", "kind": "` + kind + `"` + extra + `}`
}

func TestPostEvents(t *testing.T) {
	srv, st := eventServer(t, nil)
	u := srv.URL + "/api/v1/events"

	code, _, body := post(t, u, "application/json", "["+ev("auth.failure", `, "id": "a"`)+","+ev("deploy", "")+"]")
	if code != http.StatusAccepted || body["accepted"] != 2.0 || body["duplicates"] != 0.0 {
		t.Errorf("POST = %d %v, want 202 with 2 accepted", code, body)
	}
	code, _, body = post(t, u, "application/x-ndjson", ev("auth.failure", `, "id": "a"`)+"\n")
	if code != http.StatusAccepted || body["accepted"] != 1.0 || body["duplicates"] != 1.0 {
		t.Errorf("retry = %d %v, want 202 with 1 duplicate", code, body)
	}

	code, _, body = post(t, u, "application/json", "["+ev("a", "")+","+ev("b", `, "attributes": {"n": {}}`)+"]")
	if code != http.StatusBadRequest || body["index"] != 1.0 || body["field"] != "attributes.n" || body["expected"] == nil || body["error"] == nil {
		t.Errorf("invalid event = %d %v, want 400 naming index 1, attributes.n", code, body)
	}
	code, _, body = post(t, u, "application/json", "["+strings.Repeat(ev("a", "")+",", 10)+ev("a", "")+"]")
	if code != http.StatusRequestEntityTooLarge || body["error"] == nil {
		t.Errorf("11 events = %d %v, want 413", code, body)
	}
	code, _, body = post(t, u, "application/json", ev("a", `, "attributes": {"x": "`+strings.Repeat("y", 9000)+`"}`))
	if code != http.StatusRequestEntityTooLarge || body["error"] == nil {
		t.Errorf("9 KB body = %d %v, want 413", code, body)
	}
	code, _, body = post(t, u, "text/plain", ev("a", ""))
	if code != http.StatusUnsupportedMediaType || body["expected"] == nil {
		t.Errorf("text/plain = %d %v, want 415", code, body)
	}
	evs, err := st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil || len(evs) != 2 {
		t.Errorf("stored %d events (%v), want the 2 accepted", len(evs), err)
	}
}

// refusal is a retryable refusal, as the pipeline returns when saturated.
type refusal struct{}

func (refusal) Error() string             { return "full" }
func (refusal) HTTPStatus() int           { return http.StatusServiceUnavailable }
func (refusal) RetryAfter() time.Duration { return 1500 * time.Millisecond }
func (refusal) MarshalJSON() ([]byte, error) {
	return []byte(`{"error": "the ingestion pipeline is full; retry later"}`), nil
}

type refusingIngester struct{ err error }

func (r refusingIngester) IngestEvents(ctx context.Context, _ string, body io.Reader) (int, int, error) {
	return 0, 0, r.err
}

func TestPostEventsRefusals(t *testing.T) {
	srv, _ := eventServer(t, refusingIngester{fmt.Errorf("wrapped: %w", refusal{})})
	code, hdr, body := post(t, srv.URL+"/api/v1/events", "application/json", ev("a", ""))
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "2" || !strings.Contains(fmt.Sprint(body["error"]), "full") {
		t.Errorf("refusal = %d, Retry-After %q, %v; want 503, 2 (rounded up), the error", code, hdr.Get("Retry-After"), body)
	}
	srv, _ = eventServer(t, refusingIngester{fmt.Errorf("disk on fire")})
	code, _, body = post(t, srv.URL+"/api/v1/events", "application/json", ev("a", ""))
	if code != http.StatusInternalServerError || strings.Contains(fmt.Sprint(body), "fire") {
		t.Errorf("internal error = %d %v, want 500 without the cause", code, body)
	}
}

func TestListEventsPagesWithCursor(t *testing.T) {
	srv, st := eventServer(t, nil)
	base := time.Now().UTC().Add(-time.Hour)
	var evs []event.Event
	for i := range 25 {
		sev := event.SeverityInfo
		if i%5 == 0 {
			sev = event.SeverityHigh
		}
		src := "shop"
		if i%2 == 1 {
			src = "auth"
		}
		evs = append(evs, event.Event{ID: fmt.Sprintf("e%02d", i), Time: base.Add(time.Duration(i/2) * time.Second),
			Source: src, Kind: "auth.failure", Fingerprint: "f", Severity: sev})
	}
	if _, err := st.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	list := func(query string) (int, api.EventPage, map[string]string) {
		resp, err := http.Get(srv.URL + "/api/v1/events?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var page api.EventPage
		var e map[string]string
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &page); err != nil {
				t.Fatal(err)
			}
		} else {
			_ = json.Unmarshal(b, &e)
		}
		return resp.StatusCode, page, e
	}
	var ids []string
	query := "limit=7"
	for range 10 {
		code, page, _ := list(query)
		if code != http.StatusOK {
			t.Fatalf("GET ?%s = %d", query, code)
		}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		if page.NextCursor == "" {
			break
		}
		query = "limit=7&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if len(ids) != 25 || ids[0] != "e24" || ids[24] != "e00" {
		t.Errorf("paged ids = %v, want all 25 newest first", ids)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("id %s listed twice", id)
		}
		seen[id] = true
	}
	code, page, _ := list("severity=high&source=shop&since=" + url.QueryEscape(base.Add(2*time.Second).Format(time.RFC3339Nano)))
	if code != http.StatusOK || len(page.Events) != 2 || page.Events[0].ID != "e20" || page.Events[1].ID != "e10" {
		t.Errorf("filtered = %d %+v, want e20, e10", code, page.Events)
	}
	for _, q := range []struct{ query, param string }{
		{"since=yesterday", "since"},
		{"until=2025-13-01T00:00:00Z", "until"},
		{"since=2025-03-02T00:00:00Z&until=2025-03-01T00:00:00Z", "until"},
		{"severity=urgent", "severity"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=x", "limit"},
		{"cursor=garbage!", "cursor"},
		{"cursor=" + api.EncodeCursor(api.EventCursor{Time: base})[:6], "cursor"},
		{"kind=a%20b", "kind"},
		{"source=" + strings.Repeat("s", 65), "source"},
		{"limit=1&limit=2", "limit"},
		{"monitor=x", "query"},
	} {
		code, _, e := list(q.query)
		if code != http.StatusBadRequest || e["param"] != q.param || !strings.HasPrefix(e["error"], q.param+": ") {
			t.Errorf("GET ?%s = %d %v, want 400 naming %s", q.query, code, e, q.param)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := api.EventCursor{Time: time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC), ID: "id:with:colons"}
	got, err := api.DecodeCursor(api.EncodeCursor(c))
	if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
		t.Errorf("round trip = %+v, %v; want %+v", got, err, c)
	}
	for _, s := range []string{"", "x", "djE6", "djE6MTIz", "djI6MTIzOmE"} {
		if _, err := api.DecodeCursor(s); err == nil {
			t.Errorf("DecodeCursor(%q) succeeded", s)
		}
	}
}

func TestEventRoutesNeedTheirRoles(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	g := newGuarded(t, api.Options{Ingest: refusingIngester{refusal{}}, Events: storeReader{st}})
	ingest, viewer := g.key(t, auth.RoleIngest), g.key(t, auth.RoleViewer)
	for _, tc := range []struct {
		method string
		key    *auth.NewKey
		want   int
	}{
		{"GET", nil, http.StatusUnauthorized},
		{"POST", nil, http.StatusUnauthorized},
		{"GET", &ingest, http.StatusForbidden},
		{"POST", &viewer, http.StatusForbidden},
		{"GET", &viewer, http.StatusOK},
		{"POST", &ingest, http.StatusServiceUnavailable}, // through the guard to the (refusing) ingester
	} {
		if code, _, body := g.do(t, tc.method, "/api/v1/events", tc.key); code != tc.want {
			t.Errorf("%s /api/v1/events with %v = %d %s, want %d", tc.method, tc.key != nil, code, body, tc.want)
		}
	}
}

// gatedStore holds AppendEvents until the gate opens.
type gatedStore struct {
	siem.EventStore
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) AppendEvents(ctx context.Context, evs []event.Event) ([]bool, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.EventStore.AppendEvents(ctx, evs)
}

// TestPostEventsSaturated fills a one-request pipeline whose store is
// stuck: the next request gets 503 with Retry-After at once, and the
// accepted one is stored once the store moves again.
func TestPostEventsSaturated(t *testing.T) {
	st := storetest.OpenURL(t, storetest.SQLiteURL(t))
	gs := &gatedStore{EventStore: st, entered: make(chan struct{}, 8), gate: make(chan struct{})}
	cls, err := siem.NewClassifier(context.Background(), siem.ClassifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := siem.NewPipeline(siem.PipelineOptions{Store: gs, Classifier: cls, QueueSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close(context.Background()) }()
	srv, _ := eventServer(t, pipelineIngester{p})
	u := srv.URL + "/api/v1/events"
	first := make(chan int, 1)
	held := ev("deploy", `, "id": "held"`)
	go func() {
		resp, err := http.Post(u, "application/json", strings.NewReader(held))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-gs.entered
	code, hdr, body := post(t, u, "application/json", ev("deploy", `, "id": "refused"`))
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "1" || body["error"] == nil {
		t.Errorf("second request = %d, Retry-After %q, %v; want 503 with Retry-After: 1", code, hdr.Get("Retry-After"), body)
	}
	close(gs.gate)
	if code := <-first; code != http.StatusAccepted {
		t.Errorf("held request = %d, want 202", code)
	}
	evs, err := st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil || len(evs) != 1 {
		t.Errorf("stored %d events (%v), want only the accepted one", len(evs), err)
	}
}
