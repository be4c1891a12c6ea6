package pgp

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// TestCFBMatchesGoCryptoOCFB: the block-at-a-time CFB gives go-crypto's
// OpenPGP CFB (no resynchronisation) byte for byte, prefix included, for
// writes of every awkward length, and decrypts it back.
func TestCFBMatchesGoCryptoOCFB(t *testing.T) {
	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	data := make([]byte, 70_000)
	for _, b := range [][]byte{key, iv, data} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	block, _ := aes.NewCipher(key)
	theirs, theirPrefix := packet.NewOCFBEncrypter(block, iv, packet.OCFBNoResync)
	ours := newCFB(block, false)
	prefix := append(iv[:len(iv):len(iv)], iv[len(iv)-2:]...)
	ours.XORKeyStream(prefix, prefix)
	if !bytes.Equal(prefix, theirPrefix) {
		t.Fatalf("prefix differs:\n%x\n%x", prefix, theirPrefix)
	}
	want := make([]byte, len(data))
	theirs.XORKeyStream(want, data)
	got := make([]byte, len(data))
	for off, step := 0, 1; off < len(data); step = step*7%61 + 1 {
		end := min(off+step, len(data))
		ours.XORKeyStream(got[off:end], data[off:end])
		off = end
	}
	if !bytes.Equal(got, want) {
		t.Fatal("ciphertext differs from go-crypto's OCFB")
	}
	dec := newCFB(block, true)
	p := bytes.Clone(prefix)
	dec.XORKeyStream(p, p)
	if !bytes.Equal(p[:len(iv)], iv) {
		t.Fatal("decrypted prefix differs")
	}
	back := bytes.Clone(got) // in place, as a reader does
	for off, step := 0, 3; off < len(back); step = step*5%67 + 1 {
		end := min(off+step, len(back))
		dec.XORKeyStream(back[off:end], back[off:end])
		off = end
	}
	if !bytes.Equal(back, data) {
		t.Fatal("decryption does not give the data back")
	}
}

// TestBuffersReusedAcrossMessages encrypts many messages of every kind
// (stored, level 1, Huffman-only from the start, switching) through one
// Buffers, from several goroutines at once, and opens each with go-crypto:
// a pooled chunk buffer or compressor handed back too early, or not reset,
// would corrupt or mix messages.
func TestBuffersReusedAcrossMessages(t *testing.T) {
	key, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	to := []*openpgp.Entity{key}
	var bufs Buffers
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				if err := roundTrip(to, &bufs, g*100+i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func roundTrip(to []*openpgp.Entity, bufs *Buffers, i int) error {
	size := []int{0, 1, 5_000, 65_536, 70_000, 200_000}[i%6]
	plain := make([]byte, size)
	if i%2 == 0 {
		rand.Read(plain)
	} else {
		for j := range plain {
			plain[j] = "postern "[j%8]
		}
	}
	opts := EncryptOptions{Compress: i%3 != 0, Incompressible: i%4 == 1, Parallel: i%2 == 1, Buffers: bufs}
	var ct bytes.Buffer
	var w io.WriteCloser
	var err error
	var p *Padded
	if i%5 == 0 {
		w, err = Encrypt(&ct, to, opts)
	} else {
		p, err = EncryptPadded(&ct, to, opts)
		w = p
	}
	if err != nil {
		return err
	}
	half := len(plain) / 2
	if _, err := w.Write(plain[:half]); err != nil {
		return err
	}
	if err := Incompressible(w, i%3 == 2); err != nil {
		return err
	}
	if _, err := w.Write(plain[half:]); err != nil {
		return err
	}
	if p != nil {
		// After EndData every byte but what Pending counts reached the
		// output, with Parallel too: padding is planned from that.
		if err := p.EndData(); err != nil {
			return err
		}
		before, want := int64(ct.Len()), p.Pending(40)
		if err := p.ClosePadded(40); err != nil {
			return err
		}
		if got := int64(ct.Len()) - before; got != want {
			return fmt.Errorf("message %d (%+v): %d bytes after EndData, Pending said %d", i, opts, got, want)
		}
	} else if err := w.Close(); err != nil {
		return err
	}
	md, err := openpgp.ReadMessage(&ct, openpgp.EntityList(to), nil, nil)
	if err != nil {
		return fmt.Errorf("message %d: %w", i, err)
	}
	got, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		return fmt.Errorf("message %d: %w", i, err)
	}
	if !bytes.Equal(got, plain) {
		return fmt.Errorf("message %d (%d bytes, %+v): decrypted something else", i, size, opts)
	}
	return nil
}

// TestParallelAbortAndWriteErrors: an abandoned parallel message lets its
// writing goroutine go, and a failing output is reported by Write or
// Close, never lost.
func TestParallelAbortAndWriteErrors(t *testing.T) {
	key, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	to := []*openpgp.Entity{key}
	before := runtime.NumGoroutine()
	for range 20 {
		p, err := EncryptPadded(io.Discard, to, EncryptOptions{Compress: true, Parallel: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(make([]byte, 200_000)); err != nil {
			t.Fatal(err)
		}
		p.Abort()
	}
	for deadline := time.Now().Add(time.Minute); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left behind by aborted messages", runtime.NumGoroutine()-before)
		}
	}
	p, err := EncryptPadded(&failingWriter{left: 100_000}, to, EncryptOptions{Parallel: true})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	_, werr := p.Write(data)
	cerr := p.Close()
	if werr == nil && cerr == nil {
		t.Fatal("a failing output was not reported")
	}
}

type failingWriter struct{ left int }

func (f *failingWriter) Write(b []byte) (int, error) {
	if len(b) > f.left {
		return 0, errors.New("disk full")
	}
	f.left -= len(b)
	return len(b), nil
}
