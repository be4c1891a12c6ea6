package smtpd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/netlimit/netlimittest"
)

// sendReply sends one reply the way a mail client does: connect, EHLO,
// AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
func (e *env) sendReply(name, body string) error {
	c, err := smtp.Dial(e.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("laptop.example"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", name, password)); err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	msg := crlf("From: " + name + "@home.example\nTo: " + e.src.Address + "\nSubject: Re: your documents\n\n" + body + "\n")
	if err := c.SendMail(name+"@home.example", []string{e.src.Address}, bytes.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

// 600 connections that never speak must not lock journalists out: with
// the default limits, each of several replies, some at once, is accepted
// while the flood connections stay open.
func TestHalfOpenFloodDoesNotLockOutJournalists(t *testing.T) {
	e := newEnv(t)
	netlimittest.Flood(t, e.addr, 600)
	sent := 0
	for round := range 3 {
		var wg sync.WaitGroup
		for _, name := range []string{"alice", "bob", "jane"} {
			wg.Go(func() {
				body := fmt.Sprintf("Round %d from %s.\n%s", round, name, bytes.Repeat([]byte("We read everything you sent and will protect you.\n"), 120))
				if err := e.sendReply(name, body); err != nil {
					t.Errorf("round %d: %s during the flood: %v", round, name, err)
				}
			})
		}
		wg.Wait()
		sent += 3
		netlimittest.Flood(t, e.addr, 100) // and it goes on
	}
	if got := len(e.replies()); got != sent {
		t.Fatalf("%d replies stored, want %d", got, sent)
	}
}

// A connection that does not log in within LoginTimeout is closed, even if
// it keeps sending commands. Before, each read had ReadTimeout (5 minutes)
// and a trickle held its slot for ever.
func TestTrickleBeforeAuthClosed(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LoginTimeout = 200 * time.Millisecond })
	r := e.raw()
	r.c.SetDeadline(time.Time{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := r.c.Write([]byte("NOOP\r\n")); err != nil {
				return
			}
		}
	}()
	netlimittest.WaitClosed(t, r.c, "a connection trickling NOOPs before AUTH")
}

// A silent connection is closed after LoginTimeout.
func TestSilentBeforeAuthClosed(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LoginTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	netlimittest.WaitClosed(t, c, "a silent connection before AUTH")
}

// Logged-in sessions keep their connections through a flood of
// connections that never log in, and past the login deadline.
func TestLoggedInSessionsSurvivePreLoginFlood(t *testing.T) {
	// The deadline is long enough for 10 logins on a loaded machine (each must
	// log in within it); the test waits for it once, by an event.
	e := newEnv(t, func(o *Options) { o.MaxConns = 20; o.LoginTimeout = 2 * time.Second })
	var sessions []*smtp.Client
	for i := range 10 {
		sessions = append(sessions, e.dial([]string{"alice", "bob", "jane"}[i%3]))
	}
	// Once a silent connection opened after them is closed by the login
	// deadline, theirs has passed too.
	silent, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	netlimittest.WaitClosed(t, silent, "a silent connection")
	netlimittest.Flood(t, e.addr, 300)
	if err := e.sendReply("jane", "A new connection during the flood."); err != nil {
		t.Fatalf("a new login during the flood: %v", err)
	}
	for i, c := range sessions {
		msg := crlf(fmt.Sprintf("From: x@home.example\nTo: %s\nSubject: Re: x\n\nKept session %d.\n", e.src.Address, i))
		if err := c.SendMail("x@home.example", []string{e.src.Address}, bytes.NewReader(msg)); err != nil {
			t.Fatalf("logged-in session %d lost to the flood: %v", i, err)
		}
	}
}

// One journalist's connections cannot take the logged-in slots of the
// others: past MaxPerJournalist AUTH gets 454, and the others still send.
func TestOneJournalistCannotTakeEveryLoggedInSlot(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxPerJournalist = 2 })
	e.dial("alice")
	e.dial("alice")
	r := e.raw()
	r.expect("EHLO laptop.example", 250)
	r.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+password)), 454)
	r.expect("MAIL FROM:<alice@home.example>", 530)
	if err := e.sendReply("bob", "Another journalist."); err != nil {
		t.Fatalf("another journalist: %v", err)
	}
}
