// Package netlimittest helps the tests of servers behind netlimit.
package netlimittest

import (
	"net"
	"testing"
	"time"
)

// Flood opens n TCP connections to addr that never send a byte nor read
// one (half-open, as an attacker leaves them), and closes them when the
// test ends. The server may close them sooner.
func Flood(t testing.TB, addr string, n int) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("flood: %v", err)
		}
		conns = append(conns, c)
	}
}

// WaitClosed reads c until the server closes it, and fails the test if
// it is still open after a minute.
func WaitClosed(t testing.TB, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s: the connection is still open", what)
			}
			return
		}
	}
}
