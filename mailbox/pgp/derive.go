package pgp

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Reply-key derivation. The labels are versioned: changing any of them, the
// creation time, the packet layout or the signature subpackets changes
// every source's key, so bump "v1" and migrate instead of editing in place.
const (
	labelEd25519 = "postern reply key v1 ed25519"
	labelX25519  = "postern reply key v1 x25519"
	labelRand    = "postern reply key v1 signing randomness"
)

// derivedKeyTime is the creation time of every derived key and of its
// signatures. It is fixed so that the fingerprint depends on the seed only.
var derivedKeyTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Curve OIDs (RFC 9580 9.2): Ed25519Legacy and Curve25519Legacy.
var (
	oidEd25519Legacy    = []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01}
	oidCurve25519Legacy = []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01}
)

// DeriveKey builds the source reply key from a 32-byte seed: a v4 EdDSA
// (Ed25519 legacy, algorithm 22) primary key for certification and an ECDH
// cv25519 (algorithm 18, KDF SHA-256/AES-256) encryption subkey, with a
// fixed creation time and no expiry. The private halves are included.
//
// The raw key bytes come from HKDF-SHA256 with versioned labels and the
// packets are written here, not by openpgp.NewEntity: that function reads
// randomness for signature salts too, so its output changed between
// go-crypto releases. Ed25519 signatures are deterministic, and the
// salt notation go-crypto would add to v4 signatures is turned off, so the
// same seed always gives the same bytes (pinned by a test vector).
func DeriveKey(seed []byte, userID string) (*openpgp.Entity, error) {
	if len(seed) != 32 {
		return nil, fmt.Errorf("pgp: derive key: seed is %d bytes, want 32", len(seed))
	}
	if userID == "" {
		return nil, errors.New("pgp: derive key: empty user ID")
	}
	edSeed, err := hkdf.Key(sha256.New, seed, nil, labelEd25519, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("pgp: derive key: %w", err)
	}
	scalar, err := hkdf.Key(sha256.New, seed, nil, labelX25519, 32)
	if err != nil {
		return nil, fmt.Errorf("pgp: derive key: %w", err)
	}
	// Clamp as RFC 7748 does; OpenPGP implementations expect the stored
	// scalar already clamped.
	scalar[0] &= 248
	scalar[31] &= 127
	scalar[31] |= 64

	edPub := ed25519.NewKeyFromSeed(edSeed).Public().(ed25519.PublicKey)
	xPriv, err := ecdh.X25519().NewPrivateKey(scalar)
	if err != nil {
		return nil, fmt.Errorf("pgp: derive key: %w", err)
	}
	xPub := xPriv.PublicKey().Bytes()

	primary, err := readPrivateKey(secretKeyPacket(5, 22, oidEd25519Legacy, edPub, nil, edSeed))
	if err != nil {
		return nil, fmt.Errorf("pgp: derive key: primary: %w", err)
	}
	// ECDH KDF parameters: length 3, reserved 1, SHA-256 (8), AES-256 (9).
	kdf := []byte{3, 1, 8, 9}
	// The cv25519 secret is stored big-endian, the reverse of RFC 7748.
	rev := slices.Clone(scalar)
	slices.Reverse(rev)
	sub, err := readPrivateKey(secretKeyPacket(7, 18, oidCurve25519Legacy, xPub, kdf, rev))
	if err != nil {
		return nil, fmt.Errorf("pgp: derive key: subkey: %w", err)
	}

	randSeed, err := hkdf.Key(sha256.New, seed, nil, labelRand, 32)
	if err != nil {
		return nil, fmt.Errorf("pgp: derive key: %w", err)
	}
	off := false
	config := &packet.Config{
		// Nothing below should read randomness; if a future go-crypto does,
		// it reads this seed-derived stream and the key stays reproducible
		// (and the vector test shows the change).
		Rand:                                  hkdfReader(randSeed),
		Time:                                  func() time.Time { return derivedKeyTime },
		DefaultHash:                           crypto.SHA256,
		NonDeterministicSignaturesViaNotation: &off,
	}

	primaryID := true
	self := &packet.Signature{
		Version:              4,
		SigType:              packet.SigTypePositiveCert,
		PubKeyAlgo:           packet.PubKeyAlgoEdDSA,
		Hash:                 crypto.SHA256,
		CreationTime:         derivedKeyTime,
		IssuerKeyId:          &primary.KeyId,
		FlagsValid:           true,
		FlagCertify:          true,
		FlagSign:             true,
		PreferredSymmetric:   []uint8{uint8(packet.CipherAES256), uint8(packet.CipherAES128)},
		PreferredHash:        []uint8{10, 8}, // SHA-512, SHA-256
		PreferredCompression: []uint8{uint8(packet.CompressionZLIB), uint8(packet.CompressionNone)},
		SEIPDv1:              true,
		IsPrimaryId:          &primaryID,
	}
	if err := self.SignUserId(userID, &primary.PublicKey, primary, config); err != nil {
		return nil, fmt.Errorf("pgp: derive key: self-signature: %w", err)
	}
	binding := &packet.Signature{
		Version:                   4,
		SigType:                   packet.SigTypeSubkeyBinding,
		PubKeyAlgo:                packet.PubKeyAlgoEdDSA,
		Hash:                      crypto.SHA256,
		CreationTime:              derivedKeyTime,
		IssuerKeyId:               &primary.KeyId,
		FlagsValid:                true,
		FlagEncryptCommunications: true,
		FlagEncryptStorage:        true,
	}
	if err := binding.SignKey(&sub.PublicKey, primary, config); err != nil {
		return nil, fmt.Errorf("pgp: derive key: binding: %w", err)
	}

	// Write the transferable secret key and read it back, so the Entity is
	// exactly what any reader of these bytes would see.
	var buf bytes.Buffer
	steps := []func() error{
		func() error { return primary.Serialize(&buf) },
		func() error { return writePacket(&buf, 13, []byte(userID)) },
		func() error { return self.Serialize(&buf) },
		func() error { return sub.Serialize(&buf) },
		func() error { return binding.Serialize(&buf) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("pgp: derive key: serialize: %w", err)
		}
	}
	e, err := openpgp.ReadEntity(packet.NewReader(&buf))
	if err != nil {
		return nil, fmt.Errorf("pgp: derive key: re-read: %w", err)
	}
	if _, ok := e.EncryptionKey(derivedKeyTime); !ok {
		return nil, errors.New("pgp: derive key: no usable encryption subkey")
	}
	return e, nil
}

// secretKeyPacket writes an unprotected v4 secret (sub)key packet for an
// elliptic-curve key: public point 0x40||point, optional KDF parameters,
// then the secret as an MPI with its two-byte checksum.
func secretKeyPacket(tag byte, algo byte, oid, point, kdf, secret []byte) []byte {
	var body bytes.Buffer
	body.WriteByte(4)
	_ = binary.Write(&body, binary.BigEndian, uint32(derivedKeyTime.Unix()))
	body.WriteByte(algo)
	body.WriteByte(byte(len(oid)))
	body.Write(oid)
	body.Write(mpi(append([]byte{0x40}, point...)))
	body.Write(kdf)
	body.WriteByte(0) // S2K usage: not encrypted
	s := mpi(secret)
	body.Write(s)
	var sum uint16
	for _, b := range s {
		sum += uint16(b)
	}
	_ = binary.Write(&body, binary.BigEndian, sum)
	var pkt bytes.Buffer
	_ = writePacket(&pkt, tag, body.Bytes())
	return pkt.Bytes()
}

// mpi encodes b as an OpenPGP multiprecision integer.
func mpi(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	n := 0
	if len(b) > 0 {
		n = (len(b)-1)*8 + bits.Len8(b[0])
	}
	return append([]byte{byte(n >> 8), byte(n)}, b...)
}

// writePacket writes a new-format packet header and body (bodies here are
// always below 8384 bytes: two-octet lengths at most).
func writePacket(w io.Writer, tag byte, body []byte) error {
	hdr := []byte{0xC0 | tag}
	switch n := len(body); {
	case n < 192:
		hdr = append(hdr, byte(n))
	case n < 8384:
		n -= 192
		hdr = append(hdr, byte(n>>8)+192, byte(n))
	default:
		return fmt.Errorf("packet of %d bytes too long", n)
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

func readPrivateKey(pkt []byte) (*packet.PrivateKey, error) {
	p, err := packet.Read(bytes.NewReader(pkt))
	if err != nil {
		return nil, err
	}
	k, ok := p.(*packet.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("unexpected packet %T", p)
	}
	return k, nil
}

// hkdfReader is an endless deterministic byte stream from a seed.
func hkdfReader(seed []byte) io.Reader {
	return &hkdfStream{seed: seed}
}

type hkdfStream struct {
	seed    []byte
	counter uint64
	buf     []byte
}

func (s *hkdfStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.buf) == 0 {
			info := fmt.Sprintf("%s %d", labelRand, s.counter)
			s.counter++
			block, err := hkdf.Expand(sha256.New, s.seed, info, 32)
			if err != nil {
				return n, err
			}
			s.buf = block
		}
		c := copy(p[n:], s.buf)
		s.buf = s.buf[c:]
		n += c
	}
	return n, nil
}
