// Command secopsd is the secopsd daemon and its command-line interface:
// run the daemon, run monitors once, inspect incidents, verify the timeline,
// migrate the store, test policies, validate the configuration, and manage
// and use API keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const defaultConfig = "configs/secopsd.yaml"

// exitError carries a process exit code with an optional message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `secopsd — self-hosted security-operations daemon

Usage:
  secopsd run                                   start the daemon
  secopsd check [NAME...] [--json]              run monitors once; exit 1 if any fails
  secopsd incidents list [--status S] [--json]  list incidents
  secopsd incidents show ID [--json]            one incident with its timeline
  secopsd incidents ack|resolve|reopen ID [--comment C] [--actor A] [--json]
                                                act on an incident (a timeline entry naming the actor)
  secopsd incidents note ID TEXT [--actor A]    add a note to its timeline (secrets are redacted)
  secopsd silence add [--monitor M] [--category C] (--duration D | --until T) --comment C
                                                silence notifications and automation for a while
  secopsd silence list [--all] [--json]         silences and maintenance windows
  secopsd silence expire ID                     end a silence now
  secopsd timeline verify                       verify every incident's hash chain
  secopsd timeline verify --file F              verify an export (JSON or CSV) without the database
  secopsd timeline export (--since T [--until T] | --incident ID) [--format json|csv] [--out F]
                                                export timelines with their chain hashes
  secopsd events list [--since T] [--until T] [--severity S] [--source S] [--kind K] [--limit N] [--json]
                                                stored events, newest first
  secopsd events tail [--follow-interval D] [--since T] [filters] [--json]
                                                print new events as they arrive (until Ctrl-C)
  secopsd migrate                               apply store migrations
  secopsd purge [--dry-run] [--json]            purge data past its retention now (recorded)
  secopsd policy test [DIR]                     run the Rego unit tests (*_test.rego)
  secopsd config validate                       check the configuration
  secopsd apikey create --role R [--expires 90d] [--name N] [--signed] [--json]
                                                create an API key (admin, viewer or ingest); shown once
  secopsd apikey list [--json]                  list API keys (never their secrets)
  secopsd apikey revoke ID                      revoke an API key
  secopsd api [--method M] [--data FILE] PATH   call the API with $SECOPSD_API_KEY, signed with
                                                $SECOPSD_SIGNING_SECRET when set
  secopsd approvals [--json]                    approval requests waiting for a human
  secopsd approve ID [--comment C]              approve a waiting playbook step
  secopsd deny ID [--comment C]                 deny it (the step is skipped)
  secopsd run-playbook ID [--playbook P] [--dry-run]
                                                run a fix attempt now (hard bounds apply)
  secopsd version                               print the version

Every command takes --config FILE (default configs/secopsd.yaml).
`

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "secopsd: "+ee.msg)
		}
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "secopsd: "+err.Error())
	return 1
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "incidents":
		if len(rest) == 0 {
			return &exitError{code: 2, msg: "incidents: want a subcommand: list, show, ack, resolve, reopen or note"}
		}
		switch rest[0] {
		case "list":
			return cmdIncidentsList(ctx, rest[1:], stdout, stderr)
		case "show":
			return cmdIncidentsShow(ctx, rest[1:], stdout, stderr)
		case "ack", "resolve", "reopen", "note":
			return cmdIncidentAction(ctx, rest[0], rest[1:], stdout, stderr)
		}
		return &exitError{code: 2, msg: fmt.Sprintf("incidents: unknown subcommand %q (want list, show, ack, resolve, reopen or note)", rest[0])}
	case "events":
		return cmdEvents(ctx, rest, stdout, stderr)
	case "silence":
		return cmdSilence(ctx, rest, stdout, stderr)
	case "timeline":
		return cmdTimeline(ctx, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr)
	case "purge":
		return cmdPurge(ctx, rest, stdout, stderr)
	case "policy":
		if len(rest) == 0 || rest[0] != "test" {
			return &exitError{code: 2, msg: "policy: want the subcommand test"}
		}
		return cmdPolicyTest(ctx, rest[1:], stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "validate" {
			return &exitError{code: 2, msg: "config: want the subcommand validate"}
		}
		return cmdConfigValidate(rest[1:], stdout, stderr)
	case "apikey":
		return cmdAPIKey(ctx, rest, stdout, stderr)
	case "api":
		return cmdAPI(ctx, rest, stdout, stderr)
	case "approvals":
		return cmdApprovals(ctx, rest, stdout, stderr)
	case "approve":
		return cmdDecide(ctx, true, rest, stdout, stderr)
	case "deny":
		return cmdDecide(ctx, false, rest, stdout, stderr)
	case "run-playbook":
		return cmdRunPlaybook(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "secopsd %s\n", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, msg: fmt.Sprintf("unknown command %q", cmd)}
}

// parseInterspersed parses flags that may appear before or after positional
// arguments (`check api --json` as well as `check --json api`).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("secopsd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", defaultConfig, "configuration `file`")
	return fs, cfg
}

func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &exitError{code: 2, msg: err.Error()}
}
