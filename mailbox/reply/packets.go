package reply

import (
	"encoding/binary"
	"fmt"
)

// OpenPGP packet tags this file deals with (RFC 9580 section 5).
const (
	tagPKESK  = 1
	tagSKESK  = 3
	tagSED    = 9 // symmetrically encrypted, no integrity protection
	tagMarker = 10
	tagSEIPD  = 18
	tagAEAD   = 20
)

// keepRecipients checks that the binary OpenPGP message ct is encrypted to
// one of keyIDs and returns it with every other session-key packet removed.
//
// The journalist's client encrypts to the source and to the journalist
// (Thunderbird always adds the sender's own key). The PKESK packets name
// their keys by id, so the stored reply would tell the source, and anyone
// who seizes it later, which journalist wrote it. The encrypted data packet
// does not depend on which PKESKs precede it, so dropping the others is
// safe and the source still decrypts it.
func keepRecipients(ct []byte, keyIDs map[uint64]bool) ([]byte, error) {
	var kept []byte
	matched := false
	for off := 0; ; {
		if off >= len(ct) {
			return nil, fmt.Errorf("%w (no encrypted data)", ErrMalformed)
		}
		tag, hdr, n, err := packetHeader(ct[off:])
		if err != nil {
			return nil, err
		}
		switch tag {
		case tagSEIPD, tagAEAD:
			if !matched {
				return nil, ErrNotToSource
			}
			out := make([]byte, 0, len(kept)+len(ct)-off)
			return append(append(out, kept...), ct[off:]...), nil
		case tagSED:
			return nil, ErrUnsupportedEncryption
		}
		if n < 0 || off+hdr+n > len(ct) {
			return nil, fmt.Errorf("%w (truncated OpenPGP packet)", ErrMalformed)
		}
		body := ct[off+hdr : off+hdr+n]
		switch tag {
		case tagPKESK:
			// Version 3 (RFC 4880): version, 8-byte key id, algorithm, ...
			// A v6 PKESK cannot be to the source's v4 key.
			if len(body) >= 10 && body[0] == 3 {
				if id := binary.BigEndian.Uint64(body[1:9]); id != 0 && keyIDs[id] {
					kept = append(kept, ct[off:off+hdr+n]...)
					matched = true
				}
			}
		case tagSKESK, tagMarker:
			// A passphrase packet or a marker: nothing the source needs.
		default:
			return nil, fmt.Errorf("%w (not an encrypted OpenPGP message)", ErrMalformed)
		}
		off += hdr + n
	}
}

// packetHeader reads an OpenPGP packet header: the tag, the header length
// and the body length. The length is -1 for a partial or indeterminate
// length, which only the encrypted data packet may have here.
func packetHeader(b []byte) (tag, hdr, n int, err error) {
	bad := fmt.Errorf("%w (damaged OpenPGP packet)", ErrMalformed)
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, 0, 0, bad
	}
	if b[0]&0x40 == 0 { // legacy format
		tag = int(b[0]>>2) & 0x0f
		switch b[0] & 3 {
		case 0:
			return tag, 2, int(b[1]), nil
		case 1:
			if len(b) < 3 {
				return 0, 0, 0, bad
			}
			return tag, 3, int(binary.BigEndian.Uint16(b[1:3])), nil
		case 2:
			if len(b) < 5 {
				return 0, 0, 0, bad
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
			return 0, 0, 0, bad
		}
		return tag, 3, (o-192)<<8 + int(b[2]) + 192, nil
	case o == 255:
		if len(b) < 6 {
			return 0, 0, 0, bad
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
