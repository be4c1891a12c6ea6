package airgap

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
)

// b64Reader decodes a base64 MIME body as go-message does (CR, LF, space
// and tab are skipped; anything else not base64 is an error), but a buffer
// at a time: whole lines are moved together and decoded in one call,
// instead of go-message's byte-by-byte filter in front of the standard
// decoder, which was a fifth of the CPU of opening a transfer. It refuses
// base64 data after the padding (errB64Padding), which the standard stream
// decoder accepts when one of its reads happens to end at the padding.
type b64Reader struct {
	r   io.Reader
	buf []byte // buf[:n]: base64 characters not decoded yet (fewer than 4)
	n   int
	out []byte // decoded, not yet returned
	dec []byte
	end bool // the padding was seen: nothing may follow
	err error
	// armor: only line breaks are skipped (the armor's lines come trimmed,
	// as go-crypto's do; a space inside one is not base64), not spaces.
	armor bool
}

func newB64Reader(armor bool) *b64Reader {
	return &b64Reader{buf: make([]byte, 64<<10), dec: make([]byte, 48<<10), armor: armor}
}

func (d *b64Reader) Reset(r io.Reader) {
	d.r, d.n, d.out, d.end, d.err = r, 0, nil, false, nil
}

var (
	errB64        = errors.New("illegal base64 data")
	errB64Padding = errors.New("base64 data after padding")
)

func (d *b64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		m, err := d.r.Read(d.buf[d.n:])
		k := d.n + compactB64(d.buf[d.n:d.n+m], !d.armor)
		q := k / 4 * 4
		if err != nil {
			q = k // a partial quantum at the end is an error of Decode
		}
		if q > 0 {
			if d.end {
				d.err = errB64
				if dataIn(d.buf[:q]) {
					d.err = errB64Padding
				}
				return 0, d.err
			}
			dst, direct := d.dec, len(p) >= q/4*3
			if direct {
				dst = p // decode straight into the caller's buffer
			}
			dn, derr := base64.StdEncoding.Decode(dst, d.buf[:q])
			if derr != nil {
				d.err = errB64
				if i := bytes.IndexByte(d.buf[:q], '='); i >= 0 && dataIn(d.buf[min(i|3+1, q):q]) {
					d.err = errB64Padding // data after the padded quantum
				}
				return 0, d.err
			}
			d.end = d.buf[q-1] == '='
			copy(d.buf, d.buf[q:k])
			d.n = k - q
			if direct {
				if err != nil {
					d.err = readErr(err)
				}
				return dn, nil
			}
			d.out = dst[:dn]
		} else {
			d.n = k
		}
		if err != nil {
			d.err = readErr(err)
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// dataIn reports whether b has a character other than the padding.
func dataIn(b []byte) bool {
	return len(bytes.Trim(b, "=")) > 0
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

// compactB64 removes line breaks, and spaces and tabs if spaces is set,
// from b in place and returns the length left.
func compactB64(b []byte, spaces bool) int {
	if !spaces && bytes.IndexByte(b, '\n') < 0 && bytes.IndexByte(b, '\r') < 0 {
		return len(b) // the armor's lines, as they come
	}
	if !spaces || bytes.IndexByte(b, ' ') < 0 && bytes.IndexByte(b, '\t') < 0 {
		k := 0
		for rest := b; len(rest) > 0; {
			line := rest
			if j := bytes.IndexByte(rest, '\n'); j >= 0 {
				line, rest = rest[:j], rest[j+1:]
			} else {
				rest = nil
			}
			line = bytes.TrimSuffix(line, []byte{'\r'})
			k += copy(b[k:], line)
		}
		if bytes.IndexByte(b[:k], '\r') < 0 {
			return k
		}
		b = b[:k]
	}
	k := 0
	for _, c := range b {
		if c != '\r' && c != '\n' && (!spaces || c != ' ' && c != '\t') {
			b[k] = c
			k++
		}
	}
	return k
}
