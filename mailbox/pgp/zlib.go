package pgp

import (
	"encoding/binary"
	"errors"
	"hash"
	"hash/adler32"
	"io"

	"github.com/klauspost/compress/flate"
)

// zlibPacket writes an OpenPGP compressed data packet (tag 8, ZLIB) with
// indefinite (partial) body lengths, whose deflate stream it builds from
// segments: each segment has its own compressor, and SetIncompressible
// ends one segment (a sync flush, byte-aligned, not final) and starts the
// next. A deflate decoder reads the concatenation as one stream, since
// each segment only refers back into its own data.
//
// Why not go-crypto's compression: the standard library's deflate codes
// base64 of incompressible files (photos, video, archives) at about 150
// MB/s, most of the relay's ingest CPU. klauspost/compress's Huffman-only
// mode codes it 2x faster to the same size, and its level 1 is faster on
// text; neither can be plugged into go-crypto.
type zlibPacket struct {
	pw     *partialWriter
	fw     *flate.Writer
	sum    hash.Hash32
	huff   bool // the current segment is Huffman-only
	closed bool
	// stored: every segment is stored blocks (no compression: the packet
	// is there only to carry padding, see Padded).
	stored bool
	level  int          // fw's
	bufs   *Buffers     // where fw and the chunk buffers come from
	seipd  *seipdWriter // the packet below, for Padded.Pending
}

// compression levels: level 1 finds repeats in text; Huffman-only codes
// base64 of random bytes (6 bits a character) without looking for any.
const (
	segmentLevel        = 1
	segmentLevelRandom  = flate.HuffmanOnly
	zlibHeader0, zlibH1 = 0x78, 0x01 // deflate, 32 KiB window, fastest
	packetTagCompressed = 8
	algoZLIB            = 2
)

// newZlibPacket starts the packet; with stored every segment is stored
// blocks, else the first segment is Huffman-only when huff (the data
// starts incompressible).
func newZlibPacket(w io.WriteCloser, stored, huff bool, bufs *Buffers) (*zlibPacket, error) {
	pw := newPartialWriter(w, packetTagCompressed, bufs)
	if _, err := pw.Write([]byte{algoZLIB, zlibHeader0, zlibH1}); err != nil {
		return nil, err
	}
	level := segmentLevel
	switch {
	case stored:
		level, huff = flate.NoCompression, false
	case huff:
		level = segmentLevelRandom
	}
	fw, err := bufs.compressor(pw, level)
	if err != nil {
		return nil, err
	}
	return &zlibPacket{pw: pw, fw: fw, sum: adler32.New(), stored: stored, huff: huff, level: level, bufs: bufs}, nil
}

func (z *zlibPacket) Write(p []byte) (int, error) {
	if z.closed {
		return 0, errors.New("pgp: write after close")
	}
	z.sum.Write(p)
	return z.fw.Write(p)
}

// SetIncompressible starts a new segment coded for data that holds no
// repeats (true) or for ordinary data (false). It changes only speed and
// size, never what a reader decodes.
func (z *zlibPacket) SetIncompressible(on bool) error {
	if on == z.huff || z.closed || z.stored {
		return nil
	}
	if err := z.fw.Flush(); err != nil {
		return err
	}
	level := segmentLevel
	if on {
		level = segmentLevelRandom
	}
	fw, err := z.bufs.compressor(z.pw, level)
	if err != nil {
		return err
	}
	z.bufs.putCompressor(z.fw, z.level) // its segment is flushed
	z.fw, z.huff, z.level = fw, on, level
	return nil
}

// Close ends the deflate stream (a final block), writes the Adler-32 of
// the plaintext, ends the packet and closes the writer below.
func (z *zlibPacket) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	if err := z.fw.Close(); err != nil {
		return err
	}
	return z.closeRaw()
}

// closeRaw writes the Adler-32 of the plaintext after a deflate stream
// already ended, ends the packet and closes the writer below.
func (z *zlibPacket) closeRaw() error {
	z.closed = true
	z.bufs.putCompressor(z.fw, z.level) // its stream has ended
	z.fw = nil
	if _, err := z.pw.Write(binary.BigEndian.AppendUint32(nil, z.sum.Sum32())); err != nil {
		return err
	}
	return z.pw.Close()
}

// partialWriter writes one new-format OpenPGP packet of unknown length:
// chunks of 64 KiB with partial body lengths, then the rest with a
// definite length (RFC 4880 4.2.2.4). Close closes the writer below.
type partialWriter struct {
	w    io.WriteCloser
	buf  []byte
	hdr  bool // the packet tag is written
	tag  byte
	bufs *Buffers // where buf came from and goes back on Close; nil: made here
}

const partialChunk = 1 << 16

func newPartialWriter(w io.WriteCloser, tag byte, bufs *Buffers) *partialWriter {
	return &partialWriter{w: w, buf: bufs.chunk(), tag: tag, bufs: bufs}
}

func (p *partialWriter) Write(b []byte) (int, error) { return p.write(b, nil) }

// write copies b into the chunk buffer, through xor (dst, src) when it is
// not nil: the encryption writes its ciphertext there without a copy.
func (p *partialWriter) write(b []byte, xor func(dst, src []byte)) (int, error) {
	n := 0
	for len(b) > 0 {
		free := p.buf[len(p.buf):cap(p.buf)]
		k := min(len(free), len(b))
		if xor != nil {
			xor(free[:k], b[:k])
		} else {
			copy(free, b[:k])
		}
		p.buf = p.buf[:len(p.buf)+k]
		b = b[k:]
		n += k
		if len(p.buf) == cap(p.buf) && len(b) > 0 {
			// A full chunk goes out only once more follows: the last
			// chunk must carry a definite length.
			if err := p.emit(true); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// emit writes the buffered chunk, as a partial length or as the final one.
func (p *partialWriter) emit(partial bool) error {
	var h []byte
	if !p.hdr {
		h = append(h, 0xC0|p.tag)
		p.hdr = true
	}
	n := len(p.buf)
	switch {
	case partial:
		h = append(h, 224+16) // 2^16
	case n < 192:
		h = append(h, byte(n))
	case n < 8384:
		h = append(h, byte((n-192)>>8)+192, byte(n-192))
	default:
		h = append(h, 0xFF)
		h = binary.BigEndian.AppendUint32(h, uint32(n))
	}
	if _, err := p.w.Write(h); err != nil {
		return err
	}
	if _, err := p.w.Write(p.buf); err != nil {
		return err
	}
	p.buf = p.buf[:0]
	return nil
}

func (p *partialWriter) Close() error {
	if err := p.emit(false); err != nil {
		return err
	}
	p.bufs.putChunk(p.buf)
	p.buf = nil
	return p.w.Close()
}
