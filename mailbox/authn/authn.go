package authn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
)

// ErrFailed is what every failed login wraps. Callers show it to the peer
// as one generic "authentication failed".
var ErrFailed = errors.New("authn: authentication failed")

// maxNameLen bounds the names worth looking up; journalist names are short.
const maxNameLen = 128

// KDF is what an Authenticator needs of a *kdf.Pool.
type KDF interface {
	HashPassword(ctx context.Context, pass string, pr kdf.Params) (string, error)
	VerifyPassword(ctx context.Context, pass, stored string) (bool, error)
}

// Authenticator checks a journalist's name and passphrase. Build it once in
// relay and share it between IMAP and SMTP (with its Throttle and its cache
// of verified logins). The zero DummyParams means
// kdf.DefaultPasswordParams.
type Authenticator struct {
	Store    *store.Store
	Pool     KDF
	Throttle *Throttle
	Logger   *slog.Logger
	// DummyParams are the argon2id parameters of the hash verified for an
	// unknown name, so that an unknown name costs the same time as a known
	// one. Set them to the parameters journalists' hashes are made with.
	DummyParams kdf.Params
	// CacheTTL and CacheSize bound the cache of verified logins (see
	// loginCache); zero means DefaultCacheTTL and DefaultCacheSize, a
	// negative CacheSize turns the cache off.
	CacheTTL  time.Duration
	CacheSize int
	Now       func() time.Time // the cache's clock; time.Now if nil

	dummyMu sync.Mutex // guards dummy
	dummy   string

	cacheOnce sync.Once
	cache     *loginCache // nil when off
}

// Login returns the journalist whose name and passphrase match. A login
// verified within the cache's TTL (same name, passphrase and stored hash)
// is answered at once. Any other waits for its turn in the Throttle (one
// check at a time per name, spaced after failures) and costs one argon2id
// verification; every failure (unknown name, wrong
// passphrase) wraps ErrFailed. kdf.ErrBusy and a context that ends while
// waiting are returned wrapped, and are not counted as failures.
func (a *Authenticator) Login(ctx context.Context, name, pass string) (store.Journalist, error) {
	if err := a.ensureDummy(ctx); err != nil {
		return store.Journalist{}, err
	}
	var (
		j     store.Journalist
		known bool
	)
	if len(name) <= maxNameLen {
		var err error
		j, err = a.Store.Journalist(name)
		switch {
		case err == nil:
			known = j.PasswordHash != ""
		case errors.Is(err, store.ErrNotFound):
		default:
			return store.Journalist{}, fmt.Errorf("authn: journalist: %w", err)
		}
	}
	a.dummyMu.Lock()
	hash := a.dummy
	a.dummyMu.Unlock()
	cache := a.loginCache()
	var tag [32]byte
	if known {
		hash = j.PasswordHash
		if cache != nil {
			tag = cache.tag(name, hash, pass)
			if cache.hit(tag) {
				return j, nil
			}
		}
	}
	// The throttle keys on at most maxNameLen bytes of the name: no journalist
	// has a longer one, and a flood of invented names must not hold
	// DefaultMaxNames records of whatever length a client sends.
	key := name[:min(len(name), maxNameLen)]
	if a.Throttle != nil {
		release, err := a.Throttle.Acquire(ctx, key)
		if err != nil {
			return store.Journalist{}, fmt.Errorf("authn: throttle: %w", err)
		}
		defer release() // after the outcome is recorded below
	}
	ok, err := a.Pool.VerifyPassword(ctx, pass, hash)
	if err != nil {
		if errors.Is(err, kdf.ErrBusy) || ctx.Err() != nil {
			return store.Journalist{}, fmt.Errorf("authn: verify: %w", err)
		}
		// A malformed stored hash: a failure for the peer, an error for the log.
		a.logger().Error("authn: stored password hash unusable", "err", err)
		ok = false
	}
	if !ok || !known {
		if a.Throttle != nil {
			a.Throttle.Failure(key)
		}
		return store.Journalist{}, ErrFailed
	}
	if a.Throttle != nil {
		a.Throttle.Success(key)
	}
	if cache != nil {
		cache.add(tag, name)
	}
	return j, nil
}

// loginCache builds the cache at the first login (so that an Authenticator
// literal works) and has the store tell it when a journalist is removed or
// their passphrase or onion key changes. The subscription lasts as long as
// the store.
func (a *Authenticator) loginCache() *loginCache {
	a.cacheOnce.Do(func() {
		if a.CacheSize < 0 {
			return
		}
		ttl, size, now := a.CacheTTL, a.CacheSize, a.Now
		if ttl <= 0 {
			ttl = DefaultCacheTTL
		}
		if size == 0 {
			size = DefaultCacheSize
		}
		if now == nil {
			now = time.Now
		}
		c, err := newLoginCache(ttl, size, now)
		if err != nil {
			a.logger().Error("authn: login cache off", "err", err)
			return
		}
		a.Store.Subscribe(func(ev store.Event) {
			if ev.Kind == store.EventLogout {
				c.forget(ev.Journalist)
			}
		})
		a.cache = c
	})
	return a.cache
}

// ensureDummy makes the dummy hash once. It is made lazily, not in a
// constructor, so a zero-configured Authenticator literal works; a failure
// (a busy pool) is retried at the next login.
func (a *Authenticator) ensureDummy(ctx context.Context) error {
	a.dummyMu.Lock()
	defer a.dummyMu.Unlock()
	if a.dummy != "" {
		return nil
	}
	pr := a.DummyParams
	if pr == (kdf.Params{}) {
		pr = kdf.DefaultPasswordParams()
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("authn: dummy secret: %w", err)
	}
	h, err := a.Pool.HashPassword(ctx, fmt.Sprintf("%x", secret), pr)
	if err != nil {
		return fmt.Errorf("authn: dummy hash: %w", err)
	}
	a.dummy = h
	return nil
}

func (a *Authenticator) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
