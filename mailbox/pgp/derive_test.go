package pgp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp/pgptest"
)

// The test vector: if any of these change, every source loses access to
// its replies. Change the derivation only with new labels and a migration.
const (
	vectorUserID       = "quixotic tangerine <quixotic.tangerine@example.org>"
	vectorFingerprint  = "856358A6EFE040114C4CDD0EC2463FA8D7696C4D"
	vectorSubkeyFinger = "709891E728213CFA12856EE4A7BAB6144C351ADB"
)

func vectorSeed() []byte {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	return seed
}

func TestDeriveKeyVector(t *testing.T) {
	e, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	fpr := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
	if len(e.Subkeys) != 1 {
		t.Fatalf("%d subkeys", len(e.Subkeys))
	}
	sub := fmt.Sprintf("%X", e.Subkeys[0].PublicKey.Fingerprint)
	if fpr != vectorFingerprint || sub != vectorSubkeyFinger {
		t.Fatalf("derived %s / %s, want %s / %s", fpr, sub, vectorFingerprint, vectorSubkeyFinger)
	}
}

func serializeAll(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeriveKeyDeterministic(t *testing.T) {
	a, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serializeAll(t, a), serializeAll(t, b)) {
		t.Fatal("two derivations from the same seed differ")
	}
	if !bytes.Equal(Serialize(a), Serialize(b)) {
		t.Fatal("public keys differ")
	}
	other := vectorSeed()
	other[31] ^= 1
	c, err := DeriveKey(other, vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(c.PrimaryKey.Fingerprint, a.PrimaryKey.Fingerprint) ||
		bytes.Equal(c.Subkeys[0].PublicKey.Fingerprint, a.Subkeys[0].PublicKey.Fingerprint) {
		t.Fatal("a different seed gave the same key")
	}
}

func TestDeriveKeyShape(t *testing.T) {
	e, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	if e.PrivateKey == nil || e.Subkeys[0].PrivateKey == nil {
		t.Fatal("private halves missing")
	}
	if !e.PrimaryKey.CreationTime.Equal(derivedKeyTime) || !e.Subkeys[0].PublicKey.CreationTime.Equal(derivedKeyTime) {
		t.Fatalf("creation times %v %v", e.PrimaryKey.CreationTime, e.Subkeys[0].PublicKey.CreationTime)
	}
	self, _ := e.PrimarySelfSignature()
	if self == nil || self.KeyLifetimeSecs != nil && *self.KeyLifetimeSecs != 0 {
		t.Fatal("self-signature missing or with an expiry")
	}
	if len(self.Notations) != 0 {
		t.Fatalf("self-signature carries notations (a random salt?): %v", self.Notations)
	}
	if !CompressionApplies([]*openpgp.Entity{e}) {
		t.Fatal("derived key does not list ZLIB")
	}
	// Its public half passes Postern's own rules, far in the future too.
	_, info, err := parsePublicKey(Serialize(e), time.Now().AddDate(50, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if info.Fingerprint != vectorFingerprint || info.Algorithm != "Curve25519" {
		t.Fatalf("info %+v", info)
	}
	if _, err := DeriveKey(vectorSeed()[:31], vectorUserID); err == nil {
		t.Fatal("short seed accepted")
	}
}

// TestDeriveKeyInterop has gpg, rnp and sq read the derived public key, and
// checks that what gpg and sq encrypt to it opens with the derived private
// key in Go.
func TestDeriveKeyInterop(t *testing.T) {
	e, err := DeriveKey(vectorSeed(), vectorUserID)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := Armor(e)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pubFile := filepath.Join(dir, "pub.asc")
	if err := os.WriteFile(pubFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	decrypt := func(t *testing.T, ct []byte) string {
		t.Helper()
		md, err := openpgp.ReadMessage(bytes.NewReader(ct), openpgp.EntityList{e}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := io.ReadAll(md.UnverifiedBody)
		if err != nil {
			t.Fatal(err)
		}
		return string(pt)
	}

	t.Run("gpg", func(t *testing.T) {
		g := pgptest.NewGPG(t)
		g.Run(pub, "--import")
		// Both self-signatures must verify ("sig:!" in the colon listing).
		out := g.Run(nil, "--with-colons", "--check-sigs", vectorFingerprint)
		if !strings.Contains(string(out), vectorSubkeyFinger) || strings.Count(string(out), "\nsig:!:") != 2 {
			t.Fatalf("gpg listing:\n%s", out)
		}
		ct := g.Run([]byte("hello from gpg"), "--trust-model", "always", "--encrypt", "--recipient", vectorFingerprint)
		if got := decrypt(t, ct); got != "hello from gpg" {
			t.Fatalf("decrypted %q", got)
		}
	})
	t.Run("rnp", func(t *testing.T) {
		pgptest.NeedTool(t, "rnpkeys")
		home := t.TempDir()
		pgptest.Run(t, nil, "rnpkeys", "--homedir", home, "--import", pubFile)
		out := pgptest.Run(t, nil, "rnpkeys", "--homedir", home, "--list-keys", "--with-sigs")
		if !strings.Contains(strings.ToUpper(string(out)), vectorFingerprint[len(vectorFingerprint)-16:]) {
			t.Fatalf("rnp listing:\n%s", out)
		}
		pgptest.NeedTool(t, "rnp")
		ct := pgptest.Run(t, []byte("hello from rnp"), "rnp", "--homedir", home, "--encrypt", "-r", vectorFingerprint, "-")
		if got := decrypt(t, ct); got != "hello from rnp" {
			t.Fatalf("decrypted %q", got)
		}
	})
	t.Run("sq", func(t *testing.T) {
		pgptest.NeedTool(t, "sq")
		out := pgptest.Run(t, nil, "sq", "inspect", pubFile)
		if !strings.Contains(string(out), vectorFingerprint) || !strings.Contains(string(out), "transport encryption") {
			t.Fatalf("sq inspect:\n%s", out)
		}
		ct := pgptest.Run(t, []byte("hello from sq"), "sq", "encrypt", "--binary", "--recipient-cert", pubFile)
		if got := decrypt(t, ct); got != "hello from sq" {
			t.Fatalf("decrypted %q", got)
		}
	})
}
