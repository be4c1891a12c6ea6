// Package netlimittest helps the tests of servers behind netlimit.
package netlimittest

import (
	"net"
	"runtime"
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

// CheckConnMemory opens n connections with open (after one to warm the
// server's caches up) and fails t when each adds more than bound bytes of
// live heap and goroutine stacks to the process, which holds both the
// server and the test's clients (the clients keep only their sockets).
func CheckConnMemory(t testing.TB, what string, n int, bound int64, open func() net.Conn) {
	t.Helper()
	open().SetDeadline(time.Time{})
	before := liveBytes()
	for range n {
		open().SetDeadline(time.Time{})
	}
	per := (liveBytes() - before) / int64(n)
	t.Logf("%s: %d KiB a connection", what, per>>10)
	if per > bound {
		t.Errorf("%s: %d KiB a connection, above the %d KiB the caps were set for", what, per>>10, bound>>10)
	}
}

// liveBytes is the live heap and the goroutine stacks after a collection.
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
