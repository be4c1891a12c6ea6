// Package structure computes what IMAP needs to know about a stored message
// (envelope, body structure, and the byte range of every MIME part) in one
// streaming pass over the blob file, without holding a part in memory.
//
// The result is small and is cached in the store's per-message Meta, so
// FETCH ENVELOPE, BODYSTRUCTURE and every BODY[section] become file ranges
// served with io.SectionReader: a 400 MiB encrypted attachment is never
// buffered, and a partial fetch reads only the bytes it returns.
package structure

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits that keep a hostile message (an APPEND by a compromised client, or
// garbage) from making the walk or its result large.
const (
	maxDepth       = 16        // multipart / message nesting
	maxParts       = 500       // parts in one message
	maxHeaderBytes = 256 << 10 // one header block; the rest is treated as body
	lineBuf        = 8 << 10   // bufio size; longer lines are read in chunks
	prefixKeep     = 128       // bytes of a long line kept for boundary checks
)

// line is one line of the message as the walker sees it.
type line struct {
	start   int64  // file offset of the first byte
	n       int64  // length including the line ending
	eol     int    // length of the line ending: 2 (CRLF), 1 (LF) or 0 (EOF)
	prevEol int    // line ending length of the line before this one
	lineNo  int64  // count of '\n' before this line
	data    []byte // the whole line if short, else its first prefixKeep bytes
	long    bool   // data is only a prefix
}

type lineReader struct {
	br      *bufio.Reader
	off     int64
	lineNo  int64
	lastEol int
	pending *line
	scratch line // nextBody's non-delimiter lines
	copyAll bool // nextBody behaves as next (tests)
	err     error
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, lineBuf)}
}

func (lr *lineReader) unread(l *line) { lr.pending = l }

// next returns the next line, or nil at the end of the input (lr.err tells
// whether the end was an error).
func (lr *lineReader) next() *line { return lr.read(false) }

// nextBody is next for lines inside a body, where only a delimiter
// matters: any other line comes without its data, in a struct that the
// next call reuses. Bodies are most of a mail (armored ciphertext), and
// copying each of their lines was a tenth of the relay's ingest CPU.
func (lr *lineReader) nextBody() *line { return lr.read(!lr.copyAll) }

func (lr *lineReader) read(body bool) *line {
	if l := lr.pending; l != nil {
		lr.pending = nil
		return l
	}
	if lr.err != nil {
		return nil
	}
	var l *line
	if peek, _ := lr.br.Peek(2); body && !bytes.HasPrefix(peek, []byte("--")) {
		l = &lr.scratch
		*l = line{start: lr.off, prevEol: lr.lastEol, lineNo: lr.lineNo, data: l.data[:0]}
	} else {
		body = false
		l = &line{start: lr.off, prevEol: lr.lastEol, lineNo: lr.lineNo}
	}
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if len(chunk) > 0 {
			if body {
				// Not a delimiter: only the size and ending count.
				l.long = true
			} else if l.n == 0 && err != bufio.ErrBufferFull {
				l.data = append([]byte(nil), chunk...)
			} else if len(l.data) < prefixKeep {
				room := prefixKeep - len(l.data)
				l.data = append(l.data, chunk[:min(room, len(chunk))]...)
				l.long = true
			}
			l.n += int64(len(chunk))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				lr.err = fmt.Errorf("structure: read: %w", err)
			} else {
				lr.err = io.EOF
			}
			break
		}
		// Found '\n'.
		l.eol = 1
		if len(chunk) >= 2 && chunk[len(chunk)-2] == '\r' {
			l.eol = 2
		}
		// A '\r' that ended the previous chunk of a long line is missed;
		// it only shifts a part end by one byte in a malformed message.
		break
	}
	if l.n == 0 {
		return nil
	}
	lr.off += l.n
	if l.eol > 0 {
		lr.lineNo++
	}
	lr.lastEol = l.eol
	return l
}

// content is the line without its ending (only meaningful for short lines).
func (l *line) content() []byte {
	if l.long {
		return l.data
	}
	return l.data[:len(l.data)-l.eol]
}

// delimiter tells whether l is "--boundary" or "--boundary--" for one of
// the boundaries (innermost last), and which.
func (l *line) delimiter(bounds []string) (idx int, closing bool, ok bool) {
	c := l.content()
	if len(c) < 3 || c[0] != '-' || c[1] != '-' {
		return 0, false, false
	}
	c = c[2:]
	for i := len(bounds) - 1; i >= 0; i-- {
		b := bounds[i]
		if !bytes.HasPrefix(c, []byte(b)) {
			continue
		}
		rest := c[len(b):]
		if bytes.HasPrefix(rest, []byte("--")) {
			closing = true
			rest = rest[2:]
		}
		if len(bytes.Trim(rest, " \t")) != 0 {
			continue // a longer boundary that shares the prefix
		}
		return i, closing, true
	}
	return 0, false, false
}

// walker parses one message.
type walker struct {
	lr    *lineReader
	parts int
}

// parsePart reads a header and a body starting at the next line. bounds are
// the enclosing multipart boundaries; the part ends at a delimiter of any of
// them (left unread for the caller) or at the end of the input.
func (w *walker) parsePart(p *Part, bounds []string, depth int, digest, message bool) {
	w.parts++
	p.HeaderStart = w.lr.off
	if pl := w.lr.pending; pl != nil {
		p.HeaderStart = pl.start
	}
	var raw []byte
	headerDone := false
	for !headerDone {
		l := w.lr.next()
		if l == nil {
			p.BodyStart = w.lr.off
			p.End = w.lr.off
			p.fill(raw, digest, message)
			return
		}
		if _, _, ok := l.delimiter(bounds); ok {
			// A part with a header but no blank line and no body.
			w.lr.unread(l)
			p.BodyStart = l.start
			p.End = l.start
			p.fill(raw, digest, message)
			return
		}
		if !l.long && len(l.content()) == 0 {
			headerDone = true
			p.BodyStart = l.start + l.n
			break
		}
		if len(raw)+len(l.data) > maxHeaderBytes || l.long {
			// Not a header we will parse: treat this line as the body start.
			w.lr.unread(l)
			p.BodyStart = l.start
			break
		}
		raw = append(raw, l.data...)
	}
	p.fill(raw, digest, message)
	bodyLine := w.lr.lineNo
	if pl := w.lr.pending; pl != nil {
		bodyLine = pl.lineNo
	}

	switch {
	case p.Type == "multipart" && p.boundary != "" && depth < maxDepth && w.parts < maxParts:
		inner := append(bounds[:len(bounds):len(bounds)], p.boundary)
		closed := false
		for {
			l := w.lr.nextBody()
			if l == nil {
				p.endAtEOF(w.lr, bodyLine)
				return
			}
			idx, closing, ok := l.delimiter(inner)
			if !ok {
				continue // preamble or epilogue
			}
			if idx < len(bounds) {
				w.lr.unread(l)
				p.endAt(l, bodyLine)
				return
			}
			if closed {
				continue // a stray delimiter in the epilogue
			}
			if closing {
				closed = true
				continue
			}
			if w.parts >= maxParts {
				closed = true // stop splitting; the rest stays inside this part
				continue
			}
			child := &Part{}
			w.parsePart(child, inner, depth+1, p.Subtype == "digest", false)
			p.Children = append(p.Children, child)
		}
	case p.isMessage() && depth < maxDepth && w.parts < maxParts:
		child := &Part{}
		w.parsePart(child, bounds, depth+1, false, true)
		p.Message = child
		if l := w.lr.pending; l != nil {
			p.endAt(l, bodyLine)
		} else {
			p.endAtEOF(w.lr, bodyLine)
		}
	default:
		for {
			l := w.lr.nextBody()
			if l == nil {
				p.endAtEOF(w.lr, bodyLine)
				return
			}
			if _, _, ok := l.delimiter(bounds); ok {
				w.lr.unread(l)
				p.endAt(l, bodyLine)
				return
			}
		}
	}
}

// endAt ends p's body before the delimiter line l: the line ending before a
// delimiter belongs to the delimiter (RFC 2046 section 5.1.1).
func (p *Part) endAt(l *line, bodyLine int64) {
	p.End = max(l.start-int64(l.prevEol), p.BodyStart)
	lines := l.lineNo - bodyLine
	if l.prevEol > 0 {
		lines--
	}
	p.Lines = max(lines, 0)
}

func (p *Part) endAtEOF(lr *lineReader, bodyLine int64) {
	p.End = lr.off
	p.Lines = max(lr.lineNo-bodyLine, 0)
}
