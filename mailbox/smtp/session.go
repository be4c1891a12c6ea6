package smtpd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/kdf"
	"postern/mailbox/netlimit"
	"postern/mailbox/reply"
	"postern/mailbox/store"
)

// Replies to the peer. They are short and generic: the reason of a refusal
// goes to the log, never the configuration or whether a source exists.
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	errBusy = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Server busy, try again in a moment"}
	errNoSuchRecipient = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such recipient here: this server only takes replies to sources"}
	errOneRecipient = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
		Message: "One recipient per reply"}
	errNoRecipient = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "RCPT first"}
	errBareLF = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Message refused: bare CR or LF; lines must end in CRLF"}
	errTemporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure, try again later"}
	// errNotOnDesk tells a journalist why: the source writes to a desk they
	// are not on, and only that desk may answer (store/desk.go).
	errNotOnDesk = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "You are not on this source's desk: only its desk's journalists can reply"}
)

// session is one SMTP connection. go-smtp calls its methods one at a time.
// The mutex is there because Logout runs on Server.Close's goroutine and,
// with BDAT, Data runs on its own.
type session struct {
	s    *Server
	conn net.Conn // for netlimit.Login

	mu         sync.Mutex
	journalist string        // set by a successful AUTH
	cred       credential    // the journalist's record at login
	src        *store.Source // set by RCPT
}

// credential is what revoking a journalist changes: a session logged in
// with an older one is no longer authenticated.
type credential struct{ hash, onion string }

// state returns the logged-in journalist ("" if none or if revoked since
// login) and the recipient.
func (sess *session) state() (string, *store.Source) {
	sess.mu.Lock()
	name, cred, src := sess.journalist, sess.cred, sess.src
	sess.mu.Unlock()
	if name == "" {
		return "", src
	}
	// A removed journalist, or one whose passphrase or onion key was
	// reset (a lost laptop), loses an open session at its next command,
	// as IMAP sessions do.
	j, err := sess.s.o.Store.Journalist(name)
	if err != nil || (credential{j.PasswordHash, j.OnionAuthPublic}) != cred {
		sess.mu.Lock()
		sess.journalist, sess.cred = "", credential{}
		sess.mu.Unlock()
		return "", src
	}
	return name, src
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c.Conn()}, nil
}

var _ smtp.AuthSession = (*session)(nil)

// AuthMechanisms are PLAIN and LOGIN: what Thunderbird, swaks and curl use.
func (sess *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (sess *session) Auth(mech string) (sasl.Server, error) {
	sess.mu.Lock()
	name := sess.journalist
	sess.mu.Unlock()
	if name != "" {
		return nil, &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Already authenticated"}
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, name, pass string) error {
			if identity != "" && identity != name {
				return sess.login("", "") // costs the same as any failure
			}
			return sess.login(name, pass)
		}), nil
	case sasl.Login:
		return &loginServer{login: sess.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// login checks a name and passphrase with the shared Authenticator (and its
// throttle). A failure is counted, never logged with the name: a passphrase
// pasted into the name field would end up in the log.
func (sess *session) login(name, pass string) error {
	// The login deadline and eviction spare a login under way (conns.go).
	done := netlimit.Login(sess.conn)
	defer done("") // a no-op once done(name) ran
	ctx, cancel := context.WithTimeout(sess.s.ctx, time.Minute)
	defer cancel()
	j, err := sess.s.o.Auth.Login(ctx, name, pass)
	if err != nil {
		if errors.Is(err, kdf.ErrBusy) {
			return errBusy
		}
		sess.s.o.Tally.Add(KindLoginFailed, nil)
		return smtp.ErrAuthFailed
	}
	if !done(j.Name) {
		return errTooManyConns
	}
	sess.mu.Lock()
	sess.journalist, sess.cred = j.Name, credential{j.PasswordHash, j.OnionAuthPublic}
	sess.mu.Unlock()
	return nil
}

// Mail starts a reply. The envelope sender is ignored (and never stored):
// the relay sends no bounce, since it sends nothing at all.
func (sess *session) Mail(string, *smtp.MailOptions) error {
	if name, _ := sess.state(); name == "" {
		return errAuthRequired
	}
	return nil
}

// Rcpt accepts exactly one recipient: an existing source's address at the
// relay's own domain, when the journalist is on the source's desk. An external domain and an unknown source get the same
// answer, so RCPT cannot be used to learn which sources exist beyond what a
// logged-in journalist already sees.
func (sess *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	name, cur := sess.state()
	if name == "" {
		return errAuthRequired
	}
	if cur != nil {
		return errOneRecipient
	}
	addr, err := mail.ParseAddress("<" + to + ">")
	if err != nil {
		return errNoSuchRecipient
	}
	at := strings.LastIndexByte(addr.Address, '@')
	if at < 0 || !strings.EqualFold(addr.Address[at+1:], sess.s.o.Domain) {
		sess.s.o.Tally.Add(KindRcptRefused, nil)
		return errNoSuchRecipient
	}
	src, err := sess.s.o.Store.SourceByAddress(addr.Address)
	if errors.Is(err, store.ErrNotFound) {
		sess.s.o.Tally.Add(KindRcptRefused, nil)
		return errNoSuchRecipient
	}
	if err != nil {
		sess.s.o.Tally.Add(KindLookupFailed, err)
		return errTemporary
	}
	if err := sess.checkDesk(name, src.ID); err != nil {
		return err
	}
	sess.mu.Lock()
	sess.src = &src
	sess.mu.Unlock()
	return nil
}

// checkDesk refuses a journalist who is not on the source's desk. Rcpt asks
// first, so the body is never sent; Data asks again, since an admin may have
// moved the source or unassigned the journalist meanwhile.
func (sess *session) checkDesk(name string, srcID []byte) error {
	src, err := sess.s.o.Store.Source(srcID)
	if err != nil {
		sess.s.o.Tally.Add(KindLookupFailed, err)
		return errTemporary
	}
	desk, err := sess.s.o.Store.Desk(src.Desk)
	if err != nil {
		sess.s.o.Tally.Add(KindLookupFailed, err)
		return errTemporary
	}
	if !slices.Contains(desk.Journalists, name) {
		sess.s.o.Tally.Add(KindRcptRefused, nil)
		return errNotOnDesk
	}
	return nil
}

// Data reads the reply into memory, refusing bare CR or LF, and stores it.
// The bytes are plaintext: they are never written anywhere, and they are
// overwritten when Data returns.
func (sess *session) Data(r io.Reader) error {
	name, src := sess.state()
	if name == "" {
		return errAuthRequired
	}
	if src == nil {
		return errNoRecipient
	}
	if err := sess.checkDesk(name, src.ID); err != nil {
		return err
	}
	// Wait for a slot before reading: the reply waits in the network
	// buffers meanwhile, not in memory here.
	select {
	case sess.s.busy <- struct{}{}:
		defer func() { <-sess.s.busy }()
	case <-sess.s.ctx.Done():
		return errTemporary
	}
	msg, err := readWiped(&crlfChecker{r: r}, sess.s.o.MaxMessageBytes)
	defer clear(msg[:cap(msg)])
	switch {
	case errors.Is(err, errBareLF):
		sess.s.o.Tally.Add(KindRefused, errBareLF)
		return errBareLF
	case errors.Is(err, smtp.ErrDataTooLarge):
		sess.s.o.Tally.Add(KindRefused, smtp.ErrDataTooLarge)
		return smtp.ErrDataTooLarge
	case err != nil:
		return errTemporary
	}
	err = sess.s.proc.Process(sess.s.ctx, reply.Reply{Journalist: name,
		Source: *src, Message: msg, Dedup: sess.s.replyDedup(src.ID, msg)})
	if err == nil {
		return nil
	}
	if refusal, ok := reply.Refusal(err); ok {
		// The refusal only: the wrapped parser error can quote a line of
		// the message.
		sess.s.o.Tally.Add(KindRefused, refusal)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: refusal.Error()}
	}
	sess.s.o.Tally.Add(KindStoreFailed, err)
	return errTemporary
}

// readWiped reads r to the end, at most limit bytes (go-smtp enforces the
// limit itself; this is a second bound). Each time the buffer grows, the
// old one is overwritten, so no stray copy of the plaintext outlives Data
// in memory except what the caller clears.
func readWiped(r io.Reader, limit int64) ([]byte, error) {
	b := make([]byte, 0, 64<<10)
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return b, smtp.ErrDataTooLarge
			}
			nb := make([]byte, len(b), 2*cap(b))
			copy(nb, b)
			clear(b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// Reset forgets the recipient; the login stays, as RFC 5321 says.
func (sess *session) Reset() {
	sess.mu.Lock()
	sess.src = nil
	sess.mu.Unlock()
}

// Logout forgets everything.
func (sess *session) Logout() error {
	sess.mu.Lock()
	sess.journalist, sess.src = "", nil
	sess.mu.Unlock()
	return nil
}

// crlfChecker passes data through and fails with errBareLF at the first CR
// not followed by LF or LF not preceded by CR. go-smtp ends DATA only at
// CRLF.CRLF, but a relay in front or a client's quirk could read "\n.\n" or
// "\r.\n" as the end (SMTP smuggling); a reply with such bytes is refused
// rather than guessed at.
type crlfChecker struct {
	r      io.Reader
	prevCR bool
}

func (c *crlfChecker) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	for _, ch := range b[:n] {
		switch {
		case c.prevCR && ch != '\n':
			return 0, errBareLF
		case !c.prevCR && ch == '\n':
			return 0, errBareLF
		}
		c.prevCR = ch == '\r'
	}
	if errors.Is(err, io.EOF) && c.prevCR {
		return 0, errBareLF
	}
	return n, err
}

// loginServer is SASL LOGIN (draft-murchison-sasl-login), which go-sasl
// offers only as a client: a username challenge, then a password one.
type loginServer struct {
	login    func(name, pass string) error
	name     string
	gotName  bool
	finished bool
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case l.finished:
		return nil, true, sasl.ErrUnexpectedClientResponse
	case !l.gotName && resp == nil:
		return []byte("Username:"), false, nil
	case !l.gotName:
		l.name, l.gotName = string(resp), true
		return []byte("Password:"), false, nil
	}
	l.finished = true
	if err := l.login(l.name, string(resp)); err != nil {
		return nil, true, err
	}
	return nil, true, nil
}
