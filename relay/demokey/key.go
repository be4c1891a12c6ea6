// Package demokey makes random Curve25519 OpenPGP keys for `relay demo`
// and for tests: the kind of key a journalist makes in Thunderbird.
package demokey

import (
	"bytes"
	"crypto"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// KeyPair is a freshly generated OpenPGP key, armored both ways.
type KeyPair struct {
	Fingerprint string
	Public      []byte // armored public key
	Secret      []byte // armored secret key, unprotected (for a demo import)
}

// New makes a random v4 Curve25519 key (EdDSA primary, ECDH cv25519
// encryption subkey) like the one a journalist would make in Thunderbird.
// It is random on purpose: unlike a source's reply key, nothing needs to
// re-derive it. No AEAD settings: Thunderbird 153 reads only SEIPDv1.
func New(name, email string) (KeyPair, error) {
	cfg := &packet.Config{
		Algorithm:     packet.PubKeyAlgoEdDSA,
		Curve:         packet.Curve25519,
		DefaultHash:   crypto.SHA256,
		DefaultCipher: packet.CipherAES256,
		// Listed in the key's preferences, as Thunderbird's and gpg's
		// keys do: without it the relay may not compress, and the demo
		// would never show the size journalists really get.
		DefaultCompressionAlgo: packet.CompressionZLIB,
	}
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return KeyPair{}, fmt.Errorf("demokey: key: %w", err)
	}
	pub, err := armored(openpgp.PublicKeyType, e.Serialize)
	if err != nil {
		return KeyPair{}, err
	}
	sec, err := armored(openpgp.PrivateKeyType, func(w io.Writer) error { return e.SerializePrivate(w, cfg) })
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
		Public:      pub,
		Secret:      sec,
	}, nil
}

func armored(blockType string, write func(io.Writer) error) ([]byte, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, blockType, nil)
	if err != nil {
		return nil, fmt.Errorf("demokey: armor: %w", err)
	}
	if err := write(w); err != nil {
		return nil, fmt.Errorf("demokey: armor: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("demokey: armor: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
