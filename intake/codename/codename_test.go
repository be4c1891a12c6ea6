package codename

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"postern/mailbox/kdf"
)

const canon = "abacus abdomen abdominal abide abiding ability ablaze"

func testParams() kdf.Params { return kdf.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1} }

func testSalt(b byte) []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i) + b
	}
	return s
}

func TestNormalize(t *testing.T) {
	good := []struct{ name, in string }{
		{"canonical", canon},
		{"upper case", "ABACUS Abdomen abdominal abide abiding ability ablaze"},
		{"extra spaces", "  abacus   abdomen abdominal abide abiding ability ablaze  "},
		{"tabs and newlines", "abacus\tabdomen\nabdominal\r\nabide abiding ability ablaze"},
		{"hyphens", "abacus-abdomen-abdominal-abide-abiding-ability-ablaze"},
		{"underscores", "abacus_abdomen__abdominal abide abiding ability ablaze"},
		{"mixed separators", "abacus - abdomen _ abdominal abide abiding ability ablaze"},
		{"unicode spaces", "abacus\u00a0abdomen\u2003abdominal\u3000abide abiding ability ablaze"},
		{"unicode dashes", "abacus\u2013abdomen\u2014abdominal\u2010abide abiding ability ablaze"},
	}
	for _, c := range good {
		got, err := Normalize(c.in)
		if err != nil || got != canon {
			t.Errorf("%s: got %q, %v", c.name, got, err)
		}
	}
	bad := []struct{ name, in string }{
		{"empty", ""},
		{"only spaces", "   \t "},
		{"6 words", "abacus abdomen abdominal abide abiding ability"},
		{"8 words", canon + " zoom"},
		{"not a list word", "abacus abdomen abdominal abide abiding ability xyzzy"},
		{"hyphenated EFF word", "drop-down abdomen abdominal abide abiding ability"},
		{"word glued", "abacusabdomen abdominal abide abiding ability ablaze zoom"},
		{"punctuation", "abacus, abdomen abdominal abide abiding ability ablaze"},
		{"zero-width space", "abacus\u200babdomen abdominal abide abiding ability ablaze zoom"},
		{"fullwidth letters", "ａｂａｃｕｓ abdomen abdominal abide abiding ability ablaze"},
		{"invalid utf-8", "abacus \xff abdomen abdominal abide abiding ability ablaze"},
		{"nul", "abacus\x00abdomen abdominal abide abiding ability ablaze"},
		{"too long", canon + strings.Repeat(" ", MaxInput)},
		{"huge", strings.Repeat("abacus ", 100000)},
	}
	for _, c := range bad {
		got, err := Normalize(c.in)
		if !errors.Is(err, ErrInvalid) || got != "" {
			t.Errorf("%s: got %q, %v; want ErrInvalid", c.name, got, err)
			continue
		}
		// The error never echoes the input.
		if strings.Contains(err.Error(), "abdomen") || strings.Contains(err.Error(), "xyzzy") {
			t.Errorf("%s: error echoes input: %v", c.name, err)
		}
	}
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		c, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := Normalize(c); err != nil || n != c {
			t.Fatalf("New() = %q is not normalised: %q %v", c, n, err)
		}
		if seen[c] {
			t.Fatal("repeated codename")
		}
		seen[c] = true
	}
}

func TestNewDesignation(t *testing.T) {
	d, err := NewDesignation()
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Split(d, " ")
	if len(w) != 2 || !kdf.IsWord(w[0]) || !kdf.IsWord(w[1]) {
		t.Errorf("designation %q", d)
	}
}

func TestDerive(t *testing.T) {
	p := kdf.NewPool(kdf.PoolOptions{Workers: 2})
	ctx := context.Background()
	a, err := Derive(ctx, p, canon, testSalt(0), testParams())
	if err != nil {
		t.Fatal(err)
	}
	// Same codename as typed differently: same identity.
	b, err := Derive(ctx, p, " ABACUS-abdomen abdominal abide abiding ability ablaze", testSalt(0), testParams())
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("Derive is not deterministic across spellings")
	}
	if a.SourceID == a.ReplySeed {
		t.Error("source id equals reply seed")
	}
	c, err := Derive(ctx, p, canon, testSalt(1), testParams())
	if err != nil {
		t.Fatal(err)
	}
	if c.SourceID == a.SourceID || c.ReplySeed == a.ReplySeed {
		t.Error("a different salt gives the same identity")
	}
	d, err := Derive(ctx, p, "abacus abdomen abdominal abide abiding ability zoom", testSalt(0), testParams())
	if err != nil {
		t.Fatal(err)
	}
	if d.SourceID == a.SourceID {
		t.Error("a different codename gives the same identity")
	}
	if _, err := Derive(ctx, p, "not a codename", testSalt(0), testParams()); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid codename: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Derive(cctx, p, canon, testSalt(0), testParams()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := Derive(ctx, p, canon, nil, testParams()); !errors.Is(err, kdf.ErrParams) {
		t.Errorf("no salt: %v", err)
	}
}

// TestDeriveVector pins the derivation. If it changes, every source loses
// access to its account: change the labels' version instead.
// The HKDF half was checked independently (Python hmac, RFC 5869) from the
// argon2id output 97d868223a7fdc37ea01d8b9e985ab53c71d31a531c6a77a68e2fb4184608519.
func TestDeriveVector(t *testing.T) {
	const (
		wantID   = "e96ba43926c8fd1750db05a73d152fd2fbf2d6f21a7777d07c92eb942007b7e3"
		wantSeed = "6566292979e58c698cf8d21a9f3e9a4c75d0c00f14d60166513493aa9b059111"
	)
	id, err := Derive(context.Background(), kdf.NewPool(kdf.PoolOptions{Workers: 1}), canon, testSalt(0), testParams())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(id.SourceID[:]); got != wantID {
		t.Errorf("SourceID = %s, want %s", got, wantID)
	}
	if got := hex.EncodeToString(id.ReplySeed[:]); got != wantSeed {
		t.Errorf("ReplySeed = %s, want %s", got, wantSeed)
	}
	if bytes.Equal(id.SourceID[:], make([]byte, 32)) {
		t.Error("zero id")
	}
}

// FuzzNormalize: never panics; what it accepts is canonical, idempotent,
// seven list words, and bounded; what it refuses is ErrInvalid.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		canon, "", " ", "ABACUS-ABDOMEN_abdominal abide\tabiding\u00a0ability\u2013ablaze",
		"drop-down t-shirt yo-yo felt-tip a b c", "abacus", "\xff\xfe", strings.Repeat("zoom ", 7),
		strings.Repeat("zoom ", 103), "İstanbul abdomen abdominal abide abiding ability ablaze",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || n != "" {
				t.Fatalf("refusal: %q %v", n, err)
			}
			return
		}
		if len(s) > MaxInput {
			t.Fatalf("accepted %d bytes", len(s))
		}
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("not idempotent: %q -> %q (%v)", n, again, err)
		}
		w := strings.Split(n, " ")
		if len(w) != Words {
			t.Fatalf("%d words in %q", len(w), n)
		}
		for _, x := range w {
			if !kdf.IsWord(x) {
				t.Fatalf("word %q not in list", x)
			}
		}
	})
}
