package demokey

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
)

// TestKeyListsZLIB: a demo key lets the relay compress, like the keys
// journalists make in Thunderbird or gpg.
func TestKeyListsZLIB(t *testing.T) {
	k, err := New("Demo", "demo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	es, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(k.Public))
	if err != nil || len(es) != 1 {
		t.Fatalf("read key: %v", err)
	}
	if !pgp.CompressionApplies(es) {
		t.Fatal("the demo key does not list ZLIB")
	}
	if _, _, err := pgp.ParsePublicKey(k.Public); err != nil {
		t.Fatalf("the relay refuses the demo key: %v", err)
	}
}
