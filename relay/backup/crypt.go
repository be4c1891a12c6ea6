package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"

	"postern/mailbox/pgp"
)

// ErrKey means the secret key cannot open the backup: not the key it was made
// for, a wrong passphrase, or not a usable secret key.
var ErrKey = errors.New("backup: key does not open this backup")

// Encrypt wraps w so that what is written is encrypted to the admin's key
// (validated with pgp.ParsePublicKey by the caller). No compression: the
// blobs are ciphertext already.
func Encrypt(w io.Writer, to *openpgp.Entity) (io.WriteCloser, error) {
	return pgp.Encrypt(w, []*openpgp.Entity{to}, pgp.EncryptOptions{})
}

// ReadSecretKey parses an armored or binary secret key (or keyring). When a
// private key is protected, passphrase is asked once and every protected key
// is unlocked with it.
func ReadSecretKey(data []byte, passphrase func() ([]byte, error)) (openpgp.EntityList, error) {
	var el openpgp.EntityList
	var err error
	if block, aerr := armor.Decode(bytes.NewReader(data)); aerr == nil {
		if block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("%w: the key file holds a %s, not a secret key", ErrKey, block.Type)
		}
		el, err = openpgp.ReadKeyRing(block.Body)
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the secret key: %v", ErrKey, err)
	}
	locked, secret := false, false
	for _, e := range el {
		if e.PrivateKey != nil {
			secret = true
			locked = locked || e.PrivateKey.Encrypted
		}
		for _, s := range e.Subkeys {
			if s.PrivateKey != nil {
				secret = true
				locked = locked || s.PrivateKey.Encrypted
			}
		}
	}
	if !secret {
		return nil, fmt.Errorf("%w: the key file holds no secret key (export it with gpg --export-secret-keys)", ErrKey)
	}
	if !locked {
		return el, nil
	}
	if passphrase == nil {
		return nil, fmt.Errorf("%w: the secret key is protected by a passphrase and none can be asked for", ErrKey)
	}
	pass, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("%w: passphrase: %v", ErrKey, err)
	}
	defer clear(pass)
	for _, e := range el {
		if err := e.DecryptPrivateKeys(pass); err != nil {
			return nil, fmt.Errorf("%w: wrong passphrase for the secret key", ErrKey)
		}
	}
	return el, nil
}

// Decrypt opens an encrypted backup. The returned reader yields the archive;
// its integrity check runs when it is read to the end (Extract does), and a
// failure there is an error from the reader.
func Decrypt(r io.Reader, keys openpgp.EntityList) (io.Reader, error) {
	in := &countReader{r: r}
	md, err := openpgp.ReadMessage(in, keys, nil, nil)
	if err != nil {
		if errors.Is(err, pgperrors.ErrKeyIncorrect) {
			return nil, fmt.Errorf("%w: it is encrypted to another key", ErrKey)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the file is empty or ends too early (truncated?)", ErrArchive)
		}
		return nil, fmt.Errorf("%w: not an OpenPGP-encrypted backup: %v", ErrArchive, err)
	}
	if !md.IsEncrypted {
		return nil, fmt.Errorf("%w: the file is OpenPGP but not encrypted; a decrypted archive is restored with --plain", ErrArchive)
	}
	return &pgpReader{r: md.UnverifiedBody, in: in}, nil
}

// expandSlack is how far the decrypted stream may run ahead of the
// ciphertext read so far: OpenPGP's own buffering, never compression.
const expandSlack = 1 << 20

// pgpReader marks errors of the decryption stream (integrity check failures,
// truncation) as archive errors. It also refuses a stream that decrypts to
// more bytes than its ciphertext holds: relay backups are never compressed,
// and a forged one (anyone with the admin's public key can make one) would
// otherwise fill the disk with a small compressed file before the
// signature check at its end refuses it.
type pgpReader struct {
	r     io.Reader
	in    *countReader
	plain int64
}

func (p *pgpReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.plain += int64(n)
	if p.plain > p.in.n+expandSlack {
		return n, fmt.Errorf("%w: it decrypts to more than its own size (compressed inside the encryption): not a relay backup", ErrArchive)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("%w: the encrypted stream ends too early (truncated?)", ErrArchive)
		}
		return n, fmt.Errorf("%w: the encrypted stream fails its integrity check: %v", ErrArchive, err)
	}
	return n, err
}
