package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/incident"
)

// cmdTimeline dispatches `secopsd timeline verify|export`.
func cmdTimeline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "timeline: want a subcommand: verify or export"}
	}
	switch args[0] {
	case "verify":
		return cmdTimelineVerifyAny(ctx, args[1:], stdout, stderr)
	case "export":
		return cmdTimelineExport(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, msg: fmt.Sprintf("timeline: unknown subcommand %q (want verify or export)", args[0])}
}

// cmdTimelineExport writes an export of one incident or of the incidents
// opened in a period, to --out (written to a temporary file first and
// renamed when complete) or to stdout.
func cmdTimelineExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("timeline export", stderr)
	sinceS := fs.String("since", "", "export the incidents opened at or after this `time` (YYYY-MM-DD or RFC 3339); required without --incident")
	untilS := fs.String("until", "", "and before this `time` (a date includes that whole day)")
	id := fs.Int64("incident", 0, "export only this incident `ID`")
	formatS := fs.String("format", "json", "json or csv")
	out := fs.String("out", "", "write to this `file` instead of stdout")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("timeline export: unexpected argument %q", pos[0])}
	}
	format, err := incident.ParseExportFormat(*formatS)
	if err != nil {
		return &exitError{code: 2, msg: "--format: " + err.Error()}
	}
	var since, until time.Time
	switch {
	case *id < 0:
		return &exitError{code: 2, msg: fmt.Sprintf("--incident %d: want a positive incident id", *id)}
	case *id > 0 && (*sinceS != "" || *untilS != ""):
		return &exitError{code: 2, msg: "--incident exports one whole incident: drop --since and --until"}
	case *id == 0 && *sinceS == "":
		return &exitError{code: 2, msg: "timeline export: want --since (or --incident ID)"}
	}
	if *sinceS != "" {
		if since, err = incident.ParsePeriodBound(*sinceS, false); err != nil {
			return &exitError{code: 2, msg: "--since " + err.Error()}
		}
	}
	if *untilS != "" {
		if until, err = incident.ParsePeriodBound(*untilS, true); err != nil {
			return &exitError{code: 2, msg: "--until " + err.Error()}
		}
		if !until.After(since) {
			return &exitError{code: 2, msg: "--until: want a time after --since"}
		}
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	ex := app.TimelineExporter{Source: st}
	write := func(w io.Writer) error {
		if *id > 0 {
			return ex.ExportIncident(ctx, *id, string(format), w)
		}
		return ex.ExportPeriod(ctx, since, until, string(format), w)
	}
	if *out == "" {
		err = write(stdout)
	} else {
		err = writeFileAtomically(*out, write)
	}
	if errors.Is(err, incident.ErrNotFound) {
		return &exitError{code: 1, msg: fmt.Sprintf("incident %d not found", *id)}
	}
	if err != nil {
		return fmt.Errorf("timeline export: %w", err)
	}
	if *out != "" {
		fmt.Fprintf(stderr, "wrote %s\n", *out)
	}
	return nil
}

// writeFileAtomically writes to a temporary file next to path and renames
// it into place only when write succeeded, so that a failed export never
// leaves a partial file that looks like a complete one.
func writeFileAtomically(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// cmdTimelineVerifyAny verifies an export file (--file, "-" for stdin)
// without the database, or, without --file, every chain in the store.
func cmdTimelineVerifyAny(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlagSet("timeline verify", stderr)
	file := fs.String("file", "", "verify this export `file` (JSON or CSV; - for stdin) without the database")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	if *file == "" {
		return cmdTimelineVerify(ctx, args, stdout, stderr)
	}
	return verifyExportFile(*file, stdout)
}

func verifyExportFile(path string, stdout io.Writer) error {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("timeline verify: %v", err)}
		}
		defer f.Close()
		r = f
	}
	rep, err := incident.VerifyExport(r)
	if errors.Is(err, incident.ErrChainBroken) {
		for _, b := range rep.Broken {
			fmt.Fprintln(stdout, "BROKEN "+b.Error())
		}
		first := rep.Broken[0]
		return &exitError{code: 1, msg: fmt.Sprintf("%s: verification failed: %d of %d incident(s) broken; first: incident %d, entry %d: %s",
			path, len(rep.Broken), rep.Incidents, first.IncidentID, first.Seq, first.Reason)}
	}
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
	}
	fmt.Fprintf(stdout, "ok: %s: %d incident(s), %d timeline entries, every hash chain intact\n", path, rep.Incidents, rep.Entries)
	return nil
}
