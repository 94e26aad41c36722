package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/store"
)

// cmdEvents dispatches `secopsd events list|tail`.
func cmdEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: "events: want a subcommand: list or tail"}
	}
	switch args[0] {
	case "list":
		return cmdEventsList(ctx, args[1:], stdout, stderr)
	case "tail":
		return cmdEventsTail(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, msg: fmt.Sprintf("events: unknown subcommand %q (want list or tail)", args[0])}
}

// eventFlags are the filters shared by `events list` and `events tail`.
type eventFlags struct {
	severity, source, kind *string
	asJSON                 *bool
}

func addEventFlags(fs *flag.FlagSet) eventFlags {
	return eventFlags{
		severity: fs.String("severity", "", "only events of at least this `severity` (info, low, medium, high, critical)"),
		source:   fs.String("source", "", "only events of this `source`"),
		kind:     fs.String("kind", "", "only events of this `kind`"),
		asJSON:   fs.Bool("json", false, "print JSON (list: an array; tail: one object per line)"),
	}
}

// minSeverity parses --severity.
func (f eventFlags) minSeverity() (event.Severity, error) {
	if *f.severity == "" {
		return event.SeverityUnknown, nil
	}
	sev, err := event.ParseSeverity(*f.severity)
	if err != nil {
		return 0, &exitError{code: 2, msg: "--severity: " + err.Error()}
	}
	return sev, nil
}

// parseWhen reads a --since or --until value: an RFC 3339 time, or a
// duration (such as 90s, 15m, 7d) before now.
func parseWhen(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(-d.Std()), nil
	}
	return time.Time{}, &exitError{code: 2, msg: fmt.Sprintf("--%s %q: want an RFC 3339 time (2025-03-01T12:00:00Z) or a duration before now (15m, 2h, 7d)", flagName, s)}
}

func cmdEventsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("events list", stderr)
	ef := addEventFlags(fs)
	since := fs.String("since", "", "only events at or after this `time` (RFC 3339, or a duration before now such as 1h)")
	until := fs.String("until", "", "only events before this `time` (RFC 3339, or a duration before now)")
	limit := fs.Int("limit", 100, "at most this many events, newest first (1-1000)")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	} else if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("events list: unexpected argument %q", pos[0])}
	}
	now := time.Now()
	f := store.EventFilter{Source: *ef.source, Kind: *ef.kind, Limit: *limit}
	var err error
	if f.Since, err = parseWhen("since", *since, now); err != nil {
		return err
	}
	if f.Until, err = parseWhen("until", *until, now); err != nil {
		return err
	}
	if f.MinSeverity, err = ef.minSeverity(); err != nil {
		return err
	}
	if *limit < 1 || *limit > store.MaxLimit {
		return &exitError{code: 2, msg: fmt.Sprintf("--limit %d: want 1 to %d", *limit, store.MaxLimit)}
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	evs, err := st.ListEvents(ctx, f)
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	if *ef.asJSON {
		return printJSON(stdout, evs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSEVERITY\tSOURCE\tKIND\tCATEGORY\tATTRIBUTES\tID")
	for _, ev := range evs {
		printEventRow(tw, ev)
	}
	return tw.Flush()
}

// printEventRow writes one event as a table row.
func printEventRow(w io.Writer, ev event.Event) {
	source := ev.Source
	if ev.Monitor != "" {
		source += "/" + ev.Monitor
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.UTC().Format(time.RFC3339), ev.Severity, source, ev.Kind,
		ev.Category, attrSummary(ev.Attributes), ev.ID)
}

// attrSummary renders attributes as sorted k=v pairs, shortened for a
// table; control characters are escaped so that a value cannot forge
// terminal output.
func attrSummary(attrs map[string]string) string {
	if len(attrs) == 0 {
		return "-"
	}
	b, _ := json.Marshal(attrs) // sorted keys, escaped values
	s := strings.TrimSuffix(strings.TrimPrefix(string(b), "{"), "}")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// tailOverlap is how far back each poll of `events tail` looks again
// before the newest event it printed: events stamped earlier but committed
// later (another writer, another replica) still show, once.
const tailOverlap = 2 * time.Second

func cmdEventsTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("events tail", stderr)
	ef := addEventFlags(fs)
	interval := fs.Duration("follow-interval", time.Second, "how often to poll the store for new events")
	since := fs.String("since", "", "first print the events received since this `time` (RFC 3339, or a duration before now such as 10m); default: only new ones")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return usageErr(err)
	} else if len(pos) > 0 {
		return &exitError{code: 2, msg: fmt.Sprintf("events tail: unexpected argument %q", pos[0])}
	}
	if *interval < 10*time.Millisecond {
		return &exitError{code: 2, msg: fmt.Sprintf("--follow-interval %s: want at least 10ms", *interval)}
	}
	minSev, err := ef.minSeverity()
	if err != nil {
		return err
	}
	now := time.Now()
	start := now
	if *since != "" {
		if start, err = parseWhen("since", *since, now); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	t := &tailer{st: st, floor: start, newest: start, seen: map[string]time.Time{}}
	match := func(ev event.Event) bool {
		return (*ef.source == "" || ev.Source == *ef.source) && (*ef.kind == "" || ev.Kind == *ef.kind) && ev.Severity >= minSev
	}
	var tw *tabwriter.Writer
	enc := json.NewEncoder(stdout)
	if !*ef.asJSON {
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSEVERITY\tSOURCE\tKIND\tCATEGORY\tATTRIBUTES\tID")
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for {
		evs, err := t.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tail events: %w", err)
		}
		for _, ev := range evs {
			if !match(ev.Event) {
				continue
			}
			if tw != nil {
				printEventRow(tw, ev.Event)
			} else if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		if tw != nil {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil // SIGINT or SIGTERM: a normal end
		case <-ticker.C:
		}
	}
}

// tailer reads the events received since the last poll, in the order the
// store received them, each once.
type tailer struct {
	st store.Store
	// floor is the earliest receive time of interest; newest is the
	// latest receive time printed so far.
	floor, newest time.Time
	// seen holds the ids printed within the overlap window, with their
	// receive times.
	seen map[string]time.Time
}

// poll returns the events not returned before.
func (t *tailer) poll(ctx context.Context) ([]store.ReceivedEvent, error) {
	from := t.newest.Add(-tailOverlap)
	if from.Before(t.floor) {
		from = t.floor
	}
	// Every event received at or after from (ids are never empty).
	after := store.EventCursor{Time: from.Add(-time.Microsecond)}
	var out []store.ReceivedEvent
	for {
		page, err := t.st.TailEvents(ctx, after, store.MaxLimit)
		if err != nil {
			return nil, err
		}
		for _, ev := range page {
			if _, dup := t.seen[ev.ID]; dup || ev.ReceivedAt.Before(t.floor) {
				continue
			}
			t.seen[ev.ID] = ev.ReceivedAt
			if ev.ReceivedAt.After(t.newest) {
				t.newest = ev.ReceivedAt
			}
			out = append(out, ev)
		}
		if len(page) < store.MaxLimit {
			break
		}
		after = page[len(page)-1].Cursor()
	}
	for id, at := range t.seen {
		if at.Before(t.newest.Add(-2 * tailOverlap)) {
			delete(t.seen, id)
		}
	}
	return out, nil
}
