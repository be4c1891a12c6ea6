package imapd

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	kflate "github.com/klauspost/compress/flate"
)

// Compressed sessions writing at once share the server's compressors, one
// response at a time each: every session's stream stays whole (each
// message arrives intact, in a realistic size mix), and an idle
// compressed session keeps none (TestIdleConnectionMemory's bound).
func TestCompressedSessionsShareCompressors(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	var msgs []string
	for i, size := range []int{2 << 10, 6 << 10, 14 << 10, 20 << 10, 180 << 10, 3 << 10} {
		m := sampleMessage(fmt.Sprintf("mix %d", i), size)
		if i%2 == 1 {
			m = armored(t, size)
		}
		e.deliver(t, m)
		msgs = append(msgs, m)
	}
	var wg sync.WaitGroup
	for s := range 6 {
		wg.Go(func() {
			name := []string{"alice", "bob"}[s%2]
			l := dialRaw(t, e.addr)
			if r := last(l.cmd("l", "LOGIN "+name+" "+imapQuoted(e.pass[name]))); !strings.HasPrefix(r, "l OK") {
				t.Errorf("LOGIN: %q", r)
				return
			}
			if r := l.compress("z"); r != "z OK DEFLATE active" {
				t.Errorf("COMPRESS: %q", r)
				return
			}
			l.cmd("s", "SELECT INBOX")
			for round := range 3 {
				for i, want := range msgs {
					tag := fmt.Sprintf("f%d", i)
					got := l.cmd(tag, fmt.Sprintf("UID FETCH %d BODY.PEEK[]", i+1))
					if !strings.HasPrefix(last(got), tag+" OK") || !strings.HasSuffix(got[0], "\n"+want) {
						t.Errorf("session %d, round %d: message %d came back damaged (%d lines, %q)", s, round, i+1, len(got), last(got))
						return
					}
				}
				l.cmd("n", "NOOP")
			}
		})
	}
	wg.Wait()
}

// Message bodies in FETCH responses are coded Huffman-only (klauspost's
// encoder, about five times the speed of level 1 on armor at the same
// size) and protocol text at level 1; the switches between the two within
// and across responses keep one raw deflate stream that an ordinary
// inflater reads to its end, each response whole once its flush arrives.
func TestCompressBodiesHuffmanOnly(t *testing.T) {
	sc := &scriptConn{in: bytes.NewReader([]byte("a COMPRESS DEFLATE\r\n"))}
	g := newGuardConn(sc)
	g.authed.Store(true)
	g.Read(make([]byte, 100))
	sc.out.Reset()
	inflater := flate.NewReader(&sc.out)
	// write feeds resp to the guard as the library's 4096-byte buffer
	// does: full chunks, then the short write that ends the response.
	write := func(resp string, midLiteral func()) {
		t.Helper()
		for len(resp) >= libraryBuffer {
			if _, err := g.Write([]byte(resp[:libraryBuffer])); err != nil {
				t.Fatal(err)
			}
			resp = resp[libraryBuffer:]
			if midLiteral != nil {
				midLiteral()
				midLiteral = nil
			}
		}
		if _, err := g.Write([]byte(resp)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(want string) {
		t.Helper()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(inflater, got); err != nil || string(got) != want {
			t.Fatalf("inflated %d bytes (%v), not the response of %d", len(got), err, len(want))
		}
	}
	for i, size := range []int{3 << 10, 180 << 10, 14 << 10, 2 << 10, 700 << 10} {
		flags := fmt.Sprintf("* %d FETCH (UID %d FLAGS (\\Seen $label1))\r\n", i+1, i+1)
		write(flags+fmt.Sprintf("f%d OK FETCH completed\r\n", i), nil)
		read(flags + fmt.Sprintf("f%d OK FETCH completed\r\n", i))
		body := armored(t, size)
		resp := fmt.Sprintf("* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\nb%d OK FETCH completed\r\n", i+1, i+1, len(body), body, i)
		write(resp, func() {
			if _, ok := g.fw.(*kflate.Writer); !ok || !g.body {
				t.Errorf("message %d: its body is coded by %T, not Huffman-only", i, g.fw)
			}
		})
		read(resp)
	}
	if g.fw != nil || g.cw != nil {
		t.Error("a compressor is still lent after the responses were flushed")
	}
}
