// Package session keeps the source's web sessions, in memory only.
//
// A session is what a source holds between pressing "get a codename" or
// "log in" and logging out: the derived identity and the private reply key
// live here and nowhere else. Nothing is written to disk, so a seized server
// holds no session, and a restart logs everybody out, which is the safe
// failure. The cookie carries only a random 256-bit token; the map is keyed
// by the token's SHA-256 so that the lookup never compares secret bytes
// directly and a heap dump of the map keys alone cannot be replayed.
package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull means the store already holds Options.Max live sessions. Behind Tor
// every client is 127.0.0.1, so the only defence against a session flood is a
// global cap; the web layer answers with its "busy" page.
var ErrFull = errors.New("session: too many sessions")

// Defaults for Options fields left zero.
const (
	DefaultIdle = 120 * time.Minute
	DefaultMax  = 10000
)

// tokenLen is the length in bytes of session tokens, CSRF tokens and keys.
const tokenLen = 32

// Wiper is the caller's per-session state. Wipe is called exactly once,
// with the session locked, when the session ends (logout, expiry,
// replacement): it must zero any key material it holds.
type Wiper interface{ Wipe() }

// Options configures a Store.
type Options struct {
	Idle time.Duration    // a session unused this long is gone; default DefaultIdle
	Max  int              // most live sessions; default DefaultMax
	Now  func() time.Time // clock, for tests; default time.Now
}

// Store holds the live sessions. It is safe for concurrent use.
type Store struct {
	idle time.Duration
	max  int
	now  func() time.Time

	mu        sync.Mutex // guards byHash and lastSweep
	byHash    map[[32]byte]*Session
	lastSweep time.Time
}

// Session is one source's state. Data is owned by the caller and must only
// be touched between Lock and Unlock.
type Session struct {
	mu       sync.Mutex
	hash     [32]byte
	csrf     string
	lastSeen time.Time // guarded by Store.mu
	holds    int       // requests in progress (uploads); guarded by Store.mu
	ended    bool      // guarded by mu
	deriving atomic.Bool

	// practiceKey and practiceMAC let the practice page check a retyped
	// codename without the session ever holding the codename itself.
	practiceKey [tokenLen]byte
	practiceMAC []byte

	// Data is the caller's state (identity, reply key). Guarded by Lock.
	Data Wiper
}

// New returns an empty store.
func New(o Options) *Store {
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{idle: o.Idle, max: o.Max, now: o.Now, byHash: make(map[[32]byte]*Session)}
}

// Create starts a session holding data and returns it with the token to put
// in the cookie. The token is shown to nobody else and never stored.
func (st *Store) Create(data Wiper) (*Session, string, error) {
	var raw [tokenLen]byte
	rand.Read(raw[:]) // never returns an error (crypto/rand, Go ≥ 1.24)
	var csrf [tokenLen]byte
	rand.Read(csrf[:])
	s := &Session{
		hash: sha256.Sum256(raw[:]),
		csrf: base64.RawURLEncoding.EncodeToString(csrf[:]),
		Data: data,
	}
	rand.Read(s.practiceKey[:])

	now := st.now()
	st.mu.Lock()
	expired := st.sweepLocked(now, len(st.byHash) >= st.max)
	if len(st.byHash) >= st.max {
		// Full of sessions: a flood of "I am new" fills the table with
		// sessions nobody comes back to. The one unused longest gives way if
		// it has been silent for EvictAfter, so a flood locks newcomers out
		// for minutes, not for the whole idle time.
		if old := st.oldestLocked(); old != nil && now.Sub(old.lastSeen) > EvictAfter {
			delete(st.byHash, old.hash)
			expired = append(expired, old)
		}
	}
	full := len(st.byHash) >= st.max
	if !full {
		s.lastSeen = now
		st.byHash[s.hash] = s
	}
	st.mu.Unlock()
	wipeAll(expired)
	if full {
		s.wipe()
		return nil, "", ErrFull
	}
	return s, base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// Get returns the live session for a cookie token and marks it used, or nil
// when the token is malformed, unknown or idle too long. A session found
// expired is ended on the spot.
func (st *Store) Get(token string) *Session {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != tokenLen {
		return nil
	}
	h := sha256.Sum256(raw)
	now := st.now()
	st.mu.Lock()
	expired := st.sweepLocked(now, false)
	s := st.byHash[h]
	if s == nil {
		st.mu.Unlock()
		wipeAll(expired)
		return nil
	}
	if now.Sub(s.lastSeen) > st.idle {
		delete(st.byHash, h)
		st.mu.Unlock()
		wipeAll(expired)
		s.wipe()
		return nil
	}
	s.lastSeen = now
	st.mu.Unlock()
	wipeAll(expired)
	return s
}

// End removes a session and wipes its data (logout, account deletion,
// replacement at login). Ending twice is harmless. Never call it with the
// session locked: wiping takes the session's lock.
func (st *Store) End(s *Session) {
	if s == nil {
		return
	}
	st.mu.Lock()
	if st.byHash[s.hash] == s {
		delete(st.byHash, s.hash)
	}
	st.mu.Unlock()
	s.wipe()
}

// Len is the number of sessions in the map, expired or not (for tests and
// the health view).
func (st *Store) Len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byHash)
}

// sweepLocked removes idle sessions from the map, at most once a minute
// unless forced, so a forgotten session does not keep a private key in
// memory much past its expiry even if its token is never presented again.
// The caller wipes the returned sessions after releasing st.mu: a wipe waits
// for the session's own lock, and no request should stall every other
// request's lookup while it holds its session.
func (st *Store) sweepLocked(now time.Time, force bool) []*Session {
	if !force && now.Sub(st.lastSweep) < time.Minute {
		return nil
	}
	st.lastSweep = now
	var expired []*Session
	for h, s := range st.byHash {
		if s.holds == 0 && now.Sub(s.lastSeen) > st.idle {
			delete(st.byHash, h)
			expired = append(expired, s)
		}
	}
	return expired
}

// Hold keeps s from expiring or being evicted while a long request (an upload
// that may take an hour over Tor) uses it; release marks it used at the end.
func (st *Store) Hold(s *Session) (release func()) {
	st.mu.Lock()
	s.holds++
	st.mu.Unlock()
	return func() {
		st.mu.Lock()
		s.holds--
		s.lastSeen = st.now()
		st.mu.Unlock()
	}
}

// EvictAfter is how long a session must have been unused before a new one
// may push it out of a full table.
const EvictAfter = 10 * time.Minute

func (st *Store) oldestLocked() *Session {
	var old *Session
	for _, s := range st.byHash {
		if s.holds == 0 && (old == nil || s.lastSeen.Before(old.lastSeen)) {
			old = s
		}
	}
	return old
}

func wipeAll(ss []*Session) {
	for _, s := range ss {
		s.wipe()
	}
}

// Sweep ends every idle session now. The relay may call it from a ticker;
// it is also done lazily on Create and Get.
func (st *Store) Sweep() {
	st.mu.Lock()
	expired := st.sweepLocked(st.now(), true)
	st.mu.Unlock()
	wipeAll(expired)
}

// Lock and Unlock guard Data and the session's other state.
func (s *Session) Lock()   { s.mu.Lock() }
func (s *Session) Unlock() { s.mu.Unlock() }

// Ended reports whether the session was ended while the caller waited for
// it. Call with the session locked.
func (s *Session) Ended() bool { return s.ended }

// TryDerive admits one codename derivation ("get another codename", a login
// from a live session) at a time for this session: the session's form token
// is reusable by design, and without this one cookie could run as many
// argon2id derivations at once as it sends requests. A derivation that
// succeeds replaces the session, which kills that token. done must be called.
func (s *Session) TryDerive() (done func(), ok bool) {
	if !s.deriving.CompareAndSwap(false, true) {
		return nil, false
	}
	return func() { s.deriving.Store(false) }, true
}

// CSRF returns the session's form token, put in a hidden field of every
// form; it never changes during the session.
func (s *Session) CSRF() string { return s.csrf }

// CheckCSRF compares a submitted form token with the session's in constant time.
func (s *Session) CheckCSRF(v string) bool {
	return len(v) == len(s.csrf) && subtle.ConstantTimeCompare([]byte(v), []byte(s.csrf)) == 1
}

// RememberSecret keeps a keyed hash of secret (the normalised codename) so
// that SecretMatches can tell the practice page whether a retyped codename
// is right. The key is random per session and dies with it, so the MAC is no
// offline guessing target once the session ends. Call with the session locked.
func (s *Session) RememberSecret(secret []byte) {
	m := hmac.New(sha256.New, s.practiceKey[:])
	m.Write(secret)
	s.practiceMAC = m.Sum(nil)
}

// SecretMatches reports whether secret is the one remembered. Call with the
// session locked.
func (s *Session) SecretMatches(secret []byte) bool {
	if s.practiceMAC == nil {
		return false
	}
	m := hmac.New(sha256.New, s.practiceKey[:])
	m.Write(secret)
	return hmac.Equal(m.Sum(nil), s.practiceMAC)
}

// HasSecret reports whether RememberSecret was called.
func (s *Session) HasSecret() bool { return s.practiceMAC != nil }

func (s *Session) wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	clear(s.practiceKey[:])
	clear(s.practiceMAC)
	s.practiceMAC = nil
	if s.Data != nil {
		s.Data.Wipe()
		s.Data = nil
	}
}
