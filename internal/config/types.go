// Package config holds secopsd's YAML configuration: its types, defaults,
// strict decoding with file/line/key errors, ${ENV} expansion and validation.
package config

import (
	"strconv"
	"time"
)

// Config is the whole daemon configuration (configs/example.yaml documents
// every option).
type Config struct {
	// Listen is the address of the HTTP server (API, UI, metrics).
	Listen string `yaml:"listen"`
	// TLS makes the HTTP server serve HTTPS (tls_listener.go).
	TLS TLSListenerConfig `yaml:"tls"`
	// UI configures the auditor web UI (ui_server.go).
	UI UIConfig `yaml:"ui"`
	// Store selects the persistence backend by URL scheme.
	Store StoreConfig `yaml:"store"`
	// Auth secures the HTTP API: API key checks, signatures, rate limits.
	Auth AuthConfig `yaml:"auth"`
	// Policies is the directory of Rego policies; empty means the defaults
	// embedded in the binary.
	Policies string `yaml:"policies"`
	// Log configures logging.
	Log LogConfig `yaml:"log"`
	// Scheduler bounds monitor execution.
	Scheduler SchedulerConfig `yaml:"scheduler"`
	// Check configures `secopsd check`.
	Check CheckConfig `yaml:"check"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// SIEM configures event ingestion and data minimization.
	SIEM SIEMConfig `yaml:"siem"`
	// Forward are the outputs that send stored events to the team's SIEM
	// (forward.go).
	Forward []ForwardOutput `yaml:"forward"`
	// Retention says how long each kind of data is kept (retention.go).
	Retention RetentionConfig `yaml:"retention"`
	// Remediation configures playbooks and automated fixes.
	Remediation RemediationConfig `yaml:"remediation"`
	// Silences are maintenance windows that suppress notifications and
	// automation (silences.go).
	Silences []SilenceConfig `yaml:"silences"`
	// SLA sets the SLA clocks of incidents (sla.go).
	SLA SLAConfig `yaml:"sla"`
	// Slack posts incidents to Slack and takes actions from it (slack.go).
	Slack SlackConfig `yaml:"slack"`
	// Monitors are the checks to schedule.
	Monitors []Monitor `yaml:"monitors"`
}

// StoreConfig selects and tunes the store.
type StoreConfig struct {
	// URL is sqlite://PATH (embedded, default) or postgres://... . It may
	// hold a password, so it is a Secret.
	URL Secret `yaml:"url"`
	// MaxConns bounds the PostgreSQL pool (0: backend default).
	MaxConns int `yaml:"max_conns"`
}

// CheckConfig configures the one-off `secopsd check` command.
type CheckConfig struct {
	// FailOn is the least severity of a finding that makes `secopsd check`
	// exit 1 (info, low, medium, high or critical).
	FailOn string `yaml:"fail_on"`
}

// LogConfig configures the daemon's log output.
type LogConfig struct {
	// Level is the least severe level logged: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is the line format: text or json.
	Format string `yaml:"format"`
}

// SchedulerConfig bounds how monitors run.
type SchedulerConfig struct {
	// Concurrency is the most monitor runs in flight at once.
	Concurrency int `yaml:"concurrency"`
	// RunOnStart runs every monitor once at start-up.
	RunOnStart *bool `yaml:"run_on_start"`
	// PerHost is the most requests in flight to one host at once, across
	// all monitors.
	PerHost int `yaml:"per_host"`
	// Jitter shifts each monitor's schedule by a stable offset within
	// ±Jitter × its interval (0 to 0.5), so monitors sharing a schedule
	// do not fire at the same instant.
	Jitter float64 `yaml:"jitter"`
}

// Monitor is one scheduled check. The keys of its type-specific block (for
// example url and expect for type http) sit beside the common keys.
type Monitor struct {
	// Name identifies the monitor in events and incidents; unique.
	Name string `yaml:"name"`
	// Type selects the type-specific block (MonitorTypes lists them).
	Type string `yaml:"type"`
	// Schedule is a cron spec or descriptor (see ParseSchedule).
	Schedule string `yaml:"schedule"`
	// Timeout bounds one run (default: per type).
	Timeout Duration `yaml:"timeout"`
	// RecoverAfter is how many consecutive passing runs resolve an incident.
	RecoverAfter int `yaml:"recover_after"`
	// Labels are copied onto every event of this monitor.
	Labels map[string]string `yaml:"labels"`

	// HTTP is set when Type is "http".
	HTTP *HTTPMonitor `yaml:"-"`
	// Headers is set when Type is "headers".
	Headers *HeadersMonitor `yaml:"-"`
	// TLS is set when Type is "tls".
	TLS *TLSMonitor `yaml:"-"`
	// SecurityTxt is set when Type is "securitytxt".
	SecurityTxt *SecurityTxtMonitor `yaml:"-"`
	// PostgresRLS is set when Type is "postgres_rls".
	PostgresRLS *PostgresRLSMonitor `yaml:"-"`
	// PostgresCascade is set when Type is "postgres_cascade".
	PostgresCascade *PostgresCascadeMonitor `yaml:"-"`
	// Access is set when Type is "access".
	Access *AccessMonitor `yaml:"-"`
	// UI is set when Type is "ui".
	UI *UIMonitor `yaml:"-"`
	// RateLimit is set when Type is "ratelimit".
	RateLimit *RateLimitMonitor `yaml:"-"`
	// Secrets is set when Type is "secrets".
	Secrets *SecretsMonitor `yaml:"-"`
}

// HTTPMonitor is the type-specific configuration of an http monitor.
type HTTPMonitor struct {
	// URL is the absolute http or https URL requested.
	URL string `yaml:"url"`
	// Method is GET, HEAD or POST.
	Method string `yaml:"method"`
	// Headers are sent with every request; values may be credentials.
	Headers map[string]Secret `yaml:"headers"`
	// Expect is what a healthy answer looks like.
	Expect HTTPExpect `yaml:"expect"`
	// Retries is how many times a failed request is retried within one run
	// (go-retryablehttp); every attempt is recorded.
	Retries int `yaml:"retries"`
}

// HTTPExpect is what a healthy answer looks like.
type HTTPExpect struct {
	// Status is the expected status code.
	Status int `yaml:"status"`
	// MaxLatency is the slowest acceptable answer; 0 means no bound.
	MaxLatency Duration `yaml:"max_latency"`
	// BodyContains is text the body must contain; "" checks nothing.
	BodyContains string `yaml:"body_contains"`
	// JSON are conditions on the body parsed as JSON; all must hold.
	JSON []HTTPJSONCondition `yaml:"json"`
}

// Duration is a time.Duration written in YAML as "90s", "15m", "2h" or "7d".
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Secret is a string that never prints: String, GoString and MarshalText
// (so JSON and YAML output too) all give "<redacted>". In YAML it is either
// a plain value or a mapping {file: PATH} (or {value: V}) read at load time.
type Secret string

// Reveal returns the secret value; call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// MarshalText hides the value in any text or JSON encoding.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// GoString hides the value from %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }
