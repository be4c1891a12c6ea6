package pgp

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// cfbStream is CFB mode with a zero IV, the cipher of a version 1 SEIPD
// packet (RFC 4880 5.13, RFC 9580 5.13.1: "the Initialization Vector is all
// zeros", the random prefix and its two-byte repeat then encrypted with
// the data in one CFB stream, without OpenPGP's resynchronisation).
//
// go-crypto's OCFB stream does the same a byte at a time (a fifth of the
// sealing CPU of an APPEND, measured); this one XORs a block at a time,
// as the standard library's CFB does (deprecated there for new protocols,
// which OpenPGP is not). TestCFBMatchesGoCryptoOCFB holds the two equal.
type cfbStream struct {
	b       cipher.Block
	next    []byte // the input of the next block cipher call: the last ciphertext block
	out     []byte // the current block of key stream
	used    int    // bytes of out already used
	decrypt bool
}

func newCFB(b cipher.Block, decrypt bool) *cfbStream {
	bs := b.BlockSize()
	return &cfbStream{b: b, next: make([]byte, bs), out: make([]byte, bs), used: bs, decrypt: decrypt}
}

// NewCFBDecrypter is the decrypting stream of a version 1 SEIPD packet
// body (prefix included), for readers that check the MDC themselves
// (the offline reader: mailbox/reader/airgap).
func NewCFBDecrypter(b cipher.Block) cipher.Stream { return newCFB(b, true) }

// XORKeyStream encrypts or decrypts src into dst (which may be src).
func (x *cfbStream) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("pgp: cfb: output smaller than input")
	}
	if bs := len(x.out); bs == 16 {
		// Whole AES blocks, the bulk of a message, XORed as two words.
		if x.used < bs {
			n := min(len(src), bs-x.used)
			x.partial(dst[:n], src[:n])
			dst, src = dst[n:], src[n:]
		}
		le := binary.LittleEndian
		for len(src) >= bs {
			x.b.Encrypt(x.out, x.next)
			c := src[:bs]
			if x.decrypt {
				copy(x.next, c)
			}
			le.PutUint64(dst, le.Uint64(c)^le.Uint64(x.out))
			le.PutUint64(dst[8:], le.Uint64(c[8:])^le.Uint64(x.out[8:]))
			if !x.decrypt {
				copy(x.next, dst[:bs])
			}
			dst, src = dst[bs:], src[bs:]
		}
	}
	x.partial(dst, src)
}

// partial is XORKeyStream a byte run at a time, for any block size and
// for the ends of a write that do not fill a block.
func (x *cfbStream) partial(dst, src []byte) {
	for len(src) > 0 {
		if x.used == len(x.out) {
			x.b.Encrypt(x.out, x.next)
			x.used = 0
		}
		if x.decrypt {
			// The ciphertext feeds the next block; dst may be src, so
			// keep it before it is overwritten.
			copy(x.next[x.used:], src)
		}
		n := subtle.XORBytes(dst, src, x.out[x.used:])
		if !x.decrypt {
			copy(x.next[x.used:], dst[:n])
		}
		dst, src = dst[n:], src[n:]
		x.used += n
	}
}
