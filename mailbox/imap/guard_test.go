package imapd

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// scriptConn is the network side of a guardConn: the client's bytes to
// read, and what was written back.
type scriptConn struct {
	net.Conn
	in     io.Reader
	out    bytes.Buffer
	writes int
	closed bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.in.Read(p)
}
func (c *scriptConn) Write(p []byte) (int, error)      { c.writes++; return c.out.Write(p) }
func (c *scriptConn) Close() error                     { c.closed = true; return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// playGuard reads the whole client input through a guard, as the library
// would, one Read at a time, the input arriving in whole reads.
func playGuard(t testing.TB, input string, accept func(lit string) bool) (lib, said string) {
	return playGuardFrom(t, strings.NewReader(input), accept)
}

// playGuardFrom is playGuard with the client's bytes arriving as in reads
// them. After each Read it lets the "server" answer as the library does:
// at the end of a line announcing a synchronizing literal "{n}\r\n" it
// writes a continuation request if accept says so (then takes the next n
// bytes as the literal) or refuses the command. It returns what the
// library received and what the guard wrote by itself.
func playGuardFrom(t testing.TB, in io.Reader, accept func(lit string) bool) (lib, said string) {
	sc := &scriptConn{in: in}
	g := newGuardConn(sc)
	var got bytes.Buffer
	var line []byte
	literal := 0 // bytes of literal data still to come
	p := make([]byte, 4096)
	for range 1000000 {
		n, err := g.Read(p)
		got.Write(p[:n])
		for b := p[:n]; len(b) > 0; {
			if literal > 0 {
				k := min(literal, len(b))
				literal, b = literal-k, b[k:]
				continue
			}
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				line = append(line, b...)
				break
			}
			line, b = append(line, b[:i+1]...), b[i+1:]
			if j := bytes.LastIndexByte(line, '{'); j >= 0 && bytes.HasSuffix(line, []byte("}\r\n")) {
				lit := string(line[j:])
				size, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(lit[1:], "}\r\n"), "+"))
				switch {
				case strings.Contains(lit, "+}"):
					literal = size
				case accept(lit):
					literal = size
					g.Write([]byte("+ Ready for literal data\r\n"))
				default:
					g.Write([]byte("x NO refused\r\n"))
				}
			}
			line = line[:0]
		}
		if err != nil {
			return got.String(), sc.out.String()
		}
	}
	t.Fatal("guard never reached the end of its input")
	return "", ""
}

// chunkReader hands out its input in reads of random sizes from 1 to max,
// as TCP and Tor cut a stream.
type chunkReader struct {
	r   *strings.Reader
	rng *rand.Rand
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	n := 1 + c.rng.IntN(c.max)
	return c.r.Read(p[:min(n, len(p))])
}

// guardFeeds are the ways a case's input arrives: whole, a byte at a time,
// and in random chunks (the seed is logged and fixed, so a failure replays).
func guardFeeds(t *testing.T, input string) map[string]io.Reader {
	const seed = 19
	t.Logf("random chunks with seed %d", seed)
	return map[string]io.Reader{
		"whole":            strings.NewReader(input),
		"one byte":         iotest.OneByteReader(strings.NewReader(input)),
		"chunks of 1-7":    &chunkReader{r: strings.NewReader(input), rng: rand.New(rand.NewPCG(seed, 1)), max: 7},
		"chunks of 1-1500": &chunkReader{r: strings.NewReader(input), rng: rand.New(rand.NewPCG(seed, 2)), max: 1500},
	}
}

func always(string) bool { return true }

func TestGuard(t *testing.T) {
	cases := []struct {
		name, in, lib, said string
		accept              func(string) bool
	}{
		{name: "plain commands pass whole",
			in:  "a NOOP\r\nb LOGIN jane \"x y\"\r\n",
			lib: "a NOOP\r\nb LOGIN jane \"x y\"\r\n"},
		{name: "untagged and empty lines are answered and dropped",
			in:   "* NOOP\r\n\r\n a\r\nb NOOP\r\n",
			lib:  "b NOOP\r\n",
			said: strings.Repeat("* BAD [CLIENTBUG] Syntax error: a command starts with a tag\r\n", 3)},
		{name: "a cut quoted string is answered and dropped",
			in:   "a LOGIN \"jane\r\nb NOOP\r\n",
			lib:  "b NOOP\r\n",
			said: "a BAD [CLIENTBUG] Syntax error: a quoted string is cut by the end of the line\r\n"},
		{name: "a long tag is echoed whole",
			in:   "A000000000000000000000001 LOGIN \"jane\r\n",
			said: "A000000000000000000000001 BAD [CLIENTBUG] Syntax error: a quoted string is cut by the end of the line\r\n"},
		{name: "an escaped quote does not end the string",
			in:   "a LOGIN \"ja\\\"ne\r\n",
			said: "a BAD [CLIENTBUG] Syntax error: a quoted string is cut by the end of the line\r\n"},
		{name: "literal data is passed untouched, whatever it holds",
			in:     "a LOGIN {14}\r\n* x\r\n\"\r\n{9}\r\nz \"p\"\r\nb NOOP\r\n",
			lib:    "a LOGIN {14}\r\n* x\r\n\"\r\n{9}\r\nz \"p\"\r\nb NOOP\r\n",
			accept: always},
		{name: "a refused literal ends the command",
			in:     "a LOGIN {3}\r\n* NOOP\r\n",
			lib:    "a LOGIN {3}\r\n",
			said:   "* BAD [CLIENTBUG] Syntax error: a command starts with a tag\r\n",
			accept: func(string) bool { return false }},
		{name: "a big buffered literal is refused before the library sees it",
			in:   "a LOGIN {100000000}\r\nb NOOP\r\n",
			lib:  "b NOOP\r\n",
			said: "a NO [TOOBIG] Literals are limited to 4096 bytes for this command\r\n"},
		{name: "an APPEND's message may be big",
			in:     "a APPEND INBOX (\\Seen) {5000}\r\n" + strings.Repeat("* \r\n", 1250) + "\r\n",
			lib:    "a APPEND INBOX (\\Seen) {5000}\r\n" + strings.Repeat("* \r\n", 1250) + "\r\n",
			accept: always},
		{name: "and so may its UTF8 form, as Thunderbird writes it",
			in:     "a APPEND \"Sent\" (\\Seen) UTF8 (~{5000}\r\n" + strings.Repeat("x", 5000) + ")\r\n",
			lib:    "a APPEND \"Sent\" (\\Seen) UTF8 (~{5000}\r\n" + strings.Repeat("x", 5000) + ")\r\n",
			accept: always},
		{name: "but not an APPEND's mailbox name",
			in:   "a APPEND {5000}\r\n",
			said: "a NO [TOOBIG] Literals are limited to 4096 bytes for this command\r\n"},
		{name: "a mailbox literal, then the message literal",
			in:     "a APPEND {5}\r\nINBOX {5000}\r\n" + strings.Repeat("x", 5000) + "\r\n",
			lib:    "a APPEND {5}\r\nINBOX {5000}\r\n" + strings.Repeat("x", 5000) + "\r\n",
			accept: always},
		{name: "a big non-synchronizing literal ends the connection",
			in:   "a LOGIN {5000+}\r\n" + strings.Repeat("x", 5000),
			said: "* BYE Non-synchronizing literals are limited to 4096 bytes\r\n"},
		{name: "a small non-synchronizing literal passes",
			in:  "a LOGIN {4+}\r\n* \"x \"y\"\r\n",
			lib: "a LOGIN {4+}\r\n* \"x \"y\"\r\n"},
		{name: "a cut quoted string after a literal ends the connection",
			in:     "a LOGIN {4}\r\njane \"x\r\nb NOOP\r\n",
			lib:    "a LOGIN {4}\r\njane",
			said:   "* BYE Syntax error: a quoted string is cut by the end of the line\r\n",
			accept: always},
		{name: "a line too long to inspect is passed for the library to refuse",
			in:  "a NOOP " + strings.Repeat("\"", guardLine+10) + "\r\nb NOOP\r\n",
			lib: "a NOOP " + strings.Repeat("\"", guardLine+10) + "\r\nb NOOP\r\n"},
		{name: "ten refused lines end the connection",
			in:   strings.Repeat("*\r\n", 20),
			said: strings.Repeat("* BAD [CLIENTBUG] Syntax error: a command starts with a tag\r\n", 9) + "* BYE Too many syntax errors\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			accept := c.accept
			if accept == nil {
				accept = func(string) bool { t.Error("unexpected literal"); return false }
			}
			for feed, in := range guardFeeds(t, c.in) {
				lib, said := playGuardFrom(t, in, accept)
				said = strings.ReplaceAll(said, "+ Ready for literal data\r\n", "")
				said = strings.ReplaceAll(said, "x NO refused\r\n", "")
				if lib != c.lib {
					t.Errorf("%s: library got %q\nwant %q", feed, clip(lib), clip(c.lib))
				}
				if said != c.said {
					t.Errorf("%s: guard said %q\nwant %q", feed, said, c.said)
				}
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:100] + "…" + s[len(s)-100:]
	}
	return s
}

// TestGuardContinuations: after a continuation request the next line is
// data (an IDLE's DONE, a SASL response starting with "+" or "*"), but a
// "+" inside a FETCH literal is not a continuation request.
func TestGuardContinuations(t *testing.T) {
	for feed, in := range guardFeeds(t, "a IDLE\r\n*\r\nb FETCH 1 BODY[]\r\n+ not a command\r\n") {
		t.Run(feed, func(t *testing.T) { guardContinuations(t, in) })
	}
}

func guardContinuations(t *testing.T, in io.Reader) {
	sc := &scriptConn{in: in}
	g := newGuardConn(sc)
	p := make([]byte, 4096)
	read := func() string {
		n, err := g.Read(p)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(p[:n])
	}
	if r := read(); r != "a IDLE\r\n" {
		t.Fatalf("got %q", r)
	}
	g.Write([]byte("+ idling\r\n"))
	if r := read(); r != "*\r\n" {
		t.Fatalf("continuation data: got %q", r)
	}
	if r := read(); r != "b FETCH 1 BODY[]\r\n" {
		t.Fatalf("got %q", r)
	}
	// The server's answer holds a literal with a line starting with "+",
	// written in pieces.
	for _, w := range []string{"* 1 FETCH (BODY[] {14}\r\n", "x\r\n+ idling\r\n", "y)\r\nb OK done\r\n"} {
		if _, err := g.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := g.Read(p)
	if n != 0 || !strings.Contains(sc.out.String(), "* BAD") {
		t.Fatalf("a line after a FETCH literal was taken as continuation data: %q; said %q", p[:n], sc.out.String())
	}
}

func TestRewriteServerBug(t *testing.T) {
	sc := &scriptConn{in: bytes.NewReader(nil)}
	g := newGuardConn(sc)
	in := "* 2 EXISTS\r\na7 NO [SERVERBUG] Internal server error\r\n* 1 FETCH (BODY[] {40}\r\nb NO [SERVERBUG] Internal server error\r\n)\r\n"
	n, err := g.Write([]byte(in))
	if err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	want := "* 2 EXISTS\r\na7 BAD [CLIENTBUG] Syntax error in the command's arguments\r\n* 1 FETCH (BODY[] {40}\r\nb NO [SERVERBUG] Internal server error\r\n)\r\n"
	if got := sc.out.String(); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// FuzzGuard: whatever the client sends, the library receives a
// subsequence of it made of whole pieces, and the guard's own answers are
// whole response lines.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\n", "* x\r\n\r\n", "a LOGIN \"x\r\n", "a LOGIN {5}\r\nhello\r\n",
		"a APPEND INBOX {5000}\r\n", "a LOGIN {9999999999999999999999}\r\n", "a {3+}\r\nabc\r\n",
		"a APPEND {2}\r\nIN (\\Seen) {3}\r\nabc\r\n", "a LOGIN {}\r\n", "a (((\"\\\"{4}\r\n",
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, accept bool) {
		lib, said := playGuard(t, string(in), func(string) bool { return accept })
		if !isSubsequence(lib, string(in)) {
			t.Fatalf("the library got bytes the client never sent: %q from %q", lib, in)
		}
		said = strings.ReplaceAll(said, "+ Ready for literal data\r\n", "")
		said = strings.ReplaceAll(said, "x NO refused\r\n", "")
		for _, l := range strings.SplitAfter(said, "\r\n") {
			if l == "" {
				continue
			}
			if !strings.HasSuffix(l, "\r\n") || strings.ContainsAny(strings.TrimSuffix(l, "\r\n"), "\r\n") {
				t.Fatalf("guard wrote a broken line %q", l)
			}
		}
	})
}

func isSubsequence(sub, s string) bool {
	for i := 0; i < len(sub); i++ {
		j := strings.IndexByte(s, sub[i])
		if j < 0 {
			return false
		}
		s = s[j+1:]
	}
	return true
}

// TestCompressOneWritePerResponse: a compressed response reaches the
// socket in one write, block and sync marker together.
func TestCompressOneWritePerResponse(t *testing.T) {
	sc := &scriptConn{in: bytes.NewReader([]byte("a COMPRESS DEFLATE\r\n"))}
	g := newGuardConn(sc)
	g.authed.Store(true)
	g.Read(make([]byte, 100)) // answers COMPRESS, then finds no more input
	if got := sc.out.String(); got != "a OK DEFLATE active\r\n" {
		t.Fatalf("COMPRESS answered %q", got)
	}
	sc.out.Reset()
	sc.writes = 0
	resp := "* 1 FETCH (FLAGS (\\Seen))\r\nb OK FETCH completed\r\n"
	if _, err := g.Write([]byte(resp)); err != nil {
		t.Fatal(err)
	}
	if sc.writes != 1 {
		t.Errorf("one response took %d socket writes", sc.writes)
	}
	got := make([]byte, len(resp))
	if _, err := io.ReadFull(flate.NewReader(&sc.out), got); err != nil || string(got) != resp {
		t.Fatalf("decompressed %q, %v", got, err)
	}
}
