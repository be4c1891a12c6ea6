package imapd

import (
	"net"
	"postern/mailbox/netlimit/netlimittest"
	"strings"
	"testing"
	"time"
)

// What an idle connection holds in the server, measured as the live heap
// and stacks that n of them add, the client keeping only its socket. The
// caps (conns.go) and docs/admin.md rest on these figures: the bounds
// here are the documented ones, so a change that makes idle connections
// dearer has to revisit the caps.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 150 connections")
	}
	const n = 50
	kinds := []struct {
		name  string
		bound int64
		open  func(e *env) net.Conn
	}{
		{"not logged in", 128 << 10, func(e *env) net.Conn {
			return dialRaw(t, e.addr).c
		}},
		{"logged in, IDLE on INBOX", 192 << 10, func(e *env) net.Conn {
			r := dialRaw(t, e.addr)
			r.send("l LOGIN alice \"" + e.pass["alice"] + "\"\r\n")
			if l := r.tagged("l"); !strings.HasPrefix(l, "l OK") {
				t.Fatalf("login: %q", l)
			}
			r.send("s SELECT INBOX\r\n")
			r.tagged("s")
			r.send("i IDLE\r\n")
			r.line()
			return r.c
		}},
		{"logged in, COMPRESS, IDLE on INBOX", 256 << 10, func(e *env) net.Conn {
			r := dialRaw(t, e.addr)
			r.send("l LOGIN alice \"" + e.pass["alice"] + "\"\r\n")
			if l := r.tagged("l"); !strings.HasPrefix(l, "l OK") {
				t.Fatalf("login: %q", l)
			}
			r.compress("z")
			r.send("s SELECT INBOX\r\n")
			r.tagged("s")
			r.send("i IDLE\r\n")
			r.line()
			return r.c // the client's deflate state is left to the collector
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			e := newEnvWith(t, Options{LoginTimeout: time.Hour, MaxPerJournalist: 1000}, "alice")
			e.deliver(t, sampleMessage("one", 6000))
			netlimittest.CheckConnMemory(t, k.name, n, k.bound, func() net.Conn { return k.open(e) })
		})
	}
}
