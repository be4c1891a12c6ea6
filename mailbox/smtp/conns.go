package smtpd

import (
	"time"

	"github.com/emersion/go-smtp"

	"postern/mailbox/netlimit"
)

// Connection limits. Behind Tor every client is 127.0.0.1, so they are
// global; docs/admin.md ("Connections") explains the numbers.
const (
	// DefaultMaxConns: Thunderbird opens one SMTP connection per message
	// sent and closes it after; a newsroom of 50 journalists with two
	// devices each, all sending at once, is 100, below the 150 kept for
	// logged-in sessions. An idle connection costs about 30 KiB
	// (docs/benchmarks.md); replies in memory are bounded apart
	// (MaxInFlight).
	DefaultMaxConns = 200
	// DefaultLoginTimeout bounds the whole time from the greeting to a
	// successful AUTH, whatever the client sends meanwhile (the password
	// check itself is not counted). Thunderbird needs three round trips
	// (greeting, EHLO, AUTH PLAIN), about 1–2 s each through an onion
	// service; before, a silent connection held a slot for ReadTimeout
	// (5 minutes) and a trickling one for ever.
	DefaultLoginTimeout = 20 * time.Second
	// DefaultMaxPerJournalist: one account cannot take the logged-in slots
	// of all the others; Thunderbird sends one message per connection.
	DefaultMaxPerJournalist = 16
)

// errTooManyConns answers an AUTH over MaxPerJournalist.
var errTooManyConns = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
	Message: "Too many connections for this account, try again later"}

// connLimits are the listener limits of the server's options: at most a
// quarter of the cap for connections not logged in, each newcomer closing
// the oldest of them (see imapd's, and netlimit.Options).
func (s *Server) connLimits() netlimit.Options {
	return netlimit.Options{
		Max:             s.o.MaxConns,
		Idle:            s.o.ReadTimeout,
		Deadlines:       netlimit.PerRead,
		Busy:            "421 4.7.0 Too many connections, try again later\r\n",
		PreLoginMax:     s.o.MaxPreLogin,
		PreLoginTimeout: s.o.LoginTimeout,
		PerNameMax:      s.o.MaxPerJournalist,
	}
}
