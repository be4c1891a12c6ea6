package imapd

import (
	"bufio"
	"errors"
	"io"
)

// inflater decodes the raw DEFLATE stream (RFC 1951) a COMPRESS client
// sends. It never holds decoded bytes back while it waits for input: once
// the bytes already received are decoded as far as they go, Read returns
// what it has, and blocks on the network only with nothing to return.
//
// Neither inflater at hand does that. A client that ends each write with
// zlib's Z_PARTIAL_FLUSH (mbsync) leaves the block it just ended followed
// by as little as 3 bits of the next one. The standard library returns
// data only at a sync flush's empty stored block, so it holds everything;
// klauspost's WithPartialBlock returns data at each block's end, but for a
// dynamic block that is not the last one it reads 10 bits past every
// symbol before decoding it, so it cannot reach the end of a block the
// client has finished sending: mbsync's deep pipeline (300 commands in one
// dynamic block) stalled until its timeout. This decoder reads only the
// bits a symbol needs.
type inflater struct {
	r   *bufio.Reader
	err error // sticky: io.EOF after the final block, or what went wrong

	bits  uint64 // input bits not yet used, the next one lowest
	nbits uint

	// Output: a ring of the last 32 KiB (the longest distance a match may
	// reach back); hist[rd:wr] is decoded and not yet returned.
	hist    [1 << 15]byte
	rd, wr  int
	written int // bytes decoded, counted up to len(hist)

	state    inflateState
	final    bool // the current block is the last one
	stored   int  // bytes left in a stored block
	copyLen  int  // bytes left of a match cut by the end of hist
	copyDist int
	lit, dst huffman
}

type inflateState uint8

const (
	stateHeader inflateState = iota // before a block's header
	stateStored                     // inside a stored block
	stateCodes                      // inside a block of Huffman codes
)

var errCorrupt = errors.New("compressed stream: corrupt deflate data")

func newInflater(r *bufio.Reader) *inflater { return &inflater{r: r} }

func (f *inflater) Read(p []byte) (int, error) {
	for {
		if f.rd < f.wr {
			n := copy(p, f.hist[f.rd:f.wr])
			f.rd += n
			return n, nil
		}
		if f.err != nil {
			return 0, f.err
		}
		if f.wr == len(f.hist) {
			f.rd, f.wr = 0, 0
		}
		f.decode()
	}
}

// decode decodes until hist's end, the stream's end, an error, or input
// it has to wait for while it holds decoded bytes.
func (f *inflater) decode() {
	for f.err == nil && f.wr < len(f.hist) {
		var ok bool
		switch {
		case f.copyLen > 0:
			f.match(f.copyLen, f.copyDist)
			continue
		case f.state == stateHeader:
			if f.final {
				f.err = io.EOF
				return
			}
			ok = f.header()
		case f.state == stateStored:
			ok = f.storedData()
		default:
			ok = f.codes()
		}
		if !ok && f.err == nil && !f.more() {
			return
		}
	}
}

// more brings input bits in: those the reader holds already, or, with no
// decoded byte to return meanwhile, more from the network. It reports
// false when the caller should return what it has.
func (f *inflater) more() bool {
	if f.nbits <= 56 && f.r.Buffered() > 0 {
		f.refill()
		return true
	}
	if f.rd < f.wr {
		return false
	}
	before := f.r.Buffered()
	_, err := f.r.Peek(before + 1)
	if f.r.Buffered() > before {
		return true
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	f.err = err
	return false
}

// refill moves whole bytes the reader holds into the bit buffer, never
// waiting for more.
func (f *inflater) refill() {
	n := min(int(64-f.nbits)/8, f.r.Buffered())
	if n == 0 {
		return
	}
	b, _ := f.r.Peek(n)
	for _, c := range b {
		f.bits |= uint64(c) << f.nbits
		f.nbits += 8
	}
	f.r.Discard(n)
}

func (f *inflater) take(n uint) uint64 {
	v := f.bits & (1<<n - 1)
	f.bits >>= n
	f.nbits -= n
	return v
}

// header reads a block's header, and a dynamic block's code lengths, in
// one step: it consumes nothing unless all of it is there.
func (f *inflater) header() bool {
	if f.nbits < 3 {
		return false
	}
	final, typ := f.bits&1 == 1, f.bits>>1&3
	switch typ {
	case 0:
		// Stored: skip to a byte boundary, then LEN and NLEN.
		skip := (f.nbits - 3) % 8
		if f.nbits < 3+skip+32 {
			return false
		}
		f.take(3 + skip)
		n, nn := f.take(16), f.take(16)
		if n != ^nn&0xffff {
			f.err = errCorrupt
			return false
		}
		f.stored, f.state = int(n), stateStored
	case 1:
		f.take(3)
		f.lit.fixedLit()
		f.dst.fixedDist()
		f.state = stateCodes
	case 2:
		// The code lengths take more bits than the buffer holds: they
		// are read ahead from the reader and committed only when whole.
		ok, err := f.dynamic()
		if err != nil {
			f.err = err
			return false
		}
		if !ok {
			return false
		}
		f.state = stateCodes
	default:
		f.err = errCorrupt
		return false
	}
	f.final = final
	return true
}

// dynamic reads a dynamic block's code lengths (RFC 1951 §3.2.7) and
// builds its codes, once the whole header has arrived: it reports false,
// having consumed nothing, while part of it is missing.
func (f *inflater) dynamic() (bool, error) {
	src, _ := f.r.Peek(f.r.Buffered())
	c := bitCursor{bits: f.bits, nbits: f.nbits, src: src}
	c.take(3) // the block header, read by the caller
	h, ok := c.take(14)
	if !ok {
		return false, nil
	}
	nlit, ndist, nclen := int(h&31)+257, int(h>>5&31)+1, int(h>>10)+4
	if nlit > 286 || ndist > 30 {
		return false, errCorrupt
	}
	var clen [19]uint8
	for i := range nclen {
		v, ok := c.take(3)
		if !ok {
			return false, nil
		}
		clen[codeLengthOrder[i]] = uint8(v)
	}
	var ch huffman
	if !ch.init(clen[:]) {
		return false, errCorrupt
	}
	var lengths [286 + 30]uint8
	for i := 0; i < nlit+ndist; {
		sym, st := c.symbol(&ch)
		switch st {
		case needBits:
			return false, nil
		case badCode:
			return false, errCorrupt
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		var v uint64
		switch sym {
		case 16:
			if i == 0 {
				return false, errCorrupt
			}
			val = lengths[i-1]
			v, ok = c.take(2)
			rep = 3 + int(v)
		case 17:
			v, ok = c.take(3)
			rep = 3 + int(v)
		default:
			v, ok = c.take(7)
			rep = 11 + int(v)
		}
		if !ok {
			return false, nil
		}
		if i+rep > nlit+ndist {
			return false, errCorrupt
		}
		for range rep {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 || !f.lit.init(lengths[:nlit]) || !f.dst.init(lengths[nlit:nlit+ndist]) {
		return false, errCorrupt
	}
	// Commit: drop the bytes read, keep the bits left over.
	f.r.Discard(c.used)
	f.bits, f.nbits = c.bits, c.nbits
	return true, nil
}

// storedData copies a stored block's bytes.
func (f *inflater) storedData() bool {
	if f.stored == 0 {
		f.state = stateHeader
		return true
	}
	// Whole bytes left in the bit buffer come first.
	for f.stored > 0 && f.nbits >= 8 && f.wr < len(f.hist) {
		f.put(byte(f.take(8)))
		f.stored--
	}
	if f.stored == 0 {
		return true
	}
	if f.wr == len(f.hist) {
		return true
	}
	n := min(f.stored, len(f.hist)-f.wr, f.r.Buffered())
	if n == 0 {
		return false
	}
	n, _ = io.ReadFull(f.r, f.hist[f.wr:f.wr+n])
	f.wr += n
	f.written = min(f.written+n, len(f.hist))
	f.stored -= n
	return true
}

// codes decodes symbols until the block ends, hist fills or the bits run
// out; it reports whether it made progress.
func (f *inflater) codes() bool {
	// The bytes the reader holds are read in place, and consumed at the
	// end: a byte at a time through bufio costs more than the decoding.
	in, _ := f.r.Peek(f.r.Buffered())
	pos := 0
	defer func() { f.r.Discard(pos) }()
	progress := false
	for f.state == stateCodes && f.copyLen == 0 && f.wr < len(f.hist) {
		for f.nbits <= 56 && pos < len(in) {
			f.bits |= uint64(in[pos]) << f.nbits
			f.nbits += 8
			pos++
		}
		// Literals with short codes, the bulk of armored text, inline.
		if e := f.lit.fast[f.bits&(1<<huffFastBits-1)]; e != 0 && e>>4 < 256 && uint(e&15) <= f.nbits {
			f.bits >>= e & 15
			f.nbits -= uint(e & 15)
			f.put(byte(e >> 4))
			progress = true
			continue
		}
		if !f.symbol() {
			return progress
		}
		progress = true
	}
	return true
}

// symbol decodes one literal, end of block, or match.
func (f *inflater) symbol() bool {
	bits, nbits := f.bits, f.nbits
	sym, n, st := f.lit.decode(bits, nbits)
	if st != decoded {
		return f.bad(st)
	}
	bits, nbits = bits>>n, nbits-n
	switch {
	case sym < 256:
		f.bits, f.nbits = bits, nbits
		f.put(byte(sym))
		return true
	case sym == 256:
		f.bits, f.nbits = bits, nbits
		f.state = stateHeader
		return true
	case sym > 285:
		f.err = errCorrupt
		return false
	}
	length := int(lengthBase[sym-257])
	if e := uint(lengthExtra[sym-257]); e > 0 {
		if nbits < e {
			return false
		}
		length += int(bits & (1<<e - 1))
		bits, nbits = bits>>e, nbits-e
	}
	dsym, n, st := f.dst.decode(bits, nbits)
	if st != decoded {
		return f.bad(st)
	}
	bits, nbits = bits>>n, nbits-n
	if dsym > 29 {
		f.err = errCorrupt
		return false
	}
	dist := int(distBase[dsym])
	if e := uint(distExtra[dsym]); e > 0 {
		if nbits < e {
			return false
		}
		dist += int(bits & (1<<e - 1))
		bits, nbits = bits>>e, nbits-e
	}
	if dist > f.written {
		f.err = errCorrupt
		return false
	}
	f.bits, f.nbits = bits, nbits
	f.match(length, dist)
	return true
}

// bad reports a symbol that could not be decoded: for want of bits, or
// corrupt.
func (f *inflater) bad(st decodeStatus) bool {
	if st == badCode {
		f.err = errCorrupt
	}
	return false
}

// match copies length bytes from dist back, up to hist's end; the rest
// waits in copyLen.
func (f *inflater) match(length, dist int) {
	n := min(length, len(f.hist)-f.wr)
	mask := len(f.hist) - 1
	for i := 0; i < n; i++ {
		f.hist[f.wr] = f.hist[(f.wr-dist)&mask]
		f.wr++
	}
	f.written = min(f.written+n, len(f.hist))
	f.copyLen, f.copyDist = length-n, dist
}

func (f *inflater) put(c byte) {
	f.hist[f.wr] = c
	f.wr++
	if f.written < len(f.hist) {
		f.written++
	}
}
