// Package imapd is the journalists' IMAP server: go-imap v2's imapserver
// in front of mailbox/store.
//
// Each journalist sees their own mailboxes; a submission is one ciphertext
// blob indexed in every journalist's INBOX, so flags and expunges are per
// journalist while the bytes are shared. Message bodies are never held in
// memory: FETCH streams byte ranges of the blob file, located by the
// cached MIME structure (package structure).
//
// Concurrency: the store tells us about every committed change (Subscribe).
// Sessions that have the same mailbox selected share a box, which keeps the
// UID list and flags as the store has them; each session's view keeps what
// its client was told (sequence numbers) and tells it the rest. A box's
// lock is only held to compute sequence numbers and queue updates, never
// while writing to a client, so a slow client cannot stall a delivery.
package imapd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postern/mailbox/authn"
	"postern/mailbox/kdf"
	"postern/mailbox/netlimit"
	"postern/mailbox/pgp"
	"postern/mailbox/store"
	"postern/mailbox/tally"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxAppendBytes = 50 << 20
	// DefaultIdleTimeout is above RFC 3501's 30-minute minimum for the
	// inactivity autologout, and close to the library's own 35 minutes.
	DefaultIdleTimeout = 31 * time.Minute
	// DefaultMaxConns and DefaultLoginTimeout are in conns.go.
	// libraryAppendLimit is imapserver's hard-coded cap; ours must stay below.
	libraryAppendLimit = 100 << 20
)

// capCompress is RFC 4978's capability; go-imap has no constant for it.
const capCompress imap.Cap = "COMPRESS=DEFLATE"

// Options configures a Server. Store and either Auth or Pool are required.
type Options struct {
	Store *store.Store
	// Auth checks logins. Share one with SMTP so both count failures
	// together; if nil, one is built from Store, Pool and Throttle.
	Auth     *authn.Authenticator
	Pool     *kdf.Pool
	Throttle *authn.Throttle // used only when Auth is nil; a new one if nil
	Logger   *slog.Logger
	// Tally counts failures caused by other people's actions (a source's
	// submission refreshes idle mailboxes), which must not be dated in the
	// log. Nil counts nothing.
	Tally *tally.Tally

	MaxAppendBytes int64         // largest APPEND literal; default 50 MiB, at most 100 MiB
	MaxConns       int           // open connections at once; default 800
	MaxPreLogin    int           // of which not logged in; default MaxConns/4
	IdleTimeout    time.Duration // a connection silent this long is closed
	LoginTimeout   time.Duration // a connection not logged in by then is closed; default 20 s

	// MaxPerJournalist is the most logged-in connections of one
	// journalist; default 24.
	MaxPerJournalist int

	// literals is when COMPRESS sends literal bytes stored (deflate.go);
	// the zero value is the default. Tests lower it to put real clients
	// through stored blocks.
	literals litPolicy
}

// Server is the IMAP server. Build it with New, then Serve a listener.
type Server struct {
	o     Options
	log   *slog.Logger
	auth  *authn.Authenticator
	srv   *imapserver.Server
	cache *structCache
	// deflaters lends COMPRESS compressors per response (deflate.go).
	deflaters deflaters
	// appendBufs lends APPEND's 64 KiB read buffers: made and cleared for
	// every message they were a tenth of an APPEND's allocation work.
	appendBufs sync.Pool
	// sealBufs lends the sealing's packet buffers and compressors.
	sealBufs pgp.Buffers

	unsubscribe func()
	dirty       chan struct{} // wakes the worker; capacity 1
	done        chan struct{} // closed by Close
	workerDone  chan struct{}

	mu       sync.Mutex // guards sessions, boxes, pending, closed
	sessions map[*session]struct{}
	boxes    map[boxKey]*box
	pending  map[boxKey]struct{} // boxes with store changes not yet applied
	closed   bool
}

// New checks o and builds a Server. It subscribes to the store's events at
// once, so it must be Closed.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("imapd: Options.Store is required")
	}
	if o.Auth == nil {
		if o.Pool == nil {
			return nil, errors.New("imapd: Options.Auth or Options.Pool is required")
		}
		th := o.Throttle
		if th == nil {
			th = authn.NewThrottle(authn.ThrottleOptions{})
		}
		o.Auth = &authn.Authenticator{Store: o.Store, Pool: o.Pool, Throttle: th, Logger: o.Logger}
	}
	if o.MaxAppendBytes <= 0 {
		o.MaxAppendBytes = DefaultMaxAppendBytes
	}
	if o.MaxAppendBytes > libraryAppendLimit {
		return nil, fmt.Errorf("imapd: MaxAppendBytes %d above the library's %d", o.MaxAppendBytes, libraryAppendLimit)
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
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.LoginTimeout <= 0 {
		o.LoginTimeout = DefaultLoginTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		o:          o,
		log:        log,
		auth:       o.Auth,
		cache:      newStructCache(4096),
		dirty:      make(chan struct{}, 1),
		done:       make(chan struct{}),
		workerDone: make(chan struct{}),
		sessions:   make(map[*session]struct{}),
		boxes:      make(map[boxKey]*box),
		pending:    make(map[boxKey]struct{}),
	}
	s.deflaters.policy = o.literals
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps: imap.CapSet{
			imap.CapIMAP4rev1:  {},
			imap.CapNamespace:  {},
			imap.CapUIDPlus:    {},
			imap.CapMove:       {},
			imap.CapSpecialUse: {},
			// COMPRESS=DEFLATE: guardConn implements and advertises it.
		},
		Logger: libLogger{log},
		// Plaintext LOGIN: the service is bound to loopback and reached
		// only through an onion service with client authorisation, which
		// is the encryption and the first factor.
		InsecureAuth: true,
		// DebugWriter stays nil: it would log passphrases and mail.
	})
	s.unsubscribe = o.Store.Subscribe(s.onEvent)
	go s.worker()
	return s, nil
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(guardListener{netlimit.Listener(ln, s.connLimits()), &s.deflaters})
	if err != nil && s.isClosed() {
		return nil
	}
	return err
}

// Run serves ln until ctx is done, then closes the server, ending every
// session. It has the shape of relay/daemon's Service.Serve.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	return netlimit.Run(ctx, "imapd", func() error { return s.Serve(ln) }, s.Close)
}

// Close stops the listeners, ends every session and stops listening to the
// store. It does not close the store.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.unsubscribe()
	err := s.srv.Close()
	close(s.done)
	<-s.workerDone
	if err != nil {
		return fmt.Errorf("imapd: close: %w", err)
	}
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Throttle is the login throttle, for `relay status` (Locks) and unlocking.
func (s *Server) Throttle() *authn.Throttle { return s.auth.Throttle }

// Logout ends every open session of the journalist. The store already
// triggers it when a journalist is removed; relay may also call it when a
// journalist's password is reset.
func (s *Server) Logout(name string) {
	s.mu.Lock()
	var conns []net.Conn
	for sess := range s.sessions {
		if sess.journalist() == name {
			conns = append(conns, sess.netConn)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close() // the library ends the session when its read fails
	}
	if len(conns) > 0 {
		s.log.Info("imap: sessions ended for a removed or reset journalist", "sessions", len(conns))
	}
}

// onEvent runs on the store's committing goroutine: it only marks boxes
// dirty (or closes connections) and never touches the store.
func (s *Server) onEvent(ev store.Event) {
	if ev.Kind == store.EventLogout {
		s.Logout(ev.Journalist)
		return
	}
	k := boxKey{ev.Journalist, ev.Mailbox}
	s.mu.Lock()
	_, open := s.boxes[k]
	if open {
		s.pending[k] = struct{}{}
	}
	s.mu.Unlock()
	if open {
		select {
		case s.dirty <- struct{}{}:
		default:
		}
	}
}

// Kinds of events counted in Options.Tally. Each happens per command or per
// connection, so a log line would date a journalist's work (or, for a
// refresh, a source's submission).
const (
	KindRefresh     = "imap: mailbox refresh failed"
	KindFailed      = "imap: command failed"
	KindLoginFailed = "imap: login failed"
)

// worker applies store changes to open boxes, outside the store's goroutine.
func (s *Server) worker() {
	defer close(s.workerDone)
	for {
		select {
		case <-s.done:
			return
		case <-s.dirty:
		}
		s.mu.Lock()
		var boxes []*box
		for k := range s.pending {
			if b := s.boxes[k]; b != nil {
				boxes = append(boxes, b)
			}
		}
		clear(s.pending)
		s.mu.Unlock()
		for _, b := range boxes {
			if err := b.resync(s.o.Store, nil); err != nil {
				s.o.Tally.Add(KindRefresh, err) // a source's submission woke it
			}
		}
	}
}

// refresh applies store changes to the box now if one is open, so the
// session that made the change sees its effect in this command's response.
func (s *Server) refresh(k boxKey, exclude *view) {
	s.mu.Lock()
	b := s.boxes[k]
	s.mu.Unlock()
	if b == nil {
		return
	}
	if err := b.resync(s.o.Store, exclude); err != nil {
		s.o.Tally.Add(KindRefresh, err)
	}
}

// openBox returns the shared box for a mailbox, taking a reference.
func (s *Server) openBox(k boxKey) *box {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[k]
	if b == nil {
		b = &box{key: k}
		s.boxes[k] = b
	}
	b.refs++
	return b
}

func (s *Server) closeBox(b *box) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b.refs--
	if b.refs == 0 && s.boxes[b.key] == b {
		delete(s.boxes, b.key)
		delete(s.pending, b.key)
	}
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	sess := &session{s: s, conn: c, netConn: c.NetConn()}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.sessions[sess] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	return sess, nil, nil
}

func (s *Server) dropSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// loginContext bounds one login's wait for the argon2 pool.
func (s *Server) loginContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// libLogger sends the library's messages to slog. They carry command
// names and errors, never credentials (DebugWriter is off).
type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(format string, args ...any) {
	// Only the library's format string, never its arguments: they quote
	// what the client sent (search terms, mailbox names).
	msg := "imap: " + strings.TrimSpace(strings.NewReplacer("%v", "…", "%q", "…", "%s", "…", "%d", "…", "%w", "…").Replace(format))
	if strings.HasPrefix(format, "failed to read command") || strings.HasPrefix(format, "failed to write greeting") || strings.HasPrefix(format, "handling ") {
		// Clients that drop the connection, time out or send garbage:
		// routine behind Tor. "handling" is a command's plain error: the
		// session turns all of its own into errInternal (logging them), so
		// these are the library's argument errors, the client's fault.
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
}
