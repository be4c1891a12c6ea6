package pgp

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// pkesk3 is a v3 PKESK to id, in the new packet format, with a dummy
// encrypted session key.
func pkesk3(id uint64) []byte {
	body := append([]byte{3}, binary.BigEndian.AppendUint64(nil, id)...)
	body = append(body, 18, 0, 8, 0xAA, 0xBB) // ECDH, a one-octet "MPI"
	return append([]byte{0xC0 | TagPKESK, byte(len(body))}, body...)
}

func TestEncryptedTo(t *testing.T) {
	ids := map[uint64]bool{0x1122334455667788: true}
	seipd := []byte{0xC0 | TagSEIPD, 0xE0 + 4, 1, 0, 0} // partial length, version 1
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		bin  []byte
		want bool
	}{
		{"PKESK to us, SEIPD", cat(pkesk3(0x1122334455667788), seipd), true},
		{"others, then us", cat(pkesk3(1), pkesk3(2), pkesk3(0x1122334455667788), seipd), true},
		{"cut after the SEIPD version", cat(pkesk3(0x1122334455667788), seipd[:3]), true},
		{"legacy PKESK header (gpg)", cat([]byte{0x80 | TagPKESK<<2}, pkesk3(0x1122334455667788)[1:], seipd), true},
		{"AEAD (OCB) packet", cat(pkesk3(0x1122334455667788), []byte{0xC0 | TagAEAD, 2, 1, 9}), true},
		{"only to others", cat(pkesk3(1), seipd), false},
		{"wildcard key id", cat(pkesk3(0), seipd), false},
		{"no PKESK", seipd, false},
		{"PKESK, no data packet", pkesk3(0x1122334455667788), false},
		{"cut inside the PKESK", pkesk3(0x1122334455667788)[:8], false},
		{"cut before the SEIPD body", cat(pkesk3(0x1122334455667788), seipd[:2]), false},
		{"unknown SEIPD version", cat(pkesk3(0x1122334455667788), []byte{0xC0 | TagSEIPD, 1, 3}), false},
		{"literal data instead", cat(pkesk3(0x1122334455667788), []byte{0xC0 | 11, 3, 'b', 0, 0}), false},
		{"compressed data instead", cat(pkesk3(0x1122334455667788), []byte{0xC0 | 8, 2, 1, 0}), false},
		{"partial length on a PKESK", cat([]byte{0xC0 | TagPKESK, 0xE1}, pkesk3(0x1122334455667788)[2:], seipd), false},
		{"not a packet", []byte("Meet me at nine"), false},
		{"empty", nil, false},
	} {
		if got := EncryptedTo(tc.bin, ids); got != tc.want {
			t.Errorf("%s: EncryptedTo = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !EncryptedTo(cat(pkesk3(1), seipd), nil) {
		t.Error("nil ids: a PKESK to anyone should do")
	}
}

func TestArmoredPrefix(t *testing.T) {
	bin := bytes.Repeat([]byte{0xC1, 0x5E, 0x03, 0x42}, 100)
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, "PGP MESSAGE", map[string]string{"Comment": "x"})
	w.Write(bin)
	w.Close()
	arm := strings.ReplaceAll(buf.String(), "\n", "\r\n")
	for cut := 0; cut <= len(arm); cut += 7 {
		got, ok := ArmoredPrefix([]byte("\r\n  " + arm[:cut]))
		if !ok {
			continue // the header block is not complete yet
		}
		if !bytes.HasPrefix(bin, got) {
			t.Fatalf("cut at %d: decoded bytes are not a prefix of the message", cut)
		}
	}
	if got, ok := ArmoredPrefix([]byte(arm)); !ok || !bytes.Equal(got, bin) {
		t.Fatalf("whole armor: ok=%v, %d of %d bytes", ok, len(got), len(bin))
	}
	for _, bad := range []string{
		"Hello\r\n" + arm, // text before the armor
		strings.Replace(arm, "MESSAGE", "SIGNATURE", 1), // not a message
		"-----BEGIN PGP MESSAGE-----\r\nMeet me at nine\r\n\r\nwcBM\r\n",
		"-----BEGIN PGP MESSAGE-----\r\n\r\n!!!!\r\n",
	} {
		if _, ok := ArmoredPrefix([]byte(bad)); ok {
			t.Errorf("accepted %.40q", bad)
		}
	}
}
