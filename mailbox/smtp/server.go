// Package smtpd is the journalists' SMTP submission endpoint: go-smtp in
// front of mailbox/reply.
//
// It accepts one thing: a logged-in journalist's reply to one source, at the
// source's address on the relay's own domain. It never relays, never queues
// and never sends anything out; every other recipient is refused. The reply
// is read into memory (bounded by MaxMessageBytes), checked for bare CR and
// LF (SMTP smuggling), and handed to reply.Processor, which stores it
// encrypted to the source before the journalist's client hears "250".
package smtpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-smtp"

	"postern/mailbox/authn"
	"postern/mailbox/netlimit"
	"postern/mailbox/reply"
	"postern/mailbox/store"
	"postern/mailbox/tally"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxMessageBytes = 25 << 20
	// DefaultMaxLineLength is go-smtp's (twice RFC 5321's 1000); a longer
	// line drops the connection.
	DefaultMaxLineLength = 2000
	// DefaultReadTimeout is how long a connection may stay silent, Tor
	// circuits included; it applies to every read, so a slow but moving
	// upload is not cut.
	DefaultReadTimeout  = 5 * time.Minute
	DefaultWriteTimeout = time.Minute
	// DefaultMaxConns and DefaultLoginTimeout are in conns.go.
	// DefaultMaxInFlight bounds the replies held in memory at once: each
	// costs up to about three times MaxMessageBytes while it is parsed and
	// encrypted.
	DefaultMaxInFlight = 4
)

// Options configure a Server. Store, Auth and Domain are required.
type Options struct {
	Store *store.Store
	// Auth checks logins. Share the IMAP server's, so failed logins on
	// both protocols count together against one throttle.
	Auth *authn.Authenticator
	// Domain is the relay's mail domain: the only domain accepted in RCPT.
	Domain string
	// OrgName is the newsroom's name, the From the source sees.
	OrgName string
	// Tally counts refusals and failures. The server has no logger: each
	// event is a journalist's connection or reply, and a line would carry
	// its time. Nil counts nothing.
	Tally *tally.Tally
	// ArchiveKey, when set, also receives the team's copy of each reply,
	// as it receives every submission.
	ArchiveKey *openpgp.Entity

	MaxMessageBytes int64         // largest reply; default 25 MiB
	MaxLineLength   int           // longest line, commands and data; default 2000
	ReadTimeout     time.Duration // longest silence; default 5 minutes
	WriteTimeout    time.Duration // default 1 minute
	MaxConns        int           // open connections at once; default 200
	MaxPreLogin     int           // of which not logged in; default MaxConns/4
	LoginTimeout    time.Duration // a connection not logged in by then is closed; default 20 s
	MaxInFlight     int           // replies being received and stored at once; default 4
	// Now is the clock for dates (default time.Now), coarsened to the day.
	Now func() time.Time

	// MaxPerJournalist is the most logged-in connections of one
	// journalist; default 16.
	MaxPerJournalist int

	// wrapProc, in this package's tests, wraps the reply processor to
	// observe what reaches it (how many replies are held at once).
	wrapProc func(processor) processor
}

// processor stores a received reply: reply.Processor, or a test's wrapper.
type processor interface {
	Process(ctx context.Context, r reply.Reply) error
}

// Server is the SMTP endpoint. Build it with New, then Serve a listener.
type Server struct {
	o      Options
	proc   processor
	srv    *smtp.Server
	dedup  []byte          // key of replyDedup
	busy   chan struct{}   // one token per reply in memory
	ctx    context.Context // ends when the server closes
	cancel context.CancelFunc
	panics atomic.Int64 // recovered panics, for tests

	mu     sync.Mutex
	closed bool
}

// New checks o and builds a Server.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("smtpd: Options.Store is required")
	}
	if o.Auth == nil {
		return nil, errors.New("smtpd: Options.Auth is required")
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = DefaultMaxLineLength
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxPreLogin <= 0 || o.MaxPreLogin > o.MaxConns {
		o.MaxPreLogin = max(1, o.MaxConns/4)
	}
	if o.MaxPerJournalist <= 0 {
		o.MaxPerJournalist = DefaultMaxPerJournalist
	}
	if o.LoginTimeout <= 0 {
		o.LoginTimeout = DefaultLoginTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	proc, err := reply.New(reply.Options{Store: o.Store, Domain: o.Domain, OrgName: o.OrgName,
		Tally: o.Tally, ArchiveKey: o.ArchiveKey, Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	o.Domain = strings.ToLower(o.Domain)
	dk, err := dedupKey(o.Store.Salt())
	if err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var pr processor = proc
	if o.wrapProc != nil {
		pr = o.wrapProc(pr)
	}
	s := &Server{o: o, proc: pr, dedup: dk,
		busy: make(chan struct{}, o.MaxInFlight),
		ctx:  ctx, cancel: cancel}

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = o.Domain
	srv.MaxMessageBytes = o.MaxMessageBytes
	srv.MaxRecipients = 1
	srv.MaxLineLength = o.MaxLineLength
	srv.WriteTimeout = o.WriteTimeout
	// ReadTimeout stays zero in go-smtp, which would set it once per
	// command and so bound a whole DATA transfer; limitConn applies it to
	// every read instead.
	// Plaintext AUTH: the service is bound to loopback and reached only
	// through an onion service with client authorisation, which is the
	// encryption and the first factor.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = libLogger{s}
	// Debug stays nil: it would log passphrases and replies.
	s.srv = srv
	return s, nil
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(netlimit.Listener(ln, s.connLimits()))
	if err != nil && s.isClosed() {
		return nil
	}
	return err
}

// Run serves ln until ctx is done, then closes the server. It has the shape
// of relay/daemon's Service.Serve.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return netlimit.Run(ctx, "smtpd", func() error { return s.Serve(ln) }, s.Close)
}

// Close stops the listeners and ends every connection; a reply being
// stored at that instant is either stored or not, never half.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	if err := s.srv.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("smtpd: close: %w", err)
	}
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Throttle is the login throttle shared with IMAP, for `relay status`.
func (s *Server) Throttle() *authn.Throttle { return s.o.Auth.Throttle }

// Kinds of events counted in Options.Tally.
const (
	KindPanic        = "smtp: panic in a session (recovered)"
	KindConnError    = "smtp: connection error"
	KindLoginFailed  = "smtp: login failed"
	KindRcptRefused  = "smtp: recipient refused"
	KindLookupFailed = "smtp: source lookup failed"
	KindRefused      = "smtp: reply refused"
	KindStoreFailed  = "smtp: storing a reply failed"
)

// libLogger takes go-smtp's error log. Its messages carry the peer address
// and, for panics, values from the session; only the kind of event is
// counted, never logged (it happens per connection).
type libLogger struct{ s *Server }

func (l libLogger) Printf(format string, v ...any) {
	if strings.HasPrefix(format, "panic") {
		l.s.panics.Add(1)
		l.s.o.Tally.Add(KindPanic, nil)
		return
	}
	// The format's constant words only ("error accepting connection").
	kind, _, _ := strings.Cut(format, " %")
	l.s.o.Tally.Add(KindConnError, errors.New(kind))
}

func (l libLogger) Println(v ...any) { l.s.o.Tally.Add(KindConnError, nil) }
