package pgp

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// EncryptOptions tunes Encrypt.
type EncryptOptions struct {
	// Compress asks for ZLIB (level 1: ~200 MB/s, 1.44x instead of 1.89x
	// for base64 mail) inside the encryption. OpenPGP lets a sender
	// compress only with an algorithm every recipient lists in its
	// preferences, so compression silently does not happen when one
	// recipient's key omits ZLIB; CompressionApplies tells in advance.
	Compress bool
}

// encryptConfig is the one place the encryption parameters are chosen.
// AEADConfig stays nil on purpose: with it go-crypto writes SEIPDv2, which
// Thunderbird 153, gpg 2.2, rnp 0.16 and sq cannot all read.
func encryptConfig(opts EncryptOptions) *packet.Config {
	c := &packet.Config{DefaultCipher: packet.CipherAES256}
	if opts.Compress {
		c.DefaultCompressionAlgo = packet.CompressionZLIB
		c.CompressionConfig = &packet.CompressionConfig{Level: 1}
	}
	return c
}

// CompressionApplies reports whether Encrypt with Compress would really
// compress for these recipients, i.e. whether every one lists ZLIB.
func CompressionApplies(to []*openpgp.Entity) bool {
	if len(to) == 0 {
		return false
	}
	for _, e := range to {
		sig, _ := e.PrimarySelfSignature()
		if sig == nil || !slices.Contains(sig.PreferredCompression, uint8(packet.CompressionZLIB)) {
			return false
		}
	}
	return true
}

// Encrypt returns a writer whose plaintext is encrypted to every recipient
// and written as binary OpenPGP (PKESK v3 + SEIPDv1, AES-256 unless a
// recipient does not list it) to w. Nothing is signed: the relay has no key
// a reader should trust. The data streams; Close flushes and must be called.
func Encrypt(w io.Writer, to []*openpgp.Entity, opts EncryptOptions) (io.WriteCloser, error) {
	if len(to) == 0 {
		return nil, errors.New("pgp: encrypt: no recipients")
	}
	pt, err := openpgp.Encrypt(w, to, nil, &openpgp.FileHints{IsBinary: true}, encryptConfig(opts))
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	return pt, nil
}
