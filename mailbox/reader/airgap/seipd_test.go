package airgap

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

var seipdCiphers = []packet.CipherFunction{packet.CipherAES128, packet.CipherAES192, packet.CipherAES256}

func seipdKey(c packet.CipherFunction) []byte {
	return bytes.Repeat([]byte{byte(c)}, c.KeySize())
}

// seipdPacket encrypts plain as a version 1 SEIPD packet body (version
// octet, prefix, data, trailer) with OpenPGP CFB, the trailer being what
// mdc returns for the SHA-1 state over prefix and data (nil: the right MDC).
func seipdBody(t testing.TB, c packet.CipherFunction, plain []byte, mdc func(h []byte) []byte) []byte {
	t.Helper()
	var block cipher.Block
	var err error
	if c == packet.Cipher3DES {
		block, err = des.NewTripleDESCipher(seipdKey(c))
	} else {
		block, err = aes.NewCipher(seipdKey(c))
	}
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, block.BlockSize())
	rand.NewChaCha8([32]byte{byte(len(plain))}).Read(iv)
	stream, prefix := packet.NewOCFBEncrypter(block, iv, packet.OCFBNoResync)
	h := sha1.New()
	h.Write(iv)
	h.Write(iv[len(iv)-2:])
	h.Write(plain)
	var trailer []byte
	if mdc == nil {
		h.Write([]byte{mdcTag, sha1.Size})
		trailer = h.Sum([]byte{mdcTag, sha1.Size})
	} else {
		trailer = mdc(h.Sum(nil))
	}
	rest := append(bytes.Clone(plain), trailer...)
	stream.XORKeyStream(rest, rest)
	return append(append([]byte{1}, prefix...), rest...)
}

// frame wraps a packet body as tag 18 (new format: the old one has no tag
// over 15): partial lengths of 2^k octets when k > 0, one length when k ==
// 0, one five-octet length whatever the size when k < 0.
func frame(body []byte, k int) []byte {
	out := []byte{0xC0 | 18}
	for k > 0 && len(body) > 1<<k {
		out = append(append(out, 0xE0|byte(k)), body[:1<<k]...)
		body = body[1<<k:]
	}
	switch n := len(body); {
	case n < 192 && k >= 0:
		out = append(out, byte(n))
	case n < 8384 && k >= 0:
		out = append(out, byte((n-192)>>8+192), byte(n-192))
	default:
		out = binary.BigEndian.AppendUint32(append(out, 255), uint32(n))
	}
	return append(out, body...)
}

// openSEIPD decrypts a framed SEIPD packet with cipher c, by go-crypto when
// lib is set, else by decryptSEIPD, reading through how, and returns the
// plaintext or the first error (of Decrypt, Read or Close).
func openSEIPD(pkt []byte, c packet.CipherFunction, lib bool, how func(io.Reader) io.Reader) ([]byte, error) {
	p, err := packet.NewReader(bytes.NewReader(pkt)).Next()
	if err != nil {
		return nil, err
	}
	se, ok := p.(*packet.SymmetricallyEncrypted)
	if !ok || !se.IntegrityProtected {
		return nil, io.ErrUnexpectedEOF
	}
	var rc io.ReadCloser
	if lib {
		rc, err = se.Decrypt(c, seipdKey(c))
	} else {
		rc, err = decryptSEIPD(se, c, seipdKey(c), &scratch{}) // only its SEIPD reader is used
	}
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(how(rc))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// seipdSeeds are valid packets and damaged ones: each cipher, sizes around
// the block and the trailer, every framing, then a bit flipped in the
// prefix, the data and the MDC, cut short by one octet and to less than a
// prefix, the MDC missing, of the wrong tag or length, over other data.
func seipdSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	plain := make([]byte, 5000)
	rand.NewChaCha8([32]byte{7}).Read(plain)
	for i, c := range seipdCiphers {
		for _, n := range []int{0, 1, 15, 16, 17, 22, 23, 100, 5000} {
			seeds = append(seeds, append([]byte{byte(i)}, frame(seipdBody(t, c, plain[:n], nil), []int{-1, 0, 9}[n%3])...))
		}
	}
	good := seipdBody(t, packet.CipherAES128, plain[:300], nil)
	for _, mangle := range []func([]byte) []byte{
		func(b []byte) []byte { b[3] ^= 1; return b },
		func(b []byte) []byte { b[150] ^= 0x80; return b },
		func(b []byte) []byte { b[len(b)-5] ^= 4; return b },
		func(b []byte) []byte { b[len(b)-22] ^= 1; return b },
		func(b []byte) []byte { return b[:len(b)-1] },
		func(b []byte) []byte { return b[:10] },
		func(b []byte) []byte { return append(b, 0) },
	} {
		seeds = append(seeds, append([]byte{0}, frame(mangle(bytes.Clone(good)), 9)...))
	}
	for _, mdc := range []func([]byte) []byte{
		func([]byte) []byte { return nil },
		func(h []byte) []byte { return append([]byte{mdcTag + 1, sha1.Size}, h...) },
		func(h []byte) []byte { return append([]byte{mdcTag, sha1.Size - 1}, h...) },
		func(h []byte) []byte { return append([]byte{mdcTag, sha1.Size}, h...) }, // hash without the tag
		func(h []byte) []byte { return append([]byte{mdcTag, sha1.Size}, make([]byte, sha1.Size)...) },
	} {
		seeds = append(seeds, append([]byte{0}, frame(seipdBody(t, packet.CipherAES128, plain[:300], mdc), 0)...))
	}
	return seeds
}

// FuzzSEIPDAsGoCrypto: decryptSEIPD gives the plaintext go-crypto gives for
// a SEIPD packet, or refuses where go-crypto refuses (the MDC missing,
// wrong or cut, a packet cut short), however the packet is framed and read.
// The first input octet picks the cipher.
func FuzzSEIPDAsGoCrypto(f *testing.F) {
	for _, s := range seipdSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		c := seipdCiphers[int(in[0])%len(seipdCiphers)]
		want, wantErr := openSEIPD(in[1:], c, true, func(r io.Reader) io.Reader { return r })
		for _, how := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader,
		} {
			got, gotErr := openSEIPD(in[1:], c, false, how)
			switch {
			case (gotErr == nil) != (wantErr == nil):
				t.Fatalf("error %v, go-crypto's %v", gotErr, wantErr)
			case gotErr == nil && !bytes.Equal(got, want):
				t.Fatalf("%d bytes differ from go-crypto's %d", len(got), len(want))
			}
		}
	})
}

// TestSEIPDAsGoCrypto runs the seeds of FuzzSEIPDAsGoCrypto and checks
// which must open: the valid packets only, to their plaintext.
func TestSEIPDAsGoCrypto(t *testing.T) {
	seeds := seipdSeeds(t)
	valid := len(seipdCiphers) * 9
	for i, s := range seeds {
		c := seipdCiphers[s[0]]
		want, wantErr := openSEIPD(s[1:], c, true, func(r io.Reader) io.Reader { return r })
		got, gotErr := openSEIPD(s[1:], c, false, iotest.HalfReader)
		if i < valid && (gotErr != nil || wantErr != nil || !bytes.Equal(got, want)) {
			t.Errorf("seed %d: error %v, go-crypto's %v; %d bytes, go-crypto's %d", i, gotErr, wantErr, len(got), len(want))
		}
		if i >= valid && (gotErr == nil || wantErr == nil) {
			t.Errorf("damaged seed %d: error %v, go-crypto's %v", i, gotErr, wantErr)
		}
	}
}

// TestSEIPDOthersThroughGoCrypto: what decryptSEIPD does not decrypt
// itself, a version 2 packet (AEAD) and a version 1 packet of another
// cipher (3DES), go-crypto still decrypts, as before.
func TestSEIPDOthersThroughGoCrypto(t *testing.T) {
	plain := bytes.Repeat([]byte("other packets "), 500)
	var v2 bytes.Buffer
	w, err := packet.SerializeSymmetricallyEncrypted(&v2, packet.CipherAES128, true,
		packet.CipherSuite{Cipher: packet.CipherAES128, Mode: packet.AEADModeOCB}, seipdKey(packet.CipherAES128),
		&packet.Config{AEADConfig: &packet.AEADConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	for name, tc := range map[string]struct {
		pkt []byte
		c   packet.CipherFunction
	}{
		"version 2, AES-128 OCB": {v2.Bytes(), packet.CipherAES128},
		"version 1, 3DES":        {frame(seipdBody(t, packet.Cipher3DES, plain, nil), 9), packet.Cipher3DES},
	} {
		got, err := openSEIPD(tc.pkt, tc.c, false, iotest.HalfReader)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: %v, %d bytes", name, err, len(got))
		}
	}
}
