package config

import "time"

// UIConfig configures the auditor web UI served under /ui/ (not to be
// confused with the ui monitor type, UIMonitor). People sign in with a
// viewer or admin API key; the key is verified once and exchanged for a
// session cookie.
type UIConfig struct {
	// Enabled serves the web UI; false leaves /ui/ unrouted.
	Enabled *bool `yaml:"enabled"`
	// SessionIdle ends a session that has not been used for this long.
	SessionIdle Duration `yaml:"session_idle"`
	// SessionMax ends a session this long after its sign-in, however
	// busy.
	SessionMax Duration `yaml:"session_max"`
	// SecureCookies marks the session cookie Secure even on plain HTTP,
	// for a daemon behind a TLS-terminating proxy. Over the daemon's own
	// TLS listener cookies are always Secure.
	SecureCookies bool `yaml:"secure_cookies"`
}

// Defaults and limits of the ui section.
const (
	// DefaultUISessionIdle ends sessions unused for 30 minutes.
	DefaultUISessionIdle = 30 * time.Minute
	// DefaultUISessionMax ends sessions 8 hours after sign-in.
	DefaultUISessionMax = 8 * time.Hour
	// MinUISessionIdle and MaxUISessionIdle bound UIConfig.SessionIdle.
	MinUISessionIdle = time.Minute
	MaxUISessionIdle = 12 * time.Hour
	// MaxUISessionMax bounds UIConfig.SessionMax: a session is short-lived
	// by design.
	MaxUISessionMax = 24 * time.Hour
)

// DefaultUI returns the defaults of the ui section: enabled, sessions idle
// 30m and at most 8h, cookies Secure only over TLS.
func DefaultUI() UIConfig {
	enabled := true
	return UIConfig{
		Enabled:     &enabled,
		SessionIdle: Duration(DefaultUISessionIdle),
		SessionMax:  Duration(DefaultUISessionMax),
	}
}

// On reports whether the web UI is served.
func (u UIConfig) On() bool { return u.Enabled == nil || *u.Enabled }

// validate checks the ui section.
func (u *UIConfig) validate(ch *checker) {
	idle, maxAge := u.SessionIdle.Std(), u.SessionMax.Std()
	if idle < MinUISessionIdle || idle > MaxUISessionIdle {
		ch.errorf("ui.session_idle", ErrInvalid, "session_idle must be between %s and %s, got %s",
			Duration(MinUISessionIdle), Duration(MaxUISessionIdle), u.SessionIdle)
	}
	switch {
	case maxAge < MinUISessionIdle || maxAge > MaxUISessionMax:
		ch.errorf("ui.session_max", ErrInvalid, "session_max must be between %s and %s, got %s",
			Duration(MinUISessionIdle), Duration(MaxUISessionMax), u.SessionMax)
	case maxAge < idle && idle <= MaxUISessionIdle:
		ch.errorf("ui.session_max", ErrInvalid, "session_max (%s) must not be shorter than session_idle (%s)", u.SessionMax, u.SessionIdle)
	}
}
