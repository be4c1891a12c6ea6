package airgap

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"errors"
	"hash"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp"
)

// The modification detection code that ends a version 1 SEIPD packet's
// plaintext: a packet of tag 19 (new format), length 20, then the SHA-1 of
// the prefix, the plaintext and these two octets.
const (
	mdcLen    = 2 + sha1.Size
	mdcTag    = 0xD3
	prefixLen = aes.BlockSize + 2
)

var (
	errMDC       = errors.New("integrity check (MDC) failed")
	errTruncated = errors.New("encrypted data cut short")
)

// decryptSEIPD returns the plaintext of an integrity-protected packet whose
// session key go-crypto decrypted. A version 1 packet with AES, what gpg,
// rnp, sq and Postern write, is decrypted by seipdReader; anything else (a
// version 2 packet, another cipher) by go-crypto, as before, which works
// a byte at a time and was a sixth of the CPU of opening a transfer.
func decryptSEIPD(se *packet.SymmetricallyEncrypted, c packet.CipherFunction, key []byte, sc *scratch) (io.ReadCloser, error) {
	switch c {
	case packet.CipherAES128, packet.CipherAES192, packet.CipherAES256:
		if se.Version == 1 && len(key) == c.KeySize() {
			block, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			if sc.seipd == nil {
				sc.seipd = &seipdReader{buf: make([]byte, 32<<10), h: sha1.New()}
			}
			sc.seipd.reset(se.Contents, block)
			return sc.seipd, nil
		}
	}
	return se.Decrypt(c, key)
}

// seipdReader decrypts the body of a version 1 symmetrically encrypted and
// integrity protected data packet (RFC 9580 5.13.1, RFC 4880 5.13), read
// from in after its version octet: OpenPGP's CFB mode without
// resynchronisation, which is plain CFB with an IV of zeros over a random
// prefix of a block and two octets, then the data, whose last 22 octets are
// the MDC packet. The quick check (the prefix's last two octets repeating
// the two before) is not used, as go-crypto does not use it: the MDC
// covers the prefix too. The last 22 octets decrypted are held back, so
// what Read returns is never the MDC; at the end Read returns io.EOF only
// if the MDC is there and right, else an error: nothing read may be
// trusted before io.EOF.
type seipdReader struct {
	in   io.Reader
	cfb  cipher.Stream // pgp.NewCFBDecrypter: CFB with a zero IV over prefix and data
	h    hash.Hash
	buf  []byte // buf[r:w]: decrypted, not returned yet
	r, w int
	// prefix: the prefix is still in buf, to be hashed and dropped.
	prefix bool
	eof    bool  // in is at its end
	err    error // sticky: io.EOF once the MDC held
}

func (s *seipdReader) reset(in io.Reader, b cipher.Block) {
	s.in, s.cfb = in, pgp.NewCFBDecrypter(b)
	s.h.Reset()
	s.r, s.w, s.prefix, s.eof, s.err = 0, 0, true, false, nil
}

func (s *seipdReader) Read(p []byte) (int, error) {
	for {
		if avail := s.w - s.r - mdcLen; avail > 0 && !s.prefix {
			n := copy(p, s.buf[s.r:s.r+avail])
			s.h.Write(p[:n])
			s.r += n
			return n, nil
		}
		if s.err != nil {
			return 0, s.err
		}
		if s.eof {
			s.err = s.check()
			return 0, s.err
		}
		s.fill()
	}
}

// Close reads to the end and reports whether the MDC held.
func (s *seipdReader) Close() error {
	var tmp [4096]byte
	for s.err == nil {
		s.Read(tmp[:])
	}
	if errors.Is(s.err, io.EOF) {
		return nil
	}
	return s.err
}

// fill reads and decrypts what in has next.
func (s *seipdReader) fill() {
	if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	n, err := s.in.Read(s.buf[s.w:])
	s.cfb.XORKeyStream(s.buf[s.w:s.w+n], s.buf[s.w:s.w+n])
	s.w += n
	if s.prefix && s.w >= prefixLen {
		s.h.Write(s.buf[:prefixLen])
		s.r, s.prefix = prefixLen, false
	}
	if errors.Is(err, io.EOF) {
		s.eof = true
	} else if err != nil {
		s.err = err
	}
}

// check checks the MDC, the last mdcLen octets, all that is left.
func (s *seipdReader) check() error {
	if s.prefix || s.w-s.r != mdcLen {
		return errTruncated
	}
	t := s.buf[s.r:s.w]
	s.h.Write(t[:2])
	var sum [sha1.Size]byte
	if t[0] != mdcTag || t[1] != sha1.Size || subtle.ConstantTimeCompare(s.h.Sum(sum[:0]), t[2:]) != 1 {
		return errMDC
	}
	return io.EOF
}
