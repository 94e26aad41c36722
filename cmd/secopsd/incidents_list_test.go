package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store/storetest"
)

// TestIncidentsListFilters: `incidents list --severity --tier` lists only
// the matching incidents (the store filters), and a bad value is a usage
// error naming the flag.
func TestIncidentsListFilters(t *testing.T) {
	dir := t.TempDir()
	storeURL := "sqlite://" + filepath.Join(dir, "secopsd.db")
	cfg := writeFile(t, dir, "secopsd.yaml", fmt.Sprintf("store:\n  url: %q\n", storeURL))
	st := storetest.OpenURL(t, storeURL)
	now := time.Now()
	var ids []int64
	for i, spec := range []struct {
		sev  event.Severity
		tier incident.Tier
	}{
		{event.SeverityHigh, incident.TierMajor},
		{event.SeverityCritical, incident.TierCritical},
		{event.SeverityHigh, incident.TierMinor},
		{event.SeverityMedium, incident.TierMinor},
	} {
		inc, err := st.CreateIncident(context.Background(), incident.Incident{Fingerprint: fmt.Sprintf("list-%d", i),
			Title: "t", Monitor: "api", Severity: spec.sev, Tier: spec.tier, OpenedAt: now},
			incident.Entry{Time: now, Actor: incident.ActorEngine, Kind: incident.KindOpened})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inc.ID)
	}
	for _, tc := range []struct {
		args []string
		want []int64
	}{
		{nil, []int64{ids[3], ids[2], ids[1], ids[0]}},
		{[]string{"--severity", "high"}, []int64{ids[2], ids[0]}},
		{[]string{"--severity", "Critical"}, []int64{ids[1]}},
		{[]string{"--tier", "MINOR"}, []int64{ids[3], ids[2]}},
		{[]string{"--tier", "major"}, []int64{ids[0]}},
		{[]string{"--severity", "high", "--tier", "MINOR"}, []int64{ids[2]}},
		{[]string{"--severity", "low"}, nil},
	} {
		args := append([]string{"incidents", "list", "--json", "--config", cfg}, tc.args...)
		code, out, errOut := cli(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", tc.args, code, errOut)
		}
		var list []incident.Incident
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("%v: %v in %q", tc.args, err, out)
		}
		var got []int64
		for _, inc := range list {
			got = append(got, inc.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: listed %v, want %v", tc.args, got, tc.want)
		}
	}
	// The table shows the filtered incidents too.
	code, out, errOut := cli(t, "incidents", "list", "--severity", "critical", "--config", cfg)
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "CRITICAL") || strings.Contains(out, "MINOR") {
		t.Errorf("table: %d %q %q; want the header and one critical incident", code, out, errOut)
	}
	for flag, value := range map[string]string{"--severity": "severe", "--tier": "urgent"} {
		code, _, errOut := cli(t, "incidents", "list", flag, value, "--config", cfg)
		if code != 2 || !strings.Contains(errOut, flag+` "`+value+`"`) {
			t.Errorf("%s %s: exit %d %q; want 2 naming the flag", flag, value, code, errOut)
		}
	}
}
