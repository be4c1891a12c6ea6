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
	// Incompressible: the data starts incompressible (base64 of files),
	// so the first segment is Huffman-only (as if Incompressible(w, true)
	// were called first, without making a level-1 compressor for nothing).
	Incompressible bool
	// Buffers, when set, lends the large per-message allocations.
	Buffers *Buffers
	// Parallel: what follows the encryption (armor, files) is written on
	// a goroutine of its own (asyncWriter), for large messages: two cores
	// then share the work. Close waits for it.
	Parallel bool
	pad      bool // EncryptPadded
}

// sessionCipher is the one cipher Postern encrypts with. It is not
// negotiated from the recipients' preferences: one journalist key whose
// preferences omit AES-256 (gpg setpref, an old key) would otherwise drop
// every message to every recipient to AES-128. Every reader the project
// targets (Thunderbird, gpg, rnp, sq, go-crypto) reads AES-256 whatever its
// key advertises.
const sessionCipher = packet.CipherAES256

// encryptConfig is the one place the other encryption parameters are
// chosen. AEADConfig stays nil on purpose: with it go-crypto writes SEIPDv2,
// which Thunderbird 153, gpg 2.2, rnp 0.16 and sq cannot all read.
func encryptConfig() *packet.Config {
	return &packet.Config{DefaultCipher: sessionCipher}
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
// and written as binary OpenPGP to w: one PKESK v3 per recipient, then
// SEIPDv1 (with MDC) under AES-256 whatever the recipients' preferences
// say, holding a binary literal data packet with no name and no date.
// Nothing is signed: the relay has no key a reader should trust. The data
// streams; Close flushes and must be called.
//
// The packets are written here rather than by openpgp.Encrypt, which picks
// the cipher from the intersection of the recipients' preferences.
//
// With Compress (and every recipient listing ZLIB), the literal data sits
// in a ZLIB compressed packet of ours (zlibPacket) and the writer has
// SetIncompressible (see Incompressible).
func Encrypt(w io.Writer, to []*openpgp.Entity, opts EncryptOptions) (io.WriteCloser, error) {
	if len(to) == 0 {
		return nil, errors.New("pgp: encrypt: no recipients")
	}
	config := encryptConfig()
	keys := make([]openpgp.Key, len(to))
	for i, e := range to {
		k, ok := e.EncryptionKey(config.Now())
		if !ok {
			return nil, fmt.Errorf("pgp: encrypt: key %X has no valid encryption key", e.PrimaryKey.Fingerprint)
		}
		keys[i] = k
	}
	session := make([]byte, sessionCipher.KeySize())
	// The cipher keeps its own key schedule: the session key is not needed
	// past this function, and it opens the whole message.
	defer clear(session)
	if _, err := io.ReadFull(config.Random(), session); err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	for _, k := range keys {
		if err := packet.SerializeEncryptedKeyAEAD(w, k.PublicKey, sessionCipher, false, session, config); err != nil {
			return nil, fmt.Errorf("pgp: encrypt: %w", err)
		}
	}
	var out io.WriteCloser = nopCloser{w}
	var async *asyncWriter
	if opts.Parallel {
		async = newAsyncWriter(w, opts.Buffers)
		out = async
	}
	ok := false
	defer func() {
		if !ok {
			out.Close() // lets the goroutine go
		}
	}()
	seipd, err := newSEIPD(out, session, config.Random(), opts.Buffers)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	compress := opts.Compress && CompressionApplies(to)
	if !compress && !opts.pad {
		lit, err := packet.SerializeLiteral(seipd, true, "", 0)
		if err != nil {
			return nil, fmt.Errorf("pgp: encrypt: %w", err)
		}
		ok = true
		return lit, nil
	}
	z, err := newZlibPacket(seipd, !compress, opts.Incompressible, opts.Buffers)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	z.seipd = seipd
	if opts.pad {
		// The literal packet's Close must not end the deflate stream:
		// the padding follows it.
		lit, err := packet.SerializeLiteral(nopCloser{z}, true, "", 0)
		if err != nil {
			return nil, fmt.Errorf("pgp: encrypt: %w", err)
		}
		ok = true
		return &Padded{lit: lit, z: z, async: async}, nil
	}
	lit, err := packet.SerializeLiteral(z, true, "", 0)
	if err != nil {
		return nil, fmt.Errorf("pgp: encrypt: %w", err)
	}
	ok = true
	return &compressing{WriteCloser: lit, z: z}, nil
}

// EncryptPadded is Encrypt for a message whose length is then padded (see
// Padded): the data always sits in a compressed data packet, which holds
// the padding. Without Compress (or when a recipient does not list ZLIB)
// the packet holds stored deflate blocks, which every reader decodes
// whatever its key's preferences say.
func EncryptPadded(w io.Writer, to []*openpgp.Entity, opts EncryptOptions) (*Padded, error) {
	opts.pad = true
	wc, err := Encrypt(w, to, opts)
	if err != nil {
		return nil, err
	}
	return wc.(*Padded), nil
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
