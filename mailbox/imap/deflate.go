package imapd

import (
	"bufio"
	"compress/flate"
	"io"
	"sync"
)

// deflaters lends COMPRESS=DEFLATE compressors (RFC 4978) to sessions for
// one response at a time. A compressor of the standard library holds about
// 1.2 MiB whatever its level (its hash tables are arrays inside it): kept
// for a whole session, 600 idle compressed sessions held 850 MiB
// (docs/benchmarks.md (g)). Lent per response, only the sessions writing
// at that instant hold one, and an idle session keeps just its inflater.
//
// A raw deflate stream may go on with another compressor after a flush:
// a sync flush ends on a byte boundary with no final block, and a fresh
// (or Reset) compressor's blocks refer to nothing written before them. The
// client's inflater sees one stream. What is lost is matches across
// responses: for armored mail bodies there are none to lose.
type deflaters struct{ pool sync.Pool }

// deflater is a compressor and the buffer that gathers its output into
// one socket write per flush.
type deflater struct {
	fw *flate.Writer
	cw *bufio.Writer
}

// get lends a compressor writing to dst. The standard library at level
// 1: armored mail is base64, which its Huffman coding takes to 0.75
// (klauspost's fast levels store it uncompressed), and higher levels cost
// CPU for no more. Its Reset at that level only moves an offset.
func (d *deflaters) get(dst io.Writer) (*flate.Writer, *bufio.Writer) {
	if z, ok := d.pool.Get().(*deflater); ok {
		z.cw.Reset(dst)
		z.fw.Reset(z.cw)
		return z.fw, z.cw
	}
	cw := bufio.NewWriterSize(dst, 32<<10)
	fw, _ := flate.NewWriter(cw, flate.BestSpeed) // fails only for a bad level
	return fw, cw
}

// put takes back a compressor whose output was flushed.
func (d *deflaters) put(fw *flate.Writer, cw *bufio.Writer) {
	cw.Reset(nil)
	d.pool.Put(&deflater{fw, cw})
}
