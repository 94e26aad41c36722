package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/secopsd/secopsd/internal/api"
	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/incident"
)

// incidentActions are the subcommands of `secopsd incidents` that act on
// one incident, and the past tense each prints.
var incidentActions = map[string]string{
	"ack":     "acknowledged",
	"resolve": "resolved",
	"reopen":  "reopened",
	"note":    "noted",
}

// cmdIncidentAction is `secopsd incidents ack|resolve|reopen|note ID`: it
// acts through the store directly, as the daemon would (the same
// transitions, timeline entries, redaction and notifications); `secopsd
// api --method POST /api/v1/incidents/ID/ack` is the alternative through
// a running daemon.
func cmdIncidentAction(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	name := "incidents " + action
	fs, cfgPath := newFlagSet(name, stderr)
	actor := fs.String("actor", "", "who acts, recorded in the timeline (default cli:$USER)")
	asJSON := fs.Bool("json", false, "print the incident and the new timeline entry as JSON")
	comment := fs.String("comment", "", "why (recorded in the timeline; secrets are redacted)")
	text := fs.String("text", "", "the note (or give it after the ID)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) < 1 {
		return &exitError{code: 2, msg: name + ": want an incident ID"}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: %q is not an incident ID (want a positive integer)", name, pos[0])}
	}
	rest := pos[1:]
	switch {
	case action == "note" && *text != "" && len(rest) > 0:
		return &exitError{code: 2, msg: name + ": give the note with --text or after the ID, not both"}
	case action == "note" && *text == "":
		*text = strings.Join(rest, " ")
	case len(rest) > 0:
		return &exitError{code: 2, msg: fmt.Sprintf("%s: unexpected argument %q (use --comment for a comment)", name, rest[0])}
	case *text != "":
		return &exitError{code: 2, msg: name + ": --text is for notes; use --comment"}
	}
	if action == "note" && *comment != "" {
		return &exitError{code: 2, msg: name + ": a note has --text, not --comment"}
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
	who := actorOr(*actor)
	var (
		inc   incident.Incident
		entry incident.TimelineEntry
	)
	switch action {
	case "ack":
		inc, entry, err = wf.Engine.Acknowledge(ctx, id, who, *comment)
	case "resolve":
		inc, entry, err = wf.Engine.Resolve(ctx, id, who, *comment)
	case "reopen":
		inc, entry, err = wf.Engine.Reopen(ctx, id, who, *comment)
	case "note":
		inc, entry, err = wf.Engine.AddNote(ctx, id, who, *text)
	}
	if err != nil {
		return actionExit(name, id, err)
	}
	if *asJSON {
		return printJSON(stdout, api.ActionResult{Incident: inc, Entry: entry})
	}
	fmt.Fprintf(stdout, "incident %d %s by %s (timeline entry %d); status %s\n", inc.ID, incidentActions[action], entry.Actor, entry.Seq, inc.Status)
	return nil
}

// actionExit turns an action's error into the CLI's answer: exit 2 for
// bad input, 1 for an unknown incident or a refused transition.
func actionExit(name string, id int64, err error) error {
	var (
		ie *incident.InputError
		te *incident.TransitionError
	)
	switch {
	case errors.As(err, &ie):
		return &exitError{code: 2, msg: name + ": " + ie.Error()}
	case errors.As(err, &te):
		return &exitError{code: 1, msg: te.Error()}
	case errors.Is(err, incident.ErrNotFound):
		return &exitError{code: 1, msg: fmt.Sprintf("incident %d not found", id)}
	}
	return fmt.Errorf("%s %d: %w", name, id, err)
}
