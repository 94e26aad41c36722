package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/monitors"
)

func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &exitError{code: 1, msg: err.Error()}
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("run", stderr)
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: logger, Version: version})
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Std())
		defer cancel()
		_ = a.Stop(stopCtx)
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.Std().String())
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Std())
	defer cancel()
	return a.Stop(stopCtx)
}

// checkResult is one line of `secopsd check --json`.
type checkResult struct {
	Monitor    string            `json:"monitor"`
	Type       string            `json:"type"`
	Target     string            `json:"target"`
	Success    bool              `json:"success"`
	DurationMS float64           `json:"duration_ms"`
	Attempts   int               `json:"attempts"`
	Findings   any               `json:"findings"`
	Details    map[string]string `json:"details,omitempty"`
}

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("check", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	failOn := fs.String("fail-on", "", "exit 1 when a finding is at least this `severity` (default: the config's check.fail_on)")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *failOn == "" {
		*failOn = cfg.Check.FailOn
	}
	threshold, err := event.ParseSeverity(*failOn)
	if err != nil {
		return &exitError{code: 2, msg: "--fail-on: " + err.Error()}
	}
	logger := newLogger(cfg, stderr)
	results, err := app.Check(ctx, cfg, logger, version, names...)
	if err != nil {
		return err
	}
	failed := 0
	out := make([]checkResult, 0, len(results))
	for _, r := range results {
		if failsCheck(r, threshold) {
			failed++
		}
		findings := any(r.Findings)
		if r.Findings == nil {
			findings = []any{}
		}
		out = append(out, checkResult{
			Monitor: r.Monitor, Type: r.Type, Target: r.Target, Success: r.Success,
			DurationMS: float64(r.Duration.Microseconds()) / 1000, Attempts: r.Attempts,
			Findings: findings, Details: r.Details,
		})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MONITOR\tTYPE\tRESULT\tDURATION\tATTEMPTS\tDETAIL")
		for _, r := range results {
			res, detail := "PASS", ""
			if !r.Success {
				res = "WARN" // findings below the --fail-on threshold
				if failsCheck(r, threshold) {
					res = "FAIL"
				}
				var titles []string
				for _, f := range r.Findings {
					titles = append(titles, f.Severity.String()+": "+f.Title)
				}
				detail = strings.Join(titles, "; ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.Monitor, r.Type, res,
				r.Duration.Round(time.Millisecond), r.Attempts, detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d monitor(s) have findings at or above %s", failed, len(results), threshold)}
	}
	return nil
}

// failsCheck reports whether a result has a finding at or above threshold;
// a failed run without findings (the probe could not tell) always fails.
func failsCheck(r monitors.Result, threshold event.Severity) bool {
	if r.Success {
		return false
	}
	if len(r.Findings) == 0 {
		return true
	}
	for _, f := range r.Findings {
		if f.Severity >= threshold {
			return true
		}
	}
	return false
}

func openStore(ctx context.Context, cfgPath string, stderr io.Writer) (store.Store, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return app.OpenStore(ctx, cfg, newLogger(cfg, stderr), true)
}

func cmdIncidentsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("incidents list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	status := fs.String("status", "", "only incidents in this `status` (open, acknowledged, resolved)")
	severity := fs.String("severity", "", "only incidents of this `severity` (info, low, medium, high, critical)")
	tier := fs.String("tier", "", "only incidents of this `tier` (MINOR, MAJOR, CRITICAL)")
	limit := fs.Int("limit", 100, "at most this many incidents (1-1000)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	f := incident.Filter{Status: incident.Status(*status), Tier: incident.Tier(strings.ToUpper(*tier)), Limit: *limit}
	if *status != "" && !f.Status.Valid() {
		return &exitError{code: 2, msg: fmt.Sprintf("--status %q: want open, acknowledged or resolved", *status)}
	}
	if *severity != "" {
		sev, err := event.ParseSeverity(*severity)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("--severity %q: want info, low, medium, high or critical", *severity)}
		}
		f.Severities = []event.Severity{sev}
	}
	if *tier != "" && !f.Tier.Valid() {
		return &exitError{code: 2, msg: fmt.Sprintf("--tier %q: want MINOR, MAJOR or CRITICAL", *tier)}
	}
	if *limit < 1 || *limit > 1000 {
		return &exitError{code: 2, msg: fmt.Sprintf("--limit %d: want 1 to 1000", *limit)}
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListIncidents(ctx, f)
	if err != nil {
		return fmt.Errorf("list incidents: %w", err)
	}
	if *asJSON {
		if list == nil {
			list = []incident.Incident{}
		}
		return printJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tTIER\tOPENED\tRESOLVED\tTITLE")
	for _, inc := range list {
		resolved := "-"
		if inc.ResolvedAt != nil {
			resolved = inc.ResolvedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", inc.ID, inc.Status, inc.Severity, inc.Tier,
			inc.OpenedAt.Format(time.RFC3339), resolved, inc.Title)
	}
	return tw.Flush()
}

func cmdIncidentsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("incidents show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "incidents show: want exactly one incident ID"}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("incidents show: %q is not an incident ID (want a positive integer)", pos[0])}
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	inc, err := st.GetIncident(ctx, id)
	if errors.Is(err, incident.ErrNotFound) {
		return &exitError{code: 1, msg: fmt.Sprintf("incident %d not found", id)}
	}
	if err != nil {
		return fmt.Errorf("get incident %d: %w", id, err)
	}
	tl, err := st.Timeline(ctx, id)
	if err != nil {
		return fmt.Errorf("read timeline of incident %d: %w", id, err)
	}
	if tl == nil {
		tl = []incident.TimelineEntry{}
	}
	if *asJSON {
		return printJSON(stdout, api.IncidentDetail{Incident: inc, Timeline: tl})
	}
	fmt.Fprintf(stdout, "Incident %d: %s\n", inc.ID, inc.Title)
	fmt.Fprintf(stdout, "  status %s, severity %s, tier %s, monitor %s\n", inc.Status, inc.Severity, inc.Tier, inc.Monitor)
	fmt.Fprintf(stdout, "  opened %s", inc.OpenedAt.Format(time.RFC3339))
	if inc.ResolvedAt != nil {
		fmt.Fprintf(stdout, ", resolved %s", inc.ResolvedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "\n  fingerprint %s, %d failure(s)\n\nTimeline:\n", inc.Fingerprint, inc.Failures)
	chain := "intact"
	if verr := incident.VerifyChain(inc, tl); verr != nil {
		chain = "BROKEN: " + verr.Error()
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tKIND\tHASH")
	for _, e := range tl {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Actor, e.Kind, e.Hash[:min(12, len(e.Hash))])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nHash chain: %s\n", chain)
	return nil
}

func cmdTimelineVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("timeline verify", stderr)
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := incident.VerifyAll(ctx, st)
	if err != nil {
		return fmt.Errorf("verify timeline: %w", err)
	}
	if len(rep.Broken) > 0 {
		for _, b := range rep.Broken {
			fmt.Fprintln(stdout, "BROKEN "+b.Error())
		}
		first := rep.Broken[0]
		return &exitError{code: 1, msg: fmt.Sprintf("timeline verification failed: %d of %d incident(s) broken; first: incident %d, entry %d",
			len(rep.Broken), rep.Incidents, first.IncidentID, first.Seq)}
	}
	fmt.Fprintf(stdout, "ok: %d incident(s), %d timeline entries, every hash chain intact\n", rep.Incidents, rep.Entries)
	return nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("migrate", stderr)
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	st, err := app.OpenStore(ctx, cfg, newLogger(cfg, stderr), false)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to the %s store\n", n, st.Backend())
	return nil
}

func cmdPolicyTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("policy test", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) > 1 {
		return &exitError{code: 2, msg: "policy test: want at most one directory"}
	}
	dir := ""
	if len(pos) == 1 {
		dir = pos[0]
	} else if _, statErr := os.Stat(*cfgPath); statErr == nil {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		dir = cfg.Policies
	}
	passed, failed, err := app.PolicyTest(ctx, dir, stdout)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d policy test(s) failed", failed)}
	}
	fmt.Fprintf(stdout, "%d policy test(s) passed\n", passed)
	return nil
}

func cmdConfigValidate(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("config validate", stderr)
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok (%d monitor(s))\n", *cfgPath, len(cfg.Monitors))
	return nil
}
