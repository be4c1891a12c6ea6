package smtpd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-smtp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgp/pgptest"
)

// gpgEncrypt encrypts plain with gpg to the given keys (public halves
// imported into a fresh keyring), armored, as a journalist's client would.
func gpgEncrypt(t *testing.T, plain []byte, to ...*openpgp.Entity) []byte {
	t.Helper()
	g := pgptest.NewGPG(t)
	args := []string{"--trust-model", "always", "--armor", "--encrypt"}
	for _, k := range to {
		arm, err := pgp.Armor(k)
		if err != nil {
			t.Fatal(err)
		}
		g.Run(arm, "--import")
		args = append(args, "--recipient", strings.ToUpper(fingerprint(k)))
	}
	return g.Run(plain, args...)
}

func fingerprint(k *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(k.PrimaryKey.Fingerprint))
}

// sourceKeyFromStore is the source's public key as a journalist gets it:
// exported from the store's record.
func (e *env) sourceKeyFromStore() *openpgp.Entity {
	e.t.Helper()
	k, _, err := pgp.ParsePublicKey(e.src.PublicKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// pgpMIME wraps an armored message as Thunderbird sends it.
func pgpMIME(to string, armored []byte) []byte {
	return crlf(`Message-ID: <4d5e6f70-aaaa-bbbb-cccc-0123456789ab@home.example>
Date: Sun, 29 Nov 2026 15:04:05 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
X-Mozilla-Draft-Info: internal/draft; vcard=0; receipt=0; DSN=0; uuencode=0
From: Jane Doe <jane@home.example>
To: quixotic tangerine <` + to + `>
Subject: ...
Content-Type: multipart/encrypted;
 protocol="application/pgp-encrypted";
 boundary="------------enc0ded"

This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)
--------------enc0ded
Content-Type: application/pgp-encrypted
Content-Description: PGP/MIME version identification

Version: 1

--------------enc0ded
Content-Type: application/octet-stream; name="encrypted.asc"
Content-Description: OpenPGP encrypted message
Content-Disposition: inline; filename="encrypted.asc"

` + string(armored) + `
--------------enc0ded--
`)
}

func innerMIME(marker string) []byte {
	return crlf(`Content-Type: multipart/mixed; boundary="inner"; protected-headers="v1"
Subject: Re: your documents ` + marker + `-subject

--inner
Content-Type: text/plain; charset=UTF-8

Encrypted by my own client. ` + marker + `-text
--inner
Content-Type: text/plain; name="memo.txt"
Content-Disposition: attachment; filename="memo.txt"

memo ` + marker + `-file
--inner--
`)
}

func TestEncryptedReplyStoredAsIs(t *testing.T) {
	e := newEnv(t)
	const marker = "ZQXMARKERPGP"
	srcKey := e.sourceKeyFromStore()
	// Thunderbird encrypts to the recipient and to the sender's own key.
	armored := gpgEncrypt(t, innerMIME(marker), srcKey, e.keys["jane"])
	if err := e.send("jane", e.src.Address, pgpMIME(e.src.Address, armored)); err != nil {
		t.Fatalf("send: %v", err)
	}
	reps := e.replies()
	if len(reps) != 1 {
		t.Fatalf("%d replies, want 1", len(reps))
	}
	d := reps[0]
	if !strings.Contains(d.Text, marker+"-text") || !strings.Contains(d.Subject, marker+"-subject") {
		t.Errorf("decrypted reply: subject %q text %q", d.Subject, d.Text)
	}
	if len(d.Parts) != 1 || d.Parts[0].Name != "memo.txt" {
		t.Errorf("parts %+v", d.Parts)
	}

	stored, _ := e.st.Replies(e.src.ID)
	raw := e.blob(stored[0].Blob.ID)
	for _, tr := range journalistTraces {
		if bytes.Contains(raw, []byte(tr)) {
			t.Errorf("stored reply carries %q:\n%s", tr, head(raw))
		}
	}
	// Only the source's session key is left: jane's key id would name her.
	ids := recipientIDs(t, raw)
	sub := e.srcKey.Subkeys[0].PublicKey.KeyId
	if len(ids) != 1 || ids[0] != sub {
		t.Errorf("recipient key ids %x, want only the source's %x (jane's is %x)",
			ids, sub, e.keys["jane"].Subkeys[0].PublicKey.KeyId)
	}
	if bytes.Contains(raw, armored[40:120]) {
		// The armor is made anew; the original's bytes must not be there
		// verbatim (they include jane's PKESK).
		t.Errorf("original armor kept")
	}

	// The team: a notice, encrypted to them, in the source's thread.
	for _, name := range []string{"alice", "bob"} {
		box := e.inbox(name)
		if len(box) != 1 {
			t.Fatalf("%s has %d messages, want the notice", name, len(box))
		}
		c := e.decryptAs(name, box[0])
		want := "quixotic tangerine was answered by jane, encrypted to the source only."
		if !strings.Contains(c.Text, want) || strings.Contains(c.Text, marker) {
			t.Errorf("%s's notice: %q", name, c.Text)
		}
		if bytes.Contains(box[0], []byte("jane")) {
			t.Errorf("journalist name outside the encryption of the notice:\n%s", head(box[0]))
		}
	}
	if n := len(e.inbox("jane")); n != 0 {
		t.Errorf("jane got %d messages", n)
	}
	e.grepDataDir(marker)
}

func TestInlineEncryptedReply(t *testing.T) {
	e := newEnv(t)
	const marker = "ZQXMARKERINLINE"
	armored := gpgEncrypt(t, []byte("Short answer: "+marker+"\n"), e.sourceKeyFromStore(), e.keys["jane"])
	msg := crlf("From: Jane Doe <jane@home.example>\nTo: <" + e.src.Address + ">\nSubject: hello\n" +
		"User-Agent: Mutt\nContent-Type: text/plain; charset=us-ascii\n\n" + string(armored))
	if err := e.send("jane", e.src.Address, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	reps := e.replies()
	if len(reps) != 1 || !strings.Contains(reps[0].Text, marker) {
		t.Fatalf("replies %+v", reps)
	}
	stored, _ := e.st.Replies(e.src.ID)
	raw := e.blob(stored[0].Blob.ID)
	if bytes.Contains(raw, []byte("Mutt")) || bytes.Contains(raw, []byte("jane")) || bytes.Contains(raw, []byte("hello")) {
		t.Errorf("journalist header kept:\n%s", head(raw))
	}
	if ids := recipientIDs(t, raw); len(ids) != 1 {
		t.Errorf("recipient ids %x", ids)
	}
	e.grepDataDir(marker)
}

func TestReplyEncryptedOnlyToJournalistRefused(t *testing.T) {
	e := newEnv(t)
	armored := gpgEncrypt(t, innerMIME("ZQXMARKERWRONGKEY"), e.keys["jane"])
	err := e.send("jane", e.src.Address, pgpMIME(e.src.Address, armored))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 ||
		!strings.Contains(se.Message, "not encrypted to the source's key") ||
		!strings.Contains(se.Message, "import the source key attached to the submission") {
		t.Fatalf("got %v, want 550 with words for the journalist", err)
	}
	if reps, _ := e.st.Replies(e.src.ID); len(reps) != 0 {
		t.Fatalf("%d replies stored", len(reps))
	}
	for _, name := range []string{"alice", "bob", "jane"} {
		if n := len(e.inbox(name)); n != 0 {
			t.Errorf("%s got %d messages for a refused reply", name, n)
		}
	}
	if err := e.st.Check(); err != nil {
		t.Fatal(err)
	}
}
