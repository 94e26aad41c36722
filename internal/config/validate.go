package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/secopsd/secopsd/internal/event"
)

// checker collects the cross-field problems of a decoded configuration,
// locating each by the line its key path was decoded from.
type checker struct {
	errorList
	// lines maps key paths to lines; nil for a Config built in Go.
	lines map[string]int
}

// errorf records a problem at path, on the line of path or, for a key the
// file left out, of its nearest written parent.
func (c *checker) errorf(path string, sentinel error, format string, args ...any) {
	c.add(c.line(path), path, sentinel, fmt.Sprintf(format, args...))
}

// line returns the line of path or of its nearest parent, 0 if unknown.
func (c *checker) line(path string) int {
	for p := path; ; p = parentPath(p) {
		if l, ok := c.lines[p]; ok {
			return l
		}
		if p == "" {
			return 0
		}
	}
}

// Validate checks a configuration built in Go (Parse and Load validate
// already). Problems are joined *Error values without line numbers.
func (c *Config) Validate() error {
	ch := &checker{}
	c.validate(ch)
	return ch.err()
}

// Log levels and formats that LogConfig accepts.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// validate records every problem of c.
func (c *Config) validate(ch *checker) {
	if msg := checkListen(c.Listen); msg != "" {
		ch.errorf("listen", ErrInvalid, "%s", msg)
	}
	c.Store.validate(ch)
	c.TLS.validate(ch)
	c.UI.validate(ch)
	c.Auth.validate(ch)
	if !slices.Contains(logLevels, c.Log.Level) {
		ch.errorf("log.level", ErrInvalid, "unknown log level %s (use %s)", quote(c.Log.Level), strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		ch.errorf("log.format", ErrInvalid, "unknown log format %s (use %s)", quote(c.Log.Format), strings.Join(logFormats, ", "))
	}
	if _, err := event.ParseSeverity(c.Check.FailOn); err != nil {
		ch.errorf("check.fail_on", ErrInvalid, "%v", err)
	}
	if n := c.Scheduler.PerHost; n < 1 || n > MaxPerHost {
		ch.errorf("scheduler.per_host", ErrInvalid, "per_host must be between 1 and %d, got %d", MaxPerHost, n)
	}
	if j := c.Scheduler.Jitter; j < 0 || j > MaxJitter {
		ch.errorf("scheduler.jitter", ErrInvalid, "jitter must be between 0 and %g, got %g", MaxJitter, j)
	}
	if n := c.Scheduler.Concurrency; n < 1 || n > MaxConcurrency {
		ch.errorf("scheduler.concurrency", ErrInvalid, "concurrency must be between 1 and %d, got %d", MaxConcurrency, n)
	}
	if c.ShutdownTimeout <= 0 {
		ch.errorf("shutdown_timeout", ErrInvalid, "shutdown_timeout must be greater than 0")
	}
	c.SIEM.validate(ch)
	c.validateSilences(ch)
	c.SLA.validate(ch)
	c.validateCorrelation(ch)
	c.validateForward(ch)
	c.Remediation.validate(ch)
	c.validateRetention(ch)
	c.Slack.validate(ch)
	firstLine := map[string]string{} // monitor name → path of its first use
	for i := range c.Monitors {
		m := &c.Monitors[i]
		path := fmt.Sprintf("monitors[%d]", i)
		m.validate(ch, path)
		if m.Name == "" {
			continue
		}
		if first, dup := firstLine[m.Name]; dup {
			where := first
			if l := ch.line(joinPath(first, "name")); l > 0 {
				where = "line " + strconv.Itoa(l)
			}
			ch.errorf(joinPath(path, "name"), ErrDuplicate, "duplicate monitor name %s (first used at %s)", quote(m.Name), where)
			continue
		}
		firstLine[m.Name] = path
	}
}

// checkListen returns why addr is not a host:port address, or "".
func checkListen(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = perr
		}
	}
	if err != nil {
		return fmt.Sprintf("invalid listen address %s (use host:port such as 127.0.0.1:8080, or :8080 for all interfaces)", quote(addr))
	}
	return ""
}

// Store URL schemes and the backend each selects.
var storeBackends = map[string]string{
	"sqlite":     "sqlite",
	"postgres":   "postgres",
	"postgresql": "postgres",
}

// storeURLHint shows the accepted store URL forms.
const storeURLHint = "use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB"

// Backend returns the store backend that URL selects, "sqlite" or
// "postgres", or "" if its scheme is not supported.
func (s StoreConfig) Backend() string {
	scheme, _, ok := strings.Cut(s.URL.Reveal(), "://")
	if !ok {
		return ""
	}
	return storeBackends[strings.ToLower(scheme)]
}

// validate checks the store settings. Messages never include the URL,
// which may hold a password; at most its scheme.
func (s StoreConfig) validate(ch *checker) {
	raw := s.URL.Reveal()
	scheme, rest, ok := strings.Cut(raw, "://")
	switch {
	case raw == "":
		ch.errorf("store.url", ErrMissing, "store url is required (%s)", storeURLHint)
	case !ok:
		ch.errorf("store.url", ErrInvalid, "store url has no scheme (%s)", storeURLHint)
	case s.Backend() == "":
		ch.errorf("store.url", ErrInvalid, "unsupported store scheme %s (%s)", quote(scheme), storeURLHint)
	case s.Backend() == "sqlite":
		if path, _, _ := strings.Cut(rest, "?"); path == "" {
			ch.errorf("store.url", ErrInvalid, "sqlite store url has no path (%s)", storeURLHint)
		}
	default:
		if _, err := url.Parse(raw); err != nil {
			ch.errorf("store.url", ErrInvalid, "postgres store url is not a valid URL (%s)", storeURLHint)
		}
	}
	if s.MaxConns < 0 {
		ch.errorf("store.max_conns", ErrInvalid, "max_conns must not be negative, got %d", s.MaxConns)
	}
}

// monitorName is the form of a monitor name.
var monitorName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// checkName records a name of a monitor or other named item (what says
// which) at path that is missing, too long or not of monitorName's form.
func checkName(ch *checker, path, what, name string) {
	switch {
	case name == "":
		ch.errorf(path, ErrMissing, "%s name is required", what)
	case len(name) > MaxMonitorNameLen:
		ch.errorf(path, ErrInvalid, "%s name is longer than %d characters", what, MaxMonitorNameLen)
	case !monitorName.MatchString(name):
		ch.errorf(path, ErrInvalid, "invalid %s name %s (use lower-case letters, digits, _ . and -, starting with a letter or digit)", what, quote(name))
	}
}

// validate checks one monitor; path is its key path, monitors[i].
func (m *Monitor) validate(ch *checker, path string) {
	checkName(ch, joinPath(path, "name"), "monitor", m.Name)
	kind, known := monitorTypes[m.Type]
	switch {
	case m.Type == "":
		ch.errorf(joinPath(path, "type"), ErrMissing, "monitor type is required (known types: %s)", strings.Join(MonitorTypes(), ", "))
	case !known:
		ch.errorf(joinPath(path, "type"), ErrUnknownType, "unknown monitor type %s (known types: %s)", quote(m.Type), strings.Join(MonitorTypes(), ", "))
	}
	if _, err := ParseSchedule(m.Schedule); err != nil {
		ch.errorf(joinPath(path, "schedule"), ErrSchedule, "invalid schedule %s: %v", quote(m.Schedule), err)
	}
	if t := m.Timeout.Std(); t <= 0 || t > MaxMonitorTimeout {
		ch.errorf(joinPath(path, "timeout"), ErrInvalid, "timeout must be greater than 0 and at most %s, got %s", Duration(MaxMonitorTimeout), m.Timeout)
	}
	if m.RecoverAfter < 1 {
		ch.errorf(joinPath(path, "recover_after"), ErrInvalid, "recover_after must be at least 1, got %d", m.RecoverAfter)
	}
	if !known {
		return
	}
	if b := kind.block(m, false); b != nil {
		b.validate(ch, path)
	} else {
		ch.errorf(path, ErrMissing, "the %s settings of the monitor are missing", m.Type)
	}
}

// ParseSchedule parses a monitor schedule the way the scheduler must: a
// standard 5-field cron spec or a descriptor such as @daily or @every 15m
// (robfig/cron's ParseStandard), with @every intervals of at least 1s.
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	if every, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(every)); err == nil && d < time.Second {
			return nil, fmt.Errorf("@every interval must be at least 1s, got %s", every)
		}
	}
	return s, nil
}
