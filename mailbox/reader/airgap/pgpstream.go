package airgap

import (
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
)

// decryptStream decrypts an OpenPGP message (binary packets) with keys and
// returns its literal data as a stream. go-crypto decrypts the session key,
// decryptSEIPD the SEIPD packet; the compressed packet inside is inflated here with
// klauspost's flate, about twice as fast as the standard library's, which
// go-crypto would use: inflating is most of the CPU of opening a transfer.
// The returned reader fails at its end if the integrity check (MDC) does,
// so nothing read from it may be trusted before io.EOF.
func decryptStream(r io.Reader, keys openpgp.EntityList, sc *scratch) (io.Reader, error) {
	pr := packet.NewReader(r)
	var eks []*packet.EncryptedKey
	for {
		p, err := pr.Next()
		if err != nil {
			return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
		}
		switch p := p.(type) {
		case *packet.EncryptedKey:
			eks = append(eks, p)
		case *packet.SymmetricallyEncrypted:
			if !p.IntegrityProtected {
				return nil, fmt.Errorf("%w (no integrity protection)", ErrDamaged)
			}
			for _, ek := range eks {
				cands := keys.KeysById(ek.KeyId)
				if ek.KeyId == 0 {
					cands = keys.DecryptionKeys()
				}
				for _, k := range cands {
					if k.PrivateKey == nil || k.PrivateKey.Encrypted || ek.Decrypt(k.PrivateKey, nil) != nil {
						continue
					}
					rc, err := decryptSEIPD(p, ek.CipherFunc, ek.Key, sc)
					if err != nil {
						return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
					}
					return literal(rc, sc)
				}
			}
			return nil, ErrWrongKey
		case *packet.AEADEncrypted:
			return nil, fmt.Errorf("%w (AEAD packets are not used by Postern)", ErrNotEncrypted)
		}
	}
}

// literal finds the literal data packet in the decrypted packet stream
// (inside a compressed packet or not, after one-pass signatures).
func literal(rc io.ReadCloser, sc *scratch) (io.Reader, error) {
	sc.lit.Reset(rc)
	var in io.Reader = sc.lit
	for depth := 0; depth < 4; depth++ {
		tag, body, err := nextPacket(in)
		if err != nil {
			return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
		}
		switch tag {
		case 8: // compressed
			var algo [1]byte
			if _, err := io.ReadFull(body, algo[:]); err != nil {
				return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
			}
			// klauspost's inflater reads a *bufio.Reader as is, else wraps
			// it in one of 4 KiB: a larger one halves the calls down the
			// decryption chain.
			sc.zin.Reset(body)
			switch algo[0] {
			case 0:
				in = body
			case 1:
				if sc.inflate == nil {
					sc.inflate = flate.NewReader(sc.zin)
				} else if err := sc.inflate.(flate.Resetter).Reset(sc.zin, nil); err != nil {
					return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
				}
				in = sc.inflate
			case 2:
				var err error
				if sc.zlib == nil {
					sc.zlib, err = zlib.NewReader(sc.zin)
				} else {
					err = sc.zlib.(zlib.Resetter).Reset(sc.zin, nil)
				}
				if err != nil {
					return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
				}
				in = sc.zlib
			case 3:
				in = bzip2.NewReader(body)
			default:
				return nil, fmt.Errorf("%w (compression %d)", ErrDamaged, algo[0])
			}
		case 4: // one-pass signature: skip, the signature is not checked
			if _, err := io.Copy(io.Discard, body); err != nil {
				return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
			}
			depth--
		case 11: // literal data: format, name, date, then the data
			var h [1]byte
			if _, err := io.ReadFull(body, h[:]); err != nil {
				return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
			}
			if _, err := io.ReadFull(body, h[:]); err != nil {
				return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
			}
			if _, err := io.CopyN(io.Discard, body, int64(h[0])+4); err != nil {
				return nil, fmt.Errorf("%w (%v)", ErrDamaged, err)
			}
			return &verified{r: body, rest: in, rc: rc}, nil
		default:
			return nil, fmt.Errorf("%w (unexpected packet %d)", ErrDamaged, tag)
		}
	}
	return nil, fmt.Errorf("%w (packets nested too deep)", ErrDamaged)
}

// verified reads the literal data and, at its end, reads what follows (a
// signature) to the end of the encrypted packet and checks the MDC.
type verified struct {
	r    io.Reader
	rest io.Reader
	rc   io.ReadCloser
	err  error
}

func (v *verified) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	if errors.Is(err, io.EOF) {
		if _, cerr := io.Copy(io.Discard, v.rest); cerr != nil {
			err = fmt.Errorf("%w (%v)", ErrDamaged, cerr)
		} else if cerr := v.rc.Close(); cerr != nil {
			err = fmt.Errorf("%w (%v)", ErrDamaged, cerr)
		}
		v.err = err
	} else if err != nil {
		err = fmt.Errorf("%w (%v)", ErrDamaged, err)
		v.err = err
	}
	return n, err
}

// nextPacket reads a packet header from r and returns the tag and a reader
// of the body (partial lengths followed; an indeterminate length runs to
// the end of r).
func nextPacket(r io.Reader) (byte, io.Reader, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, nil, err
	}
	if b[0]&0x80 == 0 {
		return 0, nil, errors.New("not an OpenPGP packet")
	}
	if b[0]&0x40 == 0 { // old format
		tag := (b[0] >> 2) & 0x0f
		var n int64
		switch b[0] & 3 {
		case 0:
			var l [1]byte
			_, err := io.ReadFull(r, l[:])
			n = int64(l[0])
			if err != nil {
				return 0, nil, err
			}
		case 1:
			var l [2]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				return 0, nil, err
			}
			n = int64(binary.BigEndian.Uint16(l[:]))
		case 2:
			var l [4]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				return 0, nil, err
			}
			n = int64(binary.BigEndian.Uint32(l[:]))
		default:
			return tag, r, nil
		}
		return tag, &eofLimit{r: io.LimitReader(r, n), n: n}, nil
	}
	body := &newBody{r: r}
	if err := body.length(); err != nil {
		return 0, nil, err
	}
	return b[0] & 0x3f, body, nil
}

// eofLimit is a LimitReader that reports a body cut short.
type eofLimit struct {
	r io.Reader
	n int64
}

func (l *eofLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if errors.Is(err, io.EOF) && l.n > 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// newBody is a new-format packet body, possibly in partial lengths.
type newBody struct {
	r       io.Reader
	left    int64
	partial bool
}

func (b *newBody) length() error {
	var l [4]byte
	if _, err := io.ReadFull(b.r, l[:1]); err != nil {
		return err
	}
	b.partial = false
	switch c := l[0]; {
	case c < 192:
		b.left = int64(c)
	case c < 224:
		if _, err := io.ReadFull(b.r, l[1:2]); err != nil {
			return err
		}
		b.left = (int64(c)-192)<<8 + int64(l[1]) + 192
	case c == 255:
		if _, err := io.ReadFull(b.r, l[:]); err != nil {
			return err
		}
		b.left = int64(binary.BigEndian.Uint32(l[:]))
	default:
		b.left = 1 << (c & 0x1f)
		b.partial = true
	}
	return nil
}

func (b *newBody) Read(p []byte) (int, error) {
	for b.left == 0 {
		if !b.partial {
			return 0, io.EOF
		}
		if err := b.length(); err != nil {
			return 0, io.ErrUnexpectedEOF
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if errors.Is(err, io.EOF) && (b.left > 0 || b.partial) {
		err = io.ErrUnexpectedEOF
	} else if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}
