package kdf

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"golang.org/x/crypto/argon2"
)

// ErrParams means argon2id parameters, a salt, a secret or an output length
// outside what the relay accepts. The bounds exist so that a stored hash or a
// configuration value can never ask for a derivation that exhausts the host.
var ErrParams = errors.New("kdf: parameters out of range")

// Bounds on Params, salt, secret and output. Hashes written by this package
// always fall inside them; anything outside is refused before any work.
const (
	MaxMemoryKiB = 1 << 20 // 1 GiB
	MinMemoryKiB = 8 * 1024
	MaxTime      = 20
	MaxThreads   = 16
	MinSaltLen   = 8
	MaxSaltLen   = 64
	MinKeyLen    = 16
	MaxKeyLen    = 64
	MaxSecretLen = 4096
)

// Params are argon2id cost parameters.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

// DefaultSourceParams are the costs for deriving a source identity from a
// codename: deliberately slow (~130 ms), since a seized database plus the
// instance salt lets an attacker try codenames offline at this price.
func DefaultSourceParams() Params { return Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 1} }

// DefaultPasswordParams are the costs for journalist passwords.
func DefaultPasswordParams() Params { return Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 1} }

// Validate reports whether pr is inside the accepted bounds.
func (pr Params) Validate() error {
	switch {
	case pr.Time < 1 || pr.Time > MaxTime:
		return fmt.Errorf("%w: time %d", ErrParams, pr.Time)
	case pr.Threads < 1 || pr.Threads > MaxThreads:
		return fmt.Errorf("%w: threads %d", ErrParams, pr.Threads)
	case pr.MemoryKiB < MinMemoryKiB || pr.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB", ErrParams, pr.MemoryKiB)
	case pr.MemoryKiB < 8*uint32(pr.Threads):
		return fmt.Errorf("%w: memory %d KiB for %d threads", ErrParams, pr.MemoryKiB, pr.Threads)
	}
	return nil
}

// Key derives n bytes from secret and salt with argon2id, on a pool worker.
// It returns ErrBusy when the pool is saturated and ctx.Err() when the caller
// gave up first; a derivation that has started runs to completion.
func (p *Pool) Key(ctx context.Context, secret, salt []byte, pr Params, n int) ([]byte, error) {
	if err := pr.Validate(); err != nil {
		return nil, err
	}
	if n < MinKeyLen || n > MaxKeyLen {
		return nil, fmt.Errorf("%w: key length %d", ErrParams, n)
	}
	if len(salt) < MinSaltLen || len(salt) > MaxSaltLen {
		return nil, fmt.Errorf("%w: salt length %d", ErrParams, len(salt))
	}
	if len(secret) > MaxSecretLen {
		return nil, fmt.Errorf("%w: secret too long", ErrParams)
	}
	var key []byte
	err := p.do(ctx, func() {
		key = argon2.IDKey(secret, salt, pr.Time, pr.MemoryKiB, pr.Threads, uint32(n))
		// The derivation's MemoryKiB (64 MiB by default) is garbage now,
		// but the GC keeps it, and the heap goal it raised, until a later
		// cycle, and returns it to the system slowly: the relay stayed
		// 100 MiB and more above idle after a single login (issue 13).
		// A collection and a return now cost a few milliseconds, next to
		// the derivation's hundred.
		debug.FreeOSMemory()
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}
