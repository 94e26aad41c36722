package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/secopsd/secopsd/internal/auth"
	"github.com/secopsd/secopsd/internal/event"
)

// Cookie names. The session cookie holds the session id; the login cookie
// the sign-in form's double-submit anti-forgery token.
const (
	SessionCookie   = "secopsd_session"
	LoginCSRFCookie = "secopsd_login_csrf"
)

// Kinds of the events the UI records, with source "secopsd".
const (
	KindSignIn       = "ui.signin"
	KindSignInFailed = "ui.signin_failed"
	KindSignOut      = "ui.signout"
	eventSource      = "secopsd"
)

// ActorPrefix starts the actor of every timeline entry written from the UI:
// "ui:" and the key's name (its id when it has none).
const ActorPrefix = "ui:"

// Limits of the sign-in and of forms.
const (
	idBytes         = 32
	maxLoginBody    = 8 << 10
	maxFormBody     = 64 << 10
	loginCSRFMaxAge = time.Hour
)

// ErrSessionNotFound is returned by a SessionStore for an unknown session.
var ErrSessionNotFound = errors.New("session not found")

// Session is one stored UI session. Only the hash of its id is kept.
type Session struct {
	// IDHash is the hex SHA-256 of the id the browser holds.
	IDHash string
	// KeyID, KeyName and Role identify the API key that signed in.
	KeyID, KeyName string
	Role           auth.Role
	// CreatedAt is the sign-in; ExpiresAt the absolute end; LastSeenAt
	// the last use (kept to about a minute).
	CreatedAt, LastSeenAt, ExpiresAt time.Time
	// RevokedAt is set once the session is signed out.
	RevokedAt *time.Time
}

// SessionStore keeps UI sessions (the daemon's store).
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns a session or an error wrapping
	// ErrSessionNotFound.
	GetSession(ctx context.Context, idHash string) (Session, error)
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	RevokeSession(ctx context.Context, idHash string, at time.Time) error
	// PurgeSessions deletes sessions expired at now, idle since
	// idleBefore, or revoked.
	PurgeSessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
}

// viewer is who makes a signed-in request.
type viewer struct {
	Session Session
	// Name is the key's name, or its id.
	Name  string
	Role  auth.Role
	CSRF  string
	Actor string
}

// IsAdmin reports whether the viewer may act.
func (v *viewer) IsAdmin() bool { return v.Role == auth.RoleAdmin }

// newID returns a random session id (or token) as unpadded base64url.
func newID() string {
	var b [idBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validID reports whether s looks like an id of newID.
func validID(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == idBytes
}

// hashID returns the stored form of a session id.
func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// csrfFor derives the session's anti-forgery token from its id: only the
// holder of the session cookie can know it, and it is never stored.
func csrfFor(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("secopsd ui csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenEqual compares two tokens in constant time; empty never matches.
func tokenEqual(a, b string) bool {
	return a != "" && b != "" && hmac.Equal([]byte(a), []byte(b))
}

// secure reports whether cookies set in answer to r must be Secure.
func (h *Handler) secure(r *http.Request) bool { return r.TLS != nil || h.opts.SecureCookies }

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: h.secure(r), MaxAge: int(maxAge / time.Second)}
	if maxAge <= 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// keyCache remembers the state of the keys behind sessions for
// KeyCheckTTL, so that a page view does not always read the key's row.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	key     auth.Key
	checked time.Time
}

// maxCachedKeys bounds the key cache; it is emptied when full.
const maxCachedKeys = 10000

func newKeyCache() *keyCache { return &keyCache{m: map[string]cachedKey{}} }

// key returns the state of key id, from the cache while fresh.
func (h *Handler) key(ctx context.Context, id string, now time.Time) (auth.Key, error) {
	c := h.keys
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Sub(e.checked) < h.opts.KeyCheckTTL {
		return e.key, nil
	}
	k, err := h.opts.Keys.GetAPIKey(ctx, id)
	if err != nil {
		return auth.Key{}, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedKeys {
		c.m = map[string]cachedKey{}
	}
	c.m[id] = cachedKey{key: k, checked: now}
	c.mu.Unlock()
	return k, nil
}

// touchEvery is how stale a session's recorded last use may get before it
// is written again.
func (h *Handler) touchEvery() time.Duration { return min(time.Minute, h.opts.SessionIdle/10) }

// session wraps next so that it runs only within a live session whose key
// is still active and whose role allows need; post requests must carry
// the session's anti-forgery token in the form field csrf.
func (h *Handler) session(need auth.Role, post bool, next func(http.ResponseWriter, *http.Request, *viewer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := h.opts.Now()
		ctx := r.Context()
		c, err := r.Cookie(SessionCookie)
		if err != nil || !validID(c.Value) {
			h.signedOut(w, r, post)
			return
		}
		s, err := h.opts.Sessions.GetSession(ctx, hashID(c.Value))
		if errors.Is(err, ErrSessionNotFound) {
			h.signedOut(w, r, post)
			return
		}
		if err != nil {
			h.fail(w, r, nil, "read session", err)
			return
		}
		if s.RevokedAt != nil || !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= h.opts.SessionIdle {
			h.signedOut(w, r, post)
			return
		}
		k, err := h.key(ctx, s.KeyID, now)
		switch {
		case errors.Is(err, auth.ErrKeyNotFound):
			k.RevokedAt = &now // gone: as good as revoked
		case err != nil:
			h.fail(w, r, nil, "read api key", err)
			return
		}
		if st := k.Status(now); st != auth.StatusActive || (k.Role != auth.RoleAdmin && k.Role != auth.RoleViewer) {
			reason := "key_" + string(st)
			if st == auth.StatusActive {
				reason = "key_role"
			}
			h.endSession(ctx, r, s, now, reason)
			h.signedOut(w, r, post)
			return
		}
		v := &viewer{Session: s, Name: keyName(s.KeyID, k.Name), Role: k.Role, CSRF: csrfFor(c.Value)}
		v.Actor = ActorPrefix + v.Name
		if !k.Role.Allows(need) {
			h.errorPage(w, r, v, http.StatusForbidden, "This action needs an admin key; you are signed in as a viewer.")
			return
		}
		if post {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
			if err := r.ParseForm(); err != nil {
				h.errorPage(w, r, v, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !tokenEqual(r.PostForm.Get("csrf"), v.CSRF) {
				h.errorPage(w, r, v, http.StatusForbidden, "The form's anti-forgery token is missing or wrong; reload the page and try again.")
				return
			}
		}
		if now.Sub(s.LastSeenAt) >= h.touchEvery() {
			if err := h.opts.Sessions.TouchSession(ctx, s.IDHash, now); err != nil {
				h.opts.Logger.Warn("record session use", "err", err)
			}
		}
		next(w, r, v)
	})
}

func keyName(id, name string) string {
	if name != "" {
		return name
	}
	return id
}

// signedOut answers a request without a live session: a page view goes
// to the sign-in page, a form post is refused.
func (h *Handler) signedOut(w http.ResponseWriter, r *http.Request, post bool) {
	if _, err := r.Cookie(SessionCookie); err == nil {
		h.setCookie(w, r, SessionCookie, "", "/", 0)
	}
	if post {
		h.errorPage(w, r, nil, http.StatusForbidden, "Your session has ended; sign in again.")
		return
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// endSession revokes a session whose key no longer qualifies and records
// it as a sign-out.
func (h *Handler) endSession(ctx context.Context, r *http.Request, s Session, now time.Time, reason string) {
	if err := h.opts.Sessions.RevokeSession(ctx, s.IDHash, now); err != nil {
		h.opts.Logger.Warn("revoke session", "err", err)
	}
	h.record(ctx, r, now, KindSignOut, "UI session of key "+s.KeyID+" ended ("+reason+")",
		map[string]string{"key_id": s.KeyID, "key_name": s.KeyName, "role": string(s.Role), "reason": reason})
}

// loginView is the sign-in page's data.
type loginView struct {
	CSRF  string
	Error string
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.renderLogin(w, r, http.StatusOK, "")
}

// renderLogin shows the sign-in form with a fresh double-submit token.
func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := newID()
	h.setCookie(w, r, LoginCSRFCookie, tok, "/ui/login", loginCSRFMaxAge)
	h.render(w, r, status, "login", nil, loginView{CSRF: tok, Error: msg})
}

// signInRefused is all a refused sign-in is told.
const signInRefused = "Sign-in failed: the API key was not accepted. Use an active viewer or admin key."

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := h.opts.Now()
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, r, http.StatusBadRequest, "The sign-in form could not be read.")
		return
	}
	c, err := r.Cookie(LoginCSRFCookie)
	if err != nil || !tokenEqual(r.PostForm.Get("csrf"), c.Value) {
		h.renderLogin(w, r, http.StatusForbidden, "The sign-in form expired or did not come from this site; try again.")
		return
	}
	ip := peerIP(r)
	p, err := h.opts.Auth.Authenticate(r, r.PostForm.Get("api_key"))
	var se *auth.SignInError
	switch {
	case errors.As(err, &se):
		attrs := map[string]string{"reason": se.Reason, "ip": ip}
		if se.KeyID != "" {
			attrs["key_id"] = se.KeyID
		}
		h.record(ctx, r, now, KindSignInFailed, "UI sign-in failed ("+se.Reason+") from ip "+ip, attrs)
		if se.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((se.RetryAfter+time.Second-1)/time.Second)))
			h.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address; wait a moment and try again.")
			return
		}
		h.renderLogin(w, r, http.StatusUnauthorized, signInRefused)
		return
	case err != nil:
		h.opts.Logger.Error("ui sign-in", "err", err)
		h.renderLogin(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable; try again shortly.")
		return
	}
	if p.Role != auth.RoleAdmin && p.Role != auth.RoleViewer {
		h.record(ctx, r, now, KindSignInFailed, "UI sign-in refused for "+string(p.Role)+" key "+p.KeyID,
			map[string]string{"reason": "role_" + string(p.Role), "ip": ip, "key_id": p.KeyID, "role": string(p.Role)})
		h.renderLogin(w, r, http.StatusUnauthorized, signInRefused)
		return
	}
	if _, err := h.opts.Sessions.PurgeSessions(ctx, now, now.Add(-h.opts.SessionIdle)); err != nil {
		h.opts.Logger.Warn("purge ui sessions", "err", err)
	}
	id := newID()
	s := Session{IDHash: hashID(id), KeyID: p.KeyID, KeyName: p.Name, Role: p.Role,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(h.opts.SessionMax)}
	if err := h.opts.Sessions.CreateSession(ctx, s); err != nil {
		h.opts.Logger.Error("create ui session", "err", err)
		h.renderLogin(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable; try again shortly.")
		return
	}
	// A sign-in that cannot be recorded does not happen.
	if err := h.opts.Recorder.Record(ctx, h.event(now, KindSignIn, "UI sign-in by "+string(p.Role)+" key "+keyName(p.KeyID, p.Name),
		map[string]string{"key_id": p.KeyID, "key_name": p.Name, "role": string(p.Role), "ip": ip})); err != nil {
		h.opts.Logger.Error("record ui sign-in", "err", err)
		_ = h.opts.Sessions.RevokeSession(ctx, s.IDHash, now)
		h.renderLogin(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable; try again shortly.")
		return
	}
	h.keys.mu.Lock()
	delete(h.keys.m, p.KeyID) // the key was just verified; read it afresh
	h.keys.mu.Unlock()
	h.setCookie(w, r, LoginCSRFCookie, "", "/ui/login", 0)
	h.setCookie(w, r, SessionCookie, id, "/", h.opts.SessionMax)
	http.Redirect(w, r, "/ui/incidents", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, v *viewer) {
	now := h.opts.Now()
	if err := h.opts.Sessions.RevokeSession(r.Context(), v.Session.IDHash, now); err != nil {
		h.fail(w, r, v, "sign out", err)
		return
	}
	h.record(r.Context(), r, now, KindSignOut, "UI sign-out by "+v.Name,
		map[string]string{"key_id": v.Session.KeyID, "key_name": v.Session.KeyName, "role": string(v.Role), "reason": "signed_out", "ip": peerIP(r)})
	h.setCookie(w, r, SessionCookie, "", "/", 0)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// record stores one UI event; a failure is logged.
func (h *Handler) record(ctx context.Context, _ *http.Request, now time.Time, kind, title string, attrs map[string]string) {
	if err := h.opts.Recorder.Record(ctx, h.event(now, kind, title, attrs)); err != nil {
		h.opts.Logger.Error("record ui event", "kind", kind, "err", err)
	}
}

func (h *Handler) event(now time.Time, kind, title string, attrs map[string]string) event.Event {
	var b [16]byte
	_, _ = rand.Read(b[:])
	for k, v := range attrs {
		if v == "" {
			delete(attrs, k)
		}
	}
	return event.Event{
		ID:          hex.EncodeToString(b[:]),
		Time:        now,
		Source:      eventSource,
		Kind:        kind,
		Fingerprint: event.Fingerprint(kind, attrs["key_id"], attrs["ip"], attrs["reason"]),
		Title:       title,
		Attributes:  attrs,
	}
}

// peerIP is the address of the request's TCP peer.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
