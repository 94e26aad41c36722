package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// SIEMConfig configures event ingestion (POST /api/v1/events): request
// limits, the bounded pipeline that writes events in batches, and data
// minimization.
type SIEMConfig struct {
	// MaxRequestEvents is the most events one ingestion request may carry;
	// more is answered with 413.
	MaxRequestEvents int `yaml:"max_request_events"`
	// MaxRequestBytes is the largest ingestion request body in bytes; a
	// larger one is answered with 413.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// MaxEventAge is how old an event's time may be; it should not exceed
	// the retention of raw events, or the event would be purged at once.
	MaxEventAge Duration `yaml:"max_event_age"`
	// QueueSize is how many ingestion requests may be in the pipeline at
	// once (decoding, waiting for their batch, being written); more are
	// refused with 503 and Retry-After, so memory stays bounded.
	QueueSize int `yaml:"queue_size"`
	// BatchMaxRows is the most events written in one transaction (SQLite)
	// or COPY (PostgreSQL).
	BatchMaxRows int `yaml:"batch_max_rows"`
	// BatchInterval is the longest a request waits for others to share
	// its batch before the batch is written; 0 writes as soon as the queue
	// is empty.
	BatchInterval Duration `yaml:"batch_interval"`
	// FingerprintAttributes are the attribute keys that, with the source
	// and the kind, make the default fingerprint of an event sent without
	// one.
	FingerprintAttributes []string `yaml:"fingerprint_attributes"`
	// Attributes selects the attributes that are kept.
	Attributes SIEMAttributes `yaml:"attributes"`
	// Correlation configures the correlation rules (correlation.go).
	Correlation CorrelationConfig `yaml:"correlation"`
}

// SIEMAttributes configures data minimization of event attributes.
type SIEMAttributes struct {
	// Allow, when not empty, is the list of attribute keys kept (compared
	// case-insensitively); every other attribute is dropped.
	Allow []string `yaml:"allow"`
	// Deny are keys (or key words, matched like the built-in content-like
	// words) that are dropped in addition to the built-in list.
	Deny []string `yaml:"deny"`
}

// Defaults and limits of the siem section.
const (
	// DefaultSIEMMaxRequestEvents is the most events per request.
	DefaultSIEMMaxRequestEvents = 1000
	// DefaultSIEMMaxRequestBytes is the largest request body: 1 MiB.
	DefaultSIEMMaxRequestBytes = 1 << 20
	// DefaultSIEMMaxEventAge matches the default retention of raw events.
	DefaultSIEMMaxEventAge = 7 * 24 * time.Hour
	// DefaultSIEMQueueSize is how many requests the pipeline holds.
	DefaultSIEMQueueSize = 64
	// DefaultSIEMBatchMaxRows is the most events per write.
	DefaultSIEMBatchMaxRows = 1000
	// DefaultSIEMBatchInterval is the longest wait for a batch to fill.
	DefaultSIEMBatchInterval = 20 * time.Millisecond

	// MaxSIEMRequestEvents bounds SIEMConfig.MaxRequestEvents.
	MaxSIEMRequestEvents = 10000
	// MaxSIEMRequestBytes bounds SIEMConfig.MaxRequestBytes: 16 MiB.
	MaxSIEMRequestBytes = 16 << 20
	// MinSIEMRequestBytes is the least SIEMConfig.MaxRequestBytes: 1 KiB.
	MinSIEMRequestBytes = 1 << 10
	// MaxSIEMQueueSize bounds SIEMConfig.QueueSize.
	MaxSIEMQueueSize = 4096
	// MaxSIEMBatchMaxRows bounds SIEMConfig.BatchMaxRows.
	MaxSIEMBatchMaxRows = 10000
	// MaxSIEMBatchInterval bounds SIEMConfig.BatchInterval.
	MaxSIEMBatchInterval = time.Second
	// MaxSIEMAttributeKeys bounds the allow, deny and fingerprint lists.
	MaxSIEMAttributeKeys = 256
)

// DefaultSIEM returns the defaults of the siem section.
func DefaultSIEM() SIEMConfig {
	return SIEMConfig{
		MaxRequestEvents: DefaultSIEMMaxRequestEvents,
		MaxRequestBytes:  DefaultSIEMMaxRequestBytes,
		MaxEventAge:      Duration(DefaultSIEMMaxEventAge),
		QueueSize:        DefaultSIEMQueueSize,
		BatchMaxRows:     DefaultSIEMBatchMaxRows,
		BatchInterval:    Duration(DefaultSIEMBatchInterval),
	}
}

// siemAttributeKey is the form of an event attribute key, as ingestion
// accepts it.
var siemAttributeKey = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// validate checks the siem section.
func (s *SIEMConfig) validate(ch *checker) {
	if n := s.MaxRequestEvents; n < 1 || n > MaxSIEMRequestEvents {
		ch.errorf("siem.max_request_events", ErrInvalid, "max_request_events must be between 1 and %d, got %d", MaxSIEMRequestEvents, n)
	}
	if n := s.MaxRequestBytes; n < MinSIEMRequestBytes || n > MaxSIEMRequestBytes {
		ch.errorf("siem.max_request_bytes", ErrInvalid, "max_request_bytes must be between %d (1 KiB) and %d (16 MiB), got %d", MinSIEMRequestBytes, MaxSIEMRequestBytes, n)
	}
	if s.MaxEventAge.Std() < time.Minute {
		ch.errorf("siem.max_event_age", ErrInvalid, "max_event_age must be at least 1m, got %s", s.MaxEventAge)
	}
	if n := s.QueueSize; n < 1 || n > MaxSIEMQueueSize {
		ch.errorf("siem.queue_size", ErrInvalid, "queue_size must be between 1 and %d, got %d", MaxSIEMQueueSize, n)
	}
	if n := s.BatchMaxRows; n < 1 || n > MaxSIEMBatchMaxRows {
		ch.errorf("siem.batch_max_rows", ErrInvalid, "batch_max_rows must be between 1 and %d, got %d", MaxSIEMBatchMaxRows, n)
	}
	if d := s.BatchInterval.Std(); d > MaxSIEMBatchInterval {
		ch.errorf("siem.batch_interval", ErrInvalid, "batch_interval must be at most %s, got %s", Duration(MaxSIEMBatchInterval), s.BatchInterval)
	}
	checkKeyList(ch, "siem.fingerprint_attributes", s.FingerprintAttributes)
	checkKeyList(ch, "siem.attributes.allow", s.Attributes.Allow)
	checkKeyList(ch, "siem.attributes.deny", s.Attributes.Deny)
}

// checkKeyList checks a list of attribute keys: each well-formed, none
// repeated (case-insensitively), not too many.
func checkKeyList(ch *checker, path string, keys []string) {
	if len(keys) > MaxSIEMAttributeKeys {
		ch.errorf(path, ErrInvalid, "at most %d keys, got %d", MaxSIEMAttributeKeys, len(keys))
		return
	}
	seen := make(map[string]int, len(keys))
	for i, k := range keys {
		kp := fmt.Sprintf("%s[%d]", path, i)
		if !siemAttributeKey.MatchString(k) {
			ch.errorf(kp, ErrInvalid, "invalid attribute key %s (use 1 to 64 letters, digits, _ . and -)", quote(k))
			continue
		}
		lk := strings.ToLower(k)
		if first, dup := seen[lk]; dup {
			ch.errorf(kp, ErrDuplicate, "duplicate attribute key %s (first at %s[%d])", quote(k), path, first)
			continue
		}
		seen[lk] = i
	}
}
