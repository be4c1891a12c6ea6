package imapd

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

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

// compressedGuard is a logged-in guard on a scripted connection after
// COMPRESS DEFLATE, with an inflater reading what it writes from then on.
func compressedGuard(t *testing.T) (*guardConn, *scriptConn, io.Reader) {
	t.Helper()
	sc := &scriptConn{in: bytes.NewReader([]byte("a COMPRESS DEFLATE\r\n"))}
	g := newGuardConn(sc)
	g.authed.Store(true)
	g.Read(make([]byte, 100))
	sc.out.Reset()
	return g, sc, flate.NewReader(&sc.out)
}

// Message bodies in FETCH responses are coded Huffman-only (klauspost's
// encoder, about five times the speed of level 1 on armor at the same
// size) and protocol text at level 1; the switches between the two within
// and across responses keep one raw deflate stream that an ordinary
// inflater reads to its end, each response whole once its flush arrives.
func TestCompressBodiesHuffmanOnly(t *testing.T) {
	g, _, inflater := compressedGuard(t)
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
			if _, ok := g.fw.(*kflate.Writer); !ok || g.coding != codeBody {
				t.Errorf("message %d: its body is coded by %T, not Huffman-only", i, g.fw)
			}
		})
		read(resp)
	}
	if g.fw != nil || g.cw != nil {
		t.Error("a compressor is still lent after the responses were flushed")
	}
}

// Literal bytes leaving faster than storeAbove go in stored blocks, where
// the client's inflater only copies (on loopback mbsync's CPU, not the
// link, bounds a sync); slower ones, and any window broken by a pause of
// the client, stay Huffman-coded; the stream stays one and whole across
// every switch. The clock is the test's: 4 KiB chunks 25 µs apart are a
// link of 160 MB/s, 1 ms apart one of 4 MB/s.
func TestCompressLiteralsStoredOnlyOnAFastLink(t *testing.T) {
	g, sc, inflater := compressedGuard(t)
	now := time.Unix(1e9, 0)
	g.clock = func() time.Time { return now }
	body := armored(t, 6<<20)
	// fetch sends one message as the library does (4 KiB writes, the
	// clock moving step per write) and returns the codings its body went
	// through and the compressed bytes it took.
	fetch := func(i int, step time.Duration) (map[coding]bool, int) {
		t.Helper()
		before := sc.out.Len()
		resp := fmt.Sprintf("* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\nb%d OK FETCH completed\r\n", i, i, len(body), body, i)
		seen := map[coding]bool{}
		for len(resp) > 0 {
			n := min(len(resp), libraryBuffer)
			if _, err := g.Write([]byte(resp[:n])); err != nil {
				t.Fatal(err)
			}
			if g.fw != nil {
				seen[g.coding] = true
			}
			resp = resp[n:]
			now = now.Add(step)
		}
		wire := sc.out.Len() - before
		got := make([]byte, len(body)+200)
		want := fmt.Sprintf("* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\nb%d OK FETCH completed\r\n", i, i, len(body), body, i)
		if _, err := io.ReadFull(inflater, got[:len(want)]); err != nil || string(got[:len(want)]) != want {
			t.Fatalf("message %d: not inflated whole (%v)", i, err)
		}
		return seen, wire
	}
	// A slow link: Huffman-only throughout, a quarter smaller.
	for i := 1; i <= 3; i++ {
		seen, wire := fetch(i, time.Millisecond)
		if seen[codeStored] || !seen[codeBody] {
			t.Fatalf("slow link, message %d coded %v", i, seen)
		}
		if r := float64(wire) / float64(len(body)); r > 0.80 {
			t.Fatalf("slow link, message %d: %.2f of its size on the wire", i, r)
		}
	}
	// A fast link: stored once a window of 8 MiB has shown it (the first
	// window still holds 2 MiB of the slow messages).
	for i := 4; i <= 6; i++ {
		fetch(i, 25*time.Microsecond)
	}
	seen, wire := fetch(7, 25*time.Microsecond)
	if !seen[codeStored] || seen[codeBody] {
		t.Fatalf("fast link: coded %v", seen)
	}
	if r := float64(wire) / float64(len(body)); r < 0.99 {
		t.Fatalf("fast link: %.2f of its size on the wire, not stored", r)
	}
	// The client pauses before each message: a pause starts over, and no
	// window of 8 MiB completes, so nothing shows the link fast again.
	for i := 8; i <= 10; i++ {
		now = now.Add(time.Second)
		if seen, _ = fetch(i, 25*time.Microsecond); seen[codeStored] {
			t.Fatalf("after a pause, message %d coded %v", i, seen)
		}
	}
	// A slow link after a fast one: compressed again.
	for i := 11; i <= 13; i++ {
		fetch(i, 25*time.Microsecond)
	}
	for i := 14; i <= 16; i++ {
		seen, _ = fetch(i, time.Millisecond)
	}
	if seen[codeStored] {
		t.Fatalf("slow again: coded %v", seen)
	}
	if g.fw != nil || g.cw != nil {
		t.Error("a compressor is still lent after the responses were flushed")
	}
}
