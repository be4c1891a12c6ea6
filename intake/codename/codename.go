// Package codename makes and checks source codenames and turns a codename
// into the source's identity.
//
// A codename is the only secret a source holds: seven words from the EFF
// large list (about 90 bits), shown once and never stored, logged or put in a
// cookie. From it and the instance salt, argon2id (deliberately costly, on
// the bounded kdf.Pool) and then HKDF give two independent values: the source
// id, which is the database lookup key, and the seed of the source's reply
// key. Knowing the id reveals nothing about the seed, and neither reveals
// the codename beyond what a brute-force of argon2id would.
package codename

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/hkdf"

	"postern/mailbox/kdf"
)

// Words is the number of words in a codename.
const Words = 7

// MaxInput bounds what Normalize looks at; anything longer is refused before
// any work. The longest valid codename is well under 100 bytes.
const MaxInput = 512

// ErrInvalid means the input is not a codename. It is deliberately generic:
// errors about codenames never carry the input, since a near miss is still
// most of a secret.
var ErrInvalid = errors.New("codename: not a valid codename")

// HKDF info labels. They are versioned so that a future change of
// derivation can coexist with identities derived today.
const (
	labelSourceID  = "postern source id v1"
	labelReplySeed = "postern reply seed v1"
)

// New returns a fresh codename: seven words drawn with crypto/rand, joined
// by single spaces. It is already normalised.
func New() (string, error) {
	w, err := kdf.RandomWords(Words)
	if err != nil {
		return "", fmt.Errorf("codename: %w", err)
	}
	return strings.Join(w, " "), nil
}

// NewDesignation returns a readable, non-secret label for a source: two
// random words joined by a space. It is no part of any secret; the caller
// retries if the store says it is taken.
func NewDesignation() (string, error) {
	w, err := kdf.RandomWords(2)
	if err != nil {
		return "", fmt.Errorf("codename: designation: %w", err)
	}
	return strings.Join(w, " "), nil
}

// Normalize returns the canonical form of a typed codename: lower case, the
// words separated by single spaces. Any run of white space (Unicode), dashes
// or underscores between words counts as one separator, so "Abacus-Zoom" and
// "abacus  zoom" are the same. There must be exactly seven words, each in
// the list; otherwise ErrInvalid.
func Normalize(s string) (string, error) {
	if len(s) > MaxInput || !utf8.ValidString(s) {
		return "", ErrInvalid
	}
	words := strings.FieldsFunc(strings.ToLower(s), isSeparator)
	if len(words) != Words {
		return "", ErrInvalid
	}
	for _, w := range words {
		if !kdf.IsWord(w) {
			return "", ErrInvalid
		}
	}
	return strings.Join(words, " "), nil
}

func isSeparator(r rune) bool {
	return r == '_' || unicode.IsSpace(r) || unicode.Is(unicode.Pd, r)
}

// Identity is what a codename yields.
type Identity struct {
	// SourceID is the source's lookup key in the store.
	SourceID [32]byte
	// ReplySeed seeds the source's deterministic OpenPGP reply key.
	ReplySeed [32]byte
}

// Derive normalises codename and derives the source's identity:
// argon2id(codename, salt, pr) on the pool, then HKDF-SHA256 with a
// separate versioned label for each output. The HKDF salt is empty: the
// instance salt already went into argon2id. Errors are ErrInvalid,
// kdf.ErrBusy, kdf.ErrParams or ctx.Err().
func Derive(ctx context.Context, p *kdf.Pool, codename string, salt []byte, pr kdf.Params) (Identity, error) {
	norm, err := Normalize(codename)
	if err != nil {
		return Identity{}, err
	}
	key, err := p.Key(ctx, []byte(norm), salt, pr, 32)
	if err != nil {
		return Identity{}, fmt.Errorf("codename: derive: %w", err)
	}
	defer clear(key)
	var id Identity
	if err := expand(key, labelSourceID, id.SourceID[:]); err != nil {
		return Identity{}, err
	}
	if err := expand(key, labelReplySeed, id.ReplySeed[:]); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func expand(key []byte, label string, out []byte) error {
	if _, err := io.ReadFull(hkdf.New(sha256.New, key, nil, []byte(label)), out); err != nil {
		return fmt.Errorf("codename: hkdf: %w", err)
	}
	return nil
}
