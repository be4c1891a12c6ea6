package reply

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp"
)

func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func TestParsePlainVariants(t *testing.T) {
	for _, tc := range []struct {
		name, msg, text string
		files           int
	}{
		{"bare text", "Subject: hi\n\nhello there\n", "hello there\n", 0},
		{"latin-1", "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n",
			"café\n", 0},
		{"html only", "Content-Type: text/html\n\n<html><head><style>p{}</style></head><body><p>one</p><script>x()</script><p>two&amp;three</p></body></html>\n",
			"one\n\ntwo&three", 0},
		{"html signature dropped", "Content-Type: text/html\n\n<p>answer</p><div class=\"moz-signature\">-- <br><div>Jane Doe</div>Desk</div><p>after</p>\n",
			"answer\n\nafter", 0},
		{"alternative prefers plain", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nplain words\n--b\nContent-Type: text/html\n\n<p>html words</p>\n--b--\n",
			"plain words", 0},
		{"signed, signature dropped", "Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\n\n--s\nContent-Type: text/plain\n\nsigned words\n--s\nContent-Type: application/pgp-signature\n\n-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n--s--\n",
			"signed words", 0},
		{"inline image kept as file", "Content-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/plain\n\nsee image\n--r\nContent-Type: image/png\nContent-Disposition: inline; filename=\"a.png\"\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--r--\n",
			"see image", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(crlf(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != Plain || !strings.Contains(p.Text, tc.text) || len(p.Attachments) != tc.files {
				t.Fatalf("got kind %d text %q files %d", p.Kind, p.Text, len(p.Attachments))
			}
			if strings.Contains(p.Text, "x()") || strings.Contains(p.Text, "html words") || strings.Contains(p.Text, "Jane") {
				t.Fatalf("text %q", p.Text)
			}
		})
	}
}

func TestParseClearsignedDropsSignature(t *testing.T) {
	k, err := pgp.DeriveKey(bytes.Repeat([]byte{7}, 32), "jane <jane@home.example>")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, k.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("- dashed line\nsigned body\n"))
	w.Close()
	p, err := Parse(crlf("Subject: s\n\n" + buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Text, "SIGNATURE") || !strings.Contains(p.Text, "signed body") {
		t.Fatalf("text %q", p.Text)
	}
}

func TestParseRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      error
	}{
		{"S/MIME", "Content-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\nAAAA\n", ErrUnsupportedEncryption},
		{"other protocol", "Content-Type: multipart/encrypted; protocol=\"application/x-other\"; boundary=b\n\n--b\n\n--b--\n", ErrUnsupportedEncryption},
		{"armor among files", "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\n-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----\n--m\nContent-Type: application/pdf; name=a.pdf\n\nx\n--m--\n", ErrMixedInline},
		{"no encrypted part", "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\n\n--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--b--\n", ErrMalformed},
		{"broken base64 in a dropped part", "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nhi\n--m\nContent-Type: application/pgp-keys\nContent-Transfer-Encoding: base64\n\n!!!!\n--m--\n", ErrMalformed},
		{"broken base64 in a file", "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nhi\n--m\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n!!!!\n--m--\n", ErrMalformed},
		{"nested too deep", strings.Repeat("Content-Type: multipart/mixed; boundary=x\n\n--x\n", 40) + "\nhi\n", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(crlf(tc.msg))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if r, ok := Refusal(err); !ok || r != tc.want {
				t.Fatalf("Refusal(%v) = %v %v", err, r, ok)
			}
		})
	}
}

// TestKeepRecipients encrypts to three keys with go-crypto and checks that
// only the source's session key is kept and the source still decrypts.
func TestKeepRecipients(t *testing.T) {
	src, _ := pgp.DeriveKey(bytes.Repeat([]byte{1}, 32), "source <s@x>")
	jane, _ := pgp.DeriveKey(bytes.Repeat([]byte{2}, 32), "jane <j@x>")
	bob, _ := pgp.DeriveKey(bytes.Repeat([]byte{3}, 32), "bob <b@x>")
	var ct bytes.Buffer
	w, err := pgp.Encrypt(&ct, []*openpgp.Entity{jane, src, bob}, pgp.EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("secret words"))
	w.Close()

	out, err := keepRecipients(ct.Bytes(), pgp.KeyIDs(src))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	pr := packet.NewReader(bytes.NewReader(out))
	for {
		p, err := pr.Next()
		if err != nil {
			t.Fatal(err)
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		ids = append(ids, ek.KeyId)
	}
	if len(ids) != 1 || ids[0] != src.Subkeys[0].PublicKey.KeyId {
		t.Fatalf("kept ids %x", ids)
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(out), openpgp.EntityList{src}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(md.UnverifiedBody); err != nil || got.String() != "secret words" {
		t.Fatalf("decrypted %q %v", got.String(), err)
	}

	if _, err := keepRecipients(ct.Bytes(), map[uint64]bool{42: true}); !errors.Is(err, ErrNotToSource) {
		t.Fatalf("not to the source: %v", err)
	}
	// Truncations and garbage never panic and never pass.
	for i := 0; i < len(ct.Bytes()); i += 7 {
		if _, err := keepRecipients(ct.Bytes()[:i], map[uint64]bool{}); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
}

func TestStripSignature(t *testing.T) {
	for in, want := range map[string]string{
		"hello\n-- \nJane Doe\nDesk\n": "hello\n",
		"hello\n\n-- \n":               "hello\n",
		"-- \nonly a signature":        "",
		"hello -- world\n":             "hello -- world\n",
		"a\n--\nnot a separator":       "a\n--\nnot a separator",
	} {
		if got := StripSignature(in); got != want {
			t.Errorf("StripSignature(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReply feeds arbitrary bytes to the reply parser and to the packet
// filter: they must never panic, and whatever Parse accepts as encrypted
// must carry ciphertext.
func FuzzReply(f *testing.F) {
	f.Add(crlf("Subject: hi\n\nhello\n"))
	f.Add(crlf("Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain; format=flowed; delsp=yes\n\nsoft \nbreak\n--m\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--m--\n"))
	f.Add(crlf("Content-Type: text/html; charset=windows-1252\n\n<p>caf\xe9</p><script>x</script>\n"))
	f.Add(crlf("Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\n\n--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--b\nContent-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\n\nhQEMA1234\n-----END PGP MESSAGE-----\n--b--\n"))
	f.Add(crlf("Content-Type: text/plain\n\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nx\n-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"))
	f.Add([]byte{0xc1, 0x0c, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 18, 0, 0, 0xd2, 0x01, 0x01})
	src, _ := pgp.DeriveKey(bytes.Repeat([]byte{1}, 32), "source <s@x>")
	var ct bytes.Buffer
	aw, _ := armor.Encode(&ct, "PGP MESSAGE", nil)
	w, _ := pgp.Encrypt(aw, []*openpgp.Entity{src}, pgp.EncryptOptions{})
	w.Write([]byte("x"))
	w.Close()
	aw.Close()
	f.Add(crlf("Content-Type: text/plain\n\n" + ct.String() + "\n"))
	ids := pgp.KeyIDs(src)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if _, ok := Refusal(err); !ok {
				t.Fatalf("error outside the refusals: %v", err)
			}
			return
		}
		switch p.Kind {
		case PGPMIME, Inline:
			if len(p.Ciphertext) == 0 {
				t.Fatal("encrypted reply without ciphertext")
			}
			if _, err := keepRecipients(p.Ciphertext, ids); err != nil {
				if _, ok := Refusal(err); !ok {
					t.Fatalf("packet error outside the refusals: %v", err)
				}
			}
		case Plain:
			_ = StripSignature(p.Text)
			p.Wipe()
		default:
			t.Fatalf("kind %d", p.Kind)
		}
		_, _ = keepRecipients(b, ids)
	})
}
