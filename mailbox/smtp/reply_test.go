package smtpd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp"
)

// journalistTraces are what must never reach a source: the journalist's
// identity and client details.
var journalistTraces = []string{"Thunderbird", "X-Mozilla", "Jane Doe", "jane@", "home.example",
	"Organization", "Daily Planet Desk", "User-Agent", "Received", "OpenPGP:", "BEGIN:VCARD", "PGP PUBLIC KEY"}

// thunderbirdPlain is a plaintext reply shaped like Thunderbird's, with
// every header that would identify the journalist, a signature-like key
// attachment and a vCard.
func thunderbirdPlain(to, marker string, jane *openpgp.Entity) []byte {
	key, _ := pgp.Armor(jane)
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 file " + marker + "-file"))
	return crlf(`Received: from [127.0.0.1] (localhost [127.0.0.1]) by laptop
Message-ID: <0b1c2d3e-aaaa-bbbb-cccc-0123456789ab@home.example>
Date: Sun, 29 Nov 2026 15:04:05 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
X-Mozilla-Draft-Info: internal/draft; vcard=0; receipt=0; DSN=0; uuencode=0
Organization: Daily Planet Desk
Autocrypt: addr=jane@home.example; keydata=AAAA
OpenPGP: id=0123456789ABCDEF
From: Jane Doe <jane@home.example>
To: quixotic tangerine <` + to + `>
Subject: Re: Submission from quixotic tangerine ` + marker + `-subject
In-Reply-To: <root@postern.test>
Content-Type: multipart/mixed; boundary="------------b0undary"

This is a multi-part message in MIME format.
--------------b0undary
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Thank you for the documents. ` + marker + `-text is the word. This line is 
soft-broken.

-- 
Jane Doe, Daily Planet Desk
--------------b0undary
Content-Type: application/pdf; name="notes-` + marker + `-name.pdf"
Content-Disposition: attachment; filename="notes-` + marker + `-name.pdf"
Content-Transfer-Encoding: base64

` + pdf + `
--------------b0undary
Content-Type: application/pgp-keys; name="OpenPGP_0xJANE.asc"
Content-Disposition: attachment; filename="OpenPGP_0xJANE.asc"
Content-Transfer-Encoding: 7bit

` + string(key) + `
--------------b0undary
Content-Type: text/vcard; charset=utf-8; name="jane.vcf"
Content-Disposition: attachment; filename="jane.vcf"

BEGIN:VCARD
FN:Jane Doe
END:VCARD
--------------b0undary--
`)
}

func TestPlaintextReply(t *testing.T) {
	e := newEnv(t)
	const marker = "ZQXMARKERPLAIN"
	if err := e.send("jane", e.src.Address, thunderbirdPlain(e.src.Address, marker, e.keys["jane"])); err != nil {
		t.Fatalf("send: %v", err)
	}
	reps := e.replies()
	if len(reps) != 1 {
		t.Fatalf("%d replies stored, want 1", len(reps))
	}
	d := reps[0]
	if !strings.Contains(d.Text, marker+"-text is the word. This line is soft-broken.") {
		t.Errorf("text not as sent (flowed lines joined):\n%s", d.Text)
	}
	if !strings.Contains(d.Subject, marker+"-subject") {
		t.Errorf("subject %q", d.Subject)
	}
	if len(d.Parts) != 1 || d.Parts[0].ContentType != "application/pdf" || !strings.Contains(d.Parts[0].Name, marker+"-name") {
		t.Fatalf("parts %+v, want only the PDF (no key, no vCard)", d.Parts)
	}
	r, err := d.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); !bytes.Contains(b, []byte(marker+"-file")) {
		t.Errorf("attachment content %q", b)
	}

	reply, err := e.st.Replies(e.src.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw := e.blob(reply[0].Blob.ID)
	e.checkNoTraces(raw, e.srcKey)
	if !bytes.Contains(raw, []byte(`From: "`+org+`" <newsroom@`+domain+`>`)) {
		t.Errorf("the source does not see the newsroom as sender:\n%s", head(raw))
	}

	// The team: alice and bob get the reply, encrypted to them; jane, who
	// wrote it, gets nothing (Thunderbird files her own Sent copy).
	for _, name := range []string{"alice", "bob"} {
		box := e.inbox(name)
		if len(box) != 1 {
			t.Fatalf("%s has %d messages, want the copy", name, len(box))
		}
		c := e.decryptAs(name, box[0])
		if !strings.Contains(c.Text, "quixotic tangerine was answered by jane") || !strings.Contains(c.Text, marker+"-text") {
			t.Errorf("%s's copy text:\n%s", name, c.Text)
		}
		if len(c.Parts) != 1 {
			t.Errorf("%s's copy parts %+v", name, c.Parts)
		}
		if !bytes.Contains(box[0], []byte("In-Reply-To: "+e.src.ThreadID)) {
			t.Errorf("%s's copy is not in the source's thread:\n%s", name, head(box[0]))
		}
	}
	if n := len(e.inbox("jane")); n != 0 {
		t.Errorf("jane got %d copies of her own reply", n)
	}
	e.grepDataDir(marker)
	e.settle()
	if strings.Contains(e.counted(), marker) {
		t.Errorf("marker in logs")
	}
	if err := e.st.Check(); err != nil {
		t.Fatal(err)
	}
}

// checkNoTraces decrypts a stored reply as the source and fails if the
// outer or the inner message carries anything of the journalist's.
func (e *env) checkNoTraces(raw []byte, key *openpgp.Entity) {
	e.t.Helper()
	inner := decryptRaw(e.t, raw, key)
	for _, tr := range journalistTraces {
		if bytes.Contains(raw, []byte(tr)) {
			e.t.Errorf("outer message carries %q:\n%s", tr, head(raw))
		}
		if bytes.Contains(inner, []byte(tr)) {
			e.t.Errorf("decrypted message carries %q:\n%s", tr, head(inner))
		}
	}
	if !bytes.Contains(raw, []byte("Date: ")) || !bytes.Contains(raw, []byte(" 00:00:00 +0000")) {
		e.t.Errorf("date not coarsened to the day:\n%s", head(raw))
	}
}

// decryptRaw returns the decrypted bytes of the PGP MESSAGE in raw.
func decryptRaw(t testing.TB, raw []byte, key *openpgp.Entity) []byte {
	t.Helper()
	i := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	if i < 0 {
		t.Fatalf("no PGP MESSAGE in:\n%s", head(raw))
	}
	block, err := armor.Decode(bytes.NewReader(raw[i:]))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(block.Body, openpgp.EntityList{key}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recipientIDs lists the key ids of the session-key packets in raw.
func recipientIDs(t *testing.T, raw []byte) []uint64 {
	t.Helper()
	i := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	if i < 0 {
		t.Fatalf("no PGP MESSAGE in:\n%s", head(raw))
	}
	block, err := armor.Decode(bytes.NewReader(raw[i:]))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	pr := packet.NewReader(block.Body)
	for {
		p, err := pr.Next()
		if err != nil {
			t.Fatal(err)
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			return ids
		}
		ids = append(ids, ek.KeyId)
	}
}

func head(b []byte) string {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return string(b[:i])
	}
	return fmt.Sprintf("%.2000s", b)
}
