package pgpmime

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message"

	"postern/mailbox/pgp"
)

// Envelope streams the outer multipart/encrypted of a PGP/MIME message:
// what is written to it is encrypted, and Close pads the whole message so
// that its length in bytes is a Padmé length (pgp.Padme). A stored message
// then tells whoever reads the server or the mailbox only its size
// bucket, not its size.
//
// The padding is inside the encryption, as empty deflate blocks that every
// reader decompresses to nothing (pgp.Padded): the decrypted message is
// exactly the unpadded one. Armor codes three bytes as four characters
// in 64-character lines, so the encrypted part alone cannot reach every
// length: the last few bytes (0, or 2 to about 16) are a line of spaces in
// the outer epilogue, which MIME readers ignore. Their number follows from
// the target length and the outer header length, both visible anyway.
type Envelope struct {
	cnt        countWriter   // every byte written to buf
	buf        *bufio.Writer // armor writes 64-byte lines: batch them for w
	outer      *message.Writer
	encPart    *message.Writer
	armor      *armorWriter
	enc        *pgp.Padded
	armorStart int64 // cnt when the armor began
	boundary   string
	unpadded   int64 // the length without padding, known at Close
	err        error
}

// NewEnvelope writes the outer header oh (its Content-Type is replaced)
// and the PGP/MIME version part to w, and starts the encrypted part,
// encrypted to every recipient. Output is buffered and complete only after
// Close; after any error what reached w is garbage to discard.
func NewEnvelope(w io.Writer, oh message.Header, to []*openpgp.Entity, opts pgp.EncryptOptions) (*Envelope, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("pgpmime: boundary: %w", err)
	}
	e := &Envelope{buf: bufio.NewWriterSize(w, 64<<10), boundary: hex.EncodeToString(b)}
	oh.SetContentType("multipart/encrypted", map[string]string{
		"protocol": "application/pgp-encrypted", "boundary": e.boundary})
	var err error
	if e.outer, err = message.CreateWriter(envelopeWriter{e}, oh); err != nil {
		return nil, fmt.Errorf("pgpmime: outer: %w", err)
	}
	var vh message.Header
	vh.SetContentType("application/pgp-encrypted", nil)
	vh.Set("Content-Description", "PGP/MIME version identification")
	version, err := e.outer.CreatePart(vh)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: version part: %w", err)
	}
	if _, err := io.WriteString(version, "Version: 1\r\n"); err != nil {
		return nil, fmt.Errorf("pgpmime: version part: %w", err)
	}
	if err := version.Close(); err != nil {
		return nil, fmt.Errorf("pgpmime: version part: %w", err)
	}
	var eh message.Header
	eh.SetContentType("application/octet-stream", map[string]string{"name": "encrypted.asc"})
	eh.Set("Content-Description", "OpenPGP encrypted message")
	eh.SetContentDisposition("inline", map[string]string{"filename": "encrypted.asc"})
	if e.encPart, err = e.outer.CreatePart(eh); err != nil {
		return nil, fmt.Errorf("pgpmime: encrypted part: %w", err)
	}
	e.armorStart = int64(e.cnt)
	// No armor headers: a Version or Comment would fingerprint the relay.
	if e.armor = newArmorWriter(e.encPart); e.armor.err != nil {
		return nil, fmt.Errorf("pgpmime: armor: %w", e.armor.err)
	}
	if e.enc, err = pgp.EncryptPadded(e.armor, to, opts); err != nil {
		return nil, fmt.Errorf("pgpmime: %w", err)
	}
	return e, nil
}

// write is the bottom of the stack: it counts what reaches buf.
func (e *Envelope) write(b []byte) (int, error) {
	n, err := e.buf.Write(b)
	e.cnt += countWriter(n)
	return n, err
}

// Write writes plaintext into the encryption.
func (e *Envelope) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.enc.Write(b)
	if err != nil {
		e.err = fmt.Errorf("pgpmime: %w", err)
		return n, e.err
	}
	return n, nil
}

// plaintext is the writer of the encrypted content (with the compression
// hint of pgp.Incompressible).
func (e *Envelope) plaintext() io.Writer { return e.enc }

// SetIncompressible tells the compressor whether what follows holds no
// repeats (pgp.Incompressible): a large message's attachments are coded
// Huffman-only, which is faster and smaller on base64.
func (e *Envelope) SetIncompressible(on bool) error { return e.enc.SetIncompressible(on) }

// Abort gives up a message that will not be closed; what reached w is to
// be discarded. It releases what the encryption holds (pgp.Padded.Abort).
func (e *Envelope) Abort() {
	if e.err != ErrClosed {
		e.enc.Abort()
	}
	e.err = ErrClosed
}

// Close ends the encryption with the padding that makes the whole
// message a Padmé length, then the armor and the outer multipart.
func (e *Envelope) Close() error {
	if e.err != nil {
		return e.err
	}
	e.err = ErrClosed
	if err := e.enc.EndData(); err != nil {
		e.enc.Abort()
		return fmt.Errorf("pgpmime: close encryption: %w", err)
	}
	pad, spaces, total := e.plan()
	steps := []struct {
		what string
		f    func() error
	}{
		{"encryption", func() error { return e.enc.ClosePadded(pad) }},
		{"armor", e.armor.Close}, {"encrypted part", e.encPart.Close}, {"outer", e.outer.Close},
		{"epilogue", func() error { return e.epilogue(spaces) }},
		{"flush", e.buf.Flush},
	}
	for _, s := range steps {
		if err := s.f(); err != nil {
			e.enc.Abort()
			return fmt.Errorf("pgpmime: close %s: %w", s.what, err)
		}
	}
	if int64(e.cnt) != total {
		return fmt.Errorf("pgpmime: padding: %d bytes, not the planned %d", e.cnt, total)
	}
	return nil
}

// Unpadded returns, after Close, the length the message would have had
// with the least padding (for measuring the padding's cost).
func (e *Envelope) Unpadded() int64 { return e.unpadded }

// plan picks the deflate padding and the epilogue length (0, or at least
// 2: a line of spaces) that make the message exactly the smallest
// reachable Padmé length.
func (e *Envelope) plan() (pad, epilogue, total int64) {
	bin := e.armor.total
	// After the armor: the outer multipart's closing delimiter.
	base := e.armorStart + int64(len(e.boundary)+len("\r\n----\r\n"))
	size := func(pad int64) int64 { return base + armorLen(bin+e.enc.Pending(pad)) }
	e.unpadded = size(pgp.MinPad)
	for t := pgp.Padme(size(pgp.MinPad)); ; t = pgp.Padme(t + 1) {
		for _, slack := range []int64{0, 2} {
			if pad, ok := largestPad(size, t-slack); ok {
				if k := t - size(pad); k != 1 {
					return pad, k, t
				}
			}
		}
	}
}

// largestPad finds the largest padding whose size is at most limit;
// size grows with the padding, never slower than it.
func largestPad(size func(int64) int64, limit int64) (int64, bool) {
	lo, hi := int64(pgp.MinPad), limit // size(hi) > limit whenever limit ≥ MinPad
	if size(lo) > limit {
		return 0, false
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if size(mid) <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, true
}

// armorLen is the length of armorWriter's output for n bytes.
func armorLen(n int64) int64 {
	const head = len("-----BEGIN PGP MESSAGE-----\r\n\r\n")
	const foot = len("=XXXX\r\n-----END PGP MESSAGE-----\r\n")
	l := int64(head+foot) + n/armorLineBytes*66
	if r := n % armorLineBytes; r > 0 {
		l += (r+2)/3*4 + 2
	}
	return l
}

func (e *Envelope) epilogue(n int64) error { return writeFiller(envelopeWriter{e}, n) }

// writeFiller writes n bytes (0, or at least 2) of lines of spaces, each
// ended by CRLF and at most 80 bytes long: what a MIME reader skips after
// the end of a message.
func writeFiller(w io.Writer, n int64) error {
	if n == 1 {
		return errors.New("pgpmime: filler of one byte")
	}
	line := []byte(strings.Repeat(" ", 76) + "\r\n")
	for ; n > 80; n -= int64(len(line)) {
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	_, err := w.Write(append(line[:n-2:n-2], "\r\n"...))
	return err
}

// PadWriter pads, from outside, a message encrypted elsewhere (a
// journalist's Sent copy, a reply the journalist's client encrypted):
// the relay cannot add to its ciphertext, so Pad appends lines of spaces
// after its end until the total is a Padmé length. The lines say nothing:
// their number follows from the message's length.
type PadWriter struct {
	W io.Writer
	N int64 // bytes written so far
}

func (p *PadWriter) Write(b []byte) (int, error) {
	n, err := p.W.Write(b)
	p.N += int64(n)
	return n, err
}

// Pad writes the filler.
func (p *PadWriter) Pad() error {
	t := pgp.Padme(p.N)
	if t-p.N == 1 {
		t = pgp.Padme(t + 2)
	}
	return writeFiller(p, t-p.N)
}

// envelopeWriter lets the Envelope be the io.Writer under the outer
// multipart without exporting write.
type envelopeWriter struct{ e *Envelope }

func (w envelopeWriter) Write(b []byte) (int, error) { return w.e.write(b) }
