package authn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
)

// Sentinel errors. Callers show every failure to the peer as one generic
// "authentication failed"; ErrLocked exists so logs and metrics can tell
// a lock from a wrong password, never so a client can.
var (
	ErrFailed = errors.New("authn: authentication failed")
	ErrLocked = errors.New("authn: name locked after repeated failures")
)

// maxNameLen bounds the names worth looking up; journalist names are short.
const maxNameLen = 128

// Authenticator checks a journalist's name and passphrase. Build it once in
// relay and share it between IMAP and SMTP (with its Throttle). The zero
// DummyParams means kdf.DefaultPasswordParams.
type Authenticator struct {
	Store    *store.Store
	Pool     *kdf.Pool
	Throttle *Throttle
	Logger   *slog.Logger
	// DummyParams are the argon2id parameters of the hash verified for an
	// unknown name, so that an unknown name costs the same time as a known
	// one. Set them to the parameters journalists' hashes are made with.
	DummyParams kdf.Params

	dummyMu sync.Mutex // guards dummy
	dummy   string
}

// Login returns the journalist whose name and passphrase match. Every
// failure (unknown name, wrong passphrase, lock) wraps ErrFailed and costs
// one argon2id verification; kdf.ErrBusy is returned as it is (wrapped) and
// is not counted as a failure.
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
			known = true
		case errors.Is(err, store.ErrNotFound):
		default:
			return store.Journalist{}, fmt.Errorf("authn: journalist: %w", err)
		}
	}
	a.dummyMu.Lock()
	hash := a.dummy
	a.dummyMu.Unlock()
	if known && j.PasswordHash != "" {
		hash = j.PasswordHash
	}
	// The lock is checked after the lookup but the verification still runs,
	// so a locked name answers in the same time as any other failure.
	locked := a.Throttle != nil && a.Throttle.Locked(name)
	ok, err := a.Pool.VerifyPassword(ctx, pass, hash)
	if err != nil {
		if errors.Is(err, kdf.ErrBusy) || ctx.Err() != nil {
			return store.Journalist{}, fmt.Errorf("authn: verify: %w", err)
		}
		// A malformed stored hash: a failure for the peer, an error for the log.
		a.logger().Error("authn: stored password hash unusable", "err", err)
		ok = false
	}
	if !known {
		ok = false
	}
	switch {
	case locked:
		return store.Journalist{}, fmt.Errorf("%w: %w", ErrFailed, ErrLocked)
	case !ok:
		if a.Throttle != nil && a.Throttle.Failure(name) && known {
			a.logger().Warn("authn: journalist locked after repeated failed logins")
		}
		return store.Journalist{}, ErrFailed
	}
	if a.Throttle != nil {
		a.Throttle.Success(name)
	}
	return j, nil
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
