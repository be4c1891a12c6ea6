package airgap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// armorBody returns the decoded body of the first ASCII-armored block in r,
// which must be a PGP MESSAGE. Like go-crypto's armor.Decode, which it
// replaces because that one feeds the standard base64 decoder a line at a
// time through a byte-by-byte filter, it skips leading garbage and the
// armor headers and ends at the checksum line or the END line. The checksum
// is not checked (go-crypto does not either): the MDC is the integrity
// check, and the manifest's SHA-256 covers the whole copy.
func armorBody(r io.Reader, sc *scratch) (io.Reader, error) {
	br := sc.armor
	br.Reset(r)
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("%w: no PGP MESSAGE armor", ErrNotEncrypted)
		}
		line = bytes.TrimSpace(line)
		if bytes.HasPrefix(line, []byte("-----BEGIN ")) && bytes.HasSuffix(line, []byte("-----")) && len(line) > 16 {
			if string(line) != "-----BEGIN PGP MESSAGE-----" {
				return nil, fmt.Errorf("%w: no PGP MESSAGE armor", ErrNotEncrypted)
			}
			break
		}
	}
	for { // armor headers, up to a blank line
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("%w: armor cut short", ErrNotEncrypted)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		if bytes.IndexByte(line, ':') < 0 {
			return nil, fmt.Errorf("%w: no PGP MESSAGE armor", ErrNotEncrypted)
		}
	}
	sc.lines = armorLines{br: br}
	sc.armorB64.Reset(&sc.lines)
	return sc.armorB64, nil
}

// readLine reads one line, however long (the part past the buffer is
// dropped: such a line is garbage before the armor or an error after).
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		return []byte("-"), nil // not base64, not an armor line
	}
	if errors.Is(err, io.EOF) && len(line) > 0 {
		return line, nil
	}
	return line, err
}

// armorLines reads the armored body's lines (base64, line breaks left for
// b64Reader to skip) up to the checksum or END line, whole buffers at once.
type armorLines struct {
	br  *bufio.Reader
	eof bool
}

func (a *armorLines) Read(p []byte) (int, error) {
	if a.eof {
		return 0, io.EOF
	}
	if a.br.Buffered() == 0 {
		if _, err := a.br.Peek(1); err != nil {
			a.eof = true
			return 0, readErr(err) // no END line: go-crypto accepts that too
		}
	}
	buf, _ := a.br.Peek(min(a.br.Buffered(), len(p)))
	if j := bytes.LastIndexByte(buf, '\n'); j >= 0 {
		chunk := buf[:j+1]
		// Base64 has no '-'; '=' is only the padding of the last line.
		i := bytes.IndexByte(chunk, '-')
		if k := bytes.IndexByte(chunk, '='); k >= 0 && (i < 0 || k < i) {
			i = k
		}
		if i >= 0 {
			chunk = chunk[:bytes.LastIndexByte(chunk[:i], '\n')+1]
		}
		if len(chunk) > 0 {
			n := copy(p, chunk)
			a.br.Discard(n)
			return n, nil
		}
	}
	// One line at a time: the last lines, or one longer than what is left.
	line, err := readLine(a.br)
	if err != nil {
		a.eof = true
		return 0, readErr(err)
	}
	t := bytes.TrimSpace(line)
	if bytes.HasPrefix(t, []byte("-----END")) || (len(t) == 5 && t[0] == '=') {
		a.eof = true
		return 0, io.EOF
	}
	if len(line) > len(p) {
		return 0, errors.New("armor line too long")
	}
	return copy(p, line), nil
}
