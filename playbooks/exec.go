package playbooks

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// execWaitDelay is how long a finished or killed program's output pipes
// stay open for processes it left behind before they are closed.
const execWaitDelay = 2 * time.Second

// runExec runs an exec step's program with its rendered arguments, no
// shell, only the allowed environment variables, and its timeout, after
// which its whole process group is killed.
func (e *Executor) runExec(ctx context.Context, spec StepSpec, data TemplateData) outcome {
	var res outcome
	args := make([]string, len(spec.args))
	for i, t := range spec.args {
		a, err := render(t, data)
		if err != nil {
			res.err = "args[" + strconv.Itoa(i) + "]: " + err.Error()
			return res
		}
		args[i] = a
	}
	env := []string{
		"SECOPSD_INCIDENT_ID=" + strconv.FormatInt(data.Incident.ID, 10),
		"SECOPSD_PLAYBOOK=" + data.Playbook,
		"SECOPSD_STEP=" + data.Step,
		"SECOPSD_RUN_ID=" + strconv.FormatInt(data.RunID, 10),
		"SECOPSD_ATTEMPT=" + strconv.Itoa(data.Attempt),
	}
	for _, name := range spec.Env {
		if v, ok := e.opts.LookupEnv(name); ok {
			env = append(env, name+"="+v)
			// The program may print what it was given.
			if len(v) >= minPassedSecretLen {
				res.secrets = append(res.secrets, v)
			}
		}
	}

	cmd := exec.CommandContext(ctx, spec.Command, args...)
	cmd.Env = env
	cmd.Dir = "/"
	out := &capture{limit: captureLimit}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = execWaitDelay
	killGroup(cmd)

	start := e.opts.Now()
	err := cmd.Run()
	res.output = out.String()
	res.detail = map[string]any{"command": spec.Command, "output_bytes": out.total}
	if out.total > int64(captureLimit) {
		res.output += truncatedMark
	}
	if cmd.ProcessState != nil {
		res.detail["exit_code"] = cmd.ProcessState.ExitCode()
	}
	switch {
	case ctx.Err() != nil && cmd.ProcessState != nil && !cmd.ProcessState.Success():
		res.detail["timed_out"] = errors.Is(ctx.Err(), context.DeadlineExceeded)
		res.err = stopped(ctx, e.opts.Now().Sub(start)) + "; the program and its process group were killed"
	case err == nil:
		res.ok = true
	default:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			res.err = "exited with status " + strconv.Itoa(exitErr.ExitCode())
		} else if errors.Is(err, exec.ErrWaitDelay) {
			// The program succeeded but left a process holding its output.
			res.ok = true
			res.detail["left_processes"] = true
		} else {
			res.err = "run " + spec.Command + ": " + err.Error()
		}
	}
	res.detail["run_ms"] = e.opts.Now().Sub(start).Milliseconds()
	return res
}

// minPassedSecretLen is the shortest value of a passed environment
// variable removed from the program's output; short values (a flag, a
// port) would garble it.
const minPassedSecretLen = 8

// capture keeps the first limit bytes written to it and counts them all,
// so that a chatty program never blocks on a full pipe.
type capture struct {
	mu    sync.Mutex
	limit int
	buf   []byte
	total int64
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String returns what was kept.
func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// stopped says why ctx ended a step after elapsed: its deadline (the
// step's timeout or the engine's) or a cancellation.
func stopped(ctx context.Context, elapsed time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out after " + elapsed.Round(time.Millisecond).String()
	}
	return "cancelled after " + elapsed.Round(time.Millisecond).String()
}
