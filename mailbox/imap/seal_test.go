package imapd

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-imap/v2"

	"postern/mailbox/imap/structure"
	"postern/mailbox/store"
)

const plainReply = "From: alice <alice@newsroom.example>\r\nTo: \"quixotic tangerine\" <qt@relay.example>\r\n" +
	"Subject: Re: the documents we talked about\r\nDate: Sun, 29 Nov 2026 14:03:27 +0100\r\n" +
	"Message-ID: <reply1@newsroom.example>\r\nIn-Reply-To: <root@relay.example>\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\nThank you, we will call you at nine.\r\n"

// A plaintext Sent copy is stored sealed to the journalist's key: no
// plaintext on disk, and the journalist still reads it whole.
func TestAppendPlaintextIsSealed(t *testing.T) {
	e := newEnv(t, "alice")
	c := e.login(t, "alice", nil)
	ad := mustAppend(t, c, "Sent", plainReply, []imap.Flag{imap.FlagSeen})
	msgs, err := e.st.Messages("alice", "Sent")
	if err != nil || len(msgs) != 1 || msgs[0].UID != uint32(ad.UID) {
		t.Fatalf("Sent: %v %+v", err, msgs)
	}
	f, err := e.st.OpenBlob(msgs[0].Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stored, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"nine", "documents we talked", "14:03"} {
		if bytes.Contains(stored, []byte(secret)) {
			t.Errorf("stored Sent copy contains %q in plaintext", secret)
		}
	}
	st, err := structure.Compute(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	if st.Root.Type != "multipart" || st.Root.Subtype != "encrypted" {
		t.Fatalf("stored as %s/%s", st.Root.Type, st.Root.Subtype)
	}
	sec, _ := st.Locate(&imap.FetchItemBodySection{Part: []int{2}})
	blk, err := armor.Decode(bytes.NewReader(stored[sec.Range.Start:sec.Range.End]))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(blk.Body, openpgp.EntityList{e.keys["alice"]}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != plainReply {
		t.Errorf("decrypted Sent copy differs:\n%q", plain)
	}
	if env := st.Envelope(); env.Subject != "..." || len(env.To) != 1 || env.To[0].Host != "relay.example" {
		t.Errorf("outer envelope %+v", env)
	}
}

// Encrypted messages keep their body byte for byte under a minimal outer
// header (no subject, no client name, the day for a date); without a usable
// key a plaintext APPEND is refused rather than stored in the clear.
func TestAppendEncryptedKeptAndPlaintextRefusedWithoutKey(t *testing.T) {
	e := newEnv(t, "alice")
	c := e.login(t, "alice", nil)
	enc := "User-Agent: Mozilla Thunderbird\r\nX-Mozilla-Draft-Info: internal/draft; vcard=0\r\n" +
		sampleMessage("already encrypted", 1000)
	mustAppend(t, c, "Drafts", enc, nil)
	inline := "Subject: inline\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nwcBMA\r\n-----END PGP MESSAGE-----\r\n"
	mustAppend(t, c, "Drafts", inline, nil)
	msgs, _ := e.st.Messages("alice", "Drafts")
	for i, want := range []string{enc, inline} {
		f, err := e.st.OpenBlob(msgs[i].Blob.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		gotHead, gotBody, _ := strings.Cut(string(got), "\r\n\r\n")
		_, wantBody, _ := strings.Cut(want, "\r\n\r\n")
		if gotBody != wantBody {
			t.Errorf("message %d: body changed on APPEND", i)
		}
		for _, leak := range []string{"Thunderbird", "X-Mozilla", "already encrypted", "inline"} {
			if strings.Contains(gotHead, leak) {
				t.Errorf("message %d: outer header keeps %q:\n%s", i, leak, gotHead)
			}
		}
		if !strings.Contains(gotHead, "Subject: ...") {
			t.Errorf("message %d: outer header %q", i, gotHead)
		}
	}
	if err := e.st.UpdateJournalist("alice", func(j *store.Journalist) error {
		j.PublicKey = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The key change logged alice out; log in again.
	c = e.login(t, "alice", nil)
	cmd := c.Append("Sent", int64(len(plainReply)), nil)
	cmd.Write([]byte(plainReply))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("plaintext APPEND without a key: %v", err)
	}
	if msgs, _ := e.st.Messages("alice", "Sent"); len(msgs) != 0 {
		t.Error("plaintext stored")
	}
}
