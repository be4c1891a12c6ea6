package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postern/mailbox/pgp"
	"postern/mailbox/pgp/pgptest"
	"postern/mailbox/pgpmime"
	"postern/relay/admin"
	"postern/relay/config"
	"postern/tools/sourceclient"
)

// TestReplyRoundTrip runs the whole reply flow through the real servers of a
// relay without tor: a source submits through the form; alice reads it over
// IMAP, answers once in plaintext (go-smtp's client) and once PGP/MIME made by
// gpg to the source's Autocrypt key (swaks); the source logs in with the
// codename and reads both; bob finds the copy and the notice in his INBOX.
func TestReplyRoundTrip(t *testing.T) {
	pgptest.NeedTool(t, "gpg")
	swaks := pgptest.NeedTool(t, "swaks")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cheap := config.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	cfg.SourceKDF, cfg.PasswordKDF = cheap, cheap
	cfg.DeliveryWindowMinutes = 0
	cfg.IntakeListen, cfg.IMAPListen, cfg.SMTPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Organisation = "The Daily Example"
	a, err := admin.Init(dir, cfg, admin.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*openpgp.Entity{}
	pass := map[string]string{}
	for i, name := range []string{"alice", "bob"} {
		e, err := pgp.DeriveKey(bytes.Repeat([]byte{byte(i + 1)}, 32), name+" <"+name+"@example.org>")
		if err != nil {
			t.Fatal(err)
		}
		added, err := a.JournalistAdd(ctx, name, pgp.Serialize(e))
		if err != nil {
			t.Fatal(err)
		}
		keys[name], pass[name] = e, added.Passphrase
	}
	a.Close()

	sctx, stop := context.WithCancel(ctx)
	started := make(chan Info, 1)
	done := make(chan error, 1)
	go func() { done <- Run(sctx, Options{Dir: dir, WithoutTor: true, Started: func(i Info) { started <- i }}) }()
	var info Info
	select {
	case info = <-started:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	src := sourceclient.New("http://"+info.IntakeAddr, nil)
	codename, err := src.NewCodename(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Submit(ctx, "leak", "please answer"); err != nil {
		t.Fatal(err)
	}

	// alice reads the submission and learns the source's address and key.
	raw := fetchAll(t, info.IMAPAddr, "alice", pass["alice"])
	if len(raw) != 1 {
		t.Fatalf("alice has %d messages", len(raw))
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw[0]))
	if err != nil {
		t.Fatal(err)
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		t.Fatal(err)
	}
	srcKey := autocryptKey(t, msg.Header.Get("Autocrypt"))
	d, err := pgpmime.Decrypt(bytes.NewReader(raw[0]), openpgp.EntityList{keys["alice"]})
	if err != nil || !strings.Contains(d.Text, "please answer") {
		t.Fatalf("alice cannot read the submission: %v", err)
	}

	// A plaintext reply, shaped like Thunderbird's, through go-smtp's client.
	plain := fmt.Sprintf("From: alice <alice@example.org>\r\nTo: %s\r\nSubject: Re: Submission\r\n"+
		"User-Agent: Mozilla Thunderbird\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"PLAIN-REPLY-MARKER thank you\r\n", from.Address)
	if err := sendMail(info.SMTPAddr, "alice", pass["alice"], from.Address, plain); err != nil {
		t.Fatal("plaintext reply:", err)
	}

	// An encrypted reply made by gpg to the source's key, sent by swaks.
	g := pgptest.NewGPG(t)
	g.Run(srcKey, "--import")
	// Like Thunderbird: a signature block and the journalist's own key ride
	// inside the encryption, out of the relay's reach on the way in.
	inner := "Content-Type: multipart/mixed; boundary=\"in\"\r\n\r\n" +
		"--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nENCRYPTED-REPLY-MARKER from gpg\r\n-- \r\nJane Doe, Investigations desk\r\n" +
		"--in\r\nContent-Type: application/pgp-keys; name=\"OpenPGP_0xALICE.asc\"\r\nContent-Disposition: attachment; filename=\"OpenPGP_0xALICE.asc\"\r\n\r\n" +
		"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nxx\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n--in--\r\n"
	armored := g.Run([]byte(inner), "--trust-model", "always", "--armor", "--encrypt", "--recipient", from.Address)
	body := "MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n" +
		"--b1\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(string(armored), "\r\n", "\n"), "\n", "\r\n") + "\r\n--b1--\r\n"
	host, port, _ := strings.Cut(info.SMTPAddr, ":")
	headers := fmt.Sprintf("From: alice <alice@example.org>\r\nTo: %s\r\nSubject: ...\r\n", from.Address)
	pgptest.Run(t, nil, swaks, "--server", host, "--port", port, "--auth", "PLAIN",
		"--auth-user", "alice", "--auth-password", pass["alice"],
		"--from", "alice@example.org", "--to", from.Address,
		"--data", headers+body, "--silent", "2")

	// The source reads both after logging in again.
	src2 := sourceclient.New("http://"+info.IntakeAddr, nil)
	if err := src2.Login(ctx, codename); err != nil {
		t.Fatal(err)
	}
	inbox, err := src2.Inbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PLAIN-REPLY-MARKER", "ENCRYPTED-REPLY-MARKER"} {
		if !strings.Contains(inbox.Body, want) {
			t.Errorf("the source's inbox lacks %s", want)
		}
	}
	for _, leak := range []string{"alice", "Thunderbird", "Investigations desk", "OpenPGP_0xALICE"} {
		if strings.Contains(inbox.Body, leak) {
			t.Errorf("the journalist's identity (%q) reached the source's inbox", leak)
		}
	}

	// bob sees the submission, a copy of the plaintext reply and a notice.
	bob := fetchAll(t, info.IMAPAddr, "bob", pass["bob"])
	if len(bob) != 3 {
		t.Fatalf("bob has %d messages, want 3", len(bob))
	}
	var texts []string
	for _, m := range bob {
		d, err := pgpmime.Decrypt(bytes.NewReader(m), openpgp.EntityList{keys["bob"]})
		if err != nil {
			t.Fatal("bob cannot read his copy:", err)
		}
		texts = append(texts, d.Text)
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "PLAIN-REPLY-MARKER") || !strings.Contains(all, "encrypted to the source only") {
		t.Errorf("bob's copies: %q", all)
	}
	if got := fetchAll(t, info.IMAPAddr, "alice", pass["alice"]); len(got) != 1 {
		t.Errorf("alice got %d messages; her own replies must not come back to her INBOX", len(got))
	}
}

// sendMail submits like Thunderbird does on loopback: plain SMTP, AUTH PLAIN.
func sendMail(addr, user, pass, to, msg string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	return sendOn(conn, user, pass, to, msg)
}

func fetchAll(t *testing.T, addr, user, pass string) [][]byte {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: sel.NumMessages}},
		&imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		for _, b := range m.BodySection {
			out = append(out, b.Bytes)
		}
	}
	return out
}

// autocryptKey returns the binary key in an Autocrypt header.
func autocryptKey(t *testing.T, h string) []byte {
	t.Helper()
	_, kd, ok := strings.Cut(h, "keydata=")
	if !ok {
		t.Fatalf("no keydata in Autocrypt header %q", h)
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
