package airgap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// The armor is read as go-crypto's armor.Decode reads it, which armorBody
// replaces because that one feeds the standard base64 decoder a line at a
// time: through a bufio.Reader of 100 bytes (a longer line is skipped
// before the block, a continuation in the headers, an error in the body),
// every line trimmed of Unicode white space, body lines of at most 96
// characters.
const (
	armorBuf     = 100
	armorMaxLine = 96
)

var (
	armorStart     = []byte("-----BEGIN ")
	armorEnd       = []byte("-----END ")
	armorEndOfLine = []byte("-----")
	errArmor       = errors.New("armor invalid")
)

// armorBody returns the decoded body of the first ASCII-armored block in r,
// which must be a PGP MESSAGE. Like armor.Decode it skips leading garbage,
// takes the first "-----BEGIN " line as the block's start (its type is what
// lies between that and the line's last five characters), skips the armor
// headers (a header line without a colon makes it look for the next block)
// and ends at the checksum line or the END line, or the end of r. The
// checksum is not checked (go-crypto does not either): the MDC is the
// integrity check, and the manifest's SHA-256 covers the whole copy. One
// difference: base64 data after padding is refused (go-crypto decodes it
// when the padding ends a line; FuzzArmorAsGoCrypto states the rule).
func armorBody(r io.Reader, sc *scratch) (io.Reader, error) {
	br := sc.armor
	br.Reset(r)
	var line []byte
	var err error
	ignoreNext := false
next:
	for { // leading garbage
		ignoreThis := ignoreNext
		line, ignoreNext, err = armorReadLine(br)
		if err != nil {
			return nil, fmt.Errorf("%w: no PGP MESSAGE armor", ErrNotEncrypted)
		}
		if ignoreNext || ignoreThis {
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) > len(armorStart)+len(armorEndOfLine) && bytes.HasPrefix(line, armorStart) {
			break
		}
	}
	message := string(line[len(armorStart):len(line)-len(armorEndOfLine)]) == "PGP MESSAGE"
	nextIsContinuation := false
	for { // armor headers, up to a blank line
		isContinuation := nextIsContinuation
		line, nextIsContinuation, err = armorReadLine(br)
		if err != nil {
			return nil, fmt.Errorf("%w: armor cut short", ErrNotEncrypted)
		}
		if isContinuation {
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		if bytes.IndexByte(line, ':') < 0 {
			goto next
		}
	}
	if !message {
		return nil, fmt.Errorf("%w: no PGP MESSAGE armor", ErrNotEncrypted)
	}
	sc.lines = armorLines{br: br}
	sc.armorB64.Reset(&sc.lines)
	return sc.armorB64, nil
}

// armorReadLine is bufio.Reader.ReadLine on a reader of armorBuf bytes, as
// go-crypto uses, over br of any size: a line longer than that comes in
// pieces, all but the last with isPrefix set. The line is valid until the
// next read from br.
func armorReadLine(br *bufio.Reader) (line []byte, isPrefix bool, err error) {
	buf, err := br.Peek(armorBuf)
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		br.Discard(i + 1)
		line = buf[:i]
		if i > 0 && line[i-1] == '\r' {
			line = line[:i-1]
		}
		return line, false, nil
	}
	if len(buf) == armorBuf {
		n := armorBuf
		if buf[n-1] == '\r' { // "\r\n" straddles the buffer: '\r' stays
			n--
		}
		br.Discard(n)
		return buf[:n], true, nil
	}
	if len(buf) == 0 {
		return nil, false, err
	}
	br.Discard(len(buf)) // the last line, without a line break
	return buf, false, nil
}

// armorLines reads the armored body's lines, trimmed and without their line
// breaks, up to the checksum or END line, many lines in one call.
type armorLines struct {
	br   *bufio.Reader
	err  error
	tmp  [armorBuf]byte
	rest []byte // of tmp, for a caller's buffer shorter than a line
}

func (a *armorLines) Read(p []byte) (int, error) {
	if len(a.rest) == 0 && len(p) < armorBuf {
		n, err := a.Read(a.tmp[:])
		if n == 0 {
			return 0, err
		}
		a.rest = a.tmp[:n]
	}
	if len(a.rest) > 0 {
		n := copy(p, a.rest)
		a.rest = a.rest[n:]
		return n, nil
	}
	n := 0
	for a.err == nil && len(p)-n >= armorBuf {
		// The lines buffered whole (their line break within armorBuf
		// bytes, as armorReadLine would find it), without a Peek and a
		// Discard each; the others through armorReadLine.
		buf, _ := a.br.Peek(a.br.Buffered())
		used := 0
		for a.err == nil && len(p)-n >= armorBuf {
			i := bytes.IndexByte(buf[used:min(len(buf), used+armorBuf)], '\n')
			if i < 0 {
				break
			}
			line := buf[used : used+i]
			used += i + 1
			if i > 0 && line[i-1] == '\r' {
				line = line[:i-1]
			}
			n = a.take(p, n, line)
		}
		if used > 0 {
			a.br.Discard(used)
			continue
		}
		line, isPrefix, err := armorReadLine(a.br)
		switch {
		case err != nil:
			a.err = readErr(err) // no END line: go-crypto accepts that too
		case isPrefix:
			a.err = errArmor
		default:
			n = a.take(p, n, line)
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, a.err
}

// take copies one body line, trimmed, to p[n:], or ends the body at the
// END or checksum line, and returns the new n.
func (a *armorLines) take(p []byte, n int, line []byte) int {
	line = bytes.TrimSpace(line)
	switch {
	case bytes.HasPrefix(line, armorEnd), len(line) == 5 && line[0] == '=':
		a.err = io.EOF
	case len(line) > armorMaxLine:
		a.err = errArmor
	default:
		n += copy(p[n:], line)
	}
	return n
}
