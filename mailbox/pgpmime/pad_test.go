package pgpmime

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message"

	"postern/mailbox/pgp"
)

// sealed writes plain into an Envelope and returns the whole message.
func sealed(t testing.TB, w io.Writer, to []*openpgp.Entity, plain io.Reader, compress bool) {
	t.Helper()
	var oh message.Header
	oh.Set("From", "quixotic tangerine <qt@relay.example>")
	oh.Set("Subject", "...")
	e, err := NewEnvelope(w, oh, to, pgp.EncryptOptions{Compress: compress})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(e, plain); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// paddingSizes are plaintext sizes from nothing to a few MiB, on and
// around the boundaries of the packet framing and the armor lines.
func paddingSizes() []int {
	sizes := []int{0, 1, 2, 3, 47, 48, 49, 191, 192, 511, 512, 513, 8383, 8384, 65535, 65536, 65537, 131072}
	r := mrand.New(mrand.NewPCG(17, 17))
	for range 120 {
		sizes = append(sizes, r.IntN(64<<10))
	}
	for range 12 {
		sizes = append(sizes, r.IntN(4<<20))
	}
	return sizes
}

// textLike is plaintext that compresses like a submission's text and
// attachments: words, then random bytes (a photo) for odd sizes.
func textLike(n int, r *mrand.Rand) []byte {
	b := make([]byte, n)
	if n%2 == 1 {
		rand.Read(b)
		return b
	}
	words := strings.Fields("the source said that the minister knew about the contract in march")
	for i := 0; i < n; {
		i += copy(b[i:], words[r.IntN(len(words))]+" ")
	}
	return b
}

// TestPaddedSizesArePadme protects the size padding: every message the
// Envelope writes, compressed or not, is exactly a Padmé length, and
// decrypts to exactly what was written.
func TestPaddedSizesArePadme(t *testing.T) {
	key, err := pgp.DeriveKey(bytes.Repeat([]byte{3}, 32), "j <j@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for i, n := range paddingSizes() {
		plain := textLike(n, r)
		compress := i%3 != 0
		var out bytes.Buffer
		sealed(t, &out, []*openpgp.Entity{key}, bytes.NewReader(plain), compress)
		if size := int64(out.Len()); pgp.Padme(size) != size {
			t.Fatalf("%d bytes (compress %v): message of %d bytes, not a Padmé length", n, compress, size)
		}
		if i%5 == 0 {
			if got := decryptGo(t, out.Bytes(), key); !bytes.Equal(got, plain) {
				t.Fatalf("%d bytes: decrypted %d bytes, not the plaintext", n, len(got))
			}
		}
	}
}

// TestPadded100MiBStreams pads a 100 MiB message without holding it.
func TestPadded100MiBStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB through OpenPGP")
	}
	key, err := pgp.DeriveKey(bytes.Repeat([]byte{4}, 32), "j <j@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		var m runtimeMemStats
		readMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	var out countWriter
	src := &peakReader{r: io.LimitReader(rand.Reader, 100<<20), heap: heap}
	sealed(t, &out, []*openpgp.Entity{key}, src, false)
	if size := int64(out); pgp.Padme(size) != size || size < 100<<20 {
		t.Fatalf("100 MiB: message of %d bytes, not a Padmé length", size)
	}
	if src.peak > before && src.peak-before > 16<<20 {
		t.Fatalf("heap grew by %d MiB while padding 100 MiB", (src.peak-before)>>20)
	}
}

// peakReader samples the heap every 16 MiB read.
type peakReader struct {
	r    io.Reader
	n    int64
	peak uint64
	heap func() uint64
}

func (p *peakReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.n/(16<<20) != (p.n+int64(n))/(16<<20) {
		p.peak = max(p.peak, p.heap())
	}
	p.n += int64(n)
	return n, err
}

// TestPaddingInvisibleToReaders protects what journalists see: gpg, rnp
// and sq decrypt a padded message to exactly the bytes written, with
// nothing after them, for sizes whose padding ends on every kind of deflate
// tail and crosses packet chunk boundaries.
func TestPaddingInvisibleToReaders(t *testing.T) {
	f := newFixture(t)
	r := mrand.New(mrand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 700, 9000, 70000, 300000} {
		for _, compress := range []bool{true, false} {
			plain := textLike(n, r)
			var out bytes.Buffer
			sealed(t, &out, f.keys, bytes.NewReader(plain), compress)
			if size := int64(out.Len()); pgp.Padme(size) != size {
				t.Fatalf("%d bytes: %d, not a Padmé length", n, size)
			}
			arm := armoredPart(t, out.Bytes())
			for _, tool := range []string{"gpg", "rnp", "sq"} {
				t.Run(fmt.Sprintf("%s/%d/%v", tool, n, compress), func(t *testing.T) {
					if got := f.decryptWith(t, tool, arm); !bytes.Equal(got, plain) {
						t.Fatalf("decrypted %d bytes, wrote %d", len(got), len(plain))
					}
				})
			}
		}
	}
}

// decryptGo decrypts the encrypted part of a PGP/MIME message with key.
func decryptGo(t *testing.T, mail []byte, key *openpgp.Entity) []byte {
	t.Helper()
	blk, err := armor.Decode(bytes.NewReader(armoredPart(t, mail)))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(blk.Body, openpgp.EntityList{key}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
