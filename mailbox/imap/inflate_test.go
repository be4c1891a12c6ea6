package imapd

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// chunks hands out what a client has sent so far; reading past it fails
// the test: the inflater waited for bytes that were never going to come.
type chunks struct {
	t    *testing.T
	data []byte
}

var errPastFlush = errors.New("read past everything the client sent")

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		c.t.Error("the inflater read past everything the client sent, holding decoded bytes back")
		return 0, errPastFlush
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// clientWrites compresses writes as a client does: each one ends in a
// flush. partial drops the sync flush's empty stored block (00 00 ff ff),
// which leaves, as zlib's Z_PARTIAL_FLUSH does (mbsync), only 3 to 10
// bits after the block: the stored block's missing bytes begin the next
// write.
func clientWrites(t *testing.T, level int, partial bool, writes []string) [][]byte {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var carry []byte
	for _, w := range writes {
		fw.Write([]byte(w))
		fw.Flush()
		b := append(carry, buf.Bytes()...)
		buf.Reset()
		carry = nil
		if partial {
			if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
				t.Fatalf("flush ends in %x", b[len(b)-4:])
			}
			b, carry = b[:len(b)-4], []byte{0, 0, 0xff, 0xff}
		}
		out = append(out, b)
	}
	return out
}

// pipeline is a client's deep pipeline: n commands in one write.
func pipeline(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d UID FETCH %d (BODY.PEEK[])\r\n", i+7, i+1)
	}
	return b.String()
}

// TestInflaterReturnsAllThatWasSent: after each client write, every byte
// it carried is decoded without reading further, whatever the block type
// and however little of the next block the flush left (the mbsync stall).
func TestInflaterReturnsAllThatWasSent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	writes := []string{
		"3 NAMESPACE\r\n", "4 LIST \"\" \"*\"\r\n",
		pipeline(300), pipeline(1000),
		"5 APPEND INBOX {102400}\r\n" + string(random) + "\r\n",
		armored(t, 200<<10), strings.Repeat("a", 70<<10), "x",
	}
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		for _, partial := range []bool{false, true} {
			t.Run(fmt.Sprintf("level%d/partial=%v", level, partial), func(t *testing.T) {
				src := &chunks{t: t}
				in := newInflater(bufio.NewReader(src))
				for i, w := range clientWrites(t, level, partial, writes) {
					src.data = w
					got := make([]byte, len(writes[i]))
					if _, err := io.ReadFull(in, got); err != nil {
						t.Fatalf("write %d: %v", i, err)
					}
					if string(got) != writes[i] {
						t.Fatalf("write %d decoded wrong", i)
					}
				}
			})
		}
	}
}

// TestInflaterAgreesWithStandardLibrary: a whole stream ends in io.EOF
// with the bytes compress/flate gives, read in small and large pieces.
func TestInflaterAgreesWithStandardLibrary(t *testing.T) {
	msg := []byte(armored(t, 300<<10) + pipeline(500))
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, level)
		fw.Write(msg)
		fw.Close()
		for _, size := range []int{1, 7, 4096, 1 << 20} {
			in := newInflater(bufio.NewReader(bytes.NewReader(buf.Bytes())))
			got, err := io.ReadAll(struct{ io.Reader }{readSize{in, size}})
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("level %d, reads of %d: %d of %d bytes, %v", level, size, len(got), len(msg), err)
			}
		}
	}
}

type readSize struct {
	r    io.Reader
	size int
}

func (r readSize) Read(p []byte) (int, error) { return r.r.Read(p[:min(len(p), r.size)]) }

// FuzzInflater: arbitrary input never panics, and a stream the standard
// library decodes whole decodes to the same bytes.
func FuzzInflater(f *testing.F) {
	for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.BestCompression} {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, level)
		fw.Write([]byte(pipeline(40) + "Subject: hello\r\n\r\nhello hello hello\r\n"))
		fw.Flush()
		fw.Write([]byte("a NOOP\r\n"))
		fw.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0x00})
	f.Add([]byte{0x05, 0xe0, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
		got, err := io.ReadAll(newInflater(bufio.NewReader(bytes.NewReader(data))))
		if wantErr == nil && (err != nil || !bytes.Equal(got, want)) {
			t.Fatalf("standard library: %d bytes; inflater: %d bytes, %v", len(want), len(got), err)
		}
	})
}

// BenchmarkInflater decodes armored mail as a client's APPEND sends it.
func BenchmarkInflater(b *testing.B) {
	msg := []byte(armored(&testing.T{}, 4<<20))
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	fw.Write(msg)
	fw.Close()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := io.Copy(io.Discard, newInflater(bufio.NewReader(bytes.NewReader(buf.Bytes())))); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInflaterMbsyncStream: what mbsync 1.4 (zlib, Z_PARTIAL_FLUSH after
// each write) sent after COMPRESS with its default settings: four small
// writes, then 300 UID FETCH commands in one dynamic block. Every line is
// decoded from the bytes sent, without waiting for more.
func TestInflaterMbsyncStream(t *testing.T) {
	data, err := os.ReadFile("testdata/mbsync-pipeline.deflate")
	if err != nil {
		t.Fatal(err)
	}
	in := bufio.NewReader(newInflater(bufio.NewReader(&chunks{t: t, data: data})))
	var last string
	for n := range 304 {
		l, err := in.ReadString('\n')
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		last = l
	}
	if last != "306 UID FETCH 300 (BODY.PEEK[])\r\n" {
		t.Errorf("last line %q", last)
	}
}
