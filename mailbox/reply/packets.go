package reply

import (
	"encoding/binary"
	"fmt"

	"postern/mailbox/pgp"
)

// OpenPGP packet tags this file deals with.
const (
	tagPKESK  = pgp.TagPKESK
	tagSKESK  = pgp.TagSKESK
	tagSED    = pgp.TagSED
	tagMarker = pgp.TagMarker
	tagSEIPD  = pgp.TagSEIPD
	tagAEAD   = pgp.TagAEAD
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

// packetHeader is pgp.PacketHeader with a reply's error.
func packetHeader(b []byte) (tag, hdr, n int, err error) {
	tag, hdr, n, err = pgp.PacketHeader(b)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w (%v)", ErrMalformed, err)
	}
	return tag, hdr, n, nil
}
