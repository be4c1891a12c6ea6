// Package netlimit holds what the IMAP and SMTP servers share at the socket:
// a global cap on open connections, a bound on how long a connection may stay
// silent, a share of the cap and a deadline for connections not yet logged
// in (prelogin.go), and the run-until-cancelled loop relay/daemon expects.
//
// Behind Tor every client is 127.0.0.1, so the cap is global by necessity.
package netlimit

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Deadlines says how the library's own read deadlines are treated.
type Deadlines int

const (
	// Capped keeps the library's read deadlines but never later than the idle
	// time from now (go-imap sets its own for login and literals).
	Capped Deadlines = iota
	// PerRead ignores the library's deadlines and gives every read a fresh
	// one (go-smtp sets one per command, which would cap a whole DATA).
	PerRead
)

// Options configure Listener.
type Options struct {
	// Max is the number of connections open at once.
	Max int
	// Idle is how long a connection may stay silent.
	Idle time.Duration
	// Deadlines chooses how read deadlines are set.
	Deadlines Deadlines
	// Busy is written to a connection refused over Max, then it is closed.
	Busy string

	// PreLoginMax, when above zero, makes every connection start "not
	// logged in" until the server reports a successful login (Login). At
	// most PreLoginMax such connections are open at once, so the other
	// Max-PreLoginMax slots are kept for logged-in sessions: a flood of
	// connections that never log in cannot take them. When the share (or
	// Max) is full, a new connection closes the oldest connection that is
	// not logged in and not inside a login, and takes its place; only if
	// there is none is the new one refused with Busy.
	PreLoginMax int
	// PreLoginTimeout, when above zero (and PreLoginMax too), closes a
	// connection that has not logged in this long after it was accepted,
	// however much it sent. A connection inside a login (waiting for the
	// password check) when it expires is closed only if that login fails.
	PreLoginTimeout time.Duration
	// PerNameMax, when above zero, is the most logged-in connections one
	// name may hold: one account (a stolen laptop's, a client gone wrong)
	// cannot take the logged-in slots of all the others.
	PerNameMax int
}

// Listener wraps ln with the limits of o.
func Listener(ln net.Listener, o Options) net.Listener {
	return &listener{Listener: ln, o: o, perName: make(map[string]int)}
}

type listener struct {
	net.Listener
	o Options

	mu       sync.Mutex     // guards open, preLogin and the conns' login state
	open     int            // connections holding a slot
	preLogin connList       // connections not logged in, oldest first
	perName  map[string]int // logged-in connections per name
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		nc := &conn{Conn: c, l: l}
		ok, victim := l.admit(nc)
		if victim != nil {
			victim.Conn.Close() // its slot is nc's now
		}
		if !ok {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte(l.o.Busy))
			c.Close()
			continue
		}
		return nc, nil
	}
}

// admit gives c a slot, taking it from the oldest evictable connection
// not logged in if the cap or the not-logged-in share is full.
func (l *listener) admit(c *conn) (ok bool, victim *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tracked := l.o.PreLoginMax > 0
	if l.open >= l.o.Max || (tracked && l.preLogin.n >= l.o.PreLoginMax) {
		victim = l.preLogin.oldestIdle()
		if victim == nil {
			return false, nil
		}
		l.releaseLocked(victim)
	}
	l.open++
	c.holds = true
	if tracked {
		l.preLogin.push(c)
		if l.o.PreLoginTimeout > 0 {
			c.timer = time.AfterFunc(l.o.PreLoginTimeout, c.expire)
		}
	}
	return true, victim
}

// releaseLocked frees c's slot once. Called with l.mu held.
func (l *listener) releaseLocked(c *conn) {
	if !c.holds {
		return
	}
	c.holds = false
	l.open--
	if c.pending {
		l.preLogin.remove(c)
	}
	if c.name != "" {
		if l.perName[c.name]--; l.perName[c.name] <= 0 {
			delete(l.perName, c.name)
		}
	}
	if c.timer != nil {
		c.timer.Stop()
	}
}

// conn frees its slot once when closed and bounds every read.
type conn struct {
	net.Conn
	l *listener

	// Guarded by l.mu.
	holds      bool        // c holds a slot
	pending    bool        // c is in l.preLogin: not logged in
	name       string      // who logged in on c, counted in l.perName
	inLogin    int         // logins running on c
	expired    bool        // the pre-login deadline passed during a login
	timer      *time.Timer // the pre-login deadline
	prev, next *conn       // l.preLogin's links
}

func (c *conn) Read(b []byte) (int, error) {
	if c.l.o.Deadlines == PerRead {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.l.o.Idle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if c.l.o.Deadlines == PerRead {
		return nil // Read sets it
	}
	if limit := time.Now().Add(c.l.o.Idle); t.IsZero() || t.After(limit) {
		t = limit
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return err
}

// Run calls serve until ctx is done, then close, and waits for serve to return.
// A serve that returns nil before ctx is done is reported as stopped: services
// do not end on their own.
func Run(ctx context.Context, name string, serve func() error, close func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case <-ctx.Done():
		cerr := close()
		if err := <-errc; err != nil {
			return err
		}
		return cerr
	case err := <-errc:
		if err == nil {
			err = errors.New(name + ": server stopped")
		}
		return err
	}
}
