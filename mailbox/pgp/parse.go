package pgp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// maxKeyBytes bounds what ParsePublicKey reads. A minimal export of a
// sane key is a few KiB; a key with thousands of third-party signatures is
// not something a journalist needs the relay to carry.
const maxKeyBytes = 1 << 20

// refuse builds the error of a rejected key: ErrKey plus one line of reason.
func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrKey, fmt.Sprintf(format, args...))
}

// ParsePublicKey reads exactly one public key, armored or binary, and checks
// it against Postern's rules: a v4 key, not revoked, not expired, with a
// valid encryption-capable key, made of RSA of at least 3072 bits or of
// Curve25519 (EdDSA/Ed25519 with ECDH cv25519/X25519). Every refusal wraps
// ErrKey with a one-line reason an admin can act on.
func ParsePublicKey(data []byte) (*openpgp.Entity, KeyInfo, error) {
	return parsePublicKey(data, time.Now())
}

func parsePublicKey(data []byte, now time.Time) (*openpgp.Entity, KeyInfo, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, KeyInfo{}, refuse("empty input")
	}
	if len(data) > maxKeyBytes {
		return nil, KeyInfo{}, refuse("larger than 1 MiB; export it with gpg --export --armor --export-options export-minimal")
	}
	bin, err := dearmor(data)
	if err != nil {
		return nil, KeyInfo{}, err
	}
	if firstPacketTag(bin) == 5 {
		return nil, KeyInfo{}, refuse("this is a secret key; export the public key with gpg --export --armor")
	}
	e, err := readOne(bin)
	if err != nil {
		return nil, KeyInfo{}, err
	}
	info, err := check(e, now)
	if err != nil {
		return nil, KeyInfo{}, err
	}
	return e, info, nil
}

// dearmor returns the binary packets of data, which may be armored.
func dearmor(data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte("-----BEGIN PGP ")) {
		return data, nil
	}
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, refuse("damaged armor (%s)", oneLine(err))
	}
	switch block.Type {
	case openpgp.PublicKeyType:
	case openpgp.PrivateKeyType:
		return nil, refuse("this is a secret key; export the public key with gpg --export --armor")
	default:
		return nil, refuse("armored %q, not a PGP PUBLIC KEY BLOCK", block.Type)
	}
	bin, err := io.ReadAll(io.LimitReader(block.Body, maxKeyBytes))
	if err != nil {
		return nil, refuse("damaged armor (%s)", oneLine(err))
	}
	return bin, nil
}

// firstPacketTag returns the tag of the first packet header, or -1.
func firstPacketTag(b []byte) int {
	if len(b) == 0 || b[0]&0x80 == 0 {
		return -1
	}
	if b[0]&0x40 != 0 {
		return int(b[0] & 0x3f)
	}
	return int(b[0]>>2) & 0x0f
}

// readOne parses the packets as exactly one transferable key. Unlike
// openpgp.ReadKeyRing it does not skip keys it cannot read: a key ring with
// one usable key and one odd one is still two keys, and the admin should
// know.
func readOne(bin []byte) (*openpgp.Entity, error) {
	packets := packet.NewReader(bytes.NewReader(bin))
	var list []*openpgp.Entity
	for {
		e, err := openpgp.ReadEntity(packets)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(list) == 0 {
				return nil, refuse("not an OpenPGP public key (%s)", oneLine(err))
			}
			return nil, refuse("more than one key, or trailing garbage (%s)", oneLine(err))
		}
		list = append(list, e)
		if len(list) > 1 {
			return nil, refuse("more than one key; export exactly one")
		}
	}
	if len(list) == 0 {
		return nil, refuse("no key found")
	}
	return list[0], nil
}

// check applies Postern's rules to a parsed key.
func check(e *openpgp.Entity, now time.Time) (KeyInfo, error) {
	pk := e.PrimaryKey
	hasSecret := e.PrivateKey != nil
	for _, sk := range e.Subkeys {
		hasSecret = hasSecret || sk.PrivateKey != nil
	}
	if hasSecret {
		return KeyInfo{}, refuse("this is a secret key; export the public key with gpg --export --armor")
	}
	if pk.Version != 4 {
		return KeyInfo{}, refuse("version %d key; Thunderbird and gpg 2.2 need a version 4 key", pk.Version)
	}
	algo, bits, err := keyAlgorithm(pk)
	if err != nil {
		return KeyInfo{}, err
	}
	if e.Revoked(now) {
		return KeyInfo{}, refuse("the key is revoked")
	}
	self, ident := e.PrimarySelfSignature()
	if self == nil {
		return KeyInfo{}, refuse("no valid self-signed user ID")
	}
	if ident != nil && ident.Revoked(now) {
		return KeyInfo{}, refuse("the primary user ID is revoked")
	}
	var expires time.Time
	if self.KeyLifetimeSecs != nil && *self.KeyLifetimeSecs != 0 {
		expires = pk.CreationTime.Add(time.Duration(*self.KeyLifetimeSecs) * time.Second)
	}
	if pk.KeyExpired(self, now) || self.SigExpired(now) {
		if pk.CreationTime.After(now) {
			return KeyInfo{}, refuse("the key is created in the future (%s)", pk.CreationTime.UTC().Format(time.DateOnly))
		}
		return KeyInfo{}, refuse("the key expired on %s", expires.UTC().Format(time.DateOnly))
	}
	enc, ok := e.EncryptionKey(now)
	if !ok {
		return KeyInfo{}, refuse("%s", whyNoEncryptionKey(e, now))
	}
	if _, _, err := keyAlgorithm(enc.PublicKey); err != nil {
		return KeyInfo{}, fmt.Errorf("%w (encryption subkey)", err)
	}
	info := KeyInfo{
		Fingerprint: strings.ToUpper(fmt.Sprintf("%x", pk.Fingerprint)),
		Algorithm:   algo,
		Bits:        bits,
		Created:     pk.CreationTime.UTC(),
	}
	if !expires.IsZero() {
		info.Expires = expires.UTC()
	}
	for id, ident := range e.Identities {
		if !ident.Revoked(now) {
			info.UserIDs = append(info.UserIDs, id)
		}
	}
	slices.Sort(info.UserIDs)
	return info, nil
}

// keyAlgorithm accepts RSA >= 3072 bits and Curve25519, and names it.
func keyAlgorithm(pk *packet.PublicKey) (string, int, error) {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoRSAEncryptOnly:
		bits, err := pk.BitLength()
		if err != nil {
			return "", 0, refuse("unreadable RSA key")
		}
		if bits < 3072 {
			return "", 0, refuse("RSA key of %d bits; at least 3072 are required (or use Curve25519)", bits)
		}
		return "RSA", int(bits), nil
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDH, packet.PubKeyAlgoEd25519, packet.PubKeyAlgoX25519:
		curve, err := pk.Curve()
		if err != nil {
			return "", 0, refuse("unknown elliptic curve")
		}
		if curve != packet.Curve25519 {
			return "", 0, refuse("elliptic curve %s; only Curve25519 is accepted", curve)
		}
		return "Curve25519", 255, nil
	case packet.PubKeyAlgoECDSA:
		curve, _ := pk.Curve()
		return "", 0, refuse("ECDSA key on curve %s; only RSA >= 3072 or Curve25519 are accepted", curve)
	case packet.PubKeyAlgoDSA:
		return "", 0, refuse("DSA key; only RSA >= 3072 or Curve25519 are accepted")
	case packet.PubKeyAlgoElGamal:
		return "", 0, refuse("ElGamal key; only RSA >= 3072 or Curve25519 are accepted")
	default:
		return "", 0, refuse("public-key algorithm %d; only RSA >= 3072 or Curve25519 are accepted", pk.PubKeyAlgo)
	}
}

// whyNoEncryptionKey explains why EncryptionKey found nothing.
func whyNoEncryptionKey(e *openpgp.Entity, now time.Time) string {
	var expired, revoked int
	candidates := 0
	for _, sk := range e.Subkeys {
		if sk.Sig == nil || !sk.Sig.FlagsValid || !sk.Sig.FlagEncryptCommunications || !sk.PublicKey.PubKeyAlgo.CanEncrypt() {
			continue
		}
		candidates++
		switch {
		case sk.Revoked(now):
			revoked++
		case sk.PublicKey.KeyExpired(sk.Sig, now) || sk.Sig.SigExpired(now):
			expired++
		}
	}
	switch {
	case candidates == 0:
		return "no encryption subkey; add one with gpg --quick-add-key FPR cv25519 encr"
	case expired == candidates:
		return "every encryption subkey has expired"
	case revoked == candidates:
		return "every encryption subkey is revoked"
	case expired+revoked == candidates:
		return "every encryption subkey is expired or revoked"
	default:
		return "no valid encryption subkey"
	}
}

// oneLine keeps library errors to one short line.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
