package kdf

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// refPHC is the argon2id v1.3 test vector of the reference implementation
// (phc-winner-argon2, src/test.c): "password", salt "somesalt", t=2,
// m=64 MiB, p=1. It checks our parser and argon2 against an outside source.
const refPHC = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"

func TestVerifyReferenceVector(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 1})
	ok, err := p.VerifyPassword(context.Background(), "password", refPHC)
	if err != nil || !ok {
		t.Fatalf("reference vector: ok=%v err=%v", ok, err)
	}
	h, err := parsePHC(refPHC)
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != refPHC {
		t.Errorf("re-encoded %q", h.String())
	}
}

func TestPHCRoundTrip(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 2})
	ctx := context.Background()
	s, err := p.HashPassword(ctx, "correct horse battery staple", testParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Errorf("PHC = %q", s)
	}
	h, err := parsePHC(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.salt) != 16 || len(h.hash) != 32 || h.params != testParams() {
		t.Errorf("parsed %+v", h)
	}
	if ok, err := p.VerifyPassword(ctx, "correct horse battery staple", s); !ok || err != nil {
		t.Errorf("right password: ok=%v err=%v", ok, err)
	}
	if ok, err := p.VerifyPassword(ctx, "correct horse battery stapler", s); ok || err != nil {
		t.Errorf("wrong password: ok=%v err=%v", ok, err)
	}
	s2, _ := p.HashPassword(ctx, "correct horse battery staple", testParams())
	if s2 == s {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if _, err := p.HashPassword(ctx, "", testParams()); !errors.Is(err, ErrParams) {
		t.Errorf("empty password: %v", err)
	}
}

// TestPHCTampered: every alteration of a valid hash is refused or fails to
// match; none is accepted as the original password.
func TestPHCTampered(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 2})
	ctx := context.Background()
	good, err := p.HashPassword(ctx, "pw", testParams())
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	salt, hash := f[4], f[5]
	malformed := []string{
		"",
		"$",
		good + "$",
		"$" + good,
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "argon2id", "ARGON2ID", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "v=19", "v=019", 1),
		"$argon2id$m=8192,t=1,p=1$" + salt + "$" + hash, // no version
		"$argon2id$v=19$t=1,m=8192,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=08192,t=1,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=1,p=1,k=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=+1,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=1,p=1 $" + salt + "$" + hash,
		"$argon2id$v=19$m=2097152,t=1,p=1$" + salt + "$" + hash,    // 2 GiB
		"$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + hash, // overflows uint32
		"$argon2id$v=19$m=8192,t=21,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=0,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=1,p=0$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=1,p=256$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=1,p=1$" + salt + "==$" + hash, // padding
		"$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + hash + "=",
		"$argon2id$v=19$m=8192,t=1,p=1$$" + hash,
		"$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + hash[:10],          // hash too short
		"$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + hash + hash + hash, // too long
		"$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + strings.ReplaceAll(hash, hash[:1], "*"),
	}
	for _, s := range malformed {
		ok, err := p.VerifyPassword(ctx, "pw", s)
		if ok || !errors.Is(err, ErrPHC) {
			t.Errorf("%q: ok=%v err=%v, want ErrPHC", s, ok, err)
		}
	}
	// Well-formed but altered: parses, does not match.
	flip := func(b64s string) string {
		c := byte('A')
		if b64s[0] == 'A' {
			c = 'B'
		}
		return string(c) + b64s[1:]
	}
	altered := []string{
		"$argon2id$v=19$m=8192,t=1,p=1$" + flip(salt) + "$" + hash,
		"$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + flip(hash),
		"$argon2id$v=19$m=8192,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=9216,t=1,p=1$" + salt + "$" + hash,
	}
	for _, s := range altered {
		ok, err := p.VerifyPassword(ctx, "pw", s)
		if ok || err != nil {
			t.Errorf("%q: ok=%v err=%v, want no match", s, ok, err)
		}
	}
}

// FuzzParsePHC: the parser never panics, and whatever it accepts is inside
// the bounds and re-encodes to exactly its input (one spelling per hash).
func FuzzParsePHC(f *testing.F) {
	f.Add(refPHC)
	f.Add("$argon2id$v=19$m=8192,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA")
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ=$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrPHC) {
				t.Fatalf("error not ErrPHC: %v", err)
			}
			return
		}
		if err := h.params.Validate(); err != nil {
			t.Fatalf("accepted invalid params: %v", err)
		}
		if len(h.salt) < MinSaltLen || len(h.salt) > MaxSaltLen || len(h.hash) < MinKeyLen || len(h.hash) > MaxKeyLen {
			t.Fatalf("accepted lengths salt %d hash %d", len(h.salt), len(h.hash))
		}
		if h.String() != s {
			t.Fatalf("accepted non-canonical %q (canonical %q)", s, h.String())
		}
	})
}
