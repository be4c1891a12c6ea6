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
	// Compress asks for ZLIB inside the encryption (1.44x instead of 1.89x
	// for base64 mail of incompressible files). OpenPGP lets a sender
	// compress only with an algorithm every recipient lists in its
	// preferences, so compression silently does not happen when one
	// recipient's key omits ZLIB; CompressionApplies tells in advance.
	Compress bool
}

// encryptConfig is the one place the encryption parameters are chosen.
// AEADConfig stays nil on purpose: with it go-crypto writes SEIPDv2, which
// Thunderbird 153, gpg 2.2, rnp 0.16 and sq cannot all read.
func encryptConfig() *packet.Config {
	return &packet.Config{DefaultCipher: packet.CipherAES256}
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
//
// With Compress (and every recipient listing ZLIB), the writer also has
// SetIncompressible (see Incompressible): the compressed packet is ours
// (zlibPacket), the rest is go-crypto's, chosen as openpgp.Encrypt would.
func Encrypt(w io.Writer, to []*openpgp.Entity, opts EncryptOptions) (io.WriteCloser, error) {
	if len(to) == 0 {
		return nil, errors.New("pgp: encrypt: no recipients")
	}
	config := encryptConfig()
	if !opts.Compress || !CompressionApplies(to) {
		pt, err := openpgp.Encrypt(w, to, nil, &openpgp.FileHints{IsBinary: true}, config)
		if err != nil {
			return nil, fmt.Errorf("pgp: encrypt: %w", err)
		}
		return pt, nil
	}
	cipher := config.DefaultCipher
	keys := make([]openpgp.Key, len(to))
	for i, e := range to {
		k, ok := e.EncryptionKey(config.Now())
		if !ok {
			return nil, fmt.Errorf("pgp: encrypt: key %X has no valid encryption key", e.PrimaryKey.Fingerprint)
		}
		keys[i] = k
		sig, _ := e.PrimarySelfSignature()
		if sig == nil || !slices.Contains(sig.PreferredSymmetric, uint8(cipher)) {
			// AES-128 is the algorithm every OpenPGP implementation must read.
			cipher = packet.CipherAES128
		}
	}
	session := make([]byte, cipher.KeySize())
	if _, err := io.ReadFull(config.Random(), session); err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	for _, k := range keys {
		if err := packet.SerializeEncryptedKeyAEAD(w, k.PublicKey, cipher, false, session, config); err != nil {
			return nil, fmt.Errorf("pgp: encrypt: %w", err)
		}
	}
	contents, err := packet.SerializeSymmetricallyEncrypted(w, cipher, false, packet.CipherSuite{}, session, config)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	z, err := newZlibPacket(contents)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	lit, err := packet.SerializeLiteral(z, true, "", 0)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	return &compressing{WriteCloser: lit, z: z}, nil
}

// compressing is Encrypt's writer when it compresses.
type compressing struct {
	io.WriteCloser // the literal data packet, inside z
	z              *zlibPacket
}

func (c *compressing) SetIncompressible(on bool) error { return c.z.SetIncompressible(on) }

// Incompressible tells Encrypt's writer w that what follows holds no
// repeats (on) or is ordinary data again (off), so that it codes it
// faster. It is a hint: a wrong one costs only speed or size, and a writer
// that does not compress ignores it.
func Incompressible(w io.Writer, on bool) error {
	if c, ok := w.(interface{ SetIncompressible(bool) error }); ok {
		return c.SetIncompressible(on)
	}
	return nil
}
