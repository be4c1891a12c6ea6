package pgpmime

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// crc24Bitwise is RFC 4880's reference CRC-24, one bit at a time.
func crc24Bitwise(p []byte) uint32 {
	crc := uint32(crc24Init)
	for _, b := range p {
		crc ^= uint32(b) << 16
		for range 8 {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= crc24Poly
			}
		}
	}
	return crc & 0xFFFFFF
}

func TestCRC24MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if got, want := crc24.update(crc24Init, p), crc24Bitwise(p); got != want {
			t.Fatalf("len %d: crc %06x, want %06x", n, got, want)
		}
		// Split updates must agree with one update.
		if n > 5 {
			c := crc24.update(crc24.update(crc24Init, p[:n/2]), p[n/2:])
			if c != crc24Bitwise(p) {
				t.Fatalf("len %d split: crc %06x", n, c)
			}
		}
	}
}

func BenchmarkCRC24(b *testing.B) {
	p := make([]byte, 64<<10)
	b.SetBytes(int64(len(p)))
	var crc uint32
	for b.Loop() {
		crc = crc24.update(crc24Init, p)
	}
	_ = crc
}

// Whatever the write sizes, go-crypto's decoder reads
// back the same bytes, every line ends in CRLF and no line is longer than 64.
func TestArmorWriterRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 4095, 100000} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		var out bytes.Buffer
		w := newArmorWriter(&out)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(200))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		if strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") {
			t.Fatalf("size %d: bare LF in armor", size)
		}
		for _, l := range strings.Split(text, "\r\n") {
			if len(l) > 64 && !strings.HasPrefix(l, "-----") {
				t.Fatalf("size %d: line of %d characters", size, len(l))
			}
		}
		block, err := armor.Decode(strings.NewReader(text))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, err := io.ReadAll(block.Body)
		if err != nil {
			t.Fatalf("size %d: %v (bad checksum?)", size, err)
		}
		if block.Type != "PGP MESSAGE" || !bytes.Equal(got, data) {
			t.Fatalf("size %d: round trip differs", size)
		}
		// go-crypto no longer checks the checksum (gpg does): check it here.
		c := crc24Bitwise(data)
		sum := "=" + base64.StdEncoding.EncodeToString([]byte{byte(c >> 16), byte(c >> 8), byte(c)}) + "\r\n-----END PGP MESSAGE-----"
		if !strings.Contains(text, sum) {
			t.Fatalf("size %d: checksum line is not %q", size, sum)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("write after Close accepted")
		}
	}
}
