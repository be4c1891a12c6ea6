package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-imap/v2"
)

// sourceAddress is the From of the first submission in the demo's INBOX.
func (rd *readerDemo) sourceAddress(t *testing.T) string {
	t.Helper()
	c := rd.imapClient(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || len(msgs[0].Envelope.From) != 1 {
		t.Fatalf("the submission's envelope: %v", err)
	}
	return msgs[0].Envelope.From[0].Addr()
}

// replyEML is a reply as the offline reader's `reply` writes it into the
// outbox: complete headers, a unique Message-ID, threaded under the
// submission, a text and an attachment.
func replyEML(to, id string) string {
	att := strings.Repeat("UEsDBBQAAAAIAAAAIQBhc2RmYXNkZmFzZGZhc2RmYXNkZmFzZGZhc2RmYXNkZmFz\r\n", 160)
	return "From: Newsroom <newsroom@postern.local>\r\nTo: <" + to + ">\r\n" +
		"Subject: Re: Submission\r\nDate: Sat, 05 Dec 2026 00:00:00 +0000\r\n" +
		"Message-ID: <" + id + "@postern.local>\r\nIn-Reply-To: <root@postern.local>\r\nReferences: <root@postern.local>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThank you. We read the documents and would like to ask two questions.\r\n" +
		"--b1\r\nContent-Type: application/zip; name=\"questions.zip\"\r\nContent-Disposition: attachment; filename=\"questions.zip\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + att + "--b1--\r\n"
}

// encryptedReplyEML is a PGP/MIME reply encrypted to the source's key,
// taken from the Autocrypt header of its submission (as `reader reply`
// does on the air-gapped machine).
func (rd *readerDemo) encryptedReplyEML(t *testing.T, to, id string) string {
	t.Helper()
	c := rd.imapClient(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("the submission's header: %v", err)
	}
	hdr, err := netmail.ReadMessage(bytes.NewReader(append(msgs[0].FindBodySection(section), "\r\n"...)))
	if err != nil {
		t.Fatal(err)
	}
	_, keydata, ok := strings.Cut(hdr.Header.Get("Autocrypt"), "keydata=")
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(keydata), ""))
	if !ok || err != nil {
		t.Fatalf("Autocrypt header: %v", err)
	}
	keys, err := openpgp.ReadKeyRing(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var armored bytes.Buffer
	aw, _ := armor.Encode(&armored, "PGP MESSAGE", nil)
	w, err := openpgp.Encrypt(aw, keys, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Content-Type: text/plain; charset=utf-8\r\n\r\nAn answer written offline.\r\n")
	w.Close()
	aw.Close()
	return "From: Newsroom <newsroom@postern.local>\r\nTo: <" + to + ">\r\nSubject: ...\r\n" +
		"Date: Sat, 05 Dec 2026 00:00:00 +0000\r\nMessage-ID: <" + id + "@postern.local>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e1\"\r\n\r\n" +
		"--e1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n" +
		"--e1\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" +
		strings.ReplaceAll(armored.String(), "\n", "\r\n") + "\r\n--e1--\r\n"
}

func (rd *readerDemo) replies(t *testing.T) int {
	t.Helper()
	var list []struct {
		Replies int `json:"replies"`
	}
	out := mustRelay(t, nil, "source", "list", "--data", rd.info.DataDir, "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("source list: %v\n%s", err, out)
	}
	return list[0].Replies
}

// TestReaderSendTwiceStoresOnce: `reader send` submits the outbox through
// the relay's SMTP as the journalist and moves each file to sent/; the same
// file sent again is taken and stored nothing; a file the relay or the
// reader refuses stays in the outbox with its reason.
func TestReaderSendTwiceStoresOnce(t *testing.T) {
	rd := newReaderDemo(t)
	submitThroughForm(t, rd.info, "a first submission")
	to := rd.sourceAddress(t)
	outbox := filepath.Join(t.TempDir(), "outbox")
	os.Mkdir(outbox, 0o700)
	os.WriteFile(filepath.Join(outbox, "reply-1.eml"), []byte(replyEML(to, "f00dcafe01")), 0o600)
	send := func(pass string) result {
		return relay(t, nil, "reader", "send", "--dir", rd.home, "--outbox", outbox, "--direct", rd.info.SMTPAddr, "--passphrase-file", pass)
	}

	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("not it\n"), 0o600)
	if r := send(wrong); r.code != 1 || !strings.Contains(r.stderr, "refused demo's passphrase") {
		t.Fatalf("send with a wrong passphrase: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(outbox, "reply-1.eml")); err != nil {
		t.Fatal("a failed login moved the reply:", err)
	}

	if r := send(rd.passFile); r.code != 0 || !strings.Contains(r.stdout, "sent: reply-1.eml") {
		t.Fatalf("send: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	sent, err := os.ReadFile(filepath.Join(outbox, "sent", "reply-1.eml"))
	if err != nil || rd.replies(t) != 1 {
		t.Fatalf("after one send: %v, %d replies", err, rd.replies(t))
	}

	// The same stick again: the relay takes it and stores nothing.
	os.WriteFile(filepath.Join(outbox, "reply-1.eml"), sent, 0o600)
	if r := send(rd.passFile); r.code != 0 || !strings.Contains(r.stdout, "sent: reply-1.eml") {
		t.Fatalf("second send: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := rd.replies(t); n != 1 {
		t.Errorf("the same reply sent twice: %d replies stored, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(outbox, "sent", "reply-1-2.eml")); err != nil {
		t.Errorf("the second copy was not moved beside the first: %v", err)
	}

	// Refused files stay, each with one line; the good one goes on.
	os.WriteFile(filepath.Join(outbox, "a-no-to.eml"), []byte("Message-ID: <x1@postern.local>\r\nSubject: x\r\n\r\nhi\r\n"), 0o600)
	os.WriteFile(filepath.Join(outbox, "b-stranger.eml"), []byte(replyEML("someone@example.org", "f00dcafe02")), 0o600)
	os.WriteFile(filepath.Join(outbox, "c-new.eml"), []byte(replyEML(to, "f00dcafe03")), 0o600)
	r := send(rd.passFile)
	if r.code != 1 || !strings.Contains(r.stdout, "NOT sent: a-no-to.eml: wants exactly one To") ||
		!strings.Contains(r.stdout, "NOT sent: b-stranger.eml: SMTP error 550") || !strings.Contains(r.stdout, "sent: c-new.eml") ||
		!strings.Contains(r.stderr, "2 of 3 replies were not sent") {
		t.Fatalf("send with refused files: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"a-no-to.eml", "b-stranger.eml"} {
		if _, err := os.Stat(filepath.Join(outbox, name)); err != nil {
			t.Errorf("%s left the outbox: %v", name, err)
		}
	}
	if n := rd.replies(t); n != 2 {
		t.Errorf("%d replies stored, want 2", n)
	}

	// A PGP/MIME reply encrypted to the source, twice: stored once.
	enc := rd.encryptedReplyEML(t, to, "f00dcafe04")
	for range 2 {
		os.WriteFile(filepath.Join(outbox, "d-encrypted.eml"), []byte(enc), 0o600)
		os.Remove(filepath.Join(outbox, "a-no-to.eml"))
		os.Remove(filepath.Join(outbox, "b-stranger.eml"))
		if r := send(rd.passFile); r.code != 0 || !strings.Contains(r.stdout, "sent: d-encrypted.eml") {
			t.Fatalf("send of an encrypted reply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	if n := rd.replies(t); n != 3 {
		t.Errorf("an encrypted reply sent twice: %d replies stored, want 3", n)
	}
	if r := relay(t, nil, "reader", "send", "--dir", rd.home, "--outbox", filepath.Join(outbox, "sent", "none"), "--direct", rd.info.SMTPAddr, "--passphrase-file", rd.passFile); r.code != 1 || !strings.Contains(r.stderr, "outbox") {
		t.Errorf("send of a missing outbox: exit %d\n%s", r.code, r.stderr)
	}
}
