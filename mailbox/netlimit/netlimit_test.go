package netlimit

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// Past Max, a connection gets the Busy text and is closed; closing one frees
// its slot; a silent connection is dropped after Idle.
func TestListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listener(raw, Options{Max: 1, Idle: 300 * time.Millisecond, Deadlines: PerRead, Busy: "busy\r\n"})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // echo until the peer or the idle bound ends it
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(l))
				}
			}()
		}
	}()
	first, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	first.Write([]byte("hi\n"))
	if l, err := bufio.NewReader(first).ReadString('\n'); err != nil || l != "hi\n" {
		t.Fatalf("first connection: %q %v", l, err)
	}
	second, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := bufio.NewReader(second).ReadString('\n'); l != "busy\r\n" {
		t.Fatalf("second connection over the cap got %q", l)
	}
	second.Close()
	// The first one stays silent: the idle bound drops it, and frees the slot.
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bufio.NewReader(first).ReadString('\n'); err == nil {
		t.Fatal("a silent connection was not dropped")
	}
	first.Close()
	var third net.Conn
	for range 50 {
		third, err = net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		third.Write([]byte("again\n"))
		third.SetReadDeadline(time.Now().Add(time.Second))
		if l, _ := bufio.NewReader(third).ReadString('\n'); l == "again\n" {
			third.Close()
			return
		}
		third.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the slot was never freed")
}
