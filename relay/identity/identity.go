// Package identity holds an instance's identity key: an Ed25519 key made at
// `relay init` and kept in DATA/instance.key (0600). `relay backup` signs every
// archive with it, and `relay restore --instance FINGERPRINT` accepts only an
// archive signed by that key, so a backup forged with nothing but the admin's
// public key (or made on another instance) is refused.
//
// Plain Ed25519 (crypto/ed25519), not an OpenPGP key: the key signs one thing,
// Postern's own manifest, and nothing but Postern verifies it. An OpenPGP key
// would bring subkeys, expiry, revocation and a packet parser run on archive
// contents, none of which this needs. The fingerprint is the public key
// itself (base32, like a v3 onion address, with a checksum that catches a typo
// before it looks like a forgery): restore needs nothing from the archive to
// know whom to trust.
//
// The key leaves the data directory only inside backups (encrypted to the
// admin), so a restored instance keeps its identity and signs its next backups
// with the same key.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"postern/mailbox/store"
	"strings"
	"time"
)

// FileName is the key's file in the data directory.
const FileName = "instance.key"

// maxFile bounds what is read as a key file.
const maxFile = 4 << 10

// version is the fingerprint's version byte.
const version = 1

// ErrNoKey means the data directory has no identity key (an instance made
// before identity keys existed).
var ErrNoKey = errors.New("identity: no instance key")

// ErrFingerprint means a string is not an instance fingerprint.
var ErrFingerprint = errors.New("not an instance fingerprint (56 letters and digits, as relay status or relay backup print it)")

// Key is an instance's private identity key.
type Key struct{ priv ed25519.PrivateKey }

// Fingerprint names an instance: its Ed25519 public key.
type Fingerprint [ed25519.PublicKeySize]byte

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// String is 56 lowercase base32 characters: key, 2-byte checksum, version.
func (f Fingerprint) String() string {
	b := append(f[:], checksum(f)...)
	b = append(b, version)
	return strings.ToLower(b32.EncodeToString(b))
}

func checksum(f Fingerprint) []byte {
	h := sha256.New()
	h.Write([]byte(".postern instance fingerprint"))
	h.Write(f[:])
	h.Write([]byte{version})
	return h.Sum(nil)[:2]
}

// ParseFingerprint reads a fingerprint as String writes it; case, spaces and
// dashes are ignored.
func ParseFingerprint(s string) (Fingerprint, error) {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(s))
	var f Fingerprint
	b, err := b32.DecodeString(s)
	if err != nil || len(s) != 56 || len(b) != len(f)+3 || b[len(b)-1] != version {
		return Fingerprint{}, ErrFingerprint
	}
	copy(f[:], b)
	if string(checksum(f)) != string(b[len(f):len(f)+2]) {
		return Fingerprint{}, fmt.Errorf("%w: its checksum does not match (a typo?)", ErrFingerprint)
	}
	return f, nil
}

// Generate makes a new key.
func Generate() (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("identity: %w", err)
	}
	return Key{priv: priv}, nil
}

// Fingerprint returns the key's fingerprint.
func (k Key) Fingerprint() Fingerprint {
	var f Fingerprint
	copy(f[:], k.priv.Public().(ed25519.PublicKey))
	return f
}

// IsZero reports whether k holds no key.
func (k Key) IsZero() bool { return k.priv == nil }

// signed is what is really signed: a label that separates what this key signs
// from anything else it could ever sign, then msg.
func signed(purpose string, msg []byte) []byte {
	return append([]byte("postern instance signature\x00"+purpose+"\x00"), msg...)
}

// Sign signs msg for purpose (a fixed label such as "backup manifest v2").
func (k Key) Sign(purpose string, msg []byte) []byte {
	return ed25519.Sign(k.priv, signed(purpose, msg))
}

// Verify checks that sig is f's signature of msg for purpose.
func Verify(f Fingerprint, purpose string, msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(f[:], signed(purpose, msg), sig)
}

// Marshal encodes the key as a PEM PKCS#8 private key (what `openssl pkey`
// reads).
func (k Key) Marshal() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Parse decodes a key file as Marshal writes it.
func Parse(b []byte) (Key, error) {
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" || strings.TrimSpace(string(rest)) != "" {
		return Key{}, errors.New("identity: not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("identity: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return Key{}, errors.New("identity: not an Ed25519 key")
	}
	return Key{priv: priv}, nil
}

// Load reads DIR/instance.key; ErrNoKey when there is none.
func Load(dir string) (Key, error) {
	// Without moving its access time: every start reads it (see
	// mailbox/store's file times).
	f, err := store.OpenNoAtime(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return Key{}, ErrNoKey
	}
	if err != nil {
		return Key{}, fmt.Errorf("identity: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile))
	if err != nil {
		return Key{}, fmt.Errorf("identity: %w", err)
	}
	k, err := Parse(b)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	return k, nil
}

// Create makes a new key in DIR/instance.key (0600, never replacing a file)
// and makes it durable before returning.
func Create(dir string) (Key, error) {
	k, err := Generate()
	if err != nil {
		return Key{}, err
	}
	b, err := k.Marshal()
	if err != nil {
		return Key{}, err
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("identity: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return Key{}, fmt.Errorf("identity: %w", err)
	}
	// Like every file time the relay sets: the day, not the second.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	os.Chtimes(path, day, day)
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return k, nil
}

// LoadOrCreate loads DIR/instance.key, creating it first when the instance
// has none (created is then true: the caller says so once).
func LoadOrCreate(dir string) (k Key, created bool, err error) {
	k, err = Load(dir)
	if !errors.Is(err, ErrNoKey) {
		return k, false, err
	}
	k, err = Create(dir)
	if errors.Is(err, os.ErrExist) { // made meanwhile by another process
		k, err = Load(dir)
		return k, false, err
	}
	return k, err == nil, err
}
