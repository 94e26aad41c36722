package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/retention"
)

// cmdPurge runs `secopsd purge [--dry-run] [--json]`: one retention purge
// of every data type now, against the configured store, recorded in the
// purge log and as events like the daemon's scheduled purges.
func cmdPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("purge", stderr)
	dryRun := fs.Bool("dry-run", false, "count what would be purged; delete and record nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	} else if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("purge: unexpected argument %q", pos[0])}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	rep, err := app.Purge(ctx, cfg, newLogger(cfg, stderr), app.PurgeOptions{DryRun: *dryRun, Actor: cliActor()})
	if len(rep.Results) == 0 && err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(rep); werr != nil {
			return werr
		}
	} else if werr := printPurgeReport(stdout, rep); werr != nil {
		return werr
	}
	if err != nil {
		return &exitError{code: 1, msg: "purge failed: " + strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	return nil
}

// cliActor names the user running the command in purge records: "cli:"
// and the login name, or "cli" when it cannot be told.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// printPurgeReport writes a report as a table, one row per data type.
func printPurgeReport(w io.Writer, rep retention.Report) error {
	deleted := "DELETED"
	if rep.DryRun {
		deleted = "WOULD DELETE"
		fmt.Fprintln(w, "dry run: nothing was deleted or recorded")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "DATA TYPE\tRETENTION\tCUTOFF\t%s\tRECORD\tNOTE\n", deleted)
	for _, r := range rep.Results {
		record, note := "-", r.Skipped
		if r.RecordID != 0 {
			record = fmt.Sprintf("#%d", r.RecordID)
		}
		if r.Error != "" {
			note = "FAILED: " + r.Error
		}
		if note == "" {
			note = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.DataType, r.Retention, r.Cutoff.UTC().Format(time.RFC3339), r.Deleted, record, note)
	}
	return tw.Flush()
}
