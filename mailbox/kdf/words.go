package kdf

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sethvargo/go-diceware/diceware"
)

// MinPassphraseWords is the fewest words NewPassphrase makes: 7 words of the
// list below are about 90 bits, the same as a source codename.
const MinPassphraseWords = 7

// wordList is the EFF large list without its four hyphenated words
// ("drop-down", "felt-tip", "t-shirt", "yo-yo"), sorted. People type
// codenames with hyphens, underscores or spaces between words and we accept
// all three as separators; a word that itself contains a hyphen would make
// that ambiguous. 7,772 words keep 12.92 bits a word.
//
// It is built once and never modified: a constant table, not state.
var wordList = sync.OnceValue(func() []string {
	eff := diceware.WordListEffLarge()
	var words []string
	for a := 1; a <= 6; a++ {
		for b := 1; b <= 6; b++ {
			for c := 1; c <= 6; c++ {
				for d := 1; d <= 6; d++ {
					for e := 1; e <= 6; e++ {
						w := eff.WordAt(a*10000 + b*1000 + c*100 + d*10 + e)
						if w == "" || strings.ContainsAny(w, "- _") {
							continue
						}
						words = append(words, w)
					}
				}
			}
		}
	}
	sort.Strings(words)
	return words
})

// wordSet is wordList as a set, for membership tests.
var wordSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, len(wordList()))
	for _, w := range wordList() {
		set[w] = struct{}{}
	}
	return set
})

// IsWord reports whether w (already lower-case) is in the word list used for
// passphrases, codenames and designations.
func IsWord(w string) bool {
	_, ok := wordSet()[w]
	return ok
}

// WordList returns a copy of the word list, sorted. intake/codename draws
// codenames from a curated part of it.
func WordList() []string { return slices.Clone(wordList()) }

// WordCount is the number of words in the list.
func WordCount() int { return len(wordList()) }

// RandomWords returns n words drawn uniformly and independently (repeats
// allowed, so every word carries full entropy) with crypto/rand.
func RandomWords(n int) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("kdf: negative word count")
	}
	list := wordList()
	size := big.NewInt(int64(len(list)))
	out := make([]string, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, size)
		if err != nil {
			return nil, fmt.Errorf("kdf: random word: %w", err)
		}
		out[i] = list[k.Int64()]
	}
	return out, nil
}

// NewPassphrase returns a passphrase of the given number of words, separated
// by single spaces. Journalist passwords are always generated, never chosen,
// so fewer than MinPassphraseWords is refused.
func NewPassphrase(words int) (string, error) {
	if words < MinPassphraseWords {
		return "", fmt.Errorf("%w: passphrase of %d words (need %d)", ErrParams, words, MinPassphraseWords)
	}
	w, err := RandomWords(words)
	if err != nil {
		return "", err
	}
	return strings.Join(w, " "), nil
}
