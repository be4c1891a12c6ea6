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
// decoder, which was a fifth of the CPU of opening a transfer.
type b64Reader struct {
	r   io.Reader
	buf []byte // buf[:n]: base64 characters not decoded yet (fewer than 4)
	n   int
	out []byte // decoded, not yet returned
	dec []byte
	end bool // the padding was seen: nothing may follow
	err error
}

func newB64Reader() *b64Reader {
	return &b64Reader{buf: make([]byte, 64<<10), dec: make([]byte, 48<<10)}
}

func (d *b64Reader) Reset(r io.Reader) {
	d.r, d.n, d.out, d.end, d.err = r, 0, nil, false, nil
}

var errB64 = errors.New("illegal base64 data")

func (d *b64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		m, err := d.r.Read(d.buf[d.n:])
		k := d.n + compactB64(d.buf[d.n:d.n+m])
		q := k / 4 * 4
		if err != nil {
			q = k // a partial quantum at the end is an error of Decode
		}
		if q > 0 {
			if d.end {
				d.err = errB64
				return 0, d.err
			}
			dst, direct := d.dec, len(p) >= q/4*3
			if direct {
				dst = p // decode straight into the caller's buffer
			}
			dn, derr := base64.StdEncoding.Decode(dst, d.buf[:q])
			if derr != nil {
				d.err = errB64
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

func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

// compactB64 removes line breaks, spaces and tabs from b in place and
// returns the length left.
func compactB64(b []byte) int {
	if bytes.IndexByte(b, ' ') < 0 && bytes.IndexByte(b, '\t') < 0 {
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
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			b[k] = c
			k++
		}
	}
	return k
}
