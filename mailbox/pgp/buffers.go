package pgp

import (
	"sync"

	"github.com/klauspost/compress/flate"
)

// Buffers keeps the large allocations of one encrypted message (the 64
// KiB chunk buffer of each packet of unknown length, the deflate
// compressor and its tables) for the next message. A caller that
// encrypts many messages one after another (the IMAP server sealing
// APPENDs: 0.4 ms of a message's CPU was making and clearing these) holds
// one and passes it in EncryptOptions. Safe for concurrent use; the zero
// value is ready; a nil *Buffers allocates afresh every time.
//
// Memory only, never disk: a chunk buffer is cleared when it comes back
// (the compressed packet's holds compressed plaintext on its way to the
// cipher). A compressor is Reset before it is used again, but its window
// keeps the end of the last message's plaintext in memory until the next
// message overwrites it or the pool drops it, as freed heap memory would
// until it is reused.
type Buffers struct {
	chunks sync.Pool    // *[]byte, cap partialChunk
	flates [3]sync.Pool // *flate.Writer: level 1, Huffman-only, stored
}

func (b *Buffers) chunk() []byte {
	if b != nil {
		if p, ok := b.chunks.Get().(*[]byte); ok {
			return (*p)[:0]
		}
	}
	return make([]byte, 0, partialChunk)
}

func (b *Buffers) putChunk(buf []byte) {
	if b == nil || cap(buf) != partialChunk {
		return
	}
	clear(buf[:cap(buf)]) // compressed plaintext sat here before the cipher
	buf = buf[:0]
	b.chunks.Put(&buf)
}

// flateKind indexes Buffers.flates.
func flateKind(level int) int {
	switch level {
	case flate.HuffmanOnly:
		return 1
	case flate.NoCompression:
		return 2
	default:
		return 0
	}
}

// compressor returns a deflate writer of level (segmentLevel,
// segmentLevelRandom or flate.NoCompression) writing to w.
func (b *Buffers) compressor(w *partialWriter, level int) (*flate.Writer, error) {
	if b != nil {
		if fw, ok := b.flates[flateKind(level)].Get().(*flate.Writer); ok {
			fw.Reset(w)
			return fw, nil
		}
	}
	return flate.NewWriter(w, level)
}

// putCompressor takes back a writer whose stream was flushed or closed.
func (b *Buffers) putCompressor(fw *flate.Writer, level int) {
	if b == nil || fw == nil {
		return
	}
	fw.Reset(nil)
	b.flates[flateKind(level)].Put(fw)
}
