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

	"github.com/secopsd/secopsd/internal/event"
)

// ForwardOutput is one output of the forward section: a tail of the
// durable event log that sends every stored event (monitor results,
// ingested, correlated and secopsd's own) to the team's existing SIEM, at
// least once, from a position kept in the store. Keys the file leaves out
// take their defaults when the configuration is validated (see
// applyDefaults), since list items cannot be pre-filled as the other
// sections are.
type ForwardOutput struct {
	// Name identifies the output in logs and metrics and keys its stored
	// position; unique. Renaming an output starts it afresh.
	Name string `yaml:"name"`
	// Type selects the output: webhook or syslog. The block of the same
	// name holds its settings.
	Type string `yaml:"type"`
	// Start is where an output without a stored position begins: "now"
	// (events stored from its first start on) or "oldest" (every event
	// still in the store). Ignored once a position is stored.
	Start string `yaml:"start"`
	// PollInterval is how often the event log is read for new events
	// when the output has caught up.
	PollInterval Duration `yaml:"poll_interval"`
	// BatchSize is the most events sent in one request or write.
	BatchSize int `yaml:"batch_size"`
	// SettleDelay is how long after the store stamped an event's
	// received_at it is forwarded: writes that started earlier but
	// committed later (concurrent batches, several replicas, clock skew
	// between replicas) must be visible before the position passes them.
	// A pointer, because 0 is a valid setting: nil takes the default.
	SettleDelay *Duration `yaml:"settle_delay"`
	// MinBackoff is the wait after the first failed attempt; each further
	// failure doubles it, with jitter, up to MaxBackoff.
	MinBackoff Duration `yaml:"min_backoff"`
	// MaxBackoff bounds the wait between attempts; it is also the wait
	// after a permanent refusal (a 4xx other than 408 and 429).
	MaxBackoff Duration `yaml:"max_backoff"`
	// Filter selects the events sent; the others are passed over.
	Filter ForwardFilter `yaml:"filter"`
	// Webhook is set when Type is "webhook".
	Webhook *ForwardWebhook `yaml:"webhook"`
	// Syslog is set when Type is "syslog".
	Syslog *ForwardSyslog `yaml:"syslog"`
}

// ForwardFilter selects the events an output sends.
type ForwardFilter struct {
	// MinSeverity is the least severity sent (info, low, medium, high or
	// critical); empty sends every event, unclassified ones included.
	MinSeverity string `yaml:"min_severity"`
	// Kinds are the event kinds sent: exact kinds, or prefixes ending in
	// "*" such as "auth.*"; empty sends every kind.
	Kinds []string `yaml:"kinds"`
}

// ForwardWebhook is the settings block of a webhook output: batches are
// POSTed as NDJSON (one stored event as JSON per line).
type ForwardWebhook struct {
	// URL is the absolute http or https URL the batches are POSTed to. It
	// may carry a token, so it is a Secret and only its scheme and host
	// are ever shown.
	URL Secret `yaml:"url"`
	// Headers are sent with every request; values may be credentials.
	Headers map[string]Secret `yaml:"headers"`
	// SigningSecret, when set, signs every request: the
	// X-Secopsd-Signature header carries t=<unix seconds>,v1=<hex
	// HMAC-SHA256 of "<t>.<body>">.
	SigningSecret Secret `yaml:"signing_secret"`
	// Timeout bounds one request, from connecting to reading the answer.
	Timeout Duration `yaml:"timeout"`
	// CAFile is an absolute path to a PEM bundle of the CAs trusted for
	// an https URL, instead of the system's.
	CAFile string `yaml:"ca_file"`
}

// ForwardSyslog is the settings block of a syslog output: RFC 5424
// messages over TCP with octet-counting framing (RFC 6587), or over TLS
// (RFC 5425).
type ForwardSyslog struct {
	// Network is tls (RFC 5425) or tcp (clear text).
	Network string `yaml:"network"`
	// Address is the receiver's host:port.
	Address string `yaml:"address"`
	// ServerName is the name the TLS certificate must be valid for; empty
	// means the host of Address.
	ServerName string `yaml:"server_name"`
	// CAFile is an absolute path to a PEM bundle of the CAs trusted for
	// TLS, instead of the system's.
	CAFile string `yaml:"ca_file"`
	// Facility is the syslog facility of every message, by name
	// (SyslogFacilities).
	Facility string `yaml:"facility"`
	// Hostname is the HOSTNAME field; empty means the machine's name.
	Hostname string `yaml:"hostname"`
	// AppName is the APP-NAME field.
	AppName string `yaml:"app_name"`
	// Timeout bounds connecting (TLS handshake included) and writing one
	// batch.
	Timeout Duration `yaml:"timeout"`
}

// Output types of the forward section.
const (
	ForwardTypeWebhook = "webhook"
	ForwardTypeSyslog  = "syslog"
)

// Where an output without a stored position starts.
const (
	ForwardStartNow    = "now"
	ForwardStartOldest = "oldest"
)

// Networks of a syslog output.
const (
	SyslogNetworkTLS = "tls"
	SyslogNetworkTCP = "tcp"
)

// Defaults of a forward output.
const (
	DefaultForwardStart        = ForwardStartNow
	DefaultForwardPollInterval = time.Second
	DefaultForwardBatchSize    = 500
	DefaultForwardSettleDelay  = 2 * time.Second
	DefaultForwardMinBackoff   = time.Second
	DefaultForwardMaxBackoff   = 5 * time.Minute
	DefaultForwardTimeout      = 10 * time.Second
	DefaultSyslogNetwork       = SyslogNetworkTLS
	DefaultSyslogFacility      = "authpriv"
	DefaultSyslogAppName       = "secopsd"
)

// Limits of a forward output.
const (
	// MaxForwardOutputs bounds the forward list.
	MaxForwardOutputs = 32
	// MinForwardPollInterval and MaxForwardPollInterval bound PollInterval.
	MinForwardPollInterval = 100 * time.Millisecond
	MaxForwardPollInterval = time.Hour
	// MaxForwardBatchSize bounds BatchSize: the most events the store
	// returns in one read.
	MaxForwardBatchSize = 1000
	// MaxForwardSettleDelay bounds SettleDelay.
	MaxForwardSettleDelay = 10 * time.Minute
	// MinForwardBackoff and MaxForwardBackoff bound MinBackoff and
	// MaxBackoff.
	MinForwardBackoff = 10 * time.Millisecond
	MaxForwardBackoff = time.Hour
	// MaxForwardTimeout bounds the timeout of a webhook or syslog output.
	MaxForwardTimeout = 5 * time.Minute
	// MaxForwardKinds bounds Filter.Kinds.
	MaxForwardKinds = 256
	// MaxSyslogHostname and MaxSyslogAppName are RFC 5424's lengths of
	// the HOSTNAME and APP-NAME fields.
	MaxSyslogHostname = 255
	MaxSyslogAppName  = 48
)

// syslogFacilities are the facility names, indexed by their RFC 5424
// code.
var syslogFacilities = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// SyslogFacilities returns the facility names a syslog output accepts,
// each at the index of its RFC 5424 code (kern 0 … local7 23).
func SyslogFacilities() []string { return slices.Clone(syslogFacilities[:]) }

// SyslogFacilityCode returns the RFC 5424 code of a facility name, and
// false if the name is unknown.
func SyslogFacilityCode(name string) (int, bool) {
	i := slices.Index(syslogFacilities[:], name)
	return i, i >= 0
}

// forwardKind is the form of a filter kind: an event kind, optionally
// cut short and ended by "*" to match a prefix.
var forwardKind = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$|^[a-z0-9][a-z0-9._-]{0,62}\*$`)

// reservedForwardHeaders are set by the webhook output itself and may not
// be configured.
var reservedForwardHeaders = []string{"content-type", "content-length", "content-encoding", "transfer-encoding",
	"host", "connection", "idempotency-key", "x-secopsd-signature", "user-agent"}

// validateForward fills in the defaults of every output and checks the
// forward section.
func (c *Config) validateForward(ch *checker) {
	if len(c.Forward) > MaxForwardOutputs {
		ch.errorf("forward", ErrInvalid, "at most %d outputs, got %d", MaxForwardOutputs, len(c.Forward))
	}
	first := map[string]int{}
	for i := range c.Forward {
		o := &c.Forward[i]
		path := fmt.Sprintf("forward[%d]", i)
		o.applyDefaults(ch, path)
		o.validate(ch, path)
		if o.Name == "" {
			continue
		}
		if j, dup := first[o.Name]; dup {
			ch.errorf(joinPath(path, "name"), ErrDuplicate, "duplicate output name %s (first used by forward[%d])", quote(o.Name), j)
			continue
		}
		first[o.Name] = i
	}
}

// written reports whether the key at path was written in the file; for a
// configuration built in Go (no lines), whether zero is true.
func (c *checker) written(path string, zero bool) bool {
	if c.lines == nil {
		return !zero
	}
	_, ok := c.lines[path]
	return ok
}

// applyDefaults sets every key the file left out (or, for a configuration
// built in Go, left zero or nil) to its default; a key written, even as 0
// or "", is validated as written. Applying them again changes nothing: the
// only valid zero, settle_delay 0s, is a non-nil pointer.
func (o *ForwardOutput) applyDefaults(ch *checker, path string) {
	setDur := func(key string, d *Duration, def time.Duration) {
		if !ch.written(joinPath(path, key), *d == 0) {
			*d = Duration(def)
		}
	}
	if !ch.written(joinPath(path, "start"), o.Start == "") {
		o.Start = DefaultForwardStart
	}
	setDur("poll_interval", &o.PollInterval, DefaultForwardPollInterval)
	if !ch.written(joinPath(path, "batch_size"), o.BatchSize == 0) {
		o.BatchSize = DefaultForwardBatchSize
	}
	if o.SettleDelay == nil {
		d := Duration(DefaultForwardSettleDelay)
		o.SettleDelay = &d
	}
	setDur("min_backoff", &o.MinBackoff, DefaultForwardMinBackoff)
	setDur("max_backoff", &o.MaxBackoff, DefaultForwardMaxBackoff)
	if w := o.Webhook; w != nil {
		if !ch.written(joinPath(path, "webhook.timeout"), w.Timeout == 0) {
			w.Timeout = Duration(DefaultForwardTimeout)
		}
	}
	if s := o.Syslog; s != nil {
		sp := joinPath(path, "syslog")
		if !ch.written(joinPath(sp, "network"), s.Network == "") {
			s.Network = DefaultSyslogNetwork
		}
		if !ch.written(joinPath(sp, "facility"), s.Facility == "") {
			s.Facility = DefaultSyslogFacility
		}
		if !ch.written(joinPath(sp, "app_name"), s.AppName == "") {
			s.AppName = DefaultSyslogAppName
		}
		if !ch.written(joinPath(sp, "timeout"), s.Timeout == 0) {
			s.Timeout = Duration(DefaultForwardTimeout)
		}
	}
}

// checkDurationRange records a problem when d is outside [lo, hi].
func checkDurationRange(ch *checker, path, key string, d Duration, lo, hi time.Duration) {
	if d.Std() < lo || d.Std() > hi {
		ch.errorf(path, ErrInvalid, "%s must be between %s and %s, got %s", key, Duration(lo), Duration(hi), d)
	}
}

// validate checks one output whose defaults are applied; path is its key
// path, forward[i]. Messages never show the URL, header values or secrets.
func (o *ForwardOutput) validate(ch *checker, path string) {
	checkName(ch, joinPath(path, "name"), "output", o.Name)
	tp := joinPath(path, "type")
	types := ForwardTypeWebhook + ", " + ForwardTypeSyslog
	switch o.Type {
	case "":
		ch.errorf(tp, ErrMissing, "output type is required (%s)", types)
	case ForwardTypeWebhook:
		if o.Webhook == nil {
			ch.errorf(joinPath(path, "webhook"), ErrMissing, "a webhook output needs a webhook block (url, headers, …)")
		}
		if o.Syslog != nil {
			ch.errorf(joinPath(path, "syslog"), ErrInvalid, "a syslog block is not allowed in a webhook output")
		}
	case ForwardTypeSyslog:
		if o.Syslog == nil {
			ch.errorf(joinPath(path, "syslog"), ErrMissing, "a syslog output needs a syslog block (address, …)")
		}
		if o.Webhook != nil {
			ch.errorf(joinPath(path, "webhook"), ErrInvalid, "a webhook block is not allowed in a syslog output")
		}
	default:
		ch.errorf(tp, ErrUnknownType, "unknown output type %s (use %s)", quote(o.Type), types)
	}
	if o.Start != ForwardStartNow && o.Start != ForwardStartOldest {
		ch.errorf(joinPath(path, "start"), ErrInvalid, "start must be %s or %s, got %s", ForwardStartNow, ForwardStartOldest, quote(o.Start))
	}
	checkDurationRange(ch, joinPath(path, "poll_interval"), "poll_interval", o.PollInterval, MinForwardPollInterval, MaxForwardPollInterval)
	if n := o.BatchSize; n < 1 || n > MaxForwardBatchSize {
		ch.errorf(joinPath(path, "batch_size"), ErrInvalid, "batch_size must be between 1 and %d, got %d", MaxForwardBatchSize, n)
	}
	checkDurationRange(ch, joinPath(path, "settle_delay"), "settle_delay", *o.SettleDelay, 0, MaxForwardSettleDelay)
	checkDurationRange(ch, joinPath(path, "min_backoff"), "min_backoff", o.MinBackoff, MinForwardBackoff, MaxForwardBackoff)
	checkDurationRange(ch, joinPath(path, "max_backoff"), "max_backoff", o.MaxBackoff, MinForwardBackoff, MaxForwardBackoff)
	if o.MaxBackoff < o.MinBackoff {
		ch.errorf(joinPath(path, "max_backoff"), ErrInvalid, "max_backoff %s is less than min_backoff %s", o.MaxBackoff, o.MinBackoff)
	}
	o.Filter.validate(ch, joinPath(path, "filter"))
	if o.Webhook != nil {
		o.Webhook.validate(ch, joinPath(path, "webhook"))
	}
	if o.Syslog != nil {
		o.Syslog.validate(ch, joinPath(path, "syslog"))
	}
}

// validate checks an output's filter; path is its key path.
func (f *ForwardFilter) validate(ch *checker, path string) {
	if f.MinSeverity != "" {
		if _, err := event.ParseSeverity(f.MinSeverity); err != nil {
			ch.errorf(joinPath(path, "min_severity"), ErrInvalid, "%v", err)
		}
	}
	kp := joinPath(path, "kinds")
	if len(f.Kinds) > MaxForwardKinds {
		ch.errorf(kp, ErrInvalid, "at most %d kinds, got %d", MaxForwardKinds, len(f.Kinds))
		return
	}
	seen := map[string]int{}
	for i, k := range f.Kinds {
		ip := fmt.Sprintf("%s[%d]", kp, i)
		if !forwardKind.MatchString(k) {
			ch.errorf(ip, ErrInvalid, "invalid kind %s (an event kind such as auth.failure, or a prefix ending in * such as auth.*)", quote(k))
			continue
		}
		if j, dup := seen[k]; dup {
			ch.errorf(ip, ErrDuplicate, "kind %s listed twice (first at %s[%d])", quote(k), kp, j)
			continue
		}
		seen[k] = i
	}
}

// validate checks a webhook block; path is its key path.
func (w *ForwardWebhook) validate(ch *checker, path string) {
	up := joinPath(path, "url")
	if raw := w.URL.Reveal(); raw == "" {
		ch.errorf(up, ErrMissing, "url is required for a webhook output (an absolute http or https URL)")
	} else if u, err := url.Parse(raw); err != nil {
		// Never print the URL: it may hold a token.
		ch.errorf(up, ErrInvalid, "url is not a valid URL")
	} else if u.Scheme != "http" && u.Scheme != "https" {
		ch.errorf(up, ErrInvalid, "url must start with http:// or https://")
	} else if u.Hostname() == "" {
		ch.errorf(up, ErrInvalid, "url has no host")
	} else if u.Fragment != "" {
		ch.errorf(up, ErrInvalid, "url must not have a #fragment")
	}
	hp := joinPath(path, "headers")
	validateSecretHeaders(ch, hp, w.Headers)
	for name := range w.Headers {
		if slices.Contains(reservedForwardHeaders, strings.ToLower(name)) {
			ch.errorf(mapKeyPath(hp, name), ErrInvalid, "header %s is set by secopsd and cannot be configured", quote(name))
		}
	}
	checkDurationRange(ch, joinPath(path, "timeout"), "timeout", w.Timeout, time.Millisecond, MaxForwardTimeout)
	if w.CAFile != "" {
		if msg := checkCAFile(w.CAFile); msg != "" {
			ch.errorf(joinPath(path, "ca_file"), ErrInvalid, "%s", msg)
		}
	}
}

// validate checks a syslog block; path is its key path.
func (s *ForwardSyslog) validate(ch *checker, path string) {
	if s.Network != SyslogNetworkTLS && s.Network != SyslogNetworkTCP {
		ch.errorf(joinPath(path, "network"), ErrInvalid, "network must be %s or %s, got %s", SyslogNetworkTLS, SyslogNetworkTCP, quote(s.Network))
	}
	ap := joinPath(path, "address")
	if s.Address == "" {
		ch.errorf(ap, ErrMissing, "address is required for a syslog output (host:port, e.g. siem.example.com:6514)")
	} else if host, port, err := net.SplitHostPort(s.Address); err != nil || host == "" {
		ch.errorf(ap, ErrInvalid, "address %s is not host:port", quote(s.Address))
	} else if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		ch.errorf(ap, ErrInvalid, "address %s has no valid port (1 to 65535)", quote(s.Address))
	}
	if s.Network == SyslogNetworkTCP {
		if s.ServerName != "" {
			ch.errorf(joinPath(path, "server_name"), ErrInvalid, "server_name applies only to network tls")
		}
		if s.CAFile != "" {
			ch.errorf(joinPath(path, "ca_file"), ErrInvalid, "ca_file applies only to network tls")
		}
	}
	if s.ServerName != "" && !isDNSName(s.ServerName) && net.ParseIP(s.ServerName) == nil {
		ch.errorf(joinPath(path, "server_name"), ErrInvalid, "server_name %s is not a host name", quote(s.ServerName))
	}
	if s.CAFile != "" && s.Network == SyslogNetworkTLS {
		if msg := checkCAFile(s.CAFile); msg != "" {
			ch.errorf(joinPath(path, "ca_file"), ErrInvalid, "%s", msg)
		}
	}
	if _, ok := SyslogFacilityCode(s.Facility); !ok {
		ch.errorf(joinPath(path, "facility"), ErrInvalid, "unknown facility %s (use %s)", quote(s.Facility), strings.Join(syslogFacilities[:], ", "))
	}
	if msg := checkSyslogField(s.Hostname, MaxSyslogHostname); msg != "" {
		ch.errorf(joinPath(path, "hostname"), ErrInvalid, "hostname %s", msg)
	}
	if s.AppName == "" {
		ch.errorf(joinPath(path, "app_name"), ErrInvalid, "app_name must not be empty")
	} else if msg := checkSyslogField(s.AppName, MaxSyslogAppName); msg != "" {
		ch.errorf(joinPath(path, "app_name"), ErrInvalid, "app_name %s", msg)
	}
	checkDurationRange(ch, joinPath(path, "timeout"), "timeout", s.Timeout, time.Millisecond, MaxForwardTimeout)
}

// checkSyslogField returns why s cannot be an RFC 5424 header field of at
// most maxLen printable US-ASCII characters, or "".
func checkSyslogField(s string, maxLen int) string {
	if len(s) > maxLen {
		return fmt.Sprintf("is longer than %d characters", maxLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return fmt.Sprintf("%s may hold only printable ASCII without spaces", quote(s))
		}
	}
	if s == "-" {
		return `must not be "-" (the nil value)`
	}
	return ""
}
