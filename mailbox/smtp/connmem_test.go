package smtpd

import (
	"net"
	"postern/mailbox/netlimit/netlimittest"
	"testing"
	"time"
)

// What an idle connection holds in the server, measured as the live heap
// and stacks that n of them add, the client keeping only its socket. The
// caps (conns.go) and docs/admin.md rest on these figures; the bound is
// the documented one.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 100 connections")
	}
	const n = 50
	for _, k := range []struct {
		name string
		auth bool
	}{{"not logged in", false}, {"logged in", true}} {
		t.Run(k.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.LoginTimeout, o.MaxPerJournalist = time.Hour, 1000 })
			open := func() net.Conn {
				r := e.raw()
				if k.auth {
					r.login("jane", password)
				}
				r.c.SetDeadline(time.Time{})
				return r.c
			}
			netlimittest.CheckConnMemory(t, k.name, n, 64<<10, open)
		})
	}
}
