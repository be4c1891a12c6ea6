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
	"math"
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
	// DefaultMaxPerOwner bounds the live sessions of one source: a few tabs
	// or browsers. Each login past it ends that source's least recently used
	// session, so one codename logging in over and over cannot fill the
	// room kept for returning sources.
	DefaultMaxPerOwner = 4
)

// tokenLen is the length in bytes of session tokens, CSRF tokens and keys.
const tokenLen = 32

// Wiper is the caller's per-session state. Wipe is called exactly once,
// with the session locked, when the session ends (logout, expiry,
// replacement): it must zero any key material it holds.
type Wiper interface{ Wipe() }

// Options configures a Store.
type Options struct {
	Idle time.Duration // a session unused this long is gone; default DefaultIdle
	Max  int           // most live sessions; default DefaultMax
	// Reserve is the part of Max that fresh sessions (a new codename that
	// has not sent anything yet) may never take: it is kept for sources
	// who log in, so a flood of "I am new" cannot lock a returning source
	// out. Default Max/5; negative means none.
	Reserve     int
	MaxPerOwner int              // live sessions of one source; default DefaultMaxPerOwner
	Now         func() time.Time // clock, for tests; default time.Now
}

// Store holds the live sessions. It is safe for concurrent use.
//
// Sessions are of two kinds. A fresh one holds a new codename that has sent
// nothing yet: anyone can make one (one argon2id derivation), so a flood can
// make thousands. An owned one belongs to a source that exists (it logged in,
// or its first submission made the record). Fresh sessions may fill the
// table only up to Max-Reserve, and a login into a full table pushes out the
// fresh session unused longest: a flood of "I am new" makes newcomers wait,
// never a returning source. Owned sessions are bounded per source
// (MaxPerOwner), so the reserve cannot be filled with one codename either.
type Store struct {
	idle        time.Duration
	max         int
	maxFresh    int
	maxPerOwner int
	now         func() time.Time
	ownerKey    [tokenLen]byte // keys the owner hashes: no source id is kept as it is

	mu        sync.Mutex // guards byHash, fresh, owners and lastSweep
	byHash    map[[32]byte]*Session
	fresh     int              // sessions without an owner
	owners    map[[32]byte]int // live sessions per owner
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
	owner    [32]byte  // keyed hash of the source id; guarded by Store.mu
	owned    bool      // owner is set; guarded by Store.mu
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
	switch {
	case o.Reserve == 0:
		o.Reserve = o.Max / 5
	case o.Reserve < 0 || o.Reserve > o.Max:
		o.Reserve = 0
	}
	if o.MaxPerOwner <= 0 {
		o.MaxPerOwner = DefaultMaxPerOwner
	}
	st := &Store{idle: o.Idle, max: o.Max, maxFresh: o.Max - o.Reserve, maxPerOwner: o.MaxPerOwner,
		now: o.Now, byHash: make(map[[32]byte]*Session), owners: make(map[[32]byte]int)}
	rand.Read(st.ownerKey[:])
	return st
}

// Create starts a fresh session holding data (a new codename) and returns
// it with the token to put in the cookie. The token is shown to nobody else
// and never stored.
func (st *Store) Create(data Wiper) (*Session, string, error) {
	return st.create(data, nil)
}

// CreateOwned starts a session for the existing source sourceID (a login).
// It may end that source's least recently used session (MaxPerOwner) and,
// in a full table, the fresh session unused longest.
func (st *Store) CreateOwned(data Wiper, sourceID []byte) (*Session, string, error) {
	return st.create(data, sourceID)
}

func (st *Store) create(data Wiper, sourceID []byte) (*Session, string, error) {
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
	if sourceID != nil {
		s.owner, s.owned = st.ownerOf(sourceID), true
	}

	now := st.now()
	st.mu.Lock()
	expired := st.sweepLocked(now, !st.roomLocked(s.owned))
	if s.owned && st.owners[s.owner] >= st.maxPerOwner {
		if old := st.lruLocked(func(o *Session) bool { return o.owned && o.owner == s.owner }); old != nil {
			st.removeLocked(old)
			expired = append(expired, old)
		}
	}
	if !st.roomLocked(s.owned) {
		if old := st.victimLocked(now, s.owned); old != nil {
			st.removeLocked(old)
			expired = append(expired, old)
		}
	}
	full := !st.roomLocked(s.owned)
	if !full {
		s.lastSeen = now
		st.addLocked(s)
	}
	st.mu.Unlock()
	wipeAll(expired)
	if full {
		s.wipe()
		return nil, "", ErrFull
	}
	return s, base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// Claim makes a fresh session owned by sourceID: its first submission made
// the source record. Claiming an owned session changes nothing.
func (st *Store) Claim(s *Session, sourceID []byte) {
	owner := st.ownerOf(sourceID)
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.owned || st.byHash[s.hash] != s {
		return
	}
	st.fresh--
	s.owner, s.owned = owner, true
	st.owners[owner]++
}

// Disown makes an owned session fresh again: the first submission that made
// its source record failed and the record was removed.
func (st *Store) Disown(s *Session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !s.owned || st.byHash[s.hash] != s {
		return
	}
	st.dropOwnerLocked(s.owner)
	s.owner, s.owned = [32]byte{}, false
	st.fresh++
}

func (st *Store) ownerOf(sourceID []byte) [32]byte {
	m := hmac.New(sha256.New, st.ownerKey[:])
	m.Write(sourceID)
	var h [32]byte
	copy(h[:], m.Sum(nil))
	return h
}

// victimLocked picks the session a new one may push out of a full table. A
// flood of "I am new" fills the table with fresh sessions nobody comes back
// to. A returning source (owned) takes the place of the fresh session unused
// longest at once, or, in a table full of owned sessions, of the session
// unused longest however recent: otherwise sources made for the purpose
// (one submission each, four logins each) and kept alive by a page view
// every few minutes would lock every returning source out. Pushing out one
// of those costs the flood an argon2id login each time; a session holding
// an upload is never pushed out. A newcomer takes the place of a session
// unused for EvictAfter (a fresh one when the fresh quota is what is full),
// so a flood locks newcomers out for minutes, not for the whole idle time.
func (st *Store) victimLocked(now time.Time, owned bool) *Session {
	isFresh := func(o *Session) bool { return !o.owned }
	all := func(*Session) bool { return true }
	if owned {
		if old := st.lruLocked(isFresh); old != nil {
			return old
		}
		return st.lruLocked(all)
	}
	match := all
	if !owned && len(st.byHash) < st.max {
		match = isFresh // only the fresh quota is full
	}
	if old := st.lruLocked(match); old != nil && now.Sub(old.lastSeen) > EvictAfter {
		return old
	}
	return nil
}

// roomLocked reports whether a session of the kind may be added.
func (st *Store) roomLocked(owned bool) bool {
	if len(st.byHash) >= st.max {
		return false
	}
	return owned || st.fresh < st.maxFresh
}

func (st *Store) addLocked(s *Session) {
	st.byHash[s.hash] = s
	if s.owned {
		st.owners[s.owner]++
	} else {
		st.fresh++
	}
}

// removeLocked takes s out of the map and the counts; the caller wipes it.
func (st *Store) removeLocked(s *Session) {
	if st.byHash[s.hash] != s {
		return
	}
	delete(st.byHash, s.hash)
	if s.owned {
		st.dropOwnerLocked(s.owner)
	} else {
		st.fresh--
	}
}

func (st *Store) dropOwnerLocked(owner [32]byte) {
	if st.owners[owner]--; st.owners[owner] <= 0 {
		delete(st.owners, owner)
	}
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
		st.removeLocked(s)
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
	st.removeLocked(s)
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
	for _, s := range st.byHash {
		if s.holds == 0 && now.Sub(s.lastSeen) > st.idle {
			st.removeLocked(s)
			expired = append(expired, s)
		}
	}
	return expired
}

// Hold keeps s from expiring or being evicted while a long request (an upload
// that may take an hour over Tor) uses it; release marks it used at the end.
func (st *Store) Hold(s *Session) (release func()) {
	release, _ = st.TryHold(s, math.MaxInt)
	return release
}

// TryHold is Hold for an upload, refused when the session already holds max
// requests: one source cannot take every upload slot of the relay.
func (st *Store) TryHold(s *Session, max int) (release func(), ok bool) {
	st.mu.Lock()
	if s.holds >= max {
		st.mu.Unlock()
		return nil, false
	}
	s.holds++
	st.mu.Unlock()
	return func() {
		st.mu.Lock()
		s.holds--
		s.lastSeen = st.now()
		st.mu.Unlock()
	}, true
}

// EvictAfter is how long a session must have been unused before a new
// codename may push it out of a full table.
const EvictAfter = 10 * time.Minute

// lruLocked returns the session unused longest among those that match and
// are not held by a request in progress, or nil.
func (st *Store) lruLocked(match func(*Session) bool) *Session {
	var old *Session
	for _, s := range st.byHash {
		if s.holds == 0 && match(s) && (old == nil || s.lastSeen.Before(old.lastSeen)) {
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
