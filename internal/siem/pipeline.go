package siem

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/secopsd/secopsd/internal/event"
)

// EventStore is what the ingestion pipeline needs of the store.
type EventStore interface {
	// AppendEvents stores evs durably in one transaction, all or none,
	// and reports which were new (an id already stored is skipped).
	AppendEvents(ctx context.Context, evs []event.Event) (inserted []bool, err error)
	// UnresolvedFingerprints returns which of fps belong to unresolved
	// incidents.
	UnresolvedFingerprints(ctx context.Context, fps []string) (map[string]bool, error)
}

// EventClassifier sets an event's severity, category and open_incident;
// *Classifier is one.
type EventClassifier interface {
	Classify(ctx context.Context, ev *event.Event) error
}

// IncidentHandler receives the stored events that open or extend an
// incident; *incident.Engine is one.
type IncidentHandler interface {
	HandleEvent(ctx context.Context, ev event.Event) error
}

// Correlator watches the stream of stored events and derives new ones
// (such as one "credential stuffing" event from many auth failures). It is
// called from one goroutine, in the order events were stored, with each
// event once; the events it returns are classified, stored and handed to
// the incident engine like ingested ones.
type Correlator interface {
	Observe(ctx context.Context, evs []event.Event) ([]event.Event, error)
}

var (
	_ EventClassifier = (*Classifier)(nil)
)

// Receipt is the pipeline's answer to a request whose events are durable.
type Receipt struct {
	// Accepted is how many events of the request are stored.
	Accepted int `json:"accepted"`
	// Duplicates is how many of them had been stored before (a retry with
	// the same ids from the same source).
	Duplicates int `json:"duplicates"`
}

// PipelineOptions configures a Pipeline. Zero limits take the defaults
// of the siem configuration section.
type PipelineOptions struct {
	// Store keeps the events; Classifier classifies them. Both required.
	Store      EventStore
	Classifier EventClassifier
	// Minimizer minimizes every event before it is classified or stored;
	// nil uses the built-in rules without an allowlist.
	Minimizer *Minimizer
	// Incidents, if set, receives every stored event that the classifier
	// marked open_incident or that matches an unresolved incident.
	Incidents IncidentHandler
	// Correlator, if set, observes every stored event.
	Correlator Correlator

	// MaxRequestEvents and MaxRequestBytes bound one request (413
	// beyond); MaxEventAge bounds how old an event's time may be.
	MaxRequestEvents int
	MaxRequestBytes  int64
	MaxEventAge      time.Duration
	// QueueSize bounds the requests in the pipeline; more are refused.
	QueueSize int
	// BatchMaxRows bounds the events of one write.
	BatchMaxRows int
	// BatchInterval is the longest a batch waits to fill; 0 writes as
	// soon as the queue is empty.
	BatchInterval time.Duration
	// FingerprintAttributes are the attributes that, with the source and
	// kind, make the fingerprint of an event sent without one.
	FingerprintAttributes []string
	// WriteTimeout bounds one batch write; 0 means 30s.
	WriteTimeout time.Duration
	// Logger receives failures (never event contents); nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Pipeline defaults, matching those of the siem configuration section
// (config.DefaultSIEM).
const (
	DefaultMaxRequestEvents = 1000
	DefaultMaxRequestBytes  = 1 << 20
	DefaultMaxEventAge      = 7 * 24 * time.Hour
	DefaultQueueSize        = 64
	DefaultBatchMaxRows     = 1000
	defaultWriteTimeout     = 30 * time.Second
	// handoffBatches bounds the stored batches waiting for the incident
	// engine; when it is full the writer waits, the queue fills up and
	// new requests are refused.
	handoffBatches = 16
)

func (o *PipelineOptions) validate() error {
	if o.Store == nil {
		return errors.New("siem pipeline: Store is required")
	}
	if o.Classifier == nil {
		return errors.New("siem pipeline: Classifier is required")
	}
	if o.Minimizer == nil {
		m, err := NewMinimizer(MinimizerOptions{})
		if err != nil {
			return err
		}
		o.Minimizer = m
	}
	setDefault(&o.MaxRequestEvents, DefaultMaxRequestEvents)
	setDefault(&o.MaxRequestBytes, DefaultMaxRequestBytes)
	setDefault(&o.MaxEventAge, DefaultMaxEventAge)
	setDefault(&o.QueueSize, DefaultQueueSize)
	setDefault(&o.BatchMaxRows, DefaultBatchMaxRows)
	setDefault(&o.WriteTimeout, defaultWriteTimeout)
	if o.BatchInterval < 0 {
		return fmt.Errorf("siem pipeline: negative BatchInterval %s", o.BatchInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Pipeline is the ingestion path of pushed events: decode and validate,
// minimize, classify, then a bounded queue to a single writer that stores
// the events of many requests in one transaction (group commit) and
// answers each request once its events are durable. After the commit the
// writer passes new events to the correlator, then to the incident engine,
// in order and outside the requests' latency. It is safe for concurrent
// use.
type Pipeline struct {
	opts PipelineOptions

	// slots holds a token per request in the pipeline; a request that
	// finds it full is refused at once, so memory stays bounded.
	slots    chan struct{}
	queue    chan *request
	handoff  chan []event.Event
	inflight sync.WaitGroup

	mu     sync.RWMutex // guards closed against slot acquisition
	closed bool

	base       context.Context // cancelled when Close gives up waiting
	cancelBase context.CancelFunc
	closeOnce  sync.Once
	stopped    chan struct{} // closed when writer and handoff have exited
}

// request is one request's events on their way to the writer.
type request struct {
	ctx     context.Context
	evs     []event.Event
	done    chan result
	release func()
}

type result struct {
	receipt Receipt
	err     error
}

// NewPipeline returns a running pipeline; Close stops it.
func NewPipeline(opts PipelineOptions) (*Pipeline, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	p := &Pipeline{
		opts:       opts,
		slots:      make(chan struct{}, opts.QueueSize),
		queue:      make(chan *request, opts.QueueSize),
		handoff:    make(chan []event.Event, handoffBatches),
		base:       base,
		cancelBase: cancel,
		stopped:    make(chan struct{}),
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		p.writeLoop()
	}()
	go func() {
		defer close(p.stopped)
		p.handoffLoop()
		<-writerDone
	}()
	return p, nil
}

// acquire takes a slot for one request, or refuses it when the pipeline
// is full or closed. The returned release gives the slot back.
func (p *Pipeline) acquire() (release func(), err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, newIngestError(ErrClosed, "secopsd is shutting down; retry later")
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return nil, newIngestError(ErrSaturated, "the ingestion pipeline is full; retry later")
	}
	p.inflight.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			<-p.slots
			p.inflight.Done()
		})
	}, nil
}

// Ingest decodes the events of one request body (see DecodeEvents),
// minimizes and classifies them, and returns once they are durable. Errors
// are *IngestError values: a refused request (saturated or closed
// pipeline, unavailable store) stores nothing; nor does an invalid one.
// If ctx ends while the events are queued, Ingest returns ctx's error at
// once, and the events are stored unless the writer had not yet taken them.
func (p *Pipeline) Ingest(ctx context.Context, contentType string, body io.Reader) (Receipt, error) {
	release, err := p.acquire()
	if err != nil {
		return Receipt{}, err
	}
	now := p.opts.Now()
	ins, err := DecodeEvents(body, contentType, DecodeOptions{
		MaxEvents: p.opts.MaxRequestEvents,
		MaxBytes:  p.opts.MaxRequestBytes,
		MaxAge:    p.opts.MaxEventAge,
		Now:       now,
		Redact:    p.opts.Minimizer.RedactString,
	})
	if err != nil {
		release()
		return Receipt{}, err
	}
	evs := make([]event.Event, len(ins))
	for i := range ins {
		evs[i] = p.build(&ins[i])
	}
	return p.enqueue(ctx, evs, release)
}

// Submit records events that secopsd itself produces (such as a rate
// limit hit) through the same path as ingested ones: minimized, classified
// and stored in a batch; it returns once they are durable. Each event
// needs a time, a source and a kind; an empty id is generated and an
// empty fingerprint derived as for ingested events.
func (p *Pipeline) Submit(ctx context.Context, evs []event.Event) (Receipt, error) {
	for i := range evs {
		ev := &evs[i]
		if ev.Time.IsZero() || ev.Source == "" || ev.Kind == "" {
			return Receipt{}, eventError(i, "", "an event needs a time, a source and a kind", "time, source and kind")
		}
	}
	release, err := p.acquire()
	if err != nil {
		return Receipt{}, err
	}
	out := make([]event.Event, len(evs))
	for i, ev := range evs {
		ev.Attributes = cloneMap(ev.Attributes)
		p.prepare(&ev, "", "")
		out[i] = ev
	}
	return p.enqueue(ctx, out, release)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// build turns a validated incoming event into a minimized event.
func (p *Pipeline) build(in *Incoming) event.Event {
	ev := event.Event{Time: in.Time, Source: in.Source, Kind: in.Kind, Attributes: in.Attributes}
	p.prepare(&ev, in.ClientID, in.Fingerprint)
	if in.Severity != event.SeverityUnknown {
		if ev.Attributes == nil {
			ev.Attributes = make(map[string]string, 1)
		}
		ev.Attributes[AttrSeverityHint] = in.Severity.String()
	}
	return ev
}

// prepare minimizes ev and sets its id and fingerprint: derived from the
// client's id and fingerprint (hashed with the source, so that neither is
// stored as sent and sources cannot collide), or a random id and the
// default fingerprint.
func (p *Pipeline) prepare(ev *event.Event, clientID, clientFP string) {
	p.opts.Minimizer.Minimize(ev)
	switch {
	case clientID != "":
		ev.ID = event.Fingerprint("ingest.id", ev.Source, clientID)
	case ev.ID == "":
		ev.ID = newEventID()
	}
	switch {
	case clientFP != "":
		ev.Fingerprint = event.Fingerprint("ingest.fingerprint", ev.Source, clientFP)
	case ev.Fingerprint == "":
		parts := make([]string, 0, 3+len(p.opts.FingerprintAttributes))
		parts = append(parts, "ingest", ev.Source, ev.Kind)
		for _, k := range p.opts.FingerprintAttributes {
			parts = append(parts, k+"="+ev.Attributes[k])
		}
		ev.Fingerprint = event.Fingerprint(parts...)
	}
	ev.Time = ev.Time.UTC()
}

// newEventID returns a 128-bit identifier in hex: the current time in
// microseconds (8 bytes, big-endian) and 8 random bytes. Ids made later
// sort later, so the store appends them to its id index instead of
// inserting at random places, which keeps batch writes fast.
func newEventID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMicro()))
	_, _ = rand.Read(b[8:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	return hex.EncodeToString(b[:])
}

// enqueue classifies evs, hands them to the writer and waits for the
// commit. It owns release.
func (p *Pipeline) enqueue(ctx context.Context, evs []event.Event, release func()) (Receipt, error) {
	for i := range evs {
		if err := p.opts.Classifier.Classify(ctx, &evs[i]); err != nil {
			release()
			if ctx.Err() != nil {
				return Receipt{}, context.Cause(ctx)
			}
			p.opts.Logger.Error("classification failed; request refused", "kind", evs[i].Kind, "err", err)
			e := newIngestError(ErrInternal, "classification failed")
			e.err = fmt.Errorf("%w: %w", ErrInternal, err)
			return Receipt{}, e
		}
	}
	req := &request{ctx: ctx, evs: evs, done: make(chan result, 1), release: release}
	p.queue <- req // never blocks: a slot is held, and the queue has one place per slot
	select {
	case res := <-req.done:
		return res.receipt, res.err
	case <-ctx.Done():
		return Receipt{}, context.Cause(ctx)
	}
}

// writeLoop collects requests into batches and writes them, until the
// queue is closed and drained.
func (p *Pipeline) writeLoop() {
	defer close(p.handoff)
	var carry *request
	for {
		first := carry
		carry = nil
		if first == nil {
			r, ok := <-p.queue
			if !ok {
				return
			}
			first = r
		}
		batch := []*request{first}
		rows := len(first.evs)
		var (
			timer   *time.Timer
			timeout <-chan time.Time
		)
		if p.opts.BatchInterval > 0 && rows < p.opts.BatchMaxRows {
			timer = time.NewTimer(p.opts.BatchInterval)
			timeout = timer.C
		}
	collect:
		for rows < p.opts.BatchMaxRows {
			var (
				r  *request
				ok bool
			)
			if timeout != nil {
				select {
				case r, ok = <-p.queue:
				case <-timeout:
					break collect
				}
			} else {
				select {
				case r, ok = <-p.queue:
				default:
					break collect
				}
			}
			if !ok {
				break collect
			}
			if rows+len(r.evs) > p.opts.BatchMaxRows {
				carry = r
				break collect
			}
			batch = append(batch, r)
			rows += len(r.evs)
		}
		if timer != nil {
			timer.Stop()
		}
		p.write(batch, rows)
	}
}

// write stores the events of batch in one transaction and answers each
// request.
func (p *Pipeline) write(batch []*request, rows int) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			// The client is gone before its events were written: they
			// are not stored, and nobody waits for the answer.
			r.done <- result{err: context.Cause(r.ctx)}
			r.release()
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	all := make([]event.Event, 0, rows)
	for _, r := range live {
		all = append(all, r.evs...)
	}
	ctx, cancel := context.WithTimeout(p.base, p.opts.WriteTimeout)
	inserted, err := p.opts.Store.AppendEvents(ctx, all)
	cancel()
	if err == nil && len(inserted) != len(all) {
		err = fmt.Errorf("store reported %d results for %d events", len(inserted), len(all))
	}
	if err != nil {
		p.opts.Logger.Error("event batch not stored; its requests are refused", "events", len(all), "requests", len(live), "err", err)
		for _, r := range live {
			e := newIngestError(ErrUnavailable, "the events could not be stored; retry later")
			r.done <- result{err: e}
			r.release()
		}
		return
	}
	fresh := make([]event.Event, 0, len(all))
	off := 0
	for _, r := range live {
		rc := Receipt{Accepted: len(r.evs)}
		for i := range r.evs {
			if inserted[off+i] {
				fresh = append(fresh, all[off+i])
			} else {
				rc.Duplicates++
			}
		}
		off += len(r.evs)
		r.done <- result{receipt: rc}
		r.release()
	}
	if len(fresh) == 0 {
		return
	}
	if p.opts.Correlator != nil {
		fresh = append(fresh, p.correlate(fresh)...)
	}
	if p.opts.Incidents != nil {
		p.handoff <- fresh // waits while the incident engine is behind
	}
}

// correlate passes stored events to the correlator, then classifies and
// stores the events it derives; it returns those that were stored.
func (p *Pipeline) correlate(evs []event.Event) []event.Event {
	ctx, cancel := context.WithTimeout(p.base, p.opts.WriteTimeout)
	defer cancel()
	derived, err := p.opts.Correlator.Observe(ctx, evs)
	if err != nil {
		p.opts.Logger.Error("correlation failed", "events", len(evs), "err", err)
	}
	if len(derived) == 0 {
		return nil
	}
	for i := range derived {
		ev := &derived[i]
		if ev.Time.IsZero() {
			ev.Time = p.opts.Now()
		}
		ev.Attributes = cloneMap(ev.Attributes)
		p.prepare(ev, "", "")
	}
	out := derived[:0]
	for i := range derived {
		if err := p.opts.Classifier.Classify(ctx, &derived[i]); err != nil {
			p.opts.Logger.Error("classification of a correlated event failed; event dropped", "kind", derived[i].Kind, "err", err)
			continue
		}
		out = append(out, derived[i])
	}
	inserted, err := p.opts.Store.AppendEvents(ctx, out)
	if err != nil {
		p.opts.Logger.Error("correlated events not stored", "events", len(out), "err", err)
		return nil
	}
	stored := out[:0]
	for i := range out {
		if i < len(inserted) && inserted[i] {
			stored = append(stored, out[i])
		}
	}
	return stored
}

// handoffLoop hands stored events to the incident engine, in order.
func (p *Pipeline) handoffLoop() {
	for evs := range p.handoff {
		p.handOff(evs)
	}
}

func (p *Pipeline) handOff(evs []event.Event) {
	ctx, cancel := context.WithTimeout(p.base, p.opts.WriteTimeout)
	defer cancel()
	var fps []string
	seen := make(map[string]bool)
	for i := range evs {
		if fp := evs[i].Fingerprint; !evs[i].OpenIncident && !seen[fp] {
			seen[fp] = true
			fps = append(fps, fp)
		}
	}
	unresolved := map[string]bool{}
	if len(fps) > 0 {
		var err error
		if unresolved, err = p.opts.Store.UnresolvedFingerprints(ctx, fps); err != nil {
			p.opts.Logger.Error("look-up of unresolved incidents failed; only events that open incidents are handled", "err", err)
			unresolved = map[string]bool{}
		}
	}
	for i := range evs {
		ev := evs[i]
		if !ev.OpenIncident && !unresolved[ev.Fingerprint] {
			continue
		}
		if err := p.opts.Incidents.HandleEvent(ctx, ev); err != nil {
			p.opts.Logger.Error("incident engine failed on an event", "event", ev.ID, "kind", ev.Kind, "err", err)
			continue
		}
		if ev.OpenIncident {
			// Later events with this fingerprint extend the incident.
			unresolved[ev.Fingerprint] = true
		}
	}
}

// PipelineStats is a snapshot of a pipeline's state, for metrics and
// tests.
type PipelineStats struct {
	// InFlight is how many requests hold a slot: being decoded, queued or
	// written.
	InFlight int
	// Capacity is the most requests that may hold a slot (QueueSize).
	Capacity int
	// Closed is set once Close was called.
	Closed bool
}

// Stats returns a snapshot of the pipeline's state.
func (p *Pipeline) Stats() PipelineStats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return PipelineStats{InFlight: len(p.slots), Capacity: cap(p.slots), Closed: p.closed}
}

// Minimizer returns the minimizer the pipeline applies to every event, so
// that events stored another way are minimized alike.
func (p *Pipeline) Minimizer() *Minimizer { return p.opts.Minimizer }

// Close stops accepting requests, waits for those in the pipeline to be
// stored and answered and for the incident engine to receive their
// events, then stops. If ctx ends first, writes in progress are cancelled
// (their requests are refused) and Close returns ctx's error.
func (p *Pipeline) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		go func() {
			p.inflight.Wait()
			close(p.queue)
		}()
	})
	select {
	case <-p.stopped:
		p.cancelBase()
		return nil
	case <-ctx.Done():
		p.cancelBase()
		return fmt.Errorf("close ingestion pipeline: %w", context.Cause(ctx))
	}
}
