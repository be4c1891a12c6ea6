// Package codename makes and checks source codenames and turns a codename
// into the source's identity.
//
// A codename is the only secret a source holds: seven words from the EFF
// large list less the words nobody wants to write down (removed.txt; 7,421
// words, 90 bits for seven), shown once and never stored, logged or put in a
// cookie. From it and the instance salt, argon2id (deliberately costly, on
// the bounded kdf.Pool) and then HKDF give two independent values: the source
// id, which is the database lookup key, and the seed of the source's reply
// key. Knowing the id reveals nothing about the seed, and neither reveals
// the codename beyond what a brute-force of argon2id would.
package codename

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
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

//go:embed removed.txt
var removedText string

// removed is the set of words of removed.txt; drawList is the word list
// less those, sorted. Both are built once and never modified.
var (
	removed = sync.OnceValue(func() map[string]bool {
		set := map[string]bool{}
		for _, line := range strings.Split(removedText, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			for _, w := range strings.Fields(line) {
				set[w] = true
			}
		}
		return set
	})
	drawList = sync.OnceValue(func() []string {
		var out []string
		for _, w := range kdf.WordList() {
			if !removed()[w] {
				out = append(out, w)
			}
		}
		return out
	})
)

// randomWords draws n words uniformly and independently from drawList.
func randomWords(n int) ([]string, error) {
	list := drawList()
	size := big.NewInt(int64(len(list)))
	out := make([]string, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, size)
		if err != nil {
			return nil, err
		}
		out[i] = list[k.Int64()]
	}
	return out, nil
}

// New returns a fresh codename: seven words drawn with crypto/rand from the
// curated list, joined by single spaces. It is already normalised.
func New() (string, error) {
	w, err := randomWords(Words)
	if err != nil {
		return "", fmt.Errorf("codename: %w", err)
	}
	return strings.Join(w, " "), nil
}

// NewDesignation returns a readable, non-secret label for a source: two
// random words of the curated list joined by a space. It is no part of any
// secret; the caller retries if the store says it is taken.
func NewDesignation() (string, error) {
	w, err := randomWords(2)
	if err != nil {
		return "", fmt.Errorf("codename: designation: %w", err)
	}
	return strings.Join(w, " "), nil
}

// WordError says which word of a typed codename is not on the list, so the
// form can point at it ("the third word is not one of ours"). The list is
// public: this tells nothing about whether any codename exists. It carries
// the position only, never the word.
type WordError struct{ Position int } // 1-based

func (e *WordError) Error() string {
	return fmt.Sprintf("codename: word %d is not on the list", e.Position)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *WordError) Is(target error) bool { return target == ErrInvalid }

// CountError says a typed codename has the wrong number of words.
type CountError struct{ Words int }

func (e *CountError) Error() string {
	return fmt.Sprintf("codename: %d words instead of %d", e.Words, Words)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *CountError) Is(target error) bool { return target == ErrInvalid }

// Normalize returns the canonical form of a typed codename: lower case, the
// words separated by single spaces. It forgives what people do when they
// copy seven words from paper: upper case, and any run of white space
// (Unicode, line breaks included), dashes, underscores or dots between
// words counts as one separator, so "Abacus-Zoom", "abacus.zoom" and
// "ABACUS  zoom" are the same. Every word must be on the list (the whole
// list: a word removed from the draws still logs in, for codenames given
// out before) and there must be seven. Otherwise the error is a *WordError
// for the first word not on the list, a *CountError, or ErrInvalid; all
// of them match errors.Is(err, ErrInvalid).
func Normalize(s string) (string, error) {
	if len(s) > MaxInput || !utf8.ValidString(s) {
		return "", ErrInvalid
	}
	words := strings.FieldsFunc(strings.ToLower(s), isSeparator)
	for i, w := range words {
		if !kdf.IsWord(w) {
			if i >= Words {
				break
			}
			return "", &WordError{Position: i + 1}
		}
	}
	if len(words) != Words {
		return "", &CountError{Words: len(words)}
	}
	return strings.Join(words, " "), nil
}

func isSeparator(r rune) bool {
	switch r {
	case '_', '.', '\u00b7', '\u2022', '\u3002', '\uff0e': // dots: full stop, middle dot, bullet, ideographic and fullwidth full stops
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r)
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
