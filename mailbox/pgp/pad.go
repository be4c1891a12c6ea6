package pgp

import (
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
)

// Padme returns the Padmé length for a message of n bytes (Nikitin et al.,
// "Reducing Metadata Leakage from Encrypted Files and Communication with
// PURBs", PETS 2019): n rounded up so that only its top
// ⌊log2 ⌊log2 n⌋⌋+1 bits may be set. The overhead is at most 12% and a
// padded length leaks O(log log n) bits of the real one.
func Padme(n int64) int64 {
	if n < 2 {
		return n
	}
	e := 63 - bits.LeadingZeros64(uint64(n)) // ⌊log2 n⌋
	s := 64 - bits.LeadingZeros64(uint64(e)) // ⌊log2 e⌋ + 1
	mask := int64(1)<<(e-s) - 1
	return (n + mask) &^ mask
}

// MinPad is the smallest padding Padded.ClosePadded takes: the two bytes of
// an empty final deflate block.
const MinPad = 2

// Padded is the writer of EncryptPadded. The padding sits inside the
// encryption, in the deflate stream of the compressed data packet, as empty
// deflate blocks after the literal data packet: every reader (gpg, rnp, sq,
// Thunderbird, go-crypto) decompresses it to nothing, so the decrypted
// message is byte for byte the unpadded one. Because every layer below is
// framed by partialWriter, the number of bytes still to come is a function
// of the padding alone (Pending), and a caller can hit an exact total.
type Padded struct {
	lit   io.WriteCloser // the literal data packet, inside z
	z     *zlibPacket
	async *asyncWriter // between the encryption and w (EncryptOptions.Parallel), or nil
	done  bool         // EndData ran
}

// Write writes plaintext.
func (p *Padded) Write(b []byte) (int, error) {
	if p.done {
		return 0, errors.New("pgp: write after EndData")
	}
	return p.lit.Write(b)
}

// SetIncompressible is the hint of Incompressible.
func (p *Padded) SetIncompressible(on bool) error { return p.z.SetIncompressible(on) }

// EndData ends the plaintext: the literal packet is closed and the deflate
// stream flushed to a byte boundary. Then only Pending and ClosePadded.
func (p *Padded) EndData() error {
	if p.done {
		return nil
	}
	p.done = true
	if err := p.lit.Close(); err != nil {
		return err
	}
	if err := p.z.fw.Flush(); err != nil {
		return err
	}
	if p.async != nil {
		// What is still in flight must have reached w: a caller counts
		// it there to plan the padding.
		return p.async.Flush()
	}
	return nil
}

// Abort gives up a message that will not be closed (its output is to be
// discarded): with Parallel, it lets the writing goroutine go.
func (p *Padded) Abort() {
	if p.async != nil {
		p.async.Close()
	}
}

// Pending returns how many bytes of binary OpenPGP ClosePadded(pad) will
// still write after EndData.
func (p *Padded) Pending(pad int64) int64 {
	z := frameLen(int64(len(p.z.pw.buf))+pad+4, p.z.pw.hdr) // padding, Adler-32
	s := p.z.seipd.pw
	return frameLen(int64(len(s.buf))+z+mdcTrailer, s.hdr)
}

// ClosePadded writes pad (≥ MinPad) bytes of empty deflate blocks, ends
// the deflate stream and every packet.
func (p *Padded) ClosePadded(pad int64) error {
	if pad < MinPad {
		return errors.New("pgp: padding below MinPad")
	}
	if err := p.EndData(); err != nil {
		return err
	}
	if err := writeEmptyDeflate(p.z.pw, pad); err != nil {
		return err
	}
	return p.z.closeRaw()
}

// Close ends the message with the least padding.
func (p *Padded) Close() error { return p.ClosePadded(MinPad) }

// frameLen is how many bytes partialWriter writes for n more bytes given
// that its tag is (hdr) or is not yet written: 64 KiB chunks with a
// one-byte partial length each, as long as more follows, then the rest
// with a definite length of one, two or five bytes.
func frameLen(n int64, hdr bool) int64 {
	out := n
	if !hdr {
		out++
	}
	var k int64
	if n > 0 {
		k = (n+partialChunk-1)/partialChunk - 1
	}
	out += k
	switch r := n - k*partialChunk; {
	case r < 192:
		out++
	case r < 8384:
		out += 2
	default:
		out += 5
	}
	return out
}

// writeEmptyDeflate writes n ≥ 2 bytes of deflate blocks that decode to
// nothing, the last one final, starting and ending on a byte boundary:
// empty stored blocks (five bytes each), then a tail of two to six bytes
// made of empty fixed-Huffman blocks (ten bits each) and at most one empty
// stored block.
func writeEmptyDeflate(w io.Writer, n int64) error {
	stored := []byte{0x00, 0x00, 0x00, 0xFF, 0xFF}
	a := (n - 2) / 5
	buf := make([]byte, 0, min(a*5, 64<<10/5*5))
	for a > 0 {
		for ; a > 0 && len(buf)+5 <= cap(buf); a-- {
			buf = append(buf, stored...)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		buf = buf[:0]
	}
	_, err := w.Write(emptyTail(int(n - (n-2)/5*5)))
	return err
}

// emptyTail returns r (2 to 6) bytes of empty deflate blocks, the last
// final: r-1 fixed-Huffman blocks for r ≤ 4 (10 bits each, 3 header bits
// and the 7-bit end-of-block code 0), a final stored block for 5, and one
// fixed block then a final stored block for 6.
func emptyTail(r int) []byte {
	var bw bitWriter
	switch r {
	case 2, 3, 4:
		for i := range r - 1 {
			bw.bits(boolBit(i == r-2), 1)
			bw.bits(1, 2) // fixed Huffman
			bw.bits(0, 7) // end of block
		}
	case 5, 6:
		if r == 6 {
			bw.bits(0, 1)
			bw.bits(1, 2)
			bw.bits(0, 7)
		}
		bw.bits(1, 1)
		bw.bits(0, 2) // stored
		bw.align()
		bw.out = binary.LittleEndian.AppendUint16(bw.out, 0)
		bw.out = binary.LittleEndian.AppendUint16(bw.out, 0xFFFF)
	default:
		panic("pgp: emptyTail: bad size")
	}
	bw.align()
	return bw.out
}

func boolBit(b bool) uint {
	if b {
		return 1
	}
	return 0
}

// bitWriter packs deflate header bits, least significant first.
type bitWriter struct {
	out []byte
	n   uint // bits used in the last byte of out (0: none open)
}

func (b *bitWriter) bits(v uint, count int) {
	for i := range count {
		if b.n == 0 {
			b.out = append(b.out, 0)
		}
		b.out[len(b.out)-1] |= byte(v>>i&1) << b.n
		b.n = (b.n + 1) % 8
	}
}

func (b *bitWriter) align() { b.n = 0 }
