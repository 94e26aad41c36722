package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/secopsd/secopsd/internal/app"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/secretscan"
)

// actorOr names the person running the CLI in timeline entries: the
// --actor flag's value, else cliActor.
func actorOr(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return cliActor()
}

// cmdApprovals lists the approval requests waiting for a decision.
func cmdApprovals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("approvals", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.PendingApprovals(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("list approvals: %w", err)
	}
	if *asJSON {
		if list == nil {
			list = []incident.Approval{}
		}
		return printJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINCIDENT\tSTEP\tDEADLINE\tON TIMEOUT\tAPPROVERS")
	for _, a := range list {
		approvers := "any admin"
		if len(a.Approvers) > 0 {
			approvers = fmt.Sprint(a.Approvers)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", a.ID, a.IncidentID, a.StepName, a.Deadline.Format(time.RFC3339), a.OnTimeout, approvers)
	}
	return tw.Flush()
}

// cmdDecide is `secopsd approve ID` and `secopsd deny ID`: the decision is
// recorded in the store; the daemon runs (or skips) the step within its
// remediation.approval_poll.
func cmdDecide(ctx context.Context, approve bool, args []string, stdout, stderr io.Writer) error {
	name := "deny"
	if approve {
		name = "approve"
	}
	fs, cfgPath := newFlagSet(name, stderr)
	comment := fs.String("comment", "", "why (recorded in the timeline; secrets are redacted)")
	actor := fs.String("actor", "", "who decides (default cli:$USER)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: name + ": want one approval id (see secopsd approvals)"}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("%s: approval id %q: want a positive integer", name, pos[0])}
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	text, _ := secretscan.NewScanner(secretscan.DefaultRules()).Redact(*comment)
	a, err := incident.DecideApproval(ctx, st, id, approve, actorOr(*actor), text, time.Now())
	switch {
	case errors.Is(err, incident.ErrNotFound):
		return &exitError{code: 1, msg: fmt.Sprintf("approval %d not found", id)}
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "approval %d %s (incident %d, step %s); the daemon resumes the playbook within its approval_poll\n",
		a.ID, a.Status, a.IncidentID, a.StepName)
	return nil
}

// cmdRunPlaybook starts a manual fix attempt of an incident and waits for
// it to finish or to pause for an approval.
func cmdRunPlaybook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("run-playbook", stderr)
	playbook := fs.String("playbook", "", "playbook `name` (default: the best match, as automation would choose)")
	dry := fs.Bool("dry-run", false, "record decisions and what would be done; execute nothing")
	actor := fs.String("actor", "", "who runs it (default cli:$USER)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "run-playbook: want one incident id"}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("run-playbook: incident id %q: want a positive integer", pos[0])}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	run, err := app.RunPlaybook(ctx, cfg, newLogger(cfg, stderr), id, *playbook, actorOr(*actor), *dry)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run %d: playbook %s, attempt %d, status %s (see secopsd incidents show %d)\n",
		run.ID, run.Playbook, max(run.Attempt, 0), run.Status, id)
	return nil
}

// printJSON writes v to w as indented JSON, as every --json flag does.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
