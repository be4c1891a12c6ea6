// Package authn checks journalist logins for the IMAP and SMTP endpoints,
// remembers verified ones (cache.go) and slows guessing (this file).
//
// Behind Tor every client is 127.0.0.1, so throttling per address is
// meaningless: failures are counted per journalist name instead. A name is
// never locked: locking would let anyone who reaches the journalist onion
// lock a journalist out by guessing wrong on purpose. Failures instead make
// every later attempt for the name wait, longer with each failure up to a
// cap, and the right passphrase is accepted when its turn comes (after at
// most MaxWait).
package authn

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Defaults for ThrottleOptions fields left zero.
const (
	// DefaultFree failures cost nothing: a mistyped passphrase or two.
	DefaultFree = 3
	// DefaultStep is the wait after the first failure beyond Free; it
	// doubles with each further failure.
	DefaultStep = time.Second
	// DefaultMaxDelay caps the wait between two attempts for one name:
	// a guesser on one connection gets one try per DefaultMaxDelay.
	DefaultMaxDelay = 8 * time.Second
	// DefaultMaxWait bounds how long one attempt waits for its turn.
	DefaultMaxWait = 10 * time.Second
	// DefaultForget is how long after its last failure a name's failures
	// are forgotten.
	DefaultForget = 15 * time.Minute
	// DefaultMaxNames bounds the memory a flood of invented names can take.
	DefaultMaxNames = 10000
)

// ThrottleOptions configures a Throttle. Zero values take the defaults.
type ThrottleOptions struct {
	Free     int           // failures without delay
	Step     time.Duration // delay after the first failure beyond Free, doubling after
	MaxDelay time.Duration // the longest delay between two attempts for a name
	MaxWait  time.Duration // the longest one attempt waits for its turn
	Forget   time.Duration // failures are forgotten this long after the last one
	MaxNames int           // most names tracked at once
	Now      func() time.Time
}

// Throttle spaces out login attempts per name after failures. It is safe
// for concurrent use and meant to be shared by IMAP and SMTP, so a guesser
// cannot double their rate by alternating protocols.
//
// Attempts for one name are checked one at a time (Acquire), so opening
// many connections at once mostly makes the guesses wait for each other,
// and each failure is counted before the next guess starts. An attempt that
// gives up waiting (its connection's deadline) leaves no trace in the
// schedule, so abandoned attempts cannot push a name's next turn ever
// further away.
type Throttle struct {
	o ThrottleOptions

	mu    sync.Mutex // guards names and the counters in records
	names map[string]*record
}

type record struct {
	failures int           // since the last verified success, or since forgotten
	last     time.Time     // of the last failure
	next     time.Time     // no attempt starts before; zero when free
	turn     chan struct{} // holds a token while an attempt is checked
	users    int           // attempts holding or waiting for turn
}

// Lock describes a name whose logins are being slowed, for `relay status`.
// (The name is historical: names are slowed, never locked.)
type Lock struct {
	Name     string
	Failures int
	Delay    time.Duration // the wait now added between two attempts
	Until    time.Time     // when the failures will be forgotten
}

// NewThrottle returns a Throttle with o's limits.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.Free <= 0 {
		o.Free = DefaultFree
	}
	if o.Step <= 0 {
		o.Step = DefaultStep
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Forget <= 0 {
		o.Forget = DefaultForget
	}
	if o.MaxNames <= 0 {
		o.MaxNames = DefaultMaxNames
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Throttle{o: o, names: make(map[string]*record)}
}

// delayFor is the wait between attempts after n failures.
func (t *Throttle) delayFor(n int) time.Duration {
	if n < t.o.Free {
		return 0
	}
	d := t.o.Step
	for i := t.o.Free; i < n && d < t.o.MaxDelay; i++ {
		d *= 2
	}
	return min(d, t.o.MaxDelay)
}

// Delay is the wait that failures now add between two attempts for name.
func (t *Throttle) Delay(name string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.liveLocked(name, t.o.Now())
	if r == nil {
		return 0
	}
	return t.delayFor(r.failures)
}

// Acquire waits for name's turn to have a passphrase checked: no other
// attempt for name is being checked, and the delay its failures call for has
// passed since the last one. The caller checks the passphrase, records the
// outcome (Failure or Success) and then calls release. If ctx ends first,
// Acquire returns its error and the attempt leaves no trace.
//
// No attempt waits longer than MaxWait: one that has waited that long is
// checked beside the one holding the turn. So a guesser who keeps many
// connections queued on a name gets at most one guess per connection per
// MaxWait (and connections are capped), while the journalist's own login
// is answered within MaxWait and the KDF, before a client gives up (mbsync
// waits 20 s). With passphrases of 90 bits, availability is the property
// at stake here, not the guessing rate.
func (t *Throttle) Acquire(ctx context.Context, name string) (release func(), err error) {
	t.mu.Lock()
	now := t.o.Now()
	r := t.liveLocked(name, now)
	if r == nil {
		if len(t.names) >= t.o.MaxNames {
			t.pruneLocked(now)
		}
		if len(t.names) >= t.o.MaxNames {
			// Full of live records: an attacker is inventing names (see
			// Failure); this attempt goes unthrottled.
			t.mu.Unlock()
			return func() {}, ctx.Err()
		}
		r = &record{turn: make(chan struct{}, 1)}
		t.names[name] = r
	}
	r.users++
	t.mu.Unlock()

	limit := time.NewTimer(t.o.MaxWait)
	defer limit.Stop()
	holding := false
	select {
	case r.turn <- struct{}{}:
		holding = true
	case <-limit.C:
	case <-ctx.Done():
		t.leave(name, r, false)
		return nil, ctx.Err()
	}
	if d := t.wait(r); holding && d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-limit.C:
		case <-ctx.Done():
			t.leave(name, r, true)
			return nil, ctx.Err()
		}
	}
	var once sync.Once
	return func() { once.Do(func() { t.leave(name, r, holding) }) }, nil
}

// wait is how long from now until r's next attempt may start.
func (t *Throttle) wait(r *record) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return r.next.Sub(t.o.Now())
}

// leave ends an attempt's use of r (and its turn, if it held it), dropping
// the record once nobody uses it and it holds no failures.
func (t *Throttle) leave(name string, r *record, holding bool) {
	if holding {
		<-r.turn
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r.users--
	if r.users == 0 && r.failures == 0 && t.names[name] == r {
		delete(t.names, name)
	}
}

// Failure records a failed login for name.
func (t *Throttle) Failure(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.o.Now()
	r := t.liveLocked(name, now)
	if r == nil {
		if len(t.names) >= t.o.MaxNames {
			t.pruneLocked(now)
		}
		if len(t.names) >= t.o.MaxNames {
			// Full of live records: an attacker is inventing names. Not
			// tracking one more name costs nothing real, since invented
			// names cannot log in anyway, while real names already
			// tracked keep their counts.
			return
		}
		r = &record{turn: make(chan struct{}, 1)}
		t.names[name] = r
	}
	r.failures++
	r.last = now
	// The next attempt waits at least a full delay from this failure.
	if next := now.Add(t.delayFor(r.failures)); next.After(r.next) {
		r.next = next
	}
}

// Success forgets the failures of name after a login whose passphrase was
// verified (not one answered from the cache: only the KDF's verdict resets
// what guessing has built up).
func (t *Throttle) Success(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.names[name]; r != nil {
		r.failures, r.next = 0, time.Time{}
		if r.users == 0 {
			delete(t.names, name)
		}
	}
}

// Unlock forgets the failures of name (an admin action).
func (t *Throttle) Unlock(name string) {
	t.Success(name)
}

// Locks lists the names whose logins are being slowed now, sorted by name.
func (t *Throttle) Locks() []Lock {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.o.Now()
	var l []Lock
	for name := range t.names {
		r := t.liveLocked(name, now)
		if r == nil {
			continue
		}
		if d := t.delayFor(r.failures); d > 0 && r.failures > 0 {
			l = append(l, Lock{Name: name, Failures: r.failures, Delay: d, Until: r.last.Add(t.o.Forget)})
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return l
}

// liveLocked returns name's record, dropping it first if its failures are
// old enough to forget. t.mu must be held.
func (t *Throttle) liveLocked(name string, now time.Time) *record {
	r := t.names[name]
	if r != nil && t.expired(r, now) {
		delete(t.names, name)
		return nil
	}
	return r
}

func (t *Throttle) expired(r *record, now time.Time) bool {
	return r.users == 0 && !now.Before(r.last.Add(t.o.Forget)) && !r.next.After(now)
}

// pruneLocked drops the records whose failures are forgotten. t.mu must be
// held.
func (t *Throttle) pruneLocked(now time.Time) {
	for name, r := range t.names {
		if t.expired(r, now) {
			delete(t.names, name)
		}
	}
}
