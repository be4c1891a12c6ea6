package imapd

import (
	"net"
	"time"

	"github.com/emersion/go-imap/v2"

	"postern/mailbox/netlimit"
)

// Connection limits. Behind Tor every client is 127.0.0.1, so they are
// global; docs/admin.md ("Connections") explains the numbers.
const (
	// DefaultMaxConns fits a newsroom of 50 journalists with two devices
	// each: Thunderbird keeps up to 5 connections per account
	// (mail.server.default.max_cached_connections), one of them in IDLE,
	// so 500, and an mbsync or offline reader each, so 550, below the 600
	// kept for logged-in sessions. An idle logged-in connection holds about
	// 116 KiB, 190 KiB with COMPRESS (docs/benchmarks.md (g)).
	DefaultMaxConns = 800
	// DefaultLoginTimeout bounds the whole time from the greeting to a
	// successful LOGIN or AUTHENTICATE, whatever the client sends meanwhile
	// (the time spent inside a password check is not counted: a journalist
	// waiting in the argon2 queue is not cut off). Thunderbird needs three
	// round trips (greeting, CAPABILITY, AUTHENTICATE PLAIN): through an
	// onion service about 1–2 s each, 5 s on a bad circuit. 20 s is
	// enough for that, and a half-open connection holds a slot no longer.
	DefaultLoginTimeout = 20 * time.Second
	// DefaultMaxPerJournalist is twice what one journalist's two devices
	// open (5 each) plus an mbsync or offline reader: enough for any real
	// use, and one account (a stolen laptop's) cannot take the logged-in
	// slots of all the others.
	DefaultMaxPerJournalist = 24
)

// errTooManyConns answers a login over MaxPerJournalist.
var errTooManyConns = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Too many connections for this account, close some and try again"}

// connLimits are the listener limits of the server's options. A quarter of
// the cap at most is for connections not logged in: a flood of them (from
// anyone holding a journalist onion key, or a program on the host) never
// takes the slots of logged-in sessions, and each newcomer closes the
// oldest of them rather than being refused, so a journalist's new
// connection gets in even while the flood goes on (netlimit.Options).
func (s *Server) connLimits() netlimit.Options {
	return netlimit.Options{
		Max:             s.o.MaxConns,
		Idle:            s.o.IdleTimeout,
		Deadlines:       netlimit.Capped,
		Busy:            "* BYE Too many connections, try again later\r\n",
		PreLoginMax:     s.o.MaxPreLogin,
		PreLoginTimeout: s.o.LoginTimeout,
		PerNameMax:      s.o.MaxPerJournalist,
	}
}

// NetConn is the connection under the guard, so that netlimit finds its
// own (netlimit.Login).
func (g *guardConn) NetConn() net.Conn { return g.Conn }
