package imapd

// Huffman codes of DEFLATE (RFC 1951 §3.2.2), decoded through a table of
// the first huffFastBits bits and, for longer codes, canonically (after
// Mark Adler's puff).

const huffFastBits = 9

type huffman struct {
	count  [16]uint16                // codes of each length
	symbol [288]uint16               // symbols by code
	fast   [1 << huffFastBits]uint16 // symbol<<4 | length; 0: a longer code
	fixed  bool                      // holds the fixed literal/length code
}

// init builds the code for the lengths of symbols 0, 1, ... It refuses an
// over-subscribed code; an incomplete one fails when an unused code is met.
func (h *huffman) init(lengths []uint8) bool {
	h.fixed = false
	h.count = [16]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return false
		}
	}
	var offs, next [16]int
	code := 0
	for l := 1; l < 16; l++ {
		offs[l] = offs[l-1] + int(h.count[l-1])
		code = (code + int(h.count[l-1])) << 1
		next[l] = code
	}
	h.fast = [1 << huffFastBits]uint16{}
	for sym, l := range lengths {
		if l == 0 {
			continue
		}
		h.symbol[offs[l]] = uint16(sym)
		offs[l]++
		c := next[l]
		next[l]++
		if l > huffFastBits {
			continue
		}
		rev := 0
		for i := uint8(0); i < l; i++ {
			rev = rev<<1 | c>>i&1
		}
		for j := rev; j < len(h.fast); j += 1 << l {
			h.fast[j] = uint16(sym)<<4 | uint16(l)
		}
	}
	return true
}

type decodeStatus uint8

const (
	decoded decodeStatus = iota
	needBits
	badCode
)

// decode reads one symbol from the low bits (nbits of them are input;
// the rest are zero).
func (h *huffman) decode(bits uint64, nbits uint) (sym int, n uint, st decodeStatus) {
	if e := h.fast[bits&(1<<huffFastBits-1)]; e != 0 {
		if n = uint(e & 15); n <= nbits {
			return int(e >> 4), n, decoded
		}
		return 0, 0, needBits
	}
	code, first, index := 0, 0, 0
	for l := uint(1); l < 16; l++ {
		if l > nbits {
			return 0, 0, needBits
		}
		code |= int(bits >> (l - 1) & 1)
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+code-first]), l, decoded
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, 0, badCode
}

func (h *huffman) fixedLit() {
	if h.fixed {
		return
	}
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	h.init(l[:])
	h.fixed = true
}

func (h *huffman) fixedDist() {
	if h.fixed {
		return
	}
	var l [30]uint8
	for i := range l {
		l[i] = 5
	}
	h.init(l[:])
	h.fixed = true
}

// Base values and extra bits of length symbols 257..285 and distance
// symbols 0..29 (RFC 1951 §3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// codeLengthOrder is the order of the code length code's lengths.
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// bitCursor reads a dynamic block's header from the bit buffer and the
// bytes the reader holds, without consuming them.
type bitCursor struct {
	bits  uint64
	nbits uint
	src   []byte
	used  int
}

func (c *bitCursor) fill() {
	for c.nbits <= 56 && c.used < len(c.src) {
		c.bits |= uint64(c.src[c.used]) << c.nbits
		c.used++
		c.nbits += 8
	}
}

func (c *bitCursor) take(n uint) (uint64, bool) {
	if c.nbits < n {
		c.fill()
		if c.nbits < n {
			return 0, false
		}
	}
	v := c.bits & (1<<n - 1)
	c.bits >>= n
	c.nbits -= n
	return v, true
}

func (c *bitCursor) symbol(h *huffman) (int, decodeStatus) {
	if c.nbits < 15 {
		c.fill()
	}
	sym, n, st := h.decode(c.bits, c.nbits)
	if st == decoded {
		c.bits >>= n
		c.nbits -= n
	}
	return sym, st
}
