package imapd

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postern/mailbox/netlimit/netlimittest"
)

// journalistSession logs in with a go-imap client, selects INBOX and
// fetches the envelopes, as a mail client does when it opens a connection.
func journalistSession(e *env, name string) error {
	c, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(name, e.pass[name]).Wait(); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return fmt.Errorf("select: %w", err)
	}
	if sel.NumMessages == 0 {
		return fmt.Errorf("select: empty INBOX")
	}
	if err := c.Logout().Wait(); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// 600 connections that never speak (half-open, as a flood leaves them)
// must not lock journalists out: with the default limits, each of several
// logins, some at once, succeeds while the flood connections stay open.
func TestHalfOpenFloodDoesNotLockOutJournalists(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.deliver(t, sampleMessage("before the flood", 8000))
	netlimittest.Flood(t, e.addr, 600)
	for round := range 3 {
		var wg sync.WaitGroup
		for _, name := range []string{"alice", "bob", "alice"} {
			wg.Go(func() {
				if err := journalistSession(e, name); err != nil {
					t.Errorf("round %d: %s during the flood: %v", round, name, err)
				}
			})
		}
		wg.Wait()
		netlimittest.Flood(t, e.addr, 100) // and it goes on
	}
}

// A connection that does not log in within LoginTimeout is closed, even if
// it keeps sending commands: a trickle does not extend the deadline.
func TestTrickleBeforeLoginClosed(t *testing.T) {
	e := newEnvWith(t, Options{LoginTimeout: 200 * time.Millisecond, IdleTimeout: time.Hour}, "alice")
	r := dialRaw(t, e.addr)
	r.c.SetDeadline(time.Time{}) // the trickle never stops on its own
	done := make(chan struct{})
	defer close(done)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(r.c, "n%d NOOP\r\n", i); err != nil {
				return
			}
		}
	}()
	netlimittest.WaitClosed(t, r.c, "a connection trickling NOOPs before login")
}

// Logged-in sessions keep their connections through a flood of
// connections that never log in, and past the login deadline.
func TestLoggedInSessionsSurvivePreLoginFlood(t *testing.T) {
	// The deadline is long enough for 20 logins on a loaded machine (each must
	// log in within it); the test waits for it once, by an event.
	e := newEnvWith(t, Options{MaxConns: 40, LoginTimeout: 2 * time.Second}, "alice", "bob")
	e.deliver(t, sampleMessage("kept", 4000))
	var sessions []*imapclient.Client
	for i := range 20 {
		c := e.login(t, []string{"alice", "bob"}[i%2], nil)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, c)
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
	if err := journalistSession(e, "alice"); err != nil {
		t.Fatalf("a new login during the flood: %v", err)
	}
	for i, c := range sessions {
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("logged-in session %d lost to the flood: %v", i, err)
		}
	}
}

// One journalist's connections (a stolen laptop's, a client gone wrong)
// cannot take the logged-in slots of the others: past MaxPerJournalist a
// login gets NO [LIMIT], and the others still log in.
func TestOneJournalistCannotTakeEveryLoggedInSlot(t *testing.T) {
	e := newEnvWith(t, Options{MaxPerJournalist: 3}, "alice", "bob")
	e.deliver(t, sampleMessage("limit", 3000))
	for range 3 {
		e.login(t, "alice", nil)
	}
	r := dialRaw(t, e.addr)
	r.send("l LOGIN alice \"" + e.pass["alice"] + "\"\r\n")
	if l := r.tagged("l"); !strings.HasPrefix(l, "l NO [LIMIT]") {
		t.Fatalf("a fourth session of one journalist: %q", l)
	}
	if err := journalistSession(e, "bob"); err != nil {
		t.Fatalf("another journalist: %v", err)
	}
}
