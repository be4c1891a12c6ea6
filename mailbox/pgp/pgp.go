// Package pgp holds Postern's OpenPGP rules: which public keys a journalist
// may register, how a source's reply key is derived from its codename seed,
// and how plaintext is encrypted so that Thunderbird, gpg, rnp and sq can
// all read it.
//
// Everything here stays on the side of OpenPGP that Thunderbird 153, gpg 2.2,
// rnp and sq share: v4 keys, PKESK v3 + SEIPDv1 (with MDC), AES-256. AEAD
// (SEIPDv2) is never produced, because none of those readers opens it.
package pgp

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// ErrKey is wrapped by every refusal of ParsePublicKey; the wrapping error
// carries a one-line reason fit to show an admin.
var ErrKey = errors.New("unusable OpenPGP key")

// KeyInfo summarises an accepted public key for display and storage.
type KeyInfo struct {
	Fingerprint string // upper-case hex, 40 characters (v4)
	Algorithm   string // "RSA" or "Curve25519"
	Bits        int    // modulus bits for RSA, 255 for Curve25519
	Created     time.Time
	Expires     time.Time // of the primary key; zero means never
	UserIDs     []string  // sorted
}

// Serialize returns the binary transferable public key (no secret material
// even when e holds some). It returns nil only for an entity that cannot be
// serialized at all, which ParsePublicKey and DeriveKey never return.
func Serialize(e *openpgp.Entity) []byte {
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return nil
	}
	return buf.Bytes()
}

// Armor returns the armored public key with LF line endings and no armor
// headers (a Version header would only fingerprint the software).
func Armor(e *openpgp.Entity) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("pgp: armor: %w", err)
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("pgp: armor: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("pgp: armor: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
