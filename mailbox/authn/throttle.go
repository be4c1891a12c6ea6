// Package authn checks journalist logins for the IMAP and SMTP endpoints and
// throttles guessing.
//
// Behind Tor every client is 127.0.0.1, so throttling per address is
// meaningless: failures are counted per journalist name instead. A locked
// name refuses even the right password until the lock expires, so a guesser
// gets no signal from a correct guess made during the lock.
package authn

import (
	"sort"
	"sync"
	"time"
)

// Defaults for ThrottleOptions fields left zero.
const (
	DefaultMaxFailures = 5
	DefaultWindow      = time.Minute
	DefaultLockFor     = 5 * time.Minute
	// DefaultMaxNames bounds the memory a flood of invented names can take.
	DefaultMaxNames = 10000
)

// ThrottleOptions configures a Throttle. Zero values take the defaults.
type ThrottleOptions struct {
	MaxFailures int           // failures within Window that lock a name
	Window      time.Duration // how far back failures count
	LockFor     time.Duration // how long a lock lasts
	MaxNames    int           // most names tracked at once
	Now         func() time.Time
}

// Throttle counts failed logins per name and locks a name after too many.
// It is safe for concurrent use and meant to be shared by IMAP and SMTP, so
// a guesser cannot double their rate by alternating protocols.
type Throttle struct {
	o ThrottleOptions

	mu    sync.Mutex // guards names
	names map[string]*record
}

type record struct {
	failures []time.Time // within the window, oldest first
	until    time.Time   // locked until; zero when not locked
}

// Lock describes a locked name, for `relay status`.
type Lock struct {
	Name  string
	Until time.Time
}

// NewThrottle returns a Throttle with o's limits.
func NewThrottle(o ThrottleOptions) *Throttle {
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.LockFor <= 0 {
		o.LockFor = DefaultLockFor
	}
	if o.MaxNames <= 0 {
		o.MaxNames = DefaultMaxNames
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Throttle{o: o, names: make(map[string]*record)}
}

// Locked reports whether name is locked now.
func (t *Throttle) Locked(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.names[name]
	return r != nil && t.o.Now().Before(r.until)
}

// Failure records a failed login for name and reports whether the name is
// locked afterwards.
func (t *Throttle) Failure(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.o.Now()
	r := t.names[name]
	if r == nil {
		if len(t.names) >= t.o.MaxNames {
			t.pruneLocked(now)
		}
		if len(t.names) >= t.o.MaxNames {
			// Full of live records: an attacker is inventing names. Not
			// tracking one more name costs nothing real, since invented
			// names cannot log in anyway, while real names already
			// tracked keep their counts.
			return false
		}
		r = &record{}
		t.names[name] = r
	}
	if now.Before(r.until) {
		return true
	}
	r.failures = append(dropBefore(r.failures, now.Add(-t.o.Window)), now)
	if len(r.failures) >= t.o.MaxFailures {
		r.until = now.Add(t.o.LockFor)
		r.failures = nil
		return true
	}
	return false
}

// Success forgets the failures of name after a good login.
func (t *Throttle) Success(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.names[name]; r != nil && !t.o.Now().Before(r.until) {
		delete(t.names, name)
	}
}

// Unlock lifts a lock early (an admin action).
func (t *Throttle) Unlock(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.names, name)
}

// Locks lists the names locked now, sorted by name.
func (t *Throttle) Locks() []Lock {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.o.Now()
	var l []Lock
	for name, r := range t.names {
		if now.Before(r.until) {
			l = append(l, Lock{Name: name, Until: r.until})
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return l
}

// pruneLocked drops records with no lock and no failure inside the window.
// t.mu must be held.
func (t *Throttle) pruneLocked(now time.Time) {
	for name, r := range t.names {
		r.failures = dropBefore(r.failures, now.Add(-t.o.Window))
		if len(r.failures) == 0 && !now.Before(r.until) {
			delete(t.names, name)
		}
	}
}

// dropBefore removes the times before cut from the sorted slice ts.
func dropBefore(ts []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	return ts[i:]
}
