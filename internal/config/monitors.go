package config

import (
	"reflect"
	"slices"
	"strings"
	"time"
)

// monitorBlock is the type-specific block of a monitor (such as
// *HTTPMonitor): a struct whose YAML keys sit beside the common keys.
type monitorBlock interface {
	// validate records the block's problems; path is the monitor's path.
	validate(c *checker, path string)
}

// monitorKind describes one monitor type: the defaults of its common keys
// and how to reach its type-specific block.
type monitorKind struct {
	schedule     string
	timeout      time.Duration
	recoverAfter int
	// block returns m's type-specific block, first setting it to the type's
	// defaults if reset is true; nil if the block is unset.
	block func(m *Monitor, reset bool) monitorBlock
}

// monitorTypes is the one table of monitor types and their defaults. To add
// a type, add its block type in a file of its own (like http.go), a pointer
// field for it on Monitor with the tag yaml:"-", and one entry here.
var monitorTypes = map[string]monitorKind{
	"http": {
		schedule:     "@every 15m",
		timeout:      10 * time.Second,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **HTTPMonitor { return &m.HTTP }, defaultHTTP),
	},
	"headers": {
		schedule:     "@every 12h",
		timeout:      30 * time.Second,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **HeadersMonitor { return &m.Headers }, defaultHeadersMonitor),
	},
	"tls": {
		schedule:     "@every 12h",
		timeout:      30 * time.Second,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **TLSMonitor { return &m.TLS }, defaultTLSMonitor),
	},
	"securitytxt": {
		schedule:     "@every 24h",
		timeout:      30 * time.Second,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **SecurityTxtMonitor { return &m.SecurityTxt }, defaultSecurityTxtMonitor),
	},
	"postgres_rls": {
		schedule:     "@every 24h",
		timeout:      2 * time.Minute,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **PostgresRLSMonitor { return &m.PostgresRLS }, defaultPostgresRLSMonitor),
	},
	"postgres_cascade": {
		schedule:     "@every 24h",
		timeout:      2 * time.Minute,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **PostgresCascadeMonitor { return &m.PostgresCascade }, defaultPostgresCascadeMonitor),
	},
	"access": {
		schedule:     "@every 1h",
		timeout:      30 * time.Second,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **AccessMonitor { return &m.Access }, defaultAccessMonitor),
	},
	"ui": {
		schedule:     "@every 15m",
		timeout:      30 * time.Second,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **UIMonitor { return &m.UI }, defaultUIMonitor),
	},
	"ratelimit": {
		schedule:     "@every 24h",
		timeout:      2 * time.Minute,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **RateLimitMonitor { return &m.RateLimit }, defaultRateLimitMonitor),
	},
	"secrets": {
		schedule:     "@every 6h",
		timeout:      1 * time.Minute,
		recoverAfter: 1,
		block:        blockOf(func(m *Monitor) **SecretsMonitor { return &m.Secrets }, defaultSecretsMonitor),
	},
}

// blockOf builds a monitorKind.block function from the Monitor field that
// holds the block and the constructor of its defaults.
func blockOf[T any, P interface {
	*T
	monitorBlock
}](field func(*Monitor) **T, defaults func() *T) func(*Monitor, bool) monitorBlock {
	return func(m *Monitor, reset bool) monitorBlock {
		f := field(m)
		if reset {
			*f = defaults()
		}
		if *f == nil {
			return nil
		}
		return P(*f)
	}
}

// MonitorTypes returns the names of the monitor types, sorted.
func MonitorTypes() []string {
	types := make([]string, 0, len(monitorTypes))
	for t := range monitorTypes {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// DefaultMonitor returns a monitor of type typ with every default of that
// type set, including its type-specific block; false if typ is unknown.
func DefaultMonitor(typ string) (Monitor, bool) {
	k, ok := monitorTypes[typ]
	if !ok {
		return Monitor{}, false
	}
	m := Monitor{
		Type:         typ,
		Schedule:     k.schedule,
		Timeout:      Duration(k.timeout),
		RecoverAfter: k.recoverAfter,
	}
	k.block(&m, true)
	return m, true
}

// DefaultSchedule returns the schedule a monitor of type typ runs on when
// it sets none, or "" if typ is unknown.
func DefaultSchedule(typ string) string { return monitorTypes[typ].schedule }

// DefaultTimeout returns the timeout of one run of a monitor of type typ
// when it sets none, or 0 if typ is unknown.
func DefaultTimeout(typ string) time.Duration { return monitorTypes[typ].timeout }

// blockKeys returns the YAML keys of the type-specific block of typ.
func blockKeys(typ string) []string {
	var m Monitor
	blk := monitorTypes[typ].block(&m, true)
	return fieldNames(fieldsOf(reflect.TypeOf(blk).Elem(), 0))
}

// otherTypesWithKey names the monitor types other than typ whose block has
// key, as "tls monitors", or "" if none has it.
func otherTypesWithKey(typ, key string) string {
	var owners []string
	for _, t := range MonitorTypes() {
		if t != typ && slices.Contains(blockKeys(t), key) {
			owners = append(owners, t)
		}
	}
	if len(owners) == 0 {
		return ""
	}
	return strings.Join(owners, ", ") + " monitors"
}
