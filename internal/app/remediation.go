package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/secopsd/secopsd/internal/config"
	"github.com/secopsd/secopsd/internal/event"
	"github.com/secopsd/secopsd/internal/incident"
	"github.com/secopsd/secopsd/internal/secretscan"
	"github.com/secopsd/secopsd/internal/store"
	"github.com/secopsd/secopsd/playbooks"
)

// newRemediation loads the playbooks and builds the remediator of the
// remediation section (nil when remediation is disabled).
func (a *App) newRemediation(logger *slog.Logger) (*incident.Remediator, error) {
	rc := a.cfg.Remediation
	if !rc.IsEnabled() {
		logger.Info("remediation disabled: incidents are recorded and notified only")
		return nil, nil
	}
	set, err := loadPlaybooks(rc.Playbooks)
	if err != nil {
		return nil, err
	}
	if missing := set.MissingEnv(os.LookupEnv); len(missing) > 0 {
		// One line, not one per step: the built-in playbooks reference
		// hooks that a fresh installation has not configured yet.
		vars, steps := map[string]bool{}, make([]string, 0, len(missing))
		var names []string
		for _, u := range missing {
			steps = append(steps, u.Playbook+"/"+u.Step)
			if !vars[u.Var] {
				vars[u.Var] = true
				names = append(names, u.Var)
			}
		}
		slices.Sort(names)
		steps = slices.Compact(steps)
		logger.Warn("playbook steps reference environment variables that are not set; those steps fail (and escalate) when they run",
			"variables", strings.Join(names, ","), "steps", strings.Join(steps, ","))
	}
	scanner := secretscan.NewScanner(secretscan.DefaultRules())
	exec, err := playbooks.NewExecutor(playbooks.Options{
		Set:       set,
		Verifier:  monitorVerifier{a},
		Notifier:  stepNotifier{a},
		Logger:    logger.With("component", "playbooks"),
		Scanner:   scanner,
		UserAgent: "secopsd/" + a.version,
	})
	if err != nil {
		return nil, fmt.Errorf("playbook executor: %w", err)
	}
	var clock incident.Clock = incident.ClockFunc(time.Now)
	if a.clock != nil {
		clock = a.clock
	}
	r, err := incident.NewRemediator(incident.RemediatorOptions{
		Engine:          a.engine,
		Playbooks:       set,
		Runner:          exec,
		Guard:           a.classifier,
		Diagnoser:       &incident.LocalDiagnoser{Evidence: evidence{a.store}, Runs: a.store, Clock: clock},
		Silenced:        a.engine.Silenced,
		DryRun:          rc.DryRun,
		Location:        rc.Location(),
		StepTimeout:     rc.StepTimeout.Std(),
		BreakerFailures: rc.BreakerFailures,
		BreakerCooldown: rc.BreakerCooldown.Std(),
		ApprovalPoll:    rc.ApprovalPoll.Std(),
		Redact:          func(s string) string { out, _ := scanner.Redact(s); return out },
		Logger:          logger,
	})
	if err != nil {
		return nil, fmt.Errorf("remediation: %w", err)
	}
	logger.Info("remediation enabled", "playbooks", strings.Join(set.Names(), ","), "dry_run", rc.DryRun)
	return r, nil
}

// loadPlaybooks loads the playbooks of dir, or the built-in ones when dir
// is empty.
func loadPlaybooks(dir string) (*playbooks.Set, error) {
	if dir == "" {
		set, err := playbooks.Defaults()
		if err != nil {
			return nil, fmt.Errorf("built-in playbooks: %w", err)
		}
		return set, nil
	}
	set, err := playbooks.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load playbooks: %w", err)
	}
	return set, nil
}

// Remediator returns the daemon's remediator (nil when remediation is
// disabled).
func (a *App) Remediator() *incident.Remediator { return a.remediator }

// monitorVerifier runs verify steps: the monitor that raised the incident
// runs once more, outside its schedule.
type monitorVerifier struct{ a *App }

var _ playbooks.Verifier = monitorVerifier{}

// Verify implements playbooks.Verifier. Only a conclusive, successful run
// passes.
func (v monitorVerifier) Verify(ctx context.Context, monitor string) (bool, string, error) {
	r, err := v.a.scheduler.RunOnce(ctx, monitor)
	if err != nil {
		return false, "", err
	}
	if r.Success && r.Conclusive() {
		return true, fmt.Sprintf("monitor %s passed (%s)", monitor, r.Duration.Round(time.Millisecond)), nil
	}
	ids := make([]string, 0, len(r.Findings))
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	return false, fmt.Sprintf("monitor %s still fails: %s", monitor, strings.Join(ids, ", ")), nil
}

// stepNotifier delivers notify steps through the engine's notifier as a
// timeline entry of the incident, so they are recorded and routed like any
// other notification.
type stepNotifier struct{ a *App }

var _ playbooks.Notifier = stepNotifier{}

// Notify implements playbooks.Notifier.
func (n stepNotifier) Notify(ctx context.Context, inc incident.Incident, msg string) error {
	return n.a.engine.Announce(ctx, inc.ID, "playbook.notify", msg)
}

// evidence reads what the local diagnoser considers from the store.
type evidence struct{ st store.Store }

var _ incident.EvidenceSource = evidence{}

// RelatedEvents implements incident.EvidenceSource: events of the
// incident's fingerprint, and of its monitor when it has one.
func (e evidence) RelatedEvents(ctx context.Context, inc incident.Incident, since time.Time, limit int) ([]event.Event, error) {
	evs, err := e.st.ListEvents(ctx, store.EventFilter{Since: since, Fingerprint: inc.Fingerprint, Limit: limit})
	if err != nil {
		return nil, err
	}
	if inc.Monitor == "" {
		return evs, nil
	}
	more, err := e.st.ListEvents(ctx, store.EventFilter{Since: since, Monitor: inc.Monitor, Limit: limit})
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(evs))
	for _, ev := range evs {
		seen[ev.ID] = true
	}
	for _, ev := range more {
		if !seen[ev.ID] && len(evs) < limit {
			evs = append(evs, ev)
		}
	}
	return evs, nil
}

// ListIncidents implements incident.EvidenceSource.
func (e evidence) ListIncidents(ctx context.Context, f incident.Filter) ([]incident.Incident, error) {
	return e.st.ListIncidents(ctx, f)
}

// RunPlaybook runs one manual fix attempt outside the daemon (for the
// CLI): it assembles the daemon without serving or scheduling, runs the
// playbook until it finishes or waits for an approval, and shuts down. A
// running daemon sharing the store resumes the run after an approval.
func RunPlaybook(ctx context.Context, cfg *config.Config, logger *slog.Logger, id int64, playbook, actor string, dryRun bool) (incident.PlaybookRun, error) {
	a, err := New(ctx, Options{Config: cfg, Logger: logger})
	if err != nil {
		return incident.PlaybookRun{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout.Std())
		defer cancel()
		_ = a.Stop(sctx)
	}()
	if a.remediator == nil {
		return incident.PlaybookRun{}, fmt.Errorf("remediation is disabled (remediation.enabled: false)")
	}
	return a.remediator.RunPlaybook(ctx, id, playbook, actor, dryRun)
}
