package config

import "time"

// Defaults of the daemon-wide settings. Parse starts from Default() and
// decodes the file over it, so a key the file leaves out (or sets to null)
// keeps its default while a key set explicitly, even to zero, is validated
// as written. Per monitor type defaults are in monitorTypes (monitors.go).
const (
	// DefaultListen is the address of the HTTP server: loopback only.
	DefaultListen = "127.0.0.1:8080"
	// DefaultStoreURL is an embedded SQLite database below the working
	// directory.
	DefaultStoreURL = "sqlite://./data/secopsd.db"
	// DefaultPolicies is empty: use the policies embedded in the binary.
	DefaultPolicies = ""
	// DefaultLogLevel is the minimum level logged.
	DefaultLogLevel = "info"
	// DefaultLogFormat is the log line format.
	DefaultLogFormat = "text"
	// DefaultConcurrency is how many monitor runs may be in flight at once.
	DefaultConcurrency = 16
	// DefaultRunOnStart runs every monitor once at start-up.
	DefaultRunOnStart = true
	// DefaultPerHost is how many requests may be in flight to one host.
	DefaultPerHost = 4
	// DefaultJitter is the schedule spread, as a fraction of the interval.
	DefaultJitter = 0.1
	// DefaultCheckFailOn is the least finding severity that fails `check`.
	DefaultCheckFailOn = "low"
	// DefaultShutdownTimeout bounds graceful shutdown.
	DefaultShutdownTimeout = 15 * time.Second
)

// Limits that validation enforces.
const (
	// MaxConcurrency bounds SchedulerConfig.Concurrency.
	MaxConcurrency = 10000
	// MaxPerHost bounds SchedulerConfig.PerHost.
	MaxPerHost = 1000
	// MaxJitter bounds SchedulerConfig.Jitter.
	MaxJitter = 0.5
	// MaxMonitorTimeout bounds Monitor.Timeout.
	MaxMonitorTimeout = 10 * time.Minute
	// MaxMonitorNameLen bounds the length of Monitor.Name.
	MaxMonitorNameLen = 64
)

// Default returns a configuration with every default set and no monitors;
// it is valid as it is.
func Default() *Config {
	runOnStart := DefaultRunOnStart
	return &Config{
		Listen:   DefaultListen,
		Store:    StoreConfig{URL: DefaultStoreURL},
		Auth:     DefaultAuth(),
		Policies: DefaultPolicies,
		Log:      LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Scheduler: SchedulerConfig{
			Concurrency: DefaultConcurrency,
			RunOnStart:  &runOnStart,
			PerHost:     DefaultPerHost,
			Jitter:      DefaultJitter,
		},
		Check:           CheckConfig{FailOn: DefaultCheckFailOn},
		ShutdownTimeout: Duration(DefaultShutdownTimeout),
		SIEM:            DefaultSIEM(),
		SLA:             DefaultSLA(),
		UI:              DefaultUI(),
		Remediation:     DefaultRemediation(),
		Retention:       DefaultRetention(),
		Slack:           DefaultSlack(),
	}
}
