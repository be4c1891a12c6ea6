package pgp

import (
	"bytes"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp/pgptest"
)

// TestEncryptGPG encrypts to a gpg key and a derived key and checks with gpg
// what was produced: AES-256, SEIPDv1 with MDC, ZLIB only when asked, and
// that both recipients can open it.
func TestEncryptGPG(t *testing.T) {
	g := pgptest.NewGPG(t)
	fpr := g.GenKey("j <j@example.org>", "future-default", "default", "never")
	journalist, _, err := ParsePublicKey(g.Export(fpr))
	if err != nil {
		t.Fatal(err)
	}
	derived, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	// gpg also holds the derived secret key: this checks the hand-written
	// secret packets as well.
	var sec bytes.Buffer
	aw, _ := armor.Encode(&sec, openpgp.PrivateKeyType, nil)
	if err := derived.SerializePrivateWithoutSigning(aw, nil); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	g.Run(sec.Bytes(), "--import")

	plain := make([]byte, 300_000)
	if _, err := rand.Read(plain[:100_000]); err != nil {
		t.Fatal(err)
	}
	for _, compress := range []bool{false, true} {
		var ct bytes.Buffer
		w, err := Encrypt(&ct, []*openpgp.Entity{journalist, derived}, EncryptOptions{Compress: compress})
		if err != nil {
			t.Fatal(err)
		}
		// Switch between ordinary and incompressible segments at odd
		// places: only speed and size may change, never the plaintext.
		for i, cut := range []int{0, 1, 99_999, 100_000, 150_001, 299_000, len(plain)} {
			if i > 0 {
				if _, err := w.Write(plain[[]int{0, 1, 99_999, 100_000, 150_001, 299_000}[i-1]:cut]); err != nil {
					t.Fatal(err)
				}
			}
			if err := Incompressible(w, i%2 == 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := g.RunErr(ct.Bytes(), "-v", "--decrypt")
		if err != nil {
			t.Fatalf("gpg --decrypt: %v\n%s", err, stderr)
		}
		if !bytes.Equal(out, plain) {
			t.Fatal("gpg decrypted something else")
		}
		if !strings.Contains(string(stderr), "AES256") {
			t.Errorf("not AES256:\n%s", stderr)
		}
		if strings.Contains(string(stderr), "WARNING") {
			t.Errorf("gpg warns:\n%s", stderr)
		}
		packets, _, _ := g.RunErr(ct.Bytes(), "--list-packets")
		if got := strings.Contains(string(packets), ":compressed packet: algo=2"); got != compress {
			t.Errorf("compress=%v but ZLIB packet present=%v:\n%s", compress, got, packets)
		}
		if strings.Contains(string(packets), "aead") || !strings.Contains(string(packets), "mdc_method: 2") {
			t.Errorf("not SEIPDv1 with MDC:\n%s", packets)
		}
		// And the derived private key opens it in Go.
		md, err := openpgp.ReadMessage(bytes.NewReader(ct.Bytes()), openpgp.EntityList{derived}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(md.UnverifiedBody)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Go decrypt: %v", err)
		}
		if md.IsSigned {
			t.Error("message is signed")
		}
	}
}

func TestEncryptCompressionNeedsEveryRecipient(t *testing.T) {
	derived, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	plainKey, err := openpgp.NewEntity("n", "", "n@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if CompressionApplies([]*openpgp.Entity{derived, plainKey}) {
		t.Fatal("compression claimed although one key lists no ZLIB")
	}
	if CompressionApplies(nil) {
		t.Fatal("compression claimed for no recipients")
	}
	if _, err := Encrypt(io.Discard, nil, EncryptOptions{}); err == nil {
		t.Fatal("encrypting to nobody succeeded")
	}
}

// TestPartialWriter checks the packet framing at the length encodings'
// edges: go-crypto must read back a literal data packet of every size.
func TestPartialWriter(t *testing.T) {
	for _, n := range []int{0, 1, 185, 186, 8377, 8378, 65529, 65530, 65531, 3*65536 + 7} {
		data := make([]byte, n)
		rand.Read(data)
		var buf bytes.Buffer
		pw := newPartialWriter(nopCloser{&buf}, 11, nil) // literal data
		pw.Write([]byte{'b', 0, 0, 0, 0, 0})             // binary, no name, no date
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+len(rest)/3)
			if _, err := pw.Write(rest[:k]); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		p, err := packet.Read(&buf)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		lit, ok := p.(*packet.LiteralData)
		if !ok {
			t.Fatalf("%d bytes: read %T", n, p)
		}
		got, err := io.ReadAll(lit.Body)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: got %d bytes back, %v", n, len(got), err)
		}
		if buf.Len() != 0 {
			t.Fatalf("%d bytes: %d bytes left after the packet", n, buf.Len())
		}
	}
}

// TestEncryptAES256WhateverThePreferences protects against the downgrade of
// issue 12 finding 5: one recipient whose key lists only AES-128 (gpg
// setpref) must not drop the message, for it or for anyone, to AES-128.
func TestEncryptAES256WhateverThePreferences(t *testing.T) {
	g := pgptest.NewGPG(t)
	old := g.GenKey("old <old@example.org>", "future-default", "default", "never")
	g.SetPrefs(old, "AES128 SHA256 ZLIB Uncompressed")
	oldKey, _, err := ParsePublicKey(g.Export(old))
	if err != nil {
		t.Fatal(err)
	}
	if sig, _ := oldKey.PrimarySelfSignature(); !slices.Equal(sig.PreferredSymmetric, []uint8{uint8(packet.CipherAES128)}) {
		t.Fatalf("setpref did not take: symmetric preferences %v", sig.PreferredSymmetric)
	}
	fresh := g.GenKey("fresh <fresh@example.org>", "future-default", "default", "never")
	freshKey, _, err := ParsePublicKey(g.Export(fresh))
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("a realistic submission of a few kilobytes\r\n"), 200)
	for _, to := range [][]*openpgp.Entity{{oldKey}, {freshKey, oldKey}} {
		for _, compress := range []bool{false, true} {
			var ct bytes.Buffer
			w, err := Encrypt(&ct, to, EncryptOptions{Compress: compress})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(plain); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if sk := g.SessionKey(ct.Bytes()); !strings.HasPrefix(sk, "9:") {
				t.Errorf("%d recipients, compress=%v: session key algorithm %q, want 9 (AES-256)", len(to), compress, sk[:min(2, len(sk))])
			}
			out := g.Run(ct.Bytes(), "--decrypt")
			if !bytes.Equal(out, plain) {
				t.Errorf("%d recipients, compress=%v: gpg decrypted something else", len(to), compress)
			}
		}
	}
}

// TestEncryptIsTheOnlyEncrypter keeps Encrypt the one place the relay
// encrypts (submissions, replies, team copies, sealed APPENDs, backups):
// a direct openpgp.Encrypt elsewhere would negotiate the cipher from the
// recipients' preferences again.
func TestEncryptIsTheOnlyEncrypter(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == filepath.Join(root, "mailbox", "pgp") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, call := range []string{"openpgp.Encrypt(", "openpgp.EncryptText(", "openpgp.EncryptSplit(", "openpgp.SymmetricallyEncrypt(", "packet.SerializeSymmetricallyEncrypted("} {
			if bytes.Contains(src, []byte(call)) {
				t.Errorf("%s calls %s: encrypt through pgp.Encrypt, which pins AES-256", path, call)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
