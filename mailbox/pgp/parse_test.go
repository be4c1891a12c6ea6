package pgp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp/pgptest"
)

// wantRefusal checks that data is refused with ErrKey and a reason that
// contains want.
func wantRefusal(t *testing.T, data []byte, want string) {
	t.Helper()
	e, _, err := ParsePublicKey(data)
	if err == nil {
		t.Fatalf("accepted (%X), want refusal %q", e.PrimaryKey.Fingerprint, want)
	}
	if !errors.Is(err, ErrKey) {
		t.Fatalf("error %q does not wrap ErrKey", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to mention %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q is not one line", err)
	}
}

func dearmorT(t *testing.T, armored []byte) []byte {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(block.Body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseAcceptsGPGKeys(t *testing.T) {
	g := pgptest.NewGPG(t)
	cases := []struct {
		uid, algo, wantAlgo string
		bits                int
	}{
		{"rsa <rsa@example.org>", "default", "RSA", 3072}, // gpg 2.2: rsa3072 + rsa3072
		{"cv <cv@example.org>", "future-default", "Curve25519", 255},
	}
	for _, c := range cases {
		fpr := g.GenKey(c.uid, c.algo, "default", "never")
		armored := g.Export(fpr)
		for name, data := range map[string][]byte{"armored": armored, "binary": dearmorT(t, armored)} {
			e, info, err := ParsePublicKey(data)
			if err != nil {
				t.Fatalf("%s %s: %v", c.algo, name, err)
			}
			if info.Fingerprint != fpr {
				t.Errorf("%s: fingerprint %s, gpg says %s", c.algo, info.Fingerprint, fpr)
			}
			if info.Algorithm != c.wantAlgo || info.Bits != c.bits {
				t.Errorf("%s: got %s/%d", c.algo, info.Algorithm, info.Bits)
			}
			if len(info.UserIDs) != 1 || info.UserIDs[0] != c.uid {
				t.Errorf("%s: user IDs %q", c.algo, info.UserIDs)
			}
			if !info.Expires.IsZero() || info.Created.IsZero() {
				t.Errorf("%s: created %v expires %v", c.algo, info.Created, info.Expires)
			}
			if e.PrivateKey != nil {
				t.Errorf("%s: entity has a private key", c.algo)
			}
		}
	}
}

func TestParseExpiryReported(t *testing.T) {
	g := pgptest.NewGPG(t)
	fpr := g.GenKey("exp <exp@example.org>", "future-default", "default", "2y")
	_, info, err := ParsePublicKey(g.Export(fpr))
	if err != nil {
		t.Fatal(err)
	}
	if info.Expires.IsZero() || info.Expires.Sub(info.Created) < 700*24*3600*1e9 {
		t.Fatalf("expires %v, created %v", info.Expires, info.Created)
	}
}

func TestParseRefusesGPGKeys(t *testing.T) {
	g := pgptest.NewGPG(t)
	past := "--faked-system-time=20200101T000000"

	rsa2048 := g.GenKey("small <small@example.org>", "rsa2048", "default", "never")
	wantRefusal(t, g.Export(rsa2048), "RSA key of 2048 bits")

	dsa := g.GenKey("dsa <dsa@example.org>", "dsa2048", "default", "never")
	g.Run(nil, "--quick-add-key", dsa, "elg2048", "encr", "never")
	wantRefusal(t, g.Export(dsa), "DSA key")

	nist := g.GenKey("nist <nist@example.org>", "nistp256", "default", "never")
	g.Run(nil, "--quick-add-key", nist, "nistp256", "encr", "never")
	wantRefusal(t, g.Export(nist), "ECDSA key on curve P256")

	// A Curve25519 primary whose only encryption subkey is on P-256.
	mixed := g.GenKey("mixed <mixed@example.org>", "ed25519", "cert", "never")
	g.Run(nil, "--quick-add-key", mixed, "nistp256", "encr", "never")
	wantRefusal(t, g.Export(mixed), "elliptic curve P256")

	g.Run(nil, past, "--quick-gen-key", "old <old@example.org>", "future-default", "default", "1d")
	wantRefusal(t, g.Export(g.Fingerprint("old <old@example.org>")), "the key expired on 2020-01-02")

	g.Run(nil, past, "--quick-gen-key", "subexp <subexp@example.org>", "ed25519", "cert", "never")
	subExp := g.Fingerprint("subexp <subexp@example.org>")
	g.Run(nil, past, "--quick-add-key", subExp, "cv25519", "encr", "1d")
	wantRefusal(t, g.Export(subExp), "every encryption subkey has expired")

	signOnly := g.GenKey("sign <sign@example.org>", "ed25519", "sign", "never")
	wantRefusal(t, g.Export(signOnly), "no encryption subkey")

	// gpg writes a revocation certificate for every key it makes; importing
	// it revokes the key.
	revoked := g.GenKey("rev <rev@example.org>", "future-default", "default", "never")
	rev, err := os.ReadFile(filepath.Join(g.Home, "openpgp-revocs.d", revoked+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	rev = bytes.Replace(rev, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
	g.Run(rev, "--import")
	wantRefusal(t, g.Export(revoked), "the key is revoked")

	good := g.GenKey("good <good@example.org>", "future-default", "default", "never")
	secret := g.ExportSecret(good)
	wantRefusal(t, secret, "this is a secret key; export the public key with gpg --export --armor")
	wantRefusal(t, dearmorT(t, secret), "this is a secret key")
	wantRefusal(t, g.Run(nil, "--armor", "--export", good, rsa2048), "more than one key")
	wantRefusal(t, dearmorT(t, g.Export(good))[:40], "not an OpenPGP public key")
}

func TestParseRefusesV6(t *testing.T) {
	e, err := openpgp.NewEntity("v6", "", "v6@example.org", &packet.Config{
		V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519,
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, buf.Bytes(), "version 6 key")
}

func TestParseRefusesGarbage(t *testing.T) {
	wantRefusal(t, nil, "empty input")
	wantRefusal(t, []byte(" \r\n\t"), "empty input")
	wantRefusal(t, []byte("hello, I am not a key"), "not an OpenPGP public key")
	wantRefusal(t, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n"), "")
	wantRefusal(t, []byte("-----BEGIN PGP MESSAGE-----\n\nwcBMA0Ifq\n-----END PGP MESSAGE-----\n"), "not a PGP PUBLIC KEY BLOCK")
	wantRefusal(t, bytes.Repeat([]byte{0x99}, maxKeyBytes+1), "larger than 1 MiB")
}

func FuzzParsePublicKey(f *testing.F) {
	seed := bytes.Repeat([]byte{7}, 32)
	e, err := DeriveKey(seed, "fuzz <fuzz@example.org>")
	if err != nil {
		f.Fatal(err)
	}
	arm, err := Armor(e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(Serialize(e))
	f.Add(arm)
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0xC6, 0x05, 0x04, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, info, err := ParsePublicKey(data)
		if err != nil {
			if !errors.Is(err, ErrKey) {
				t.Fatalf("error %q does not wrap ErrKey", err)
			}
			return
		}
		if e == nil || len(info.Fingerprint) != 40 {
			t.Fatalf("accepted without entity or fingerprint: %+v", info)
		}
	})
}
