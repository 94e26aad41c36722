package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
)

// asKey lets every request through as the key "ops" (id opsk1): the
// handlers' use of the principal is tested here, the guard's role checks
// in internal/app with real keys.
type asKey struct{}

func (asKey) Require(role auth.Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.Principal{KeyID: "opsk1", Name: "ops", Role: role, Signed: true}
		h.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}

// noTier is never asked: the tests create their incidents in the store.
type noTier struct{}

func (noTier) Tier(context.Context, incident.TierInput) (incident.Tier, error) {
	return incident.TierMinor, nil
}

type actionsAPI struct {
	srv *httptest.Server
	st  store.Store
	now time.Time
}

func newActionsAPI(t *testing.T) *actionsAPI {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), store.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sil, err := incident.NewSilences(incident.SilencesOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := incident.New(incident.Options{Store: st, Tierer: noTier{}, Silences: sil})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.NewHandler(api.Options{Incidents: st, Ready: st.Ping, Auth: asKey{}, Actions: eng, Silences: sil})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &actionsAPI{srv: srv, st: st, now: time.Now()}
}

func (a *actionsAPI) incident(t *testing.T, fp string) int64 {
	t.Helper()
	inc, err := a.st.CreateIncident(context.Background(), incident.Incident{
		Fingerprint: fp, Title: "t", Monitor: "api", Category: "availability", Severity: event.SeverityHigh,
		Tier: incident.TierMajor, OpenedAt: a.now,
	}, incident.Entry{Time: a.now, Actor: "test", Kind: incident.KindOpened})
	if err != nil {
		t.Fatal(err)
	}
	return inc.ID
}

// post sends body (raw JSON, "" for none) and decodes the answer into v.
func (a *actionsAPI) post(t *testing.T, path, body string, v any) (int, string) {
	t.Helper()
	resp, err := http.Post(a.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("POST %s: %v: %s", path, err, raw)
		}
	}
	return resp.StatusCode, string(raw)
}

func TestIncidentActionsAPI(t *testing.T) {
	a := newActionsAPI(t)
	id := a.incident(t, "fp")
	p := "/api/v1/incidents/" + itoa(id)

	var res api.ActionResult
	if code, raw := a.post(t, p+"/ack", `{"comment": "on it"}`, &res); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, raw)
	}
	if res.Incident.Status != incident.StatusAcknowledged || res.Entry.Kind != incident.KindAcknowledged || res.Entry.Actor != "api:ops" {
		t.Errorf("ack result = %+v", res)
	}
	if code, raw := a.post(t, p+"/ack", "", nil); code != http.StatusConflict || !strings.Contains(raw, "already acknowledged") {
		t.Errorf("second ack: %d %s, want 409 saying why", code, raw)
	}
	if code, raw := a.post(t, p+"/resolve", "", &res); code != http.StatusOK || res.Incident.Status != incident.StatusResolved {
		t.Fatalf("resolve (no body): %d %s", code, raw)
	}
	if code, _ := a.post(t, p+"/resolve", `{}`, nil); code != http.StatusConflict {
		t.Errorf("second resolve: %d, want 409", code)
	}
	if code, raw := a.post(t, p+"/notes", `{"text": "post-mortem PM-9"}`, &res); code != http.StatusCreated || res.Entry.Kind != incident.KindNote {
		t.Errorf("note: %d %s", code, raw)
	}
	if code, raw := a.post(t, p+"/reopen", `{"comment": "back"}`, &res); code != http.StatusOK || res.Incident.Status != incident.StatusOpen {
		t.Errorf("reopen: %d %s", code, raw)
	}

	// Reopening while another incident holds the fingerprint: 409.
	a.post(t, p+"/resolve", "", nil)
	other := a.incident(t, "fp")
	if code, raw := a.post(t, p+"/reopen", "", nil); code != http.StatusConflict || !strings.Contains(raw, "incident "+itoa(other)) {
		t.Errorf("reopen with a duplicate open: %d %s", code, raw)
	}

	tl, err := a.st.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tl {
		got = append(got, e.Kind)
	}
	want := []string{incident.KindOpened, incident.KindAcknowledged, incident.KindResolved, incident.KindNote, incident.KindReopened, incident.KindResolved}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("timeline = %v, want %v", got, want)
	}
}

func TestIncidentActionsAPIBadRequests(t *testing.T) {
	a := newActionsAPI(t)
	p := "/api/v1/incidents/" + itoa(a.incident(t, "bad"))
	for _, tc := range []struct {
		path, body string
		code       int
		says       string
	}{
		{p + "/notes", "", http.StatusBadRequest, "body"},
		{p + "/notes", `{"text": "  "}`, http.StatusBadRequest, "text:"},
		{p + "/notes", `{"text": "` + strings.Repeat("x", incident.MaxNoteBytes+1) + `"}`, http.StatusBadRequest, "text:"},
		{p + "/notes", `{"txt": "hello"}`, http.StatusBadRequest, `unknown field \"txt\"`},
		{p + "/notes", `{"text": 3}`, http.StatusBadRequest, "field text"},
		{p + "/notes", `{"text": "a"} {"text": "b"}`, http.StatusBadRequest, "exactly one"},
		{p + "/ack", `{"comment": `, http.StatusBadRequest, "JSON"},
		{p + "/ack", `{"comment": "` + strings.Repeat("y", 40000) + `"}`, http.StatusRequestEntityTooLarge, "larger than"},
		{"/api/v1/incidents/abc/ack", "", http.StatusBadRequest, "id"},
		{"/api/v1/incidents/0/resolve", "", http.StatusBadRequest, "id"},
		{"/api/v1/incidents/424242/ack", "", http.StatusNotFound, "incident 424242 not found"},
		{"/api/v1/incidents/424242/notes", `{"text": "x"}`, http.StatusNotFound, "not found"},
	} {
		code, raw := a.post(t, tc.path, tc.body, nil)
		if code != tc.code || !strings.Contains(raw, tc.says) {
			t.Errorf("POST %s %.40q: %d %s; want %d saying %q", tc.path, tc.body, code, raw, tc.code, tc.says)
		}
	}
}

func TestSilencesAPI(t *testing.T) {
	a := newActionsAPI(t)
	var created incident.Silence
	code, raw := a.post(t, "/api/v1/silences", `{"monitors": ["api"], "duration": "2h", "comment": "failover drill"}`, &created)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, raw)
	}
	if created.ID == 0 || created.CreatedBy != "api:ops" || created.EndsAt.Sub(created.StartsAt) != 2*time.Hour {
		t.Errorf("created = %+v", created)
	}
	var list []incident.Silence
	if code, _ := get(t, a.srv.URL+"/api/v1/silences", &list); code != http.StatusOK || len(list) != 1 || list[0].ID != created.ID {
		t.Errorf("list = %d %+v", code, list)
	}
	for _, tc := range []struct {
		body, says string
	}{
		{`{"monitors": ["api"], "duration": "2h"}`, "comment"},
		{`{"duration": "2h", "comment": "x"}`, "monitor"},
		{`{"monitors": ["api"], "comment": "x"}`, "ends_at or duration"},
		{`{"monitors": ["api"], "duration": "soon", "comment": "x"}`, "duration"},
		{`{"monitors": ["api"], "duration": "-2h", "comment": "x"}`, "duration"},
		{`{"monitors": ["api"], "duration": "2h", "ends_at": "2030-01-01T00:00:00Z", "comment": "x"}`, "not both"},
		{`{"monitors": ["api"], "ends_at": "tomorrow", "comment": "x"}`, "RFC 3339"},
		{`{"monitors": ["api"], "duration": "90d", "comment": "x"}`, "more than"},
		{`{"monitors": ["api"], "ends_at": "2001-01-01T00:00:00Z", "comment": "x"}`, "not in the future"},
	} {
		if code, raw := a.post(t, "/api/v1/silences", tc.body, nil); code != http.StatusBadRequest || !strings.Contains(raw, tc.says) {
			t.Errorf("create %s: %d %s; want 400 saying %q", tc.body, code, raw, tc.says)
		}
	}

	ep := "/api/v1/silences/" + itoa(created.ID) + "/expire"
	var expired incident.Silence
	if code, raw := a.post(t, ep, "", &expired); code != http.StatusOK || expired.ExpiredBy != "api:ops" {
		t.Errorf("expire: %d %s", code, raw)
	}
	if code, _ := a.post(t, ep, "", nil); code != http.StatusConflict {
		t.Errorf("second expire: %d, want 409", code)
	}
	if code, _ := a.post(t, "/api/v1/silences/999/expire", "", nil); code != http.StatusNotFound {
		t.Errorf("expire unknown: %d, want 404", code)
	}
	if code, _ := get(t, a.srv.URL+"/api/v1/silences", &list); code != http.StatusOK || len(list) != 0 {
		t.Errorf("list after expiry = %+v", list)
	}
	if code, _ := get(t, a.srv.URL+"/api/v1/silences?all=true", &list); code != http.StatusOK || len(list) != 1 {
		t.Errorf("list all = %+v", list)
	}
	if code, _ := get(t, a.srv.URL+"/api/v1/silences?all=maybe", nil); code != http.StatusBadRequest {
		t.Errorf("all=maybe: %d, want 400", code)
	}
}
