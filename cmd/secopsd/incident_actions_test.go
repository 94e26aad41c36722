package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// actionsConfig writes a configuration on a fresh SQLite store holding one
// open incident, and returns the file and the incident's id.
func actionsConfig(t *testing.T) (string, int64, func() []incident.TimelineEntry) {
	t.Helper()
	dir := t.TempDir()
	storeURL := "sqlite://" + filepath.Join(dir, "secopsd.db")
	cfg := writeFile(t, dir, "secopsd.yaml", fmt.Sprintf("store:\n  url: %q\n", storeURL))
	st := storetest.OpenURL(t, storeURL)
	now := time.Now()
	inc, err := st.CreateIncident(context.Background(), incident.Incident{Fingerprint: "cli-fp", Title: "api down", Monitor: "api",
		Category: "availability", Severity: event.SeverityHigh, Tier: incident.TierMajor, OpenedAt: now},
		incident.Entry{Time: now, Actor: incident.ActorEngine, Kind: incident.KindOpened})
	if err != nil {
		t.Fatal(err)
	}
	timeline := func() []incident.TimelineEntry {
		tl, err := st.Timeline(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	return cfg, inc.ID, timeline
}

func TestIncidentActionsFromTheCLI(t *testing.T) {
	cfg, id, timeline := actionsConfig(t)
	ids := fmt.Sprint(id)

	code, out, errOut := cli(t, "incidents", "ack", ids, "--comment", "on it", "--actor", "cli:alice", "--config", cfg)
	if code != 0 || !strings.Contains(out, "incident "+ids+" acknowledged by cli:alice") {
		t.Fatalf("ack: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli(t, "incidents", "ack", ids, "--config", cfg); code != 1 || !strings.Contains(errOut, "already acknowledged") {
		t.Errorf("second ack: %d %q; want 1 saying why", code, errOut)
	}
	const secret = "ghp_R8x2Kq7Lm3Nv9Pw4Tz6Yb1Hc5Jd0Fg8Sa2Ue"
	if code, out, errOut := cli(t, "incidents", "note", ids, "rotated", secret, "--actor", "cli:alice", "--config", cfg); code != 0 || !strings.Contains(out, "noted") {
		t.Fatalf("note: %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli(t, "incidents", "resolve", ids, "--json", "--config", cfg)
	var res api.ActionResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("resolve --json: %d %q %q", code, out, errOut)
	}
	if res.Incident.Status != incident.StatusResolved || !strings.HasPrefix(res.Entry.Actor, "cli") {
		t.Errorf("resolve result = %+v; want resolved by the OS user", res)
	}
	if code, out, errOut := cli(t, "incidents", "reopen", ids, "--comment", "flapping", "--config", cfg); code != 0 || !strings.Contains(out, "status open") {
		t.Errorf("reopen: %d %q %q", code, out, errOut)
	}

	tl := timeline()
	var got []string
	for _, e := range tl {
		got = append(got, e.Kind)
		if strings.Contains(string(e.Payload), secret) {
			t.Errorf("entry %d holds the secret: %s", e.Seq, e.Payload)
		}
	}
	want := []string{incident.KindOpened, incident.KindAcknowledged, incident.KindNote, incident.KindResolved, incident.KindReopened}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	if !strings.Contains(string(tl[2].Payload), "[REDACTED:github-token]") || tl[2].Actor != "cli:alice" {
		t.Errorf("note entry = %s by %s", tl[2].Payload, tl[2].Actor)
	}

	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"incidents", "ack", "999"}, 1, "incident 999 not found"},
		{[]string{"incidents", "ack", "abc"}, 2, "not an incident ID"},
		{[]string{"incidents", "ack"}, 2, "want an incident ID"},
		{[]string{"incidents", "resolve", ids, "extra"}, 2, "--comment"},
		{[]string{"incidents", "note", ids}, 2, "text"},
		{[]string{"incidents", "note", ids, "x", "--text", "y"}, 2, "not both"},
		{[]string{"incidents", "note", ids, "x", "--comment", "y"}, 2, "--text"},
		{[]string{"incidents", "note", ids, "bad \x1b[31m text"}, 2, "control character"},
		{[]string{"incidents", "ack", ids, "--actor", "a\tb"}, 2, "actor"},
		{[]string{"incidents", "frobnicate"}, 2, "unknown subcommand"},
	} {
		code, _, errOut := cli(t, append(tc.args, "--config", cfg)...)
		if code != tc.code || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v: %d %q; want %d saying %q", tc.args, code, errOut, tc.code, tc.says)
		}
	}
}

func TestSilencesFromTheCLI(t *testing.T) {
	cfg, _, _ := actionsConfig(t)
	code, out, errOut := cli(t, "silence", "add", "--monitor", "api", "--category", "availability,tls", "--duration", "2h",
		"--comment", "failover drill", "--actor", "cli:alice", "--json", "--config", cfg)
	var sil incident.Silence
	if code != 0 || json.Unmarshal([]byte(out), &sil) != nil {
		t.Fatalf("silence add: %d %q %q", code, out, errOut)
	}
	if sil.ID == 0 || sil.CreatedBy != "cli:alice" || len(sil.Categories) != 2 || sil.EndsAt.Sub(sil.StartsAt) != 2*time.Hour {
		t.Errorf("silence = %+v", sil)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--monitor", "api", "--comment", "x"}, "--duration or --until"},
		{[]string{"--monitor", "api", "--comment", "x", "--duration", "2h", "--until", "2030-01-01T00:00:00Z"}, "one of them"},
		{[]string{"--duration", "2h", "--comment", "x"}, "monitor"},
		{[]string{"--monitor", "api", "--duration", "2h"}, "comment"},
		{[]string{"--monitor", "api", "--duration", "soon", "--comment", "x"}, "--duration"},
		{[]string{"--monitor", "api", "--duration", "40d", "--comment", "x"}, "more than"},
		{[]string{"--monitor", "api", "--until", "yesterday", "--comment", "x"}, "--until"},
	} {
		code, _, errOut := cli(t, append(append([]string{"silence", "add"}, tc.args...), "--config", cfg)...)
		if code != 2 || !strings.Contains(errOut, tc.says) {
			t.Errorf("silence add %v: %d %q; want 2 saying %q", tc.args, code, errOut, tc.says)
		}
	}
	code, out, _ = cli(t, "silence", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, sil.Ref()) || !strings.Contains(out, "active") || !strings.Contains(out, "failover drill") {
		t.Errorf("silence list: %d %q", code, out)
	}
	ids := fmt.Sprint(sil.ID)
	if code, out, errOut := cli(t, "silence", "expire", ids, "--actor", "cli:bob", "--config", cfg); code != 0 || !strings.Contains(out, "expired by cli:bob") {
		t.Fatalf("silence expire: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli(t, "silence", "expire", "silence:"+ids, "--config", cfg); code != 1 || !strings.Contains(errOut, "already ended") {
		t.Errorf("second expire: %d %q", code, errOut)
	}
	if code, _, errOut := cli(t, "silence", "expire", "999", "--config", cfg); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("expire unknown: %d %q", code, errOut)
	}
	if code, _, _ := cli(t, "silence", "expire", "db-upgrade", "--config", cfg); code != 2 {
		t.Errorf("expire by name: %d, want 2", code)
	}
	var list []incident.Silence
	if code, out, _ := cli(t, "silence", "list", "--json", "--config", cfg); code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 0 {
		t.Errorf("silence list after expiry: %d %q", code, out)
	}
	if code, out, _ := cli(t, "silence", "list", "--all", "--json", "--config", cfg); code != 0 || json.Unmarshal([]byte(out), &list) != nil ||
		len(list) != 1 || list[0].ExpiredBy != "cli:bob" {
		t.Errorf("silence list --all: %d %q", code, out)
	}
	if code, _, _ := cli(t, "silence", "--config", cfg); code != 2 {
		t.Errorf("silence without a subcommand: %d, want 2", code)
	}
}
