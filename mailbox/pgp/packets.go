package pgp

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// OpenPGP packet tags (RFC 9580 section 5) that Postern reads by hand.
const (
	TagPKESK  = 1
	TagSKESK  = 3
	TagSED    = 9 // symmetrically encrypted, no integrity protection
	TagMarker = 10
	TagSEIPD  = 18
	TagAEAD   = 20 // LibrePGP's OCB packet (GnuPG 2.4)
)

// ErrPacket is returned for a packet header that is cut short or not one.
var ErrPacket = errors.New("damaged OpenPGP packet")

// PacketHeader reads an OpenPGP packet header: the tag, the header length
// and the body length. The length is -1 for a partial or indeterminate
// length, which only data packets may have.
func PacketHeader(b []byte) (tag, hdr, n int, err error) {
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, 0, 0, ErrPacket
	}
	if b[0]&0x40 == 0 { // legacy format
		tag = int(b[0]>>2) & 0x0f
		switch b[0] & 3 {
		case 0:
			return tag, 2, int(b[1]), nil
		case 1:
			if len(b) < 3 {
				return 0, 0, 0, ErrPacket
			}
			return tag, 3, int(binary.BigEndian.Uint16(b[1:3])), nil
		case 2:
			if len(b) < 5 {
				return 0, 0, 0, ErrPacket
			}
			return tag, 5, lenU32(b[1:5]), nil
		default:
			return tag, 1, -1, nil
		}
	}
	tag = int(b[0] & 0x3f)
	switch o := int(b[1]); {
	case o < 192:
		return tag, 2, o, nil
	case o < 224:
		if len(b) < 3 {
			return 0, 0, 0, ErrPacket
		}
		return tag, 3, (o-192)<<8 + int(b[2]) + 192, nil
	case o == 255:
		if len(b) < 6 {
			return 0, 0, 0, ErrPacket
		}
		return tag, 6, lenU32(b[2:6]), nil
	default:
		return tag, 2, -1, nil // partial body length
	}
}

// lenU32 reads a four-octet length, capped so it cannot overflow an int.
func lenU32(b []byte) int {
	v := binary.BigEndian.Uint32(b)
	if v > 1<<30 {
		return -1
	}
	return int(v)
}

// KeyIDs lists the key ids of e's primary key and subkeys: a PKESK to any
// of them is to e's holder.
func KeyIDs(e *openpgp.Entity) map[uint64]bool {
	ids := map[uint64]bool{e.PrimaryKey.KeyId: true}
	for _, sk := range e.Subkeys {
		ids[sk.PublicKey.KeyId] = true
	}
	return ids
}

// EncryptedTo reports whether bin, the start of a binary OpenPGP message,
// is session-key packets followed by an encrypted data packet, at least one
// of them a PKESK to a key in ids (to any key when ids is nil). bin may be
// cut anywhere after the first octet of the encrypted data packet's body:
// this looks at the packets' first bytes, never at a whole message.
func EncryptedTo(bin []byte, ids map[uint64]bool) bool {
	matched := false
	for off := 0; off < len(bin); {
		tag, hdr, n, err := PacketHeader(bin[off:])
		if err != nil {
			return false
		}
		switch tag {
		case TagSEIPD, TagAEAD, TagSED:
			// The data packet: one body octet must be there (for SEIPD
			// and AEAD a version the readers know).
			if off+hdr >= len(bin) || n == 0 {
				return false
			}
			v := bin[off+hdr]
			return matched && (tag == TagSED || tag == TagSEIPD && (v == 1 || v == 2) || tag == TagAEAD && v == 1)
		}
		if n < 0 || off+hdr+n > len(bin) {
			return false
		}
		body := bin[off+hdr : off+hdr+n]
		switch tag {
		case TagPKESK:
			// Version 3 (RFC 4880): version, 8-byte key id, algorithm,
			// then the encrypted session key. A v6 PKESK names a v6 key.
			if len(body) < 11 || body[0] != 3 {
				return false
			}
			if id := binary.BigEndian.Uint64(body[1:9]); ids == nil || id != 0 && ids[id] {
				matched = true
			}
		case TagSKESK, TagMarker:
		default:
			return false
		}
		off += hdr + n
	}
	return false
}

// ArmoredPrefix decodes as much as b holds of an ASCII-armored PGP MESSAGE
// that starts b (after blank space): b may be cut anywhere, and the base64
// is decoded up to its last whole group. ok is false when b does not begin
// with the armor header line of a PGP MESSAGE followed by armor headers and
// a blank line.
func ArmoredPrefix(b []byte) (bin []byte, ok bool) {
	rest := bytes.TrimLeft(b, " \t\r\n")
	line, rest, full := cutLine(rest)
	if !full || string(line) != "-----BEGIN PGP MESSAGE-----" {
		return nil, false
	}
	for {
		line, rest, full = cutLine(rest)
		if !full {
			return nil, false
		}
		if len(line) == 0 {
			break
		}
		if !bytes.Contains(line, []byte(": ")) {
			return nil, false
		}
	}
	var b64 []byte
	for len(rest) > 0 {
		line, rest, _ = cutLine(rest)
		if bytes.HasPrefix(line, []byte("=")) || bytes.HasPrefix(line, []byte("-----")) {
			break
		}
		b64 = append(b64, line...)
	}
	b64 = b64[:len(b64)/4*4]
	bin = make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(bin, b64)
	if err != nil {
		return nil, false
	}
	return bin[:n], true
}

// cutLine returns the first line of b without its end (LF or CRLF, and
// trailing blanks), the rest, and whether the line was complete.
func cutLine(b []byte) (line, rest []byte, full bool) {
	line, rest, full = bytes.Cut(b, []byte("\n"))
	return bytes.TrimRight(line, " \t\r"), rest, full
}
