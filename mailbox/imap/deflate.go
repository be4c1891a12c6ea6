package imapd

import (
	"bufio"
	"compress/flate"
	"io"
	"sync"

	kflate "github.com/klauspost/compress/flate"
)

// deflaters lends COMPRESS=DEFLATE compressors (RFC 4978) to sessions for
// one response at a time. A compressor of the standard library holds about
// 1.2 MiB whatever its level (its hash tables are arrays inside it): kept
// for a whole session, 600 idle compressed sessions held 850 MiB
// (docs/benchmarks.md (g)). Lent per response, only the sessions writing
// at that instant hold one, and an idle session keeps just its inflater.
//
// Two kinds are lent. Protocol text (FETCH FLAGS lists, ENVELOPEs,
// headers) goes through the standard library at level 1, whose matches
// take it to a fraction. Literal bytes (message bodies: armored
// ciphertext, base64, where LZ77 finds nothing) go through klauspost's
// Huffman-only encoder: it codes the base64 alphabet to the same 0.76 as
// level 1 at about five times the speed, which was most of the server CPU
// of an mbsync sync over COMPRESS (docs/benchmarks.md (d)).
//
// A raw deflate stream may go on with another compressor after a flush:
// Flush is a sync flush (RFC 1951 stored block of length 0, not final),
// which closes any open block and ends on a byte boundary, and a fresh
// (or Reset) compressor's blocks refer to nothing written before them, so
// the next block's header starts on that boundary. Neither compressor is
// ever closed (Close writes a final block, after which a client's inflater
// would stop). The client's inflater sees one stream of blocks. What is
// lost is matches across the switch: there are none between protocol text
// and ciphertext.
type deflaters struct {
	text, body, bufs sync.Pool
}

// compressor is what guardConn needs of a lent compressor.
type compressor interface {
	io.Writer
	Flush() error
}

// getBuf lends the buffer that gathers a response's compressed output
// into one socket write per flush.
func (d *deflaters) getBuf(dst io.Writer) *bufio.Writer {
	if cw, ok := d.bufs.Get().(*bufio.Writer); ok {
		cw.Reset(dst)
		return cw
	}
	return bufio.NewWriterSize(dst, 32<<10)
}

// putBuf takes back a flushed buffer.
func (d *deflaters) putBuf(cw *bufio.Writer) {
	cw.Reset(nil)
	d.bufs.Put(cw)
}

// get lends a compressor writing to cw: Huffman-only for literal bytes
// (body), else the standard library at level 1 (armored mail is base64,
// which its Huffman coding takes to 0.75 where klauspost's fast levels
// store it uncompressed). Resets at both only move offsets.
func (d *deflaters) get(cw *bufio.Writer, body bool) compressor {
	if body {
		if fw, ok := d.body.Get().(*kflate.Writer); ok {
			fw.Reset(cw)
			return fw
		}
		fw, _ := kflate.NewWriter(cw, kflate.HuffmanOnly) // fails only for a bad level
		return fw
	}
	if fw, ok := d.text.Get().(*flate.Writer); ok {
		fw.Reset(cw)
		return fw
	}
	fw, _ := flate.NewWriter(cw, flate.BestSpeed)
	return fw
}

// put takes back a compressor whose output was flushed.
func (d *deflaters) put(fw compressor) {
	switch fw := fw.(type) {
	case *kflate.Writer:
		d.body.Put(fw)
	case *flate.Writer:
		d.text.Put(fw)
	}
}
