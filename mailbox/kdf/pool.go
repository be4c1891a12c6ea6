// Package kdf runs the relay's costly key derivations: argon2id for the
// source codename and for journalist passwords, behind a bounded pool.
//
// Behind Tor every client is 127.0.0.1, so nothing per-address can stop a
// flood of logins. What we can bound is work: each argon2id derivation holds
// about twice its memory parameter until the GC returns it (measured: ~128 MiB
// for m=64 MiB), so an unbounded number of concurrent logins is an
// out-of-memory kill. The Pool admits at most Workers derivations at a time,
// lets at most Queue more wait, each for at most Wait, and answers everyone
// else at once with ErrBusy so the web form can show "busy, try again".
//
// The relay builds two pools: one for the sources (the web form) and one
// for the journalists (IMAP, SMTP, passphrase hashing), so that a flood of
// anonymous derivations can never make a journalist's login busy. Peak
// memory is the sum of both pools' Workers × 2 × Params.MemoryKiB.
package kdf

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// ErrBusy means the pool is saturated: the queue was full, or the request
// waited longer than PoolOptions.Wait. Callers show a generic "try again".
var ErrBusy = errors.New("kdf: busy")

// Defaults for PoolOptions fields left zero.
const (
	DefaultQueue = 64
	DefaultWait  = 10 * time.Second
)

// PoolOptions bounds a Pool. Zero values take the defaults.
type PoolOptions struct {
	// Workers is the most derivations running at once; default runtime.NumCPU().
	// Peak memory is about Workers × 2 × Params.MemoryKiB.
	Workers int
	// Queue is the most requests waiting for a worker; default DefaultQueue.
	// A negative value means no queue: a request either runs at once or is busy.
	Queue int
	// Wait is the longest a request waits in the queue; default DefaultWait.
	Wait time.Duration
}

// Pool runs argon2id derivations with bounded concurrency. It is safe for
// concurrent use; the zero value is not usable, call NewPool.
type Pool struct {
	// tickets admits a request into the pool (running or queued); its
	// capacity is Workers+Queue, so a full channel means "busy" without waiting.
	tickets chan struct{}
	// slots holds one token per running derivation; capacity Workers.
	slots chan struct{}
	wait  time.Duration
}

// NewPool returns a Pool bounded by o.
func NewPool(o PoolOptions) *Pool {
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	queue := o.Queue
	switch {
	case queue == 0:
		queue = DefaultQueue
	case queue < 0:
		queue = 0
	}
	wait := o.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	return &Pool{
		tickets: make(chan struct{}, workers+queue),
		slots:   make(chan struct{}, workers),
		wait:    wait,
	}
}

// do runs fn on a worker slot, or fails with ErrBusy or ctx.Err() without
// running it. Every derivation goes through here; tests use it with a
// blocking fn to observe the bound.
func (p *Pool) do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.tickets <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-p.tickets }()

	// Fast path: a free worker, no timer needed.
	select {
	case p.slots <- struct{}{}:
	default:
		timer := time.NewTimer(p.wait)
		defer timer.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-timer.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-p.slots }()
	// A request whose caller gave up while it queued must not burn a worker.
	if err := ctx.Err(); err != nil {
		return err
	}
	fn()
	return nil
}
