package imapd

import (
	"bufio"
	"compress/flate"
	"io"
	"sync"
	"sync/atomic"
	"time"

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
// Literal bytes leaving fast are sent in stored blocks instead (see
// litRate): compressing armor saves a quarter of the bytes, which pays
// on a slow link (Tor, whose circuits carry a few MB/s) and costs wall
// time on a fast one, where the client's CPU is what limits: mbsync
// inflating Huffman-coded bodies on loopback spent 50% more CPU than on a
// plain stream, and its sync of 10,000 messages took 1.2-1.4x Dovecot's
// without COMPRESS (docs/benchmarks.md (d), session 6).
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
	text, body, stored, bufs sync.Pool
	policy                   litPolicy    // set before the first connection
	storedLent               atomic.Int64 // compressors lent for stored blocks
}

// coding is the kind of compressor a piece of a response goes through.
type coding uint8

const (
	codeText   coding = iota // protocol text: the standard library, level 1
	codeBody                 // literal bytes: Huffman-only
	codeStored               // literal bytes on a fast link: stored blocks
)

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

// get lends a compressor writing to cw: Huffman-only or stored blocks for
// literal bytes, else the standard library at level 1 (armored mail is
// base64, which its Huffman coding takes to 0.75 where klauspost's fast
// levels store it uncompressed). Resets only move offsets.
func (d *deflaters) get(cw *bufio.Writer, c coding) compressor {
	switch c {
	case codeBody, codeStored:
		pool, level := &d.body, kflate.HuffmanOnly
		if c == codeStored {
			pool, level = &d.stored, kflate.NoCompression
			d.storedLent.Add(1)
		}
		if fw, ok := pool.Get().(*kflate.Writer); ok {
			fw.Reset(cw)
			return fw
		}
		fw, _ := kflate.NewWriter(cw, level) // fails only for a bad level
		return fw
	}
	if fw, ok := d.text.Get().(*flate.Writer); ok {
		fw.Reset(cw)
		return fw
	}
	fw, _ := flate.NewWriter(cw, flate.BestSpeed)
	return fw
}

// put takes back a compressor of coding c whose output was flushed.
func (d *deflaters) put(fw compressor, c coding) {
	switch c {
	case codeBody:
		d.body.Put(fw)
	case codeStored:
		d.stored.Put(fw)
	default:
		d.text.Put(fw)
	}
}

// litRate measures how fast a connection's literal bytes leave, to send
// them stored once they leave faster than storeAbove: a window of
// rateWindow bytes written with no pause longer than rateGap between
// writes (a pause is the client's own time, not the link's). Until such a
// window is complete, after any pause, and whenever a window is slower,
// literals are compressed: a slow link, or a client that fetches one
// message at a time, keeps the smaller coding.
type litRate struct {
	policy      litPolicy // with its defaults filled in
	start, last time.Time
	n           int64
	stored      bool
}

// litPolicy holds litRate's thresholds; zero fields are the defaults
// (orDefaults).
type litPolicy struct {
	window int64   // bytes; default rateWindow
	above  float64 // bytes a second; default storeAbove
}

func (p litPolicy) orDefaults() litPolicy {
	if p.window == 0 {
		p.window = rateWindow
	}
	if p.above == 0 {
		p.above = storeAbove
	}
	return p
}

const (
	rateWindow = 8 << 20
	rateGap    = 200 * time.Millisecond
	// storeAbove: 32 MB/s (bytes a second), a quarter of a gigabit link;
	// Tor's circuits and most journalists' lines are far below it.
	storeAbove = 32_000_000
)

// observe counts n literal bytes about to be written at now, and returns
// how they are coded.
func (r *litRate) observe(now time.Time, n int) coding {
	if now.Sub(r.last) > rateGap { // the client paused: start over
		r.start, r.n, r.stored = now, 0, false
	}
	r.last = now
	r.n += int64(n)
	if r.n >= r.policy.window {
		took := now.Sub(r.start).Seconds()
		r.stored = took < float64(r.n)/r.policy.above
		r.start, r.n = now, 0
	}
	if r.stored {
		return codeStored
	}
	return codeBody
}
