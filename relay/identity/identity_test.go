package identity

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFingerprintRoundTripAndTypos(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	s := k.Fingerprint().String()
	if len(s) != 56 || strings.ToLower(s) != s {
		t.Fatalf("fingerprint %q: want 56 lowercase characters", s)
	}
	for _, in := range []string{s, strings.ToUpper(s), s[:28] + " " + s[28:], s[:8] + "-" + s[8:]} {
		f, err := ParseFingerprint(in)
		if err != nil || f != k.Fingerprint() {
			t.Fatalf("ParseFingerprint(%q) = %v, %v", in, f, err)
		}
	}
	typo := []byte(s)
	typo[10] = map[bool]byte{true: 'b', false: 'a'}[typo[10] == 'a']
	for _, in := range []string{string(typo), s[:55], s + "a", "", "not a fingerprint"} {
		if _, err := ParseFingerprint(in); !errors.Is(err, ErrFingerprint) {
			t.Errorf("ParseFingerprint(%q): %v, want ErrFingerprint", in, err)
		}
	}
}

func TestSignaturesAreBoundToKeyPurposeAndMessage(t *testing.T) {
	k, _ := Generate()
	other, _ := Generate()
	sig := k.Sign("backup manifest v2", []byte("manifest"))
	if !Verify(k.Fingerprint(), "backup manifest v2", []byte("manifest"), sig) {
		t.Fatal("a good signature does not verify")
	}
	if Verify(other.Fingerprint(), "backup manifest v2", []byte("manifest"), sig) ||
		Verify(k.Fingerprint(), "something else", []byte("manifest"), sig) ||
		Verify(k.Fingerprint(), "backup manifest v2", []byte("manifesT"), sig) ||
		Verify(k.Fingerprint(), "backup manifest v2", []byte("manifest"), sig[:10]) {
		t.Fatal("a signature verified for another key, purpose or message")
	}
}

func TestKeyFileIsPrivateAndStable(t *testing.T) {
	dir := t.TempDir()
	k, created, err := LoadOrCreate(dir)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate: %v %v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, created, err := LoadOrCreate(dir)
	if err != nil || created || again.Fingerprint() != k.Fingerprint() {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	os.WriteFile(filepath.Join(dir, FileName), []byte("junk"), 0o600)
	if _, err := Load(dir); err == nil {
		t.Fatal("a damaged key file loaded")
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
}
