package imapd

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestRecentOncePerMessageUnderConcurrentSelects protects "recent to one
// session only" when sessions select while submissions arrive: every
// message ends up \Recent in exactly one of them.
func TestRecentOncePerMessageUnderConcurrentSelects(t *testing.T) {
	e := newEnv(t, "alice")
	tg := target{Addr: e.addr, User: "alice", Password: e.pass["alice"]}
	const sessions, total = 4, 24
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i++ {
			e.deliver(t, sampleMessage(fmt.Sprintf("concurrent %d", i), 2<<10+i*700))
		}
	}()
	conns := make([]*conn, sessions)
	for i := range conns {
		conns[i] = confLogin(t, tg)
		conns[i].cmd("SELECT INBOX")
	}
	wg.Wait()
	uidRe := regexp.MustCompile(`UID (\d+)`)
	owners := map[string]int{}
	for i, c := range conns {
		// NOOP until the session has been told about every message.
		for n := 0; ; n++ {
			l := c.cmd("NOOP")
			if find(l, fmt.Sprintf("* %d EXISTS", total)) != "" {
				break
			}
			if n > 0 && len(c.cmd("FETCH 1:* (UID)")) == total {
				break
			}
		}
		lines := c.cmd("FETCH 1:* (UID FLAGS)")
		if len(lines) != total {
			t.Fatalf("session %d sees %d messages, want %d", i, len(lines), total)
		}
		for _, l := range lines {
			if strings.Contains(l, `\Recent`) {
				owners[uidRe.FindStringSubmatch(l)[1]]++
			}
		}
	}
	if len(owners) != total {
		t.Errorf("%d of %d messages are recent to some session", len(owners), total)
	}
	for uid, n := range owners {
		if n != 1 {
			t.Errorf("UID %s is recent to %d sessions", uid, n)
		}
	}
}

// TestRecentWithoutClaimer protects the cases Dovecot settles by timing:
// a message arriving while only EXAMINE sessions are open stays unclaimed
// (recent to them, and to the next SELECT), and when the claiming session
// leaves, the next read-write session claims new arrivals.
func TestRecentWithoutClaimer(t *testing.T) {
	e := newEnv(t, "alice")
	tg := target{Addr: e.addr, User: "alice", Password: e.pass["alice"]}
	ex := confLogin(t, tg)
	ex.cmd("EXAMINE INBOX")
	e.deliver(t, sampleMessage("while examined", 6<<10))
	ex.waitIdle("* 1 RECENT")

	a, b := confLogin(t, tg), confLogin(t, tg)
	if l := a.cmd("SELECT INBOX"); find(l, "* 1 RECENT") == "" {
		t.Errorf("SELECT after an EXAMINE-only arrival: %q, want * 1 RECENT", l)
	}
	b.cmd("SELECT INBOX")
	a.cmd("LOGOUT")
	e.deliver(t, sampleMessage("after the claimer left", 9<<10))
	b.waitIdle("* 1 RECENT")
	if l := b.cmd("FETCH 2 (FLAGS)"); len(l) != 1 || !strings.Contains(l[0], `\Recent`) {
		t.Errorf("the remaining session did not claim the new message: %q", l)
	}
}

// waitIdle idles until an update starting with prefix arrives.
func (r *conn) waitIdle(prefix string) {
	r.t.Helper()
	r.send("idle IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		r.t.Fatalf("IDLE: %q", l)
	}
	r.waitFor(prefix)
	r.send("DONE\r\n")
	r.tagged("idle")
}
