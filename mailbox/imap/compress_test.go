package imapd

import (
	"bufio"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// countConn counts the bytes read from the network.
type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// cmd sends a command and returns every line up to its tagged answer; a
// literal in an answer is returned in place, whole.
func (l *raw) cmd(tag, c string) []string {
	l.t.Helper()
	l.send(tag + " " + c + "\r\n")
	return l.wait(tag)
}

func (l *raw) wait(tag string) []string {
	l.t.Helper()
	var out []string
	for {
		s := strings.TrimSuffix(l.line(), "\r\n")
		if i := strings.LastIndexByte(s, '{'); i >= 0 && strings.HasSuffix(s, "}") {
			var n int
			if _, err := fmt.Sscanf(s[i:], "{%d}", &n); err == nil {
				lit := make([]byte, n)
				if _, err := io.ReadFull(l.br, lit); err != nil {
					l.t.Fatal(err)
				}
				s += "\n" + string(lit)
			}
		}
		out = append(out, s)
		if strings.HasPrefix(s, tag+" ") || strings.HasPrefix(s, "+") {
			return out
		}
	}
}

func last(lines []string) string { return lines[len(lines)-1] }

// compress turns COMPRESS DEFLATE on, on both sides.
func (l *raw) compress(tag string) string {
	l.t.Helper()
	return l.compressLevel(tag, flate.BestSpeed)
}

// compressLevel is compress with the client's deflate level.
func (l *raw) compressLevel(tag string, level int) string {
	l.t.Helper()
	r := last(l.cmd(tag, "COMPRESS DEFLATE"))
	if strings.HasPrefix(r, tag+" OK") {
		l.br = bufio.NewReader(flate.NewReader(l.br))
		l.bw = bufio.NewWriter(l.c)
		l.fw, _ = flate.NewWriter(l.bw, level)
		l.w = l.fw
	}
	return r
}

// armored is a mail whose body is base64 of random bytes, like a
// submission of an incompressible file.
func armored(t *testing.T, size int) string {
	raw := make([]byte, size*3/4)
	rand.Read(raw)
	b64 := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.WriteString("From: x@example.org\r\nSubject: big\r\n\r\n")
	for len(b64) > 64 {
		b.WriteString(b64[:64] + "\r\n")
		b64 = b64[64:]
	}
	b.WriteString(b64 + "\r\n")
	return b.String()
}

func TestCompressDeflate(t *testing.T) {
	e := newEnv(t, "alice")
	msg := armored(t, 2<<20)
	e.deliver(t, msg)

	l := dialRaw(t, e.addr)
	if r := l.compress("a"); r != "a BAD [CLIENTBUG] This command is only valid in the authenticated state" {
		t.Fatalf("COMPRESS before LOGIN: %q", r)
	}
	if r := last(l.cmd("b", "LOGIN alice "+imapQuoted(e.pass["alice"]))); !strings.HasPrefix(r, "b OK") || !strings.Contains(r, " COMPRESS=DEFLATE]") {
		t.Fatalf("LOGIN: %q", r)
	}
	if caps := l.cmd("c", "CAPABILITY"); !strings.HasPrefix(last(caps), "c OK") || !strings.HasSuffix(caps[0], " COMPRESS=DEFLATE") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	if r := last(l.cmd("e", "COMPRESS GZIP")); r != "e BAD [CLIENTBUG] COMPRESS knows only DEFLATE" {
		t.Fatalf("COMPRESS GZIP: %q", r)
	}
	if r := l.compress("f"); r != "f OK DEFLATE active" {
		t.Fatalf("COMPRESS DEFLATE: %q", r)
	}
	if r := last(l.cmd("g", "COMPRESS DEFLATE")); r != "g NO [COMPRESSIONACTIVE] DEFLATE is active already" {
		t.Fatalf("second COMPRESS: %q", r)
	}
	if r := last(l.cmd("h", "SELECT INBOX")); !strings.HasPrefix(r, "h OK") {
		t.Fatalf("SELECT: %q", r)
	}
	before := l.c.n.Load()
	got := l.cmd("i", "UID FETCH 1 BODY.PEEK[]")
	wire := l.c.n.Load() - before
	if r := last(got); !strings.HasPrefix(r, "i OK") || len(got) != 3 || !strings.HasSuffix(got[0], "\n"+msg) {
		t.Fatalf("FETCH through COMPRESS: %d lines, last %q", len(got), r)
	}
	// Base64 carries 6 bits a character: compression must take back most
	// of the 8/6 (a property of the bytes, not a timing).
	if ratio := float64(wire) / float64(len(msg)); ratio > 0.8 {
		t.Errorf("FETCH of %d bytes took %d bytes on the wire (%.3f)", len(msg), wire, ratio)
	}
	t.Logf("FETCH of %d armored bytes: %d bytes on the wire (%.3f)", len(msg), wire, float64(wire)/float64(len(msg)))

	// A literal from the client, through the compressed stream.
	body := "Subject: appended\r\n\r\n+ not a continuation\r\n* BYE not a response\r\n"
	if r := last(l.cmd("j", fmt.Sprintf("APPEND Drafts {%d}", len(body)))); !strings.HasPrefix(r, "+") {
		t.Fatalf("APPEND: %q", r)
	}
	l.send(body + "\r\n")
	if r := last(l.wait("j")); !strings.HasPrefix(r, "j OK") {
		t.Fatalf("APPEND: %q", r)
	}
	// IDLE wakes for a delivery, through the compressed stream.
	if r := last(l.cmd("k", "IDLE")); !strings.HasPrefix(r, "+") {
		t.Fatalf("IDLE: %q", r)
	}
	e.deliver(t, sampleMessage("while idling", 100))
	if s := l.line(); s != "* 2 EXISTS\r\n" {
		t.Fatalf("IDLE update: %q", s)
	}
	l.send("DONE\r\n")
	if r := last(l.wait("k")); !strings.HasPrefix(r, "k OK") {
		t.Fatalf("IDLE end: %q", r)
	}
	if r := last(l.cmd("z", "LOGOUT")); !strings.HasPrefix(r, "z OK") {
		t.Fatalf("LOGOUT: %q", r)
	}
}

// TestMbsyncCompressed: mbsync negotiates COMPRESS=DEFLATE when offered
// and syncs whole messages through it.
func TestMbsyncCompressed(t *testing.T) {
	mbsync := needTool(t, "mbsync")
	e := newEnv(t, "alice")
	msgs := map[string]bool{armored(t, 300<<10): true, armored(t, 1000): true, sampleMessage("small", 100): true}
	for m := range msgs {
		e.deliver(t, m)
	}
	maildir, out := mbsyncRun(t, mbsync, e, "alice", "-D")
	if !strings.Contains(out, "COMPRESS DEFLATE") {
		t.Fatalf("mbsync did not ask for COMPRESS DEFLATE:\n%.3000s", out)
	}
	for m := range syncedMessages(t, maildir) {
		if !msgs[m] {
			t.Errorf("a synced message (%d bytes) differs from every delivered one", len(m))
		}
		delete(msgs, m)
	}
	if len(msgs) != 0 {
		t.Errorf("%d messages not synced", len(msgs))
	}
}

// TestMbsyncThroughStoredBlocks: on a link the relay finds fast it sends
// message bodies in stored deflate blocks (deflate.go, litRate), switching
// from Huffman-only, and to protocol text and back, within one stream; a
// real client's zlib reads every message whole through the switches. The
// thresholds are lowered (64 KiB at any speed) so that a few messages
// reach them whatever the load of the machine.
func TestMbsyncThroughStoredBlocks(t *testing.T) {
	mbsync := needTool(t, "mbsync")
	e := newEnvWith(t, Options{literals: litPolicy{window: 64 << 10, above: 1}}, "alice")
	msgs := map[string]bool{}
	for i, size := range []int{300 << 10, 2 << 10, 700 << 10, 14 << 10, 1 << 20, 5 << 10} {
		m := armored(t, size)
		if i%2 == 1 {
			m = sampleMessage(fmt.Sprintf("text %d", i), size)
		}
		msgs[m] = true
		e.deliver(t, m)
	}
	maildir, out := mbsyncRun(t, mbsync, e, "alice", "-D")
	if !strings.Contains(out, "COMPRESS DEFLATE") {
		t.Fatalf("mbsync did not ask for COMPRESS DEFLATE:\n%.3000s", out)
	}
	if n := e.srv.deflaters.storedLent.Load(); n == 0 {
		t.Fatal("no body went in stored blocks")
	}
	for m := range syncedMessages(t, maildir) {
		if !msgs[m] {
			t.Errorf("a synced message (%d bytes) differs from every delivered one", len(m))
		}
		delete(msgs, m)
	}
	if len(msgs) != 0 {
		t.Errorf("%d messages not synced", len(msgs))
	}
}

// syncedMessages reads the messages mbsync stored in maildir's INBOX, as
// the server sent them: CRLF line ends, without mbsync's X-TUID header.
func syncedMessages(t *testing.T, maildir string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for _, sub := range []string{"new", "cur"} {
		files, _ := os.ReadDir(filepath.Join(maildir, "INBOX", sub))
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(maildir, "INBOX", sub, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			m := strings.ReplaceAll(string(b), "\n", "\r\n")
			if i := strings.Index(m, "X-TUID: "); i >= 0 {
				m = m[:i] + m[i+strings.Index(m[i:], "\r\n")+2:]
			}
			got[m] = true
		}
	}
	return got
}

func imapQuoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
