package authn

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// Defaults for the verified-login cache.
const (
	// DefaultCacheTTL is how long a verified login is remembered.
	DefaultCacheTTL = time.Hour
	// DefaultCacheSize bounds the remembered logins (a newsroom has tens of
	// journalists, each with a few clients).
	DefaultCacheSize = 1024
)

// loginCache remembers logins whose passphrase argon2id has verified, so
// that a journalist's clients logging in again and again (mbsync, curl
// fetching message by message, Thunderbird reconnecting) skip the KDF.
//
// What it holds is a tag per login: HMAC-SHA256, under a key drawn at
// start and never stored, of the name, the stored hash and the passphrase.
// Never the passphrase. A wrong passphrase gives another tag, so it can only
// miss and go to argon2id; a new hash in the store (passwd) gives another
// tag too, so a changed passphrase can never be answered from the cache.
// Entries of a journalist are dropped when the store reports the journalist
// removed or their credentials changed, and all of them at a restart.
//
// Someone who reads the process's memory gets the key and the tags, and
// could test guesses against a tag at HMAC speed where the stored hash
// costs argon2id per guess. Journalists' passphrases are generated (seven
// words from the EFF list, about 90 bits), which no speed of guessing
// reaches; the KDF protects chosen secrets, the codenames of sources, and
// those never come here.
type loginCache struct {
	key  [32]byte
	ttl  time.Duration
	max  int
	now  func() time.Time
	mu   sync.Mutex // guards tags and lru
	tags map[[32]byte]*list.Element
	lru  *list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	tag     [32]byte
	name    string
	expires time.Time
}

func newLoginCache(ttl time.Duration, max int, now func() time.Time) (*loginCache, error) {
	c := &loginCache{ttl: ttl, max: max, now: now, tags: map[[32]byte]*list.Element{}, lru: list.New()}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, err
	}
	return c, nil
}

// tag is the cache key of a login: every field length-prefixed, so no two
// different logins can give the same input.
func (c *loginCache) tag(name, hash, pass string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	for _, f := range []string{name, hash, pass} {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		m.Write([]byte(f))
	}
	var t [32]byte
	m.Sum(t[:0])
	return t
}

// hit reports whether tag was verified within the TTL.
func (c *loginCache) hit(tag [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.tags[tag]
	if !ok {
		return false
	}
	if !c.now().Before(el.Value.(*cacheEntry).expires) {
		c.removeLocked(el)
		return false
	}
	c.lru.MoveToFront(el)
	return true
}

// add remembers a verified login, evicting the least recently used one
// beyond the size bound. The TTL counts from the verification, not from
// the last use, so a cached login is verified by argon2id again each TTL.
func (c *loginCache) add(tag [32]byte, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.tags[tag]; ok {
		c.removeLocked(el)
	}
	c.tags[tag] = c.lru.PushFront(&cacheEntry{tag: tag, name: name, expires: c.now().Add(c.ttl)})
	for c.lru.Len() > c.max {
		c.removeLocked(c.lru.Back())
	}
}

// forget drops every login of name.
func (c *loginCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if el.Value.(*cacheEntry).name == name {
			c.removeLocked(el)
		}
		el = next
	}
}

func (c *loginCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// removeLocked drops one entry. c.mu must be held.
func (c *loginCache) removeLocked(el *list.Element) {
	delete(c.tags, el.Value.(*cacheEntry).tag)
	c.lru.Remove(el)
}
