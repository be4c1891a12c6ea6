// Package netlimit holds what the IMAP and SMTP servers share at the socket:
// a global cap on open connections, a bound on how long a connection may stay
// silent, and the run-until-cancelled loop relay/daemon expects.
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
}

// Listener wraps ln with the limits of o.
func Listener(ln net.Listener, o Options) net.Listener {
	return &listener{Listener: ln, o: o, slots: make(chan struct{}, o.Max)}
}

type listener struct {
	net.Listener
	o     Options
	slots chan struct{} // one token per open connection
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &conn{Conn: c, o: &l.o, release: func() { <-l.slots }}, nil
		default:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte(l.o.Busy))
			c.Close()
		}
	}
}

// conn frees its slot once when closed and bounds every read.
type conn struct {
	net.Conn
	o       *Options
	once    sync.Once
	release func()
}

func (c *conn) Read(b []byte) (int, error) {
	if c.o.Deadlines == PerRead {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.o.Idle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	if c.o.Deadlines == PerRead {
		return nil // Read sets it
	}
	if limit := time.Now().Add(c.o.Idle); t.IsZero() || t.After(limit) {
		t = limit
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
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
