package netlimit

import (
	"bufio"
	"cmp"
	"net"
	"strings"
	"testing"
	"time"
)

// loginServer echoes lines on a Listener with o. "login" logs the
// connection in; "begin" starts a login that "ok" or "fail" ends.
func loginServer(t *testing.T, o Options) string {
	return serveConns(t, o, func(c net.Conn) {
		br := bufio.NewReader(c)
		var done func(string) bool
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			cmd, arg, _ := strings.Cut(strings.TrimSpace(l), " ")
			switch cmd {
			case "login": // as "journalist", or the name given
				if !Login(c)(cmp.Or(arg, "journalist")) {
					l = "refused\n"
				}
			case "begin":
				done = Login(c)
			case "ok":
				done("journalist")
			case "fail":
				done("")
			}
			c.Write([]byte(l))
		}
	})
}

type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t, c, bufio.NewReader(c)}
}

// say sends a line and returns the answer ("" once the server closed).
func (c *client) say(l string) string {
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	c.c.Write([]byte(l + "\n"))
	r, err := c.br.ReadString('\n')
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatalf("no answer to %q", l)
	}
	return strings.TrimSpace(r)
}

// waitClosed reads until the server closes c.
func (c *client) waitClosed(what string) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, err := c.br.ReadString('\n'); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("%s: still open", what)
			}
			return
		}
	}
}

// A flood of connections that never log in takes at most PreLoginMax
// slots: the logged-in connections keep theirs, and a newcomer always gets
// in and can log in while the flood goes on.
func TestFloodNeverTakesLoggedInSlots(t *testing.T) {
	addr := loginServer(t, Options{Max: 8, Idle: time.Minute, Busy: "busy\n", PreLoginMax: 2})
	var in []*client
	for range 6 {
		c := dial(t, addr)
		if r := c.say("login"); r != "login" {
			t.Fatalf("login: %q", r)
		}
		in = append(in, c)
	}
	for round := range 5 {
		for range 50 {
			dial(t, addr) // connects and stays silent
		}
		c := dial(t, addr)
		if r := c.say("login"); r != "login" {
			t.Fatalf("round %d: a newcomer could not log in during the flood: %q", round, r)
		}
		c.c.Close()
	}
	for i, c := range in {
		if r := c.say("still here"); r != "still here" {
			t.Fatalf("logged-in connection %d was closed by the flood", i)
		}
	}
}

// When the cap is full of logged-in connections, a newcomer is refused
// with Busy rather than closing one of them.
func TestFullCapRefusesNewcomerNotLoggedIn(t *testing.T) {
	addr := loginServer(t, Options{Max: 2, Idle: time.Minute, Busy: "busy\n", PreLoginMax: 1})
	a := dial(t, addr)
	a.say("login")
	b := dial(t, addr)
	b.say("login")
	if r := dial(t, addr).say("x"); r != "busy" {
		t.Fatalf("over the cap: %q", r)
	}
	if a.say("a") != "a" || b.say("b") != "b" {
		t.Fatal("a logged-in connection was closed for a newcomer")
	}
}

// deadlinePassed returns once a pre-login deadline of o started now has
// passed: a silent connection to a second server with the same options,
// opened now, has been closed. A test waits for that event instead of
// sleeping a guessed time.
func deadlinePassed(t *testing.T, o Options) {
	t.Helper()
	dial(t, loginServer(t, o)).waitClosed("a silent connection past the deadline")
}

// A connection that does not log in within PreLoginTimeout is closed, even
// if it keeps talking (a trickle cannot extend the deadline). The deadline
// is a second, so that the other connection's login, which must come
// within it, is not beaten by a pause of a loaded machine.
func TestPreLoginDeadlineNotExtendedByTraffic(t *testing.T) {
	o := Options{Max: 4, Idle: time.Minute, PreLoginMax: 2, PreLoginTimeout: time.Second}
	addr := loginServer(t, o)
	c := dial(t, addr)
	for c.say("noop") == "noop" {
		time.Sleep(20 * time.Millisecond) // the trickle's pace
	}
	in := dial(t, addr)
	in.say("login")
	// The deadline is for logging in only.
	deadlinePassed(t, o)
	if in.say("after") != "after" {
		t.Fatal("a logged-in connection was closed by the pre-login deadline")
	}
}

// A login under way (waiting for argon2) is neither cut by the deadline
// nor evicted by newcomers; if it then fails past the deadline, the
// connection is closed.
func TestLoginInProgressNotCut(t *testing.T) {
	o := Options{Max: 4, Idle: time.Minute, Busy: "busy\n", PreLoginMax: 1, PreLoginTimeout: time.Second}
	addr := loginServer(t, o)
	c := dial(t, addr)
	c.say("begin")
	deadlinePassed(t, o) // past the deadline, inside the login
	if r := dial(t, addr).say("x"); r != "busy" {
		t.Fatalf("a newcomer took the slot of a login under way: %q", r)
	}
	if c.say("ok") != "ok" || c.say("after") != "after" {
		t.Fatal("a login under way was cut off")
	}

	d := dial(t, addr)
	d.say("begin")
	deadlinePassed(t, o)
	d.c.Write([]byte("fail\n"))
	d.waitClosed("a failed login past the deadline")
}

// One name holds at most PerNameMax logged-in connections; the others
// still log in, and a closed connection frees its name's place.
func TestOneNameCannotTakeEveryLoggedInSlot(t *testing.T) {
	addr := loginServer(t, Options{Max: 20, Idle: time.Minute, Busy: "busy\n", PreLoginMax: 5, PerNameMax: 3})
	var mallory []*client
	for range 3 {
		c := dial(t, addr)
		if r := c.say("login mallory"); r != "login mallory" {
			t.Fatalf("login: %q", r)
		}
		mallory = append(mallory, c)
	}
	if r := dial(t, addr).say("login mallory"); r != "refused" {
		t.Fatalf("a fourth connection of one name: %q", r)
	}
	if r := dial(t, addr).say("login alice"); r != "login alice" {
		t.Fatalf("another name: %q", r)
	}
	mallory[0].c.Close()
	for {
		if r := dial(t, addr).say("login mallory"); r == "login mallory" {
			break
		}
		time.Sleep(10 * time.Millisecond) // until the server has seen the close
	}
}
