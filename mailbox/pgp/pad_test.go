package pgp

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/adler32"
	"io"
	"testing"

	"github.com/klauspost/compress/flate"
)

func TestPadme(t *testing.T) {
	for n, want := range map[int64]int64{0: 0, 1: 1, 2: 2, 9: 10, 1000: 1024, 100000: 100352} {
		if got := Padme(n); got != want {
			t.Errorf("Padme(%d) = %d, want %d", n, got, want)
		}
	}
	prev := int64(0)
	for n := int64(0); n < 1<<40; n = n*9/8 + 1 {
		p := Padme(n)
		if p < n || Padme(p) != p || p < prev {
			t.Fatalf("Padme(%d) = %d (not a fixed point above n, or not monotonic)", n, p)
		}
		if n >= 256 && float64(p-n) > 0.12*float64(n) {
			t.Fatalf("Padme(%d) = %d: overhead above 12%%", n, p)
		}
		prev = p
	}
}

// TestFrameLen pins frameLen to what partialWriter really writes.
func TestFrameLen(t *testing.T) {
	sizes := []int64{0, 1, 191, 192, 193, 8383, 8384, 8385, 65535, 65536, 65537, 2 * 65536, 2*65536 + 191, 2*65536 + 8384}
	for _, pre := range []int64{0, 3, 65536} {
		for _, n := range sizes {
			var out bytes.Buffer
			pw := newPartialWriter(nopCloser{&out}, 8, nil)
			pw.Write(make([]byte, pre))
			before, hdr, buffered := out.Len(), pw.hdr, int64(len(pw.buf))
			pw.Write(make([]byte, n))
			if err := pw.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := frameLen(buffered+n, hdr), int64(out.Len()-before); got != want {
				t.Errorf("pre %d, n %d: frameLen %d, partialWriter wrote %d", pre, n, got, want)
			}
		}
	}
}

// TestEmptyDeflateDecodesToNothing protects the padding: whatever its
// length, it decodes to nothing and the stream still ends cleanly.
func TestEmptyDeflateDecodesToNothing(t *testing.T) {
	data := bytes.Repeat([]byte("the source's words "), 100)
	for _, n := range []int64{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99, 64<<10 + 3, 1 << 20} {
		var z bytes.Buffer
		z.Write([]byte{zlibHeader0, zlibH1})
		fw, _ := flate.NewWriter(&z, segmentLevel)
		fw.Write(data)
		fw.Flush()
		before := z.Len()
		if err := writeEmptyDeflate(&z, n); err != nil {
			t.Fatal(err)
		}
		if got := int64(z.Len() - before); got != n {
			t.Fatalf("padding of %d wrote %d bytes", n, got)
		}
		z.Write(binary.BigEndian.AppendUint32(nil, adler32.Checksum(data)))
		r, err := zlib.NewReader(bytes.NewReader(z.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || r.Close() != nil {
			t.Fatalf("padding of %d: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("padding of %d changed the data", n)
		}
	}
}
