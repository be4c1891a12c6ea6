// Package pgp holds Postern's OpenPGP rules: which public keys a journalist
// may register, how a source's reply key is derived from its codename seed,
// and how plaintext is encrypted so that Thunderbird, gpg, rnp and sq can
// all read it (v4 keys, PKESK v3 + SEIPDv1, AES-256, never AEAD).
package pgp

import (
	"errors"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// ErrKey is wrapped by every refusal of ParsePublicKey; the wrapping error
// carries a one-line reason fit to show an admin.
var ErrKey = errors.New("unusable OpenPGP key")

// KeyInfo summarises an accepted public key for display and storage.
type KeyInfo struct {
	Fingerprint string // upper-case hex, 40 characters (v4)
	Algorithm   string
	Bits        int
	Created     time.Time
	Expires     time.Time // zero: never
	UserIDs     []string
}

// EncryptOptions tunes Encrypt.
type EncryptOptions struct {
	// Compress asks for ZLIB level 1 inside the encryption. It takes effect
	// only when every recipient's self-signature lists ZLIB (RFC 4880
	// 13.3.2); otherwise the data is stored uncompressed.
	Compress bool
}

// ParsePublicKey reads exactly one public key, armored or binary, and
// checks it against Postern's rules.
func ParsePublicKey(data []byte) (*openpgp.Entity, KeyInfo, error) {
	return nil, KeyInfo{}, errors.New("pgp: not implemented")
}

// Serialize returns the binary transferable public key.
func Serialize(e *openpgp.Entity) []byte { return nil }

// Armor returns the armored public key with LF line endings.
func Armor(e *openpgp.Entity) ([]byte, error) { return nil, errors.New("pgp: not implemented") }

// DeriveKey builds the source reply key from a 32-byte seed.
func DeriveKey(seed []byte, userID string) (*openpgp.Entity, error) {
	return nil, errors.New("pgp: not implemented")
}

// Encrypt returns a writer whose plaintext is encrypted to the recipients
// and written, binary, to w. Close it to flush.
func Encrypt(w io.Writer, to []*openpgp.Entity, opts EncryptOptions) (io.WriteCloser, error) {
	return nil, errors.New("pgp: not implemented")
}
