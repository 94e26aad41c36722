package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/incident"
)

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// cmdSilence is `secopsd silence add|list|expire`.
func cmdSilence(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "silence: want a subcommand: add, list or expire"}
	}
	switch args[0] {
	case "add":
		return cmdSilenceAdd(ctx, args[1:], stdout, stderr)
	case "list":
		return cmdSilenceList(ctx, args[1:], stdout, stderr)
	case "expire":
		return cmdSilenceExpire(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, msg: fmt.Sprintf("silence: unknown subcommand %q (want add, list or expire)", args[0])}
}

func cmdSilenceAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("silence add", stderr)
	var monitors, categories listFlag
	fs.Var(&monitors, "monitor", "silence this `monitor` (repeatable, or comma-separated; * for every monitor)")
	fs.Var(&categories, "category", "silence this incident `category` (repeatable, or comma-separated)")
	duration := fs.String("duration", "", "how long, from the start (such as 90m, 2h or 1d)")
	until := fs.String("until", "", "end `time` (RFC 3339), instead of --duration")
	start := fs.String("start", "", "start `time` (RFC 3339; default now)")
	comment := fs.String("comment", "", "why (required)")
	actor := fs.String("actor", "", "who creates it (default cli:$USER)")
	asJSON := fs.Bool("json", false, "print the silence as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("silence add: unexpected argument %q", pos[0])}
	}
	sil := incident.Silence{Monitors: monitors, Categories: categories, Comment: *comment, CreatedBy: actorOr(*actor)}
	if *start != "" {
		if sil.StartsAt, err = time.Parse(time.RFC3339, *start); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("silence add: --start %q: want an RFC 3339 time such as 2026-12-06T02:00:00Z", *start)}
		}
	}
	switch {
	case (*duration == "") == (*until == ""):
		return &exitError{code: 2, msg: "silence add: give --duration or --until (one of them)"}
	case *until != "":
		if sil.EndsAt, err = time.Parse(time.RFC3339, *until); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("silence add: --until %q: want an RFC 3339 time such as 2026-12-06T04:00:00Z", *until)}
		}
	}
	var d time.Duration
	if *duration != "" {
		v, err := config.ParseDuration(*duration)
		if err != nil || v <= 0 {
			return &exitError{code: 2, msg: fmt.Sprintf("silence add: --duration %q: want a positive duration such as 90m, 2h or 1d", *duration)}
		}
		d = v.Std()
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	wf, err := app.OpenWorkflow(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer wf.Close()
	if d > 0 {
		if sil.StartsAt.IsZero() {
			sil.StartsAt = wf.Silences.Now()
		}
		sil.EndsAt = sil.StartsAt.Add(d)
	}
	created, err := wf.Silences.Create(ctx, sil)
	if errors.Is(err, incident.ErrInvalidSilence) || errors.Is(err, incident.ErrInvalidInput) {
		return &exitError{code: 2, msg: "silence add: " + strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeIndentedJSON(stdout, created)
	}
	fmt.Fprintf(stdout, "silence %d created (%s): in force from %s until %s; running daemons apply it within %s\n",
		created.ID, created.Ref(), created.StartsAt.Format(time.RFC3339), created.EndsAt.Format(time.RFC3339), incident.DefaultSilenceCacheTTL)
	return nil
}

func cmdSilenceList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("silence list", stderr)
	all := fs.Bool("all", false, "include the silences that have ended")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	wf, err := app.OpenWorkflow(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer wf.Close()
	list, err := wf.Silences.List(ctx, *all)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeIndentedJSON(stdout, list)
	}
	now := wf.Silences.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SILENCE\tSTATE\tSTARTS\tENDS\tMONITORS\tCATEGORIES\tBY\tCOMMENT")
	for _, s := range list {
		by := s.CreatedBy
		if s.ID == 0 {
			by = "config"
		}
		if s.ExpiredBy != "" {
			by += " (expired by " + s.ExpiredBy + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Ref(), s.State(now), s.StartsAt.Format(time.RFC3339), s.EndsAt.Format(time.RFC3339),
			matchersText(s.Monitors), matchersText(s.Categories), by, shortComment(s.Comment))
	}
	return tw.Flush()
}

func cmdSilenceExpire(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("silence expire", stderr)
	actor := fs.String("actor", "", "who expires it (default cli:$USER)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "silence expire: want one silence ID (see secopsd silence list)"}
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(pos[0], "silence:"), 10, 64)
	if err != nil || id < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("silence expire: %q is not a silence ID (configured maintenance windows end only by editing the configuration)", pos[0])}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	wf, err := app.OpenWorkflow(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer wf.Close()
	sil, err := wf.Silences.Expire(ctx, id, actorOr(*actor))
	switch {
	case errors.Is(err, incident.ErrSilenceNotFound):
		return &exitError{code: 1, msg: fmt.Sprintf("silence %d not found", id)}
	case errors.Is(err, incident.ErrSilenceEnded):
		return &exitError{code: 1, msg: fmt.Sprintf("silence %d has already ended", id)}
	case errors.Is(err, incident.ErrInvalidInput):
		return &exitError{code: 2, msg: "silence expire: " + err.Error()}
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "silence %d expired by %s at %s\n", sil.ID, sil.ExpiredBy, sil.EndsAt.Format(time.RFC3339))
	return nil
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func matchersText(list []string) string {
	if len(list) == 0 {
		return "*"
	}
	return strings.Join(list, ",")
}

func shortComment(s string) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return string(r)
}
