package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/retention"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// retentionDaemon starts a daemon without monitors on storeURL, with the
// extra YAML appended and clock (nil: the wall clock) as its clock, and
// stops it when the test ends.
func retentionDaemon(t *testing.T, storeURL, extra string, clock incident.Clock, log io.Writer) *app.App {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("listen: 127.0.0.1:0\nstore:\n  url: %q\npolicies: ../../policies\n%s", storeURL, extra)), "retention.yaml")
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	if log == nil {
		log = io.Discard
	}
	a, err := app.New(context.Background(), app.Options{Config: cfg, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return a
}

func TestDaemonPurgeIsRecordedAndEmittedSQLite(t *testing.T) {
	runDaemonPurge(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
}

func TestDaemonPurgeIsRecordedAndEmittedPostgres(t *testing.T) {
	runDaemonPurge(t, storetest.PostgresURL(t))
}

// runDaemonPurge: the daemon's purger, eight days after events arrived
// through the API, deletes them and the expired nonces, records each
// purge in the purge log, stores a secopsd.retention.purge event for each
// through the daemon's event path, and counts the rows in /metrics.
func runDaemonPurge(t *testing.T, storeURL string) {
	var logs syncLog
	later := incident.ClockFunc(func() time.Time { return time.Now().Add(8 * 24 * time.Hour) })
	a := retentionDaemon(t, storeURL, "", later, &logs)
	ctx := context.Background()
	ingest, viewer := ingestKey(t, a, auth.RoleIngest), ingestKey(t, a, auth.RoleViewer)
	// The last event also opens a group of the default correlation rule
	// admin_access_probing (by ip): correlation state to purge.
	body := appEvent("deploy", "") + "\n" + appEvent("deploy", "") + "\n" + appEvent("admin.access_denied", `, "attributes": {"ip": "192.0.2.9"}`)
	if code, _ := call(t, http.MethodPost, "http://"+a.Addr()+"/api/v1/events", ingest, "application/x-ndjson", body, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	now := time.Now()
	for i := range 2 {
		if _, err := a.Store().ClaimNonce(ctx, "keyaaaaaaaaa", fmt.Sprintf("expired-nonce-%08d", i), now.Add(-20*time.Minute), now.Add(-10*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// A web UI session that ended (idle and past its expiry at the
	// daemon's clock) and one still live then.
	for i, seen := range []time.Time{now, later.Now().Add(-time.Minute)} {
		if err := a.Store().CreateUISession(ctx, store.UISession{IDHash: strings.Repeat(fmt.Sprint(i), 64), KeyID: "k", Role: "viewer",
			CreatedAt: now, LastSeenAt: seen, ExpiresAt: now.Add(time.Duration(i*9+1) * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := a.Store().CountEventsBefore(ctx, now.Add(time.Hour))
	if err != nil || stored < 3 {
		t.Fatalf("%d events stored (%v), want at least 3", stored, err)
	}

	rep, err := a.Purger().RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	got := map[string]retention.Result{}
	for _, r := range rep.Results {
		got[r.DataType] = r
	}
	if r := got[retention.DataEvents]; r.Deleted != stored || r.RecordID == 0 {
		t.Errorf("events: %+v, want %d deleted and recorded", r, stored)
	}
	if r := got[retention.DataNonces]; r.Deleted != 2 || r.RecordID == 0 {
		t.Errorf("nonces: %+v, want 2 deleted and recorded", r)
	}
	if r := got[retention.DataCorrelationState]; r.Deleted < 1 || r.RecordID == 0 {
		t.Errorf("correlation state: %+v, want its group purged and recorded", r)
	}
	if r := got[retention.DataUISessions]; r.Deleted != 1 || r.RecordID == 0 || r.Retention != "30m" {
		t.Errorf("ui sessions: %+v, want the ended one purged and recorded", r)
	}
	if _, err := a.Store().GetUISession(ctx, strings.Repeat("1", 64)); err != nil {
		t.Errorf("the live ui session was purged: %v", err)
	}

	recs, err := a.Store().ListPurges(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]retention.Record{}
	for _, r := range recs {
		recorded[r.DataType] = r
	}
	if r := recorded[retention.DataEvents]; r.Deleted != stored || r.Actor != "secopsd" {
		t.Errorf("events purge record = %+v", r)
	}
	if r := recorded[retention.DataNonces]; r.Deleted != 2 {
		t.Errorf("nonces purge record = %+v", r)
	}
	if r := recorded[retention.DataCorrelationState]; r.Deleted < 1 {
		t.Errorf("correlation state purge record = %+v", r)
	}

	evs, err := a.Store().ListEvents(ctx, store.EventFilter{Kind: retention.EventKind})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(recs) {
		t.Fatalf("%d purge events stored, want one per record (%d): %+v", len(evs), len(recs), evs)
	}
	for _, ev := range evs {
		rec := recorded[ev.Attributes["data_type"]]
		if ev.Source != "secopsd" || ev.Severity != event.SeverityInfo || ev.OpenIncident ||
			ev.Attributes["purge_id"] != fmt.Sprint(rec.ID) || ev.Attributes["deleted"] != fmt.Sprint(rec.Deleted) {
			t.Errorf("purge event %+v does not match its record %+v", ev, rec)
		}
	}
	if left, _ := a.Store().CountEventsBefore(ctx, now.Add(time.Hour)); left != int64(len(evs)) {
		t.Errorf("%d events left, want only the %d purge events", left, len(evs))
	}

	var metrics string
	resp, err := authGet(t, "http://"+a.Addr()+"/metrics", viewer)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics = string(b)
	for _, want := range []string{
		fmt.Sprintf(`secopsd_retention_purged_rows_total{data_type="events"} %d`, stored),
		`secopsd_retention_purged_rows_total{data_type="nonces"} 2`,
		`secopsd_retention_purges_total{data_type="events",outcome="ok"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(logs.String(), "retention purge") {
		t.Error("the purge was not logged")
	}
}

// TestRecorderFallbackMinimizes: when the pipeline refuses the daemon's
// own events, the fallback that stores them directly minimizes them with
// the pipeline's minimizer: no secret in any attribute is persisted.
func TestRecorderFallbackMinimizes(t *testing.T) {
	var logs syncLog
	a := retentionDaemon(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), "siem:\n  attributes:\n    deny: [internal_ref]\n", nil, &logs)
	ctx := context.Background()
	if err := a.Pipeline().Close(ctx); err != nil {
		t.Fatal(err)
	}
	secret := "ghp_" + "x7Kd2PqL9mZt" + "4Rb8Wn3Yc6Hf" + "1Jg5Sv0Ae2Qo" // built here, not a literal token
	attrs := map[string]string{
		"ip":            "192.0.2.7",
		"route":         "GET /api/v1/incidents?t=" + secret,
		"session_token": secret,
		"password":      "correct-horse-battery",
		"internal_ref":  "case 4711",
	}
	ev := event.Event{ID: "fallback-1", Time: time.Now(), Source: "secopsd", Kind: auth.KindAuthFailure,
		Fingerprint: "fallback-fp", Title: "failed with " + secret, Attributes: attrs}
	if err := app.RecordEvents(ctx, a, ev); err != nil {
		t.Fatalf("RecordEvents: %v", err)
	}
	if !strings.Contains(logs.String(), "storing them directly") {
		t.Fatalf("the fallback was not taken; log:\n%s", logs.String())
	}
	if attrs["password"] == "" || attrs["session_token"] != secret {
		t.Error("the caller's attributes were changed")
	}
	evs, err := a.Store().ListEvents(ctx, store.EventFilter{Kind: auth.KindAuthFailure})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events stored, want 1", len(evs))
	}
	got := evs[0]
	for _, k := range []string{"session_token", "password", "internal_ref"} {
		if _, ok := got.Attributes[k]; ok {
			t.Errorf("attribute %s was stored", k)
		}
	}
	if got.Attributes["ip"] != "192.0.2.7" || !strings.Contains(got.Attributes["route"], "[REDACTED") ||
		got.Attributes["minimized_dropped"] != "3" || got.Attributes["minimized_redacted"] != "2" {
		t.Errorf("stored attributes %v, title %q", got.Attributes, got.Title)
	}
	all := fmt.Sprintf("%+v", evs) + logs.String()
	for _, s := range []string{secret, "correct-horse-battery", "case 4711"} {
		if strings.Contains(all, s) {
			t.Errorf("%q was persisted or logged", s)
		}
	}
	// Recording the same event again (the pipeline stored it after all)
	// is not an error.
	if err := app.RecordEvents(ctx, a, ev); err != nil {
		t.Errorf("recording a stored event again: %v", err)
	}
}

// TestNonceLifeIsTheConfiguredRetention: retention.nonces, not a constant
// of the auth package, sets how long a signed request's nonce is kept.
func TestNonceLifeIsTheConfiguredRetention(t *testing.T) {
	a := retentionDaemon(t, "sqlite://"+filepath.Join(t.TempDir(), "s.db"), "retention:\n  nonces: 15m\n", nil, nil)
	admin := newKey(t, a, auth.RoleAdmin)
	now := time.Now()
	if code, body := sign(t, admin, http.MethodGet, "/api/v1/incidents", nil, now, "").send(t, a.Addr()); code != http.StatusOK {
		t.Fatalf("signed request: %d %s", code, body)
	}
	ctx := context.Background()
	if n, err := a.Store().CountExpiredNonces(ctx, time.Now().Add(14*time.Minute)); err != nil || n != 0 {
		t.Errorf("nonces expired after 14m: %d, %v; want 0", n, err)
	}
	if n, err := a.Store().CountExpiredNonces(ctx, time.Now().Add(15*time.Minute+time.Second)); err != nil || n != 1 {
		t.Errorf("nonces expired after 15m: %d, %v; want 1", n, err)
	}
}

// TestRetentionMinimumIsTheSignatureWindow keeps the configuration's
// least nonce retention equal to what internal/auth needs.
func TestRetentionMinimumIsTheSignatureWindow(t *testing.T) {
	if config.MinRetentionNonces != auth.NonceTTL || config.DefaultRetentionNonces != auth.NonceTTL {
		t.Errorf("config nonce retention minimum %s / default %s, auth.NonceTTL %s", config.MinRetentionNonces, config.DefaultRetentionNonces, auth.NonceTTL)
	}
}
