package netlimit

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer serves lines back on a listener limited by o.
func echoServer(t *testing.T, o Options) string {
	return serveConns(t, o, func(c net.Conn) { // echo until the peer or the idle bound ends it
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			c.Write([]byte(l))
		}
	})
}

// serveConns runs serve on every connection of a loopback listener
// limited by o, closing each when serve returns, and returns its address.
func serveConns(t *testing.T, o Options, serve func(c net.Conn)) string {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listener(raw, o)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return raw.Addr().String()
}

// echo sends a line on a new connection and returns the first line back.
func echo(t *testing.T, addr, line string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	c.Write([]byte(line))
	l, _ := bufio.NewReader(c).ReadString('\n')
	return c, l
}

// Past Max, a connection gets the Busy text and is closed; closing one frees
// its slot. Idle is long here: a pause of a loaded machine must not free the
// slot before the test is over the cap.
func TestListenerBusy(t *testing.T) {
	addr := echoServer(t, Options{Max: 1, Idle: time.Hour, Deadlines: PerRead, Busy: "busy\r\n"})
	first, l := echo(t, addr, "hi\n")
	if l != "hi\n" {
		t.Fatalf("first connection: %q", l)
	}
	second, l := echo(t, addr, "over\n")
	second.Close()
	if l != "busy\r\n" {
		t.Fatalf("second connection over the cap got %q", l)
	}
	first.Close()
	// The server frees the slot once it has seen the close; until then a
	// newcomer is told busy, and tries again.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		third, l := echo(t, addr, "again\n")
		third.Close()
		switch l {
		case "again\n":
			return
		case "busy\r\n":
			continue
		default:
			t.Fatalf("after the first closed, a newcomer got %q", l)
		}
	}
	t.Fatal("the slot was not freed in 30 seconds")
}

// A silent connection is dropped after Idle, and its slot freed.
func TestListenerIdle(t *testing.T) {
	addr := echoServer(t, Options{Max: 1, Idle: 300 * time.Millisecond, Deadlines: PerRead, Busy: "busy\r\n"})
	first, l := echo(t, addr, "hi\n")
	if l != "hi\n" {
		t.Fatalf("first connection: %q", l)
	}
	first.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := bufio.NewReader(first).ReadString('\n'); err == nil {
		t.Fatal("a silent connection was not dropped")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a silent connection was kept for 30 seconds")
	}
	first.Close()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		next, l := echo(t, addr, "again\n")
		next.Close()
		switch l {
		case "again\n":
			return
		case "busy\r\n":
			continue
		default:
			t.Fatalf("after the idle one was dropped, a newcomer got %q", l)
		}
	}
	t.Fatal("the slot was not freed in 30 seconds")
}
