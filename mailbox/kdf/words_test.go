package kdf

import (
	"errors"
	"strings"
	"testing"
)

func TestWordList(t *testing.T) {
	if n := WordCount(); n != 7772 {
		t.Errorf("word count = %d, want 7776 EFF words minus 4 hyphenated", n)
	}
	for _, w := range []string{"abacus", "zoom", "unsaved", "zookeeper"} {
		if !IsWord(w) {
			t.Errorf("%q missing", w)
		}
	}
	for _, w := range []string{"", "drop-down", "t-shirt", "Abacus", "abacus ", "xyzzy"} {
		if IsWord(w) {
			t.Errorf("%q accepted", w)
		}
	}
}

func TestNewPassphrase(t *testing.T) {
	for _, n := range []int{-1, 0, 6} {
		if _, err := NewPassphrase(n); !errors.Is(err, ErrParams) {
			t.Errorf("NewPassphrase(%d): err = %v", n, err)
		}
	}
	seen := map[string]bool{}
	for range 20 {
		s, err := NewPassphrase(7)
		if err != nil {
			t.Fatal(err)
		}
		words := strings.Split(s, " ")
		if len(words) != 7 {
			t.Fatalf("%d words", len(words))
		}
		for _, w := range words {
			if !IsWord(w) {
				t.Fatalf("word %q not in list", w)
			}
		}
		if seen[s] {
			t.Fatal("repeated passphrase")
		}
		seen[s] = true
	}
	s, err := NewPassphrase(10)
	if err != nil || len(strings.Fields(s)) != 10 {
		t.Errorf("10 words: %q %v", s, err)
	}
}

// TestRandomWordsCoverage: draws reach both ends of the list, so the
// sampling is not stuck on a sub-range.
func TestRandomWordsCoverage(t *testing.T) {
	first, last := false, false
	list := wordList()
	w, err := RandomWords(200000)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range w {
		first = first || x == list[0]
		last = last || x == list[len(list)-1]
	}
	if !first || !last {
		t.Errorf("first word drawn %v, last word drawn %v in 200000 draws", first, last)
	}
}
