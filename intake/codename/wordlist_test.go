package codename

import (
	"errors"
	"math"
	"strings"
	"testing"

	"postern/mailbox/kdf"
)

// TestEntropy: the curated list keeps at least 90 bits for seven words.
func TestEntropy(t *testing.T) {
	n := len(drawList())
	bits := Words * math.Log2(float64(n))
	if bits < 90 {
		t.Fatalf("%d words: %.3f bits for %d words, want ≥ 90", n, bits, Words)
	}
	t.Logf("%d words, %.3f bits", n, bits)
}

// TestRemovedWordsNeverDrawn: every removed word is a real word of the list
// (so the curation removes something), none is in the draw list, and
// thousands of fresh codenames and designations contain none of them.
func TestRemovedWordsNeverDrawn(t *testing.T) {
	rm := removed()
	if len(rm) < 300 {
		t.Fatalf("only %d removed words", len(rm))
	}
	for w := range rm {
		if !kdf.IsWord(w) {
			t.Errorf("removed word %q is not on the EFF list", w)
		}
	}
	for _, w := range drawList() {
		if rm[w] {
			t.Errorf("removed word %q in the draw list", w)
		}
	}
	if len(drawList())+len(rm) != kdf.WordCount() {
		t.Errorf("%d drawn + %d removed != %d", len(drawList()), len(rm), kdf.WordCount())
	}
	for _, w := range []string{"rectal", "aching", "bust", "strangle", "imbecile", "douche"} {
		if !rm[w] {
			t.Errorf("%q not removed", w)
		}
	}
	// 1,000 codenames are 7,000 draws: with the whole list about 316 would
	// be removed words.
	for range 1000 {
		cn, err := New()
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDesignation()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.Fields(cn + " " + d) {
			if rm[w] {
				t.Fatalf("drew removed word %q", w)
			}
		}
	}
}

// TestForgivingEntry is the table of what a source may type: every way of
// writing the seven words down and copying them back logs in, and a word
// that is not on the list is pointed out by position.
func TestForgivingEntry(t *testing.T) {
	const want = "acorn badge cabbage dance eagle fable gallon"
	cases := []struct {
		name, in string
		word     int // 1-based position of the word pointed out; 0: none
		count    int // words counted when the number is wrong; 0: none
	}{
		{"canonical", want, 0, 0},
		{"upper case", "ACORN BADGE CABBAGE DANCE EAGLE FABLE GALLON", 0, 0},
		{"capitalised", "Acorn Badge Cabbage Dance Eagle Fable Gallon", 0, 0},
		{"extra spaces", "  acorn    badge cabbage  dance eagle fable   gallon ", 0, 0},
		{"line breaks", "acorn\nbadge\r\ncabbage\ndance\neagle\nfable\ngallon\n", 0, 0},
		{"one word a line, indented", "\tacorn\n\tbadge\n\tcabbage\n\tdance\n\teagle\n\tfable\n\tgallon", 0, 0},
		{"hyphens", "acorn-badge-cabbage-dance-eagle-fable-gallon", 0, 0},
		{"dots", "acorn.badge.cabbage.dance.eagle.fable.gallon", 0, 0},
		{"dots and spaces", "acorn. badge. cabbage. dance. eagle. fable. gallon.", 0, 0},
		{"middle dots", "acorn·badge·cabbage·dance·eagle·fable·gallon", 0, 0},
		{"ideographic full stops", "acorn。badge。cabbage。dance。eagle。fable。gallon", 0, 0},
		{"en dashes", "acorn – badge – cabbage – dance – eagle – fable – gallon", 0, 0},
		{"underscores", "acorn_badge_cabbage_dance_eagle_fable_gallon", 0, 0},
		{"no-break spaces", "acorn\u00a0badge\u00a0cabbage\u00a0dance\u00a0eagle\u00a0fable\u00a0gallon", 0, 0},
		{"third word misspelt", "acorn badge cabage dance eagle fable gallon", 3, 0},
		{"first word misspelt", "acron badge cabbage dance eagle fable gallon", 1, 0},
		{"seventh word misspelt", "acorn badge cabbage dance eagle fable galon", 7, 0},
		{"translated word", "acorn badge chou dance eagle fable gallon", 3, 0},
		{"two words glued", "acornbadge cabbage dance eagle fable gallon", 1, 0},
		{"comma after a word", "acorn, badge cabbage dance eagle fable gallon", 1, 0},
		{"six words", "acorn badge cabbage dance eagle fable", 0, 6},
		{"eight words", want + " zoom", 0, 8},
		{"eighth word unknown", want + " xyzzy", 0, 8},
		{"nothing", "   ", 0, 0},
	}
	for _, c := range cases {
		got, err := Normalize(c.in)
		var we *WordError
		var ce *CountError
		switch {
		case c.word == 0 && c.count == 0 && strings.TrimSpace(c.in) != "":
			if err != nil || got != want {
				t.Errorf("%s: got %q, %v", c.name, got, err)
			}
		case c.word != 0:
			if !errors.As(err, &we) || we.Position != c.word || !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err %v, want word %d", c.name, err, c.word)
			}
		case c.count != 0:
			if !errors.As(err, &ce) || ce.Words != c.count || !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err %v, want count %d", c.name, err, c.count)
			}
		default:
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: err %v", c.name, err)
			}
		}
		if err != nil && strings.Contains(err.Error(), "cab") {
			t.Errorf("%s: the error quotes the input: %v", c.name, err)
		}
	}
	// A removed word still logs in: codenames given out before the curation.
	if _, err := Normalize("rectal aching acorn badge cabbage dance eagle"); err != nil {
		t.Errorf("old codename with removed words refused: %v", err)
	}
}
