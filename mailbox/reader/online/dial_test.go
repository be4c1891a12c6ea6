package online

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// fakeSOCKS answers one SOCKS5 connection: it wants user name and
// password, records the CONNECT request and replies with code.
func fakeSOCKS(t *testing.T, code byte) (addr string, got chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 512)
		io.ReadFull(c, b[:2])
		io.ReadFull(c, b[:int(b[1])])
		c.Write([]byte{5, 2})
		io.ReadFull(c, b[:2])
		io.ReadFull(c, b[:int(b[1])])
		user := string(b[:len("postern-reader")])
		io.ReadFull(c, b[:1])
		io.ReadFull(c, b[:int(b[0])])
		c.Write([]byte{1, 0})
		io.ReadFull(c, b[:5])
		n := int(b[4])
		io.ReadFull(c, b[:n+2])
		got <- user + " " + net.JoinHostPort(string(b[:n]), strconv.Itoa(int(b[n])<<8|int(b[n+1])))
		c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
		if code == 0 {
			c.Write([]byte("* OK hello\r\n"))
		}
	}()
	return ln.Addr().String(), got
}

const testOnion = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"

// TestViaSOCKSResolvesRemotely: the onion's name goes to Tor as a name
// (never looked up here), with the isolating user name.
func TestViaSOCKSResolvesRemotely(t *testing.T) {
	addr, got := fakeSOCKS(t, 0)
	dial, err := ViaSOCKS(addr, testOnion+":143")
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if g := <-got; g != "postern-reader "+testOnion+":143" {
		t.Errorf("CONNECT request: %q", g)
	}
	line := make([]byte, 12)
	if _, err := io.ReadFull(c, line); err != nil || string(line) != "* OK hello\r\n" {
		t.Errorf("after the handshake: %q %v", line, err)
	}
}

// TestViaSOCKSNamesOnionErrors: Tor's extended codes become a sentence a
// journalist can act on.
func TestViaSOCKSNamesOnionErrors(t *testing.T) {
	for code, want := range map[byte]string{
		0xF4: "needs your client-authorisation key",
		0xF5: "client-authorisation key for the journalist onion is wrong",
		0xF0: "onion service not found",
		0x05: "connection refused",
	} {
		addr, _ := fakeSOCKS(t, code)
		dial, _ := ViaSOCKS(addr, testOnion+":143")
		_, err := dial(context.Background())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SOCKS reply 0x%02X: %v, want %q", code, err, want)
		}
	}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	dial, _ := ViaSOCKS(deadAddr, testOnion+":143")
	if _, err := dial(context.Background()); err == nil || !strings.Contains(err.Error(), "is tor running?") {
		t.Errorf("no tor: %v", err)
	}
}

func TestParseProxy(t *testing.T) {
	for in, want := range map[string]string{
		"socks5://127.0.0.1:9050": "127.0.0.1:9050", "socks5h://127.0.0.1:9150": "127.0.0.1:9150",
		"127.0.0.1:9050": "127.0.0.1:9050", "http://127.0.0.1:8080": "", "socks5://127.0.0.1": "", "": "",
	} {
		got, err := ParseProxy(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseProxy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
