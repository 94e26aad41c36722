package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Defaults of Options.
const (
	// DefaultMaxSignedBody bounds the body of a signed request, which is
	// read whole to check its signature (larger: 413).
	DefaultMaxSignedBody = 1 << 20
	// DefaultFlushInterval is how often aggregated hits become events.
	DefaultFlushInterval = time.Second
	// nonceSweepEvery is how often expired nonces are deleted.
	nonceSweepEvery = time.Minute
	// lastUsedEvery is how often a key's last use is written at most.
	lastUsedEvery = time.Minute
	// backgroundTimeout bounds one flush or purge.
	backgroundTimeout = 10 * time.Second
)

// Options configures an Authenticator.
type Options struct {
	// Store holds the keys, nonces and secrets; required.
	Store Store
	// MasterKey derives the signing secrets (see LoadMasterKey); required,
	// at least MinMasterKeyLen bytes.
	MasterKey []byte
	// Limits are the rate limits; the zero value limits nothing, use
	// DefaultLimits for the defaults.
	Limits Limits
	// CacheTTL is how long a verified key is trusted before its row is
	// read again, so a revoked key stops working within CacheTTL; at most
	// MaxCacheTTL. 0 reads the row on every request (bcrypt is still paid
	// only once).
	CacheTTL time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// MaxSignedBody bounds a signed request's body; 0 means
	// DefaultMaxSignedBody.
	MaxSignedBody int64
	// Recorder receives rate-limit hits and authentication failures as
	// events; nil only counts them.
	Recorder Recorder
	// Observer counts outcomes for metrics; nil counts nothing.
	Observer Observer
	// Logger receives background errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FlushInterval is how often hits are turned into events; 0 means
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// MaxConcurrentBcrypt bounds bcrypt verifications in flight, so a
	// flood of bad secrets cannot take every CPU; 0 means GOMAXPROCS.
	MaxConcurrentBcrypt int
	// NonceTTL is how long a signed request's nonce is remembered; 0
	// means NonceTTL, which is also the least allowed: a shorter one
	// would forget a nonce while its request's timestamp is still
	// accepted, letting a replay through.
	NonceTTL time.Duration
	// ExternalNoncePurge leaves deleting expired nonces to the caller
	// (the daemon's retention purger, which records what it deletes);
	// otherwise Start's background work purges them every minute.
	ExternalNoncePurge bool
}

func (o *Options) validate() error {
	if o.Store == nil {
		return errors.New("auth: Store is required")
	}
	if len(o.MasterKey) < MinMasterKeyLen {
		return fmt.Errorf("auth: MasterKey must have at least %d bytes", MinMasterKeyLen)
	}
	if o.CacheTTL < 0 || o.CacheTTL > MaxCacheTTL {
		return fmt.Errorf("auth: CacheTTL must be between 0 and %s, got %s", MaxCacheTTL, o.CacheTTL)
	}
	for name, l := range map[string]Limit{ClassIngest: o.Limits.Ingest, ClassRead: o.Limits.Read, ClassAdmin: o.Limits.Admin, ClassAuthFailure: o.Limits.AuthFailure} {
		if !l.Unlimited() && l.Burst < 1 {
			return fmt.Errorf("auth: limit %s: burst must be at least 1 when rps is set", name)
		}
	}
	if o.MaxSignedBody <= 0 {
		o.MaxSignedBody = DefaultMaxSignedBody
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxConcurrentBcrypt <= 0 {
		o.MaxConcurrentBcrypt = runtime.GOMAXPROCS(0)
	}
	switch {
	case o.NonceTTL == 0:
		o.NonceTTL = NonceTTL
	case o.NonceTTL < NonceTTL:
		return fmt.Errorf("auth: NonceTTL must be at least %s (the signature timestamp window), got %s", NonceTTL, o.NonceTTL)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Authenticator guards HTTP routes with API keys, roles, request
// signatures and rate limits (Require), and manages the keys. It is safe
// for concurrent use. Start runs its background work (turning hits into
// events, writing last-use times, purging expired nonces); Stop ends it.
type Authenticator struct {
	opts     Options
	cache    *keyCache
	limiters *limiterSet
	hits     *hitLog
	bcrypt   chan struct{}

	mu      sync.Mutex
	stop    chan struct{}
	done    chan struct{}
	stopped bool
}

// New returns an Authenticator; nothing runs until Start.
func New(opts Options) (*Authenticator, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Authenticator{
		opts:     opts,
		cache:    newKeyCache(0),
		limiters: newLimiterSet(0),
		hits:     newHitLog(),
		bcrypt:   make(chan struct{}, opts.MaxConcurrentBcrypt),
	}, nil
}

// CreateKey creates a key (see CreateKey) in the authenticator's store.
func (a *Authenticator) CreateKey(ctx context.Context, spec KeySpec) (NewKey, error) {
	return CreateKey(ctx, a.opts.Store, a.opts.MasterKey, spec, a.opts.Now())
}

// SigningSecret returns the signing secret of key id.
func (a *Authenticator) SigningSecret(id string) string { return SigningSecret(a.opts.MasterKey, id) }

// Require wraps next so that it runs only for requests that carry a valid
// API key whose role allows role (admin allows everything), correctly
// signed when the key requires it (or when the request carries a
// signature), within the rate limits of the route class of role. Refusals:
// 401 with WWW-Authenticate: Bearer for a missing, malformed, unknown,
// expired or revoked key and for a bad, stale or replayed signature, all
// with one generic message; 403 for a role that does not suffice; 429
// with Retry-After for a rate limit; 413 for a signed body over the limit;
// 503 when the store cannot be reached. next finds the Principal with
// FromContext.
func (a *Authenticator) Require(role Role, next http.Handler) http.Handler {
	if !role.Valid() {
		panic(fmt.Sprintf("auth: Require with unknown role %q", role))
	}
	class := role.class()
	limit := a.opts.Limits.forClass(class)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := a.opts.Now()
		rq := request{r: r, route: routeOf(r), ip: addrKey(clientAddr(r, a.opts.TrustedProxies)), now: now}

		// Brute force: an address with no failures left is refused before
		// any credential is looked at.
		fl := a.opts.Limits.AuthFailure
		if limited, d := a.limiters.exhausted(ClassAuthFailure+"|ip|"+rq.ip, fl, now); limited {
			a.rateLimited(w, rq, ClassAuthFailure, "ip", "", fl, d)
			return
		}

		e, reason, keyID, err := a.authenticate(r.Context(), r, now)
		if err != nil {
			a.unavailable(w, "authenticate", err)
			return
		}
		if reason != "" {
			a.failed(w, rq, reason, keyID)
			return
		}
		k := e.key

		signed := false
		if k.RequireSignature || r.Header.Get(HeaderSignature) != "" {
			body, status := readBody(r, a.opts.MaxSignedBody)
			if status != 0 {
				msg := "could not read the request body"
				if status == http.StatusRequestEntityTooLarge {
					msg = fmt.Sprintf("a signed request body may have at most %d bytes", a.opts.MaxSignedBody)
				}
				writeError(w, status, msg)
				return
			}
			if reason := checkSignature(r, e, body, now); reason != "" {
				a.failed(w, rq, reason, k.ID)
				return
			}
			signed = true
		}

		if !k.Role.Allows(role) {
			a.opts.Observer.Forbidden(k.Role)
			writeError(w, http.StatusForbidden, "forbidden: this route requires the "+string(role)+" role")
			return
		}

		// Per key and per address; a refused request spends neither.
		if i, d := a.limiters.take(limit, now, class+"|key|"+k.ID, class+"|ip|"+rq.ip); i >= 0 {
			a.rateLimited(w, rq, class, [2]string{"key", "ip"}[i], k.ID, limit, d)
			return
		}

		if signed {
			fresh, err := a.opts.Store.ClaimNonce(r.Context(), k.ID, r.Header.Get(HeaderNonce), now, now.Add(a.opts.NonceTTL))
			if err != nil {
				a.unavailable(w, "claim nonce", err)
				return
			}
			if !fresh {
				a.failed(w, rq, ReasonReplayedNonce, k.ID)
				return
			}
		}

		a.hits.touch(k.ID, now)
		a.opts.Observer.Authenticated(k.Role)
		p := Principal{KeyID: k.ID, Name: k.Name, Role: k.Role, Signed: signed}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// request is what the refusal paths need to know about a request.
type request struct {
	r     *http.Request
	route string
	ip    string
	now   time.Time
}

// routeOf names the route of r for events: its mux pattern, else its
// method and path (never the query, which may carry anything).
func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + r.URL.Path
}

// authenticate checks the bearer token of r. It returns the verified
// entry, or the reason of a refusal (with the key id when the token had
// one), or an error when the store failed.
func (a *Authenticator) authenticate(ctx context.Context, r *http.Request, now time.Time) (e *cacheEntry, reason, keyID string, err error) {
	token, reason := bearerToken(r)
	if reason != "" {
		return nil, reason, "", nil
	}
	id, secret, ok := ParseToken(token)
	if !ok {
		return nil, ReasonMalformed, "", nil
	}
	d := a.cache.digest(token)
	if e := a.cache.get(d); e != nil {
		if now.Sub(e.checked) >= a.opts.CacheTTL {
			e, reason, err = a.recheck(ctx, d, e, now)
			if err != nil || reason != "" {
				return nil, reason, id, err
			}
		}
		if e != nil {
			if reason := statusReason(e.key.Status(now)); reason != "" {
				a.cache.delete(d)
				return nil, reason, id, nil
			}
			e.lastUsed.Store(now.UnixNano())
			return e, "", id, nil
		}
	}

	k, err := a.opts.Store.GetAPIKey(ctx, id)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, ReasonUnknownKey, id, nil
	}
	if err != nil {
		return nil, "", id, err
	}
	if reason := statusReason(k.Status(now)); reason != "" {
		return nil, reason, id, nil
	}
	select {
	case a.bcrypt <- struct{}{}:
	case <-ctx.Done():
		return nil, "", id, ctx.Err()
	}
	err = bcrypt.CompareHashAndPassword([]byte(k.SecretHash), []byte(secret))
	<-a.bcrypt
	if err != nil {
		return nil, ReasonBadSecret, id, nil
	}
	e = &cacheEntry{key: k, signing: deriveSigningKey(a.opts.MasterKey, k.ID), checked: now}
	a.cache.put(d, e, now)
	return e, "", id, nil
}

// recheck reads a cached key's row again. It returns the refreshed entry;
// nil without a reason when the key's hash changed (verify afresh); or
// the reason to refuse.
func (a *Authenticator) recheck(ctx context.Context, d digest, e *cacheEntry, now time.Time) (*cacheEntry, string, error) {
	k, err := a.opts.Store.GetAPIKey(ctx, e.key.ID)
	if errors.Is(err, ErrKeyNotFound) {
		a.cache.delete(d)
		return nil, ReasonUnknownKey, nil
	}
	if err != nil {
		return nil, "", err
	}
	if !hmac.Equal([]byte(k.SecretHash), []byte(e.key.SecretHash)) {
		a.cache.delete(d)
		return nil, "", nil
	}
	fresh := &cacheEntry{key: k, signing: e.signing, checked: now}
	a.cache.put(d, fresh, now)
	return fresh, "", nil
}

// bearerToken extracts the token of the one Authorization: Bearer header.
func bearerToken(r *http.Request) (string, string) {
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0:
		return "", ReasonMissing
	case len(vals) > 1:
		return "", ReasonMalformed
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ReasonMalformed
	}
	return strings.TrimSpace(token), ""
}

func statusReason(s KeyStatus) string {
	switch s {
	case StatusRevoked:
		return ReasonRevoked
	case StatusExpired:
		return ReasonExpired
	default:
		return ""
	}
}

// checkSignature verifies the signature headers of r against the key's
// signing key, or returns the reason to refuse. The nonce is claimed
// later, once the request has passed the rate limits.
func checkSignature(r *http.Request, e *cacheEntry, body []byte, now time.Time) string {
	if id := r.Header.Get(HeaderKey); id != "" && id != e.key.ID {
		return ReasonKeyMismatch
	}
	sig := r.Header.Get(HeaderSignature)
	if sig == "" {
		return ReasonSignatureMiss
	}
	err := verifySignature(hmac.New(sha256.New, e.signing), r.Method, r.URL.RequestURI(),
		r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderNonce), sig, body, now)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrStaleTimestamp):
		return ReasonStaleTimestamp
	default:
		return ReasonBadSignature
	}
}

// readBody reads r's body up to max bytes and puts it back for the
// handler. It returns a non-zero status when the body is too large (413)
// or cannot be read (400).
func readBody(r *http.Request, max int64) ([]byte, int) {
	if r.ContentLength > max {
		return nil, http.StatusRequestEntityTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, http.StatusBadRequest
	}
	if int64(len(body)) > max {
		return nil, http.StatusRequestEntityTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return body, 0
}

// unauthorizedMessage is the one answer to every failed authentication.
const unauthorizedMessage = "unauthorized: a valid API key is required (Authorization: Bearer secopsd_…), with a fresh request signature for keys that require one"

// failed refuses an authentication: it spends one of the address's
// failure tokens, counts and records the failure and answers 401.
func (a *Authenticator) failed(w http.ResponseWriter, rq request, reason, keyID string) {
	a.limiters.take(a.opts.Limits.AuthFailure, rq.now, ClassAuthFailure+"|ip|"+rq.ip)
	a.opts.Observer.AuthFailed(reason)
	attrs := map[string]string{"reason": reason, "ip": rq.ip}
	if keyID != "" {
		attrs["key_id"] = keyID
	}
	a.hits.add(hit{kind: KindAuthFailure, route: rq.route, attrs: attrs}, rq.now)
	w.Header().Set("WWW-Authenticate", `Bearer realm="secopsd"`)
	writeError(w, http.StatusUnauthorized, unauthorizedMessage)
}

// rateLimited refuses a request over a limit: 429 with Retry-After, and
// the hit is counted and recorded.
func (a *Authenticator) rateLimited(w http.ResponseWriter, rq request, class, scope, keyID string, l Limit, d time.Duration) {
	a.opts.Observer.RateLimited(class, scope)
	attrs := map[string]string{"class": class, "scope": scope, "ip": rq.ip, "limit": l.String()}
	if keyID != "" {
		attrs["key_id"] = keyID
	}
	a.hits.add(hit{kind: KindRateLimitHit, route: rq.route, attrs: attrs}, rq.now)
	ra := retryAfter(d)
	w.Header().Set("Retry-After", ra)
	writeError(w, http.StatusTooManyRequests, "rate limit exceeded ("+class+" "+l.String()+"); retry after "+ra+"s")
}

// unavailable answers 503 when the store fails; the cause is logged, not
// shown.
func (a *Authenticator) unavailable(w http.ResponseWriter, what string, err error) {
	a.opts.Logger.Error("authentication unavailable", "step", what, "err", err)
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "authentication is temporarily unavailable")
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Start runs the background work until Stop: every FlushInterval the
// aggregated hits are recorded and last-use times written; every minute
// expired nonces are purged, unless ExternalNoncePurge is set. Calling it
// again does nothing.
func (a *Authenticator) Start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stop != nil || a.stopped {
		return
	}
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.loop(a.stop, a.done)
}

// Stop ends the background work and records what is still pending,
// within ctx.
func (a *Authenticator) Stop(ctx context.Context) error {
	a.mu.Lock()
	stop, done, already := a.stop, a.done, a.stopped
	a.stopped = true
	a.mu.Unlock()
	if already {
		return nil
	}
	if stop != nil {
		close(stop)
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("stop authenticator: %w", ctx.Err())
		}
	}
	return a.Flush(ctx)
}

func (a *Authenticator) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	flush := time.NewTicker(a.opts.FlushInterval)
	defer flush.Stop()
	var sweepC <-chan time.Time // nil, never ready: someone else purges
	if !a.opts.ExternalNoncePurge {
		sweep := time.NewTicker(nonceSweepEvery)
		defer sweep.Stop()
		sweepC = sweep.C
	}
	for {
		select {
		case <-stop:
			return
		case <-flush.C:
			ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
			if err := a.flush(ctx, false); err != nil {
				a.opts.Logger.Error("record authentication events", "err", err)
			}
			cancel()
		case <-sweepC:
			ctx, cancel := context.WithTimeout(context.Background(), backgroundTimeout)
			n, err := a.opts.Store.PurgeNonces(ctx, a.opts.Now())
			cancel()
			if err != nil {
				a.opts.Logger.Error("purge expired nonces", "err", err)
			} else if n > 0 {
				a.opts.Logger.Debug("purged expired nonces", "count", n)
			}
		}
	}
}

// Flush records the aggregated hits and writes every pending last-use
// time now.
func (a *Authenticator) Flush(ctx context.Context) error { return a.flush(ctx, true) }

func (a *Authenticator) flush(ctx context.Context, all bool) error {
	evs, touches := a.hits.take(a.opts.Now(), all)
	var errs []error
	if len(evs) > 0 && a.opts.Recorder != nil {
		if err := a.opts.Recorder.Record(ctx, evs...); err != nil {
			errs = append(errs, fmt.Errorf("record %d events: %w", len(evs), err))
		}
	}
	for id, at := range touches {
		if err := a.opts.Store.TouchAPIKey(ctx, id, at); err != nil {
			errs = append(errs, fmt.Errorf("write last use of key %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
