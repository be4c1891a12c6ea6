package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// guardConn sits between a client's connection and imapserver. It frames
// the client's stream as the library will read it (command lines,
// literals, continuation data) and answers, itself, the malformed input
// the library (go-imap v2 beta.8) mishandles:
//
//   - a line that does not start with a tag (an empty line, "* NOOP") makes
//     the library close the connection without a word: the guard answers
//     "* BAD" and drops the line;
//   - a quoted string cut by the end of the line makes the library read on
//     into the next lines, so the client waits for an answer that never
//     comes: the guard answers BAD and drops the line;
//   - a buffered literal over the library's 4096 bytes (anything but an
//     APPEND's message, e.g. "LOGIN {100000000}") leaves both sides waiting
//     until a timeout: the guard answers NO [TOOBIG] instead;
//   - a non-synchronizing literal over 4096 bytes cannot be skipped safely:
//     the guard says BYE and closes;
//   - the library answers a syntax error found while converting an
//     argument (a sequence set "0:x", a SEARCH key, a mailbox name in bad
//     modified UTF-7) with "NO [SERVERBUG] Internal server error", as if
//     it were the server's fault. The session never uses that text (its own
//     failures say "Internal error", see session.fail), so the guard
//     rewrites that one line into a BAD.
//
// The guard never changes the bytes it passes on, but for one workaround
// of a library bug in SEARCH (searchfix.go): a line is either passed whole
// or not at all. It tracks the server's output only to see
// continuation requests ("+ "), after which the client's next line is
// data (an IDLE's DONE, a SASL response, a literal), not a command.
//
// The guard also implements COMPRESS=DEFLATE (RFC 4978), which the library
// lacks: a journalist behind Tor downloads armored mail, whose base64 the
// compression takes back to about 6 bits a character.
type guardConn struct {
	net.Conn
	br *bufio.Reader

	// Read side: used only by the library's reading goroutine.
	pending  []byte // bytes cleared to hand to the library
	buf      []byte // scratch for literal data
	litLeft  int64  // literal bytes still to pass
	awaitLit int64  // a synchronizing literal the server has yet to accept
	inCmd    bool   // the next line continues a command after a literal
	longLine bool   // passing the rest of a line too long to inspect
	scan     cmdScan
	search   searchFix
	errs     int // lines the guard refused on this connection
	err      error

	// authed is set by the session once a journalist has logged in.
	authed atomic.Bool

	wmu sync.Mutex // guards out, z, fw, cw and every write to Conn
	out outScan
	z   *deflaters    // non-nil once COMPRESS DEFLATE is active
	fw  compressor    // lent by z from a response's first byte to its flush
	cw  *bufio.Writer // fw's output: one socket write per flush
	// coding is fw's kind (deflate.go).
	coding coding
	// rate picks the coding of literal bytes from how fast they leave.
	rate litRate
	// clock is time.Now but in tests.
	clock func() time.Time
	// lender is the server's deflaters (nil in tests: one of its own).
	lender *deflaters
}

const (
	// guardLine is the longest line the guard inspects. Longer lines are
	// passed on unread: the library refuses them itself (its limit is
	// 50 KiB) without losing its place.
	guardLine = 64 << 10
	// bufferedLiteral is the library's limit for literals it reads into
	// memory (every literal but an APPEND's message).
	bufferedLiteral = 4096
	// guardMaxErrors refused lines end the connection.
	guardMaxErrors = 10
)

func newGuardConn(c net.Conn) *guardConn {
	return &guardConn{Conn: c, br: bufio.NewReaderSize(c, guardLine), buf: make([]byte, 32<<10), out: outScan{start: true}}
}

// guardListener wraps every accepted connection in a guardConn.
type guardListener struct {
	net.Listener
	z *deflaters
}

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g := newGuardConn(c)
	g.lender = l.z
	return g, nil
}

func (g *guardConn) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		g.next()
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// next clears the next piece of the client's stream into pending, or
// sets err.
func (g *guardConn) next() {
	cont := g.takeCont()
	if g.awaitLit > 0 {
		n := g.awaitLit
		g.awaitLit = 0
		if cont {
			g.litLeft = n
		} else {
			g.inCmd = false // the server refused the literal: the command is over
		}
		cont = false
	}
	if g.litLeft > 0 {
		n, err := g.br.Read(g.buf[:min(g.litLeft, int64(len(g.buf)))])
		g.litLeft -= int64(n)
		g.pending = g.buf[:n]
		if err != nil {
			g.err = err
		}
		return
	}
	line, err := g.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			g.pending = line
			g.longLine = true
			return
		}
		g.pending, g.err = line, err
		return
	}
	switch {
	case g.longLine:
		// The end of a line too long to inspect; the library refuses it.
		g.longLine, g.inCmd = false, false
		g.pending = line
	case cont:
		// Continuation data: a DONE, a SASL response.
		g.pending = line
	default:
		g.command(line)
	}
}

// command inspects one line of a command: its start, or its continuation
// after a literal.
func (g *guardConn) command(line []byte) {
	body := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	first := !g.inCmd
	if first {
		if len(body) == 0 || !isTagStart(body[0]) {
			g.refuse("* BAD [CLIENTBUG] Syntax error: a command starts with a tag")
			return
		}
		g.scan = cmdScan{}
		tag, _, _ := bytes.Cut(body, []byte(" "))
		g.scan.rawTag = bytes.Clone(tag[:min(len(tag), maxTag+1)])
	}
	g.scan.feed(body)
	lit, nonSync, hasLit := g.scan.literal(body)
	if first && !hasLit && !g.scan.inQuote && bytes.EqualFold(g.scan.words[1], []byte("COMPRESS")) {
		g.compress()
		return
	}
	switch {
	case g.scan.inQuote:
		if first {
			g.refuse(g.scan.tag() + " BAD [CLIENTBUG] Syntax error: a quoted string is cut by the end of the line")
		} else {
			g.bye("* BYE Syntax error: a quoted string is cut by the end of the line")
		}
		return
	case hasLit && nonSync && lit > bufferedLiteral:
		g.bye("* BYE Non-synchronizing literals are limited to 4096 bytes")
		return
	case hasLit && lit > bufferedLiteral && !g.scan.appendMessage():
		if first {
			g.refuse(g.scan.tag() + " NO [TOOBIG] Literals are limited to 4096 bytes for this command")
		} else {
			g.bye("* BYE Literals are limited to 4096 bytes for this command")
		}
		return
	}
	if first && !hasLit && g.authed.Load() && bytes.IndexByte(body, '&') >= 0 {
		if ans := badMailboxAnswer(g.scan.tag(), body); ans != "" { // mutf7.go
			if err := g.say(ans); err != nil {
				g.err = err
			}
			return
		}
	}
	if first {
		g.search.start(g.scan.words)
	}
	g.pending = g.search.fix(line) // see searchfix.go
	g.inCmd = hasLit
	if hasLit {
		g.scan.inLiteral()
		if nonSync {
			g.litLeft = lit
		} else {
			g.awaitLit = lit
		}
	}
}

// compress answers COMPRESS (RFC 4978) and, on success, wraps both
// directions in raw deflate.
func (g *guardConn) compress() {
	tag := g.scan.tag()
	switch {
	case g.scan.tokens != 3 || !bytes.EqualFold(g.scan.words[2], []byte("DEFLATE")):
		g.refuse(tag + " BAD [CLIENTBUG] COMPRESS knows only DEFLATE")
		return
	case !g.authed.Load():
		g.refuse(tag + " BAD [CLIENTBUG] This command is only valid in the authenticated state")
		return
	}
	g.wmu.Lock()
	active := g.z != nil
	g.wmu.Unlock()
	if active {
		g.refuse(tag + " NO [COMPRESSIONACTIVE] DEFLATE is active already")
		return
	}
	if err := g.say(tag + " OK DEFLATE active"); err != nil {
		g.err = err
		return
	}
	// The library is waiting in Read, so nothing else writes now. The
	// compressor is lent per response (deflate.go). A flush is a block and
	// a sync marker, several small writes: they are gathered into one,
	// since a client may take a marker arriving alone for data and block
	// reading (suspected once with Thunderbird).
	z := g.lender
	if z == nil {
		z = new(deflaters)
	}
	g.wmu.Lock()
	g.z = z
	g.rate = litRate{policy: z.policy.orDefaults()}
	g.wmu.Unlock()
	// Whatever the client sent after the command line is compressed
	// already. The inflater decodes all of it before it waits for more:
	// mbsync ends each write with zlib's Z_PARTIAL_FLUSH, which the
	// libraries' inflaters do not decode to its end (see inflater).
	g.br = bufio.NewReaderSize(newInflater(g.br), guardLine)
}

// refuse answers a line the library never sees.
func (g *guardConn) refuse(resp string) {
	g.errs++
	if g.errs >= guardMaxErrors {
		g.bye("* BYE Too many syntax errors")
		return
	}
	if err := g.say(resp); err != nil {
		g.err = err
	}
}

// bye ends a connection whose stream can no longer be followed.
func (g *guardConn) bye(resp string) {
	g.say(resp)
	g.Conn.Close()
	g.err = io.EOF
}

func (g *guardConn) say(resp string) error {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.Conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return g.send([]byte(resp+"\r\n"), true, false)
}

// send writes b to the client, through a compressor once COMPRESS is
// active; flush pushes the compressed bytes out. body says b is mostly
// literal bytes, for the Huffman-only compressor: a change of kind within
// a response sync-flushes the one lent into the response's buffer and
// goes on with the other (deflate.go). Called with wmu held.
func (g *guardConn) send(b []byte, flush, body bool) error {
	if g.z == nil {
		_, err := g.Conn.Write(b)
		return err
	}
	if g.cw == nil {
		g.cw = g.z.getBuf(g.Conn)
	}
	c := codeText
	if body {
		now := time.Now
		if g.clock != nil {
			now = g.clock
		}
		c = g.rate.observe(now(), len(b))
	}
	if g.fw != nil && g.coding != c {
		if err := g.fw.Flush(); err != nil {
			return err
		}
		g.z.put(g.fw, g.coding)
		g.fw = nil
	}
	if g.fw == nil {
		g.fw, g.coding = g.z.get(g.cw, c), c
	}
	if _, err := g.fw.Write(b); err != nil {
		return err
	}
	if !flush {
		return nil
	}
	if err := g.fw.Flush(); err != nil {
		return err
	}
	if err := g.cw.Flush(); err != nil {
		return err
	}
	g.z.put(g.fw, g.coding)
	g.z.putBuf(g.cw)
	g.fw, g.cw = nil, nil
	return nil
}

// libraryBuffer is the size of imapserver's bufio.Writer: a shorter write
// is a flush, the end of a response.
const libraryBuffer = 4096

func (g *guardConn) takeCont() bool {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	c := g.out.cont
	g.out.cont = false
	return c
}

func (g *guardConn) Write(p []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	var out []byte
	last := 0
	lines, lit := g.out.feed(p)
	for _, l := range lines {
		if r, ok := g.rewrite(p[l[0]:l[1]]); ok {
			out = append(append(out, p[last:l[0]]...), r...)
			last = l[1]
		}
	}
	if out != nil {
		out = append(out, p[last:]...)
	} else {
		out = p
	}
	// Compressed output is held back only inside a response (a full
	// buffer, not at the end of a line or inside a literal), so every
	// response reaches the client at once.
	flush := len(p) < libraryBuffer || (g.out.start && g.out.lit == 0)
	// Mostly literal bytes (a chunk of a message body) go Huffman-only.
	if err := g.send(out, flush, lit >= len(p)/2 && lit > 0); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rewrite returns the replacement for a whole status line of the library,
// if it needs one. Called with wmu held.
func (g *guardConn) rewrite(line []byte) ([]byte, bool) {
	if r, ok := rewriteServerBug(line); ok {
		return r, true
	}
	if g.z == nil && g.authed.Load() {
		return advertiseCompress(line)
	}
	return nil, false
}

// advertiseCompress adds COMPRESS=DEFLATE to a capability list: the
// library lists only the capabilities it knows.
func advertiseCompress(line []byte) ([]byte, bool) {
	if rest, ok := bytes.CutPrefix(line, []byte("* CAPABILITY ")); ok {
		return append(append([]byte("* CAPABILITY "), bytes.TrimSuffix(rest, []byte("\r\n"))...), " "+string(capCompress)+"\r\n"...), true
	}
	i := bytes.Index(line, []byte("[CAPABILITY "))
	if i < 0 {
		return nil, false
	}
	j := bytes.IndexByte(line[i:], ']')
	if j < 0 {
		return nil, false
	}
	j += i
	out := append(bytes.Clone(line[:j]), " "+string(capCompress)...)
	return append(out, line[j:]...), true
}

const libraryServerBug = " NO [SERVERBUG] Internal server error\r\n"

// rewriteServerBug turns the library's answer to a client's syntax error
// into a BAD.
func rewriteServerBug(line []byte) ([]byte, bool) {
	tag, ok := bytes.CutSuffix(line, []byte(libraryServerBug))
	if !ok || len(tag) == 0 || bytes.ContainsAny(tag, " *+") {
		return nil, false
	}
	return append(bytes.Clone(tag), " BAD [CLIENTBUG] Syntax error in the command's arguments\r\n"...), true
}

// isTagStart reports whether b may begin a tag: an ASTRING-CHAR other
// than "+" (RFC 3501).
func isTagStart(b byte) bool {
	if b <= ' ' || b >= 0x7f {
		return false
	}
	switch b {
	case '(', ')', '{', '%', '*', '"', '\\', '+':
		return false
	}
	return true
}

// cmdScan follows one command across its lines: quoting, parentheses and
// the top-level tokens, enough to know where a literal sits.
type cmdScan struct {
	inQuote bool
	escaped bool
	inTok   bool
	depth   int
	tokens  int       // top-level tokens so far, tag and name included
	words   [3][]byte // the first three top-level tokens, clipped
	rawTag  []byte    // the first line up to its first space (at most maxTag+1 bytes)
}

func (s *cmdScan) feed(b []byte) {
	for _, c := range b {
		if s.inQuote {
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inQuote = false
			}
			s.word(c)
			continue
		}
		switch c {
		case ' ':
			s.inTok = false
			continue
		case '(', '[':
			s.depth++
		case ')', ']':
			if s.depth > 0 {
				s.depth--
			}
		}
		if !s.inTok {
			s.inTok = true
			if s.depth == 0 || (s.depth == 1 && c == '(') {
				s.tokens++
			}
		}
		if c == '"' {
			s.inQuote = true
		}
		s.word(c)
	}
}

func (s *cmdScan) word(c byte) {
	if i := s.tokens - 1; i >= 0 && i < len(s.words) && s.depth == 0 && len(s.words[i]) < 16 {
		s.words[i] = append(s.words[i], c)
	}
}

// inLiteral notes that the token just announced continues as literal data.
func (s *cmdScan) inLiteral() { s.inTok = true }

// literal reports the literal announced at the end of the line, if any.
func (s *cmdScan) literal(body []byte) (n int64, nonSync, ok bool) {
	if s.inQuote || !bytes.HasSuffix(body, []byte("}")) {
		return 0, false, false
	}
	i := bytes.LastIndexByte(body, '{')
	if i < 0 {
		return 0, false, false
	}
	digits := body[i+1 : len(body)-1]
	if d, cut := bytes.CutSuffix(digits, []byte("+")); cut {
		digits, nonSync = d, true
	}
	if len(digits) == 0 {
		return 0, false, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		n = 1 << 62 // more digits than any size: huge all the same
	}
	return n, nonSync, true
}

// tag is the command's tag for an answer, or "*" if it is not one the
// answer could carry.
func (s *cmdScan) tag() string {
	if len(s.rawTag) == 0 || len(s.rawTag) > maxTag {
		return "*"
	}
	for _, c := range s.rawTag {
		if !isTagStart(c) {
			return "*"
		}
	}
	return string(s.rawTag)
}

// maxTag is the longest tag echoed in an answer.
const maxTag = 64

// appendMessage reports whether the literal just announced is an APPEND's
// message (after the mailbox name), which the library streams: at the top
// level, or inside the parentheses of RFC 6855's "UTF8 (~{n}", which
// Thunderbird uses once the server offers UTF8=ACCEPT.
func (s *cmdScan) appendMessage() bool {
	return s.depth <= 1 && s.tokens >= 4 && bytes.EqualFold(s.words[1], []byte("APPEND"))
}

// outScan follows the server's output to find continuation requests. It
// skips the literals of untagged data responses (FETCH bodies may hold
// lines that start with "+").
type outScan struct {
	start bool  // the next byte begins a line
	lit   int64 // literal bytes still to skip
	data  bool  // the current line is untagged data, which may carry literals
	head  []byte
	tail  []byte
	cont  bool // a continuation request was written since the reader last looked
}

// feed follows p and returns the [start, end) of every status line that
// begins and ends within p, and how many bytes of p are literal data.
func (o *outScan) feed(p []byte) (whole [][2]int, lit int) {
	lineStart := -1
	for i := 0; i < len(p); {
		if o.lit > 0 {
			n := min(o.lit, int64(len(p)-i))
			o.lit -= n
			i += int(n)
			lit += int(n)
			continue
		}
		if o.start {
			o.start = false
			o.head = o.head[:0]
			o.tail = o.tail[:0]
			lineStart = i
		}
		j := bytes.IndexByte(p[i:], '\n')
		end := len(p)
		if j >= 0 {
			end = i + j + 1
		}
		seg := p[i:end]
		if len(o.head) < 8 {
			o.head = append(o.head, seg[:min(len(seg), 8-len(o.head))]...)
		}
		o.tail = append(o.tail, seg...)
		if len(o.tail) > 32 {
			o.tail = append(o.tail[:0], o.tail[len(o.tail)-32:]...)
		}
		i = end
		if j < 0 {
			continue
		}
		// A line (or a segment before a literal) ends here.
		o.data = isUntaggedData(o.head)
		if o.data {
			if n, ok := serverLiteral(o.tail); ok {
				o.lit = n
				o.tail = o.tail[:0]
				lineStart = -1 // continues after the literal
				continue
			}
		}
		if len(o.head) > 0 && o.head[0] == '+' {
			o.cont = true
		} else if lineStart >= 0 && !o.data {
			whole = append(whole, [2]int{lineStart, end})
		}
		o.start = true
		lineStart = -1
	}
	return whole, lit
}

// isUntaggedData reports whether a server line starting with head is an
// untagged response that may carry literals (not a status response).
func isUntaggedData(head []byte) bool {
	if !bytes.HasPrefix(head, []byte("* ")) {
		return false
	}
	for _, s := range []string{"* OK", "* NO", "* BAD", "* BYE", "* PREAUT", "* CAPABI"} {
		if bytes.HasPrefix(head, []byte(s)) {
			return false
		}
	}
	return true
}

// serverLiteral parses "{n}\r\n" at the end of a server line.
func serverLiteral(tail []byte) (int64, bool) {
	t, ok := bytes.CutSuffix(tail, []byte("}\r\n"))
	if !ok {
		return 0, false
	}
	i := bytes.LastIndexByte(t, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(t[i+1:]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
