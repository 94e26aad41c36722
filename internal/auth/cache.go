package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the verification cache.
const (
	// MaxCacheTTL bounds how long a verified key is trusted without
	// reading its row again, and so how long a revocation takes to apply.
	MaxCacheTTL = 10 * time.Second
	// defaultMaxCached bounds the verified tokens kept.
	defaultMaxCached = 10_000
	// cacheIdle is how long an unused entry may stay.
	cacheIdle = 10 * time.Minute
)

// digest is the cache key of a token: HMAC-SHA256 under a key drawn at
// random for this process, so the cache holds nothing that could be
// checked against a token offline, and lookups cost no bcrypt.
type digest [sha256.Size]byte

// cacheEntry is a token verified with bcrypt: the key's row as last read
// and the key's derived signing key. Entries are replaced, never changed,
// except for lastUsed.
type cacheEntry struct {
	key      Key
	signing  []byte
	checked  time.Time
	lastUsed atomic.Int64 // unix nanoseconds
}

// keyCache maps token digests to verified keys.
type keyCache struct {
	pool sync.Pool // of HMAC-SHA256 hashes under the process key
	mu   sync.RWMutex
	m    map[digest]*cacheEntry
	max  int
}

func newKeyCache(max int) *keyCache {
	if max <= 0 {
		max = defaultMaxCached
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go ≥ 1.24).
	c := &keyCache{m: make(map[digest]*cacheEntry), max: max}
	c.pool.New = func() any { return hmac.New(sha256.New, secret) }
	return c
}

// digest returns the cache key of token.
func (c *keyCache) digest(token string) digest {
	m := c.pool.Get().(hash.Hash)
	m.Reset()
	_, _ = io.WriteString(m, token)
	var d digest
	m.Sum(d[:0])
	c.pool.Put(m)
	return d
}

func (c *keyCache) get(d digest) *cacheEntry {
	c.mu.RLock()
	e := c.m[d]
	c.mu.RUnlock()
	return e
}

// put stores e under d, first making room if the cache is full: idle
// entries go, then arbitrary ones (which costs their holders one more
// bcrypt verification).
func (c *keyCache) put(d digest, e *cacheEntry, now time.Time) {
	e.lastUsed.Store(now.UnixNano())
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d]; !ok && len(c.m) >= c.max {
		idle := now.Add(-cacheIdle).UnixNano()
		for k, v := range c.m {
			if v.lastUsed.Load() < idle {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[d] = e
}

func (c *keyCache) delete(d digest) {
	c.mu.Lock()
	delete(c.m, d)
	c.mu.Unlock()
}

func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
