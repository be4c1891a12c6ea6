package e2e_test

import (
	"bytes"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/relay/config"
	"postern/tools/privscan"
	"postern/tools/sourceclient"
)

// TestPrivacyScan plants markers in every field a source controls (message
// text, subject, file names, file contents, the codename itself), runs the
// flows through the real binary (new codename, submit, log in again,
// inbox, submit again), stops the relay and scans every byte of the data
// directory and of the relay's stderr: no marker, IP address or user agent
// anywhere, and every stored date on a day. It also checks that the
// journalist can read every marker, so the scan cannot pass because
// nothing was delivered.
//
// When the relay runs SMTP, the journalist also replies (plaintext, as
// Thunderbird sends without OpenPGP) with markers in the text, subject, file
// name and file, and the source reads the reply in the inbox.
func TestPrivacyScan(t *testing.T) {
	in := newInstance(t, cheapConf)
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	c := ctx(t, 3*time.Minute)

	const (
		mSubject = "MKsubjectQ7vX"
		mText    = "MKtextZ3pL"
		mFile    = "MKfilecontentK9dD"
		mName    = "MKfilenameW2eR"
	)
	src := sourceclient.New(p.intakeURL(), nil)
	codename, err := src.NewCodename(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Submit(c, mSubject, "begin "+mText+" end",
		sourceclient.File{Name: mName + ".txt", R: strings.NewReader(strings.Repeat(mFile+"\n", 5000))},
		sourceclient.File{Name: "second " + mName + ".bin", R: bytes.NewReader([]byte(mFile))},
	); err != nil {
		t.Fatal(err)
	}
	// A second visit: log in with the codename, look at the inbox, send more.
	again := sourceclient.New(p.intakeURL(), nil)
	if err := again.Login(c, codename); err != nil {
		t.Fatal(err)
	}
	if pg, err := again.Inbox(c); err != nil || pg.Status != 200 {
		t.Fatalf("inbox: %v %d", err, pg.Status)
	}
	if err := again.Submit(c, mSubject+"2", mText+"2"); err != nil {
		t.Fatal(err)
	}
	// A login with a wrong codename (a typo) is not a trace either.
	typo := strings.Replace(codename, " ", "  x", 1)
	if err := sourceclient.New(p.intakeURL(), nil).Login(c, typo); err == nil {
		t.Fatal("a wrong codename logged in")
	}

	// The journalist reads everything that was planted.
	ms, _ := inbox(t, p, in)
	if len(ms) != 2 {
		t.Fatalf("INBOX holds %d readable messages, want 2", len(ms))
	}
	var seen strings.Builder
	for _, m := range ms {
		seen.WriteString(m.Dec.Subject + "\n" + m.Dec.Text + "\n")
		for i, part := range m.Dec.Parts {
			seen.WriteString(part.Name + "\n")
			seen.Write(readPart(t, m.Dec, i))
		}
		if strings.Contains(string(m.Raw), mText) {
			t.Error("plaintext in the mail outside the encryption")
		}
		// Dates that leave the relay are days: INTERNALDATE and Date.
		if d := m.Date.UTC(); d.Hour()+d.Minute()+d.Second() != 0 {
			t.Errorf("INTERNALDATE %v is finer than a day", m.Date)
		}
		h, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatal(err)
		}
		if d, err := h.Header.Date(); err != nil || d.UTC().Hour()+d.UTC().Minute()+d.UTC().Second() != 0 {
			t.Errorf("Date: %q is not a day (%v)", h.Header.Get("Date"), err)
		}
	}
	for _, want := range []string{mSubject, mText, mFile, mName, mSubject + "2"} {
		if !strings.Contains(seen.String(), want) {
			t.Errorf("the journalist cannot read %q", want)
		}
	}
	// What the admin sees of the running relay is no trace either.
	status := run(t, nil, "status", "--data", in.dir, "--json")

	mReply := []string{"MKreplyTextH4", "MKreplySubjJ8", "MKreplyNameB6", "MKreplyFileN1"}
	if p.info.SMTPAddr == "" {
		t.Fatal("relay serve runs no SMTP: the journalist's reply could not be planted")
	}
	replyBySMTP(t, p, in, ms[0], mReply)
	pg, err := again.Inbox(c)
	if err != nil || !strings.Contains(pg.Body, mReply[0]) {
		t.Errorf("the source does not see the reply in the inbox (%v):\n%s", err, pg.Body)
	}
	p.stop(t)

	words := strings.Fields(codename)
	markers := []string{mSubject, mText, mFile, mName, codename, typo,
		strings.Join(words, "-"), strings.Join(words, "+"), strings.Join(words, ""),
		sourceclient.TorBrowserUA, "Windows NT 10.0"}
	markers = append(markers, mReply...)
	allow := ownAddrs(t, in, p)
	out := logs.Bytes()
	if len(out) == 0 {
		t.Fatal("the relay logged nothing: the log scan would prove nothing")
	}
	privscan.Check(t, in.dir, append(out, status...), privscan.Options{Markers: markers, AllowAddrs: allow})
	if t.Failed() {
		t.Logf("relay stderr:\n%s", out)
	}
}

// replyBySMTP sends a plaintext reply with an attachment from the journalist
// to the source of m, the way a mail client submits: AUTH PLAIN, then MAIL,
// RCPT, DATA. markers: text, subject, file name, file content.
func replyBySMTP(t *testing.T, p *relayProc, in *instance, m mail, markers []string) {
	t.Helper()
	hdr, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	from, err := netmail.ParseAddress(hdr.Header.Get("From"))
	if err != nil {
		t.Fatalf("From of the submission: %v", err)
	}
	msg := "From: Jane <jane@newsroom.example>\r\n" +
		"To: " + from.String() + "\r\n" +
		"Subject: Re: " + markers[1] + "\r\n" +
		"Date: Sun, 29 Nov 2026 15:04:05 +0100\r\n" +
		"Message-ID: <r1@newsroom.example>\r\n" +
		"In-Reply-To: " + hdr.Header.Get("Message-ID") + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Thank you. " + markers[0] + "\r\n" +
		"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"" + markers[2] + ".txt\"\r\n\r\n" +
		markers[3] + "\r\n--b1--\r\n"
	c, err := smtp.Dial(p.info.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("laptop.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", in.name, in.pass)); err != nil {
		t.Fatalf("SMTP AUTH: %v", err)
	}
	if err := c.SendMail("jane@newsroom.example", []string{from.Address}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SMTP reply: %v", err)
	}
	c.Quit()
}

// TestDeletedSourceGone: a source who deletes the account takes every trace
// with it. After the deletion and a restart, neither its designation nor its
// address (the two labels that tie mails to one person) is anywhere in the
// data directory, raw database pages included, and its submissions and the
// reply to it are gone from IMAP. Another source's designation, still there,
// shows that the scan reads the database.
func TestDeletedSourceGone(t *testing.T) {
	in := newInstance(t, cheapConf)
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	c := ctx(t, 3*time.Minute)

	keep := sourceclient.New(p.intakeURL(), nil)
	gone := sourceclient.New(p.intakeURL(), nil)
	for i, s := range []*sourceclient.Client{keep, gone} {
		if _, err := s.NewCodename(c); err != nil {
			t.Fatal(err)
		}
		if err := s.Submit(c, "", fmt.Sprintf("source %d", i),
			sourceclient.File{Name: "doc.txt", R: strings.NewReader(strings.Repeat("text ", 1000))}); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := inbox(t, p, in)
	if len(ms) != 2 {
		t.Fatalf("INBOX holds %d messages, want 2", len(ms))
	}
	from := map[string]*netmail.Address{}
	for _, m := range ms {
		h, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatal(err)
		}
		a, err := netmail.ParseAddress(h.Header.Get("From"))
		if err != nil || a.Name == "" {
			t.Fatalf("From %q: %v", h.Header.Get("From"), err)
		}
		from[strings.TrimSpace(m.Dec.Text)] = a
	}
	kept, deleted := from["source 0"], from["source 1"]
	if kept == nil || deleted == nil {
		t.Fatalf("submissions not told apart: %v", from)
	}
	if p.info.SMTPAddr == "" {
		t.Fatal("relay serve runs no SMTP: the reply to delete could not be planted")
	}
	if err := sendReply(p, in, deleted.Address, "a reply to be deleted"); err != nil {
		t.Fatalf("reply: %v", err)
	}

	tok, err := gone.Token(c, "/account/delete")
	if err != nil {
		t.Fatal(err)
	}
	if pg, err := gone.Post(c, "/account/delete", url.Values{"csrf": {tok}}); err != nil || pg.Status != 200 {
		t.Fatalf("delete account: %v %d", err, pg.Status)
	}
	ms, _ = inbox(t, p, in)
	if len(ms) != 1 || strings.TrimSpace(ms[0].Dec.Text) != "source 0" {
		t.Fatalf("after the deletion INBOX holds %d messages, want only source 0's", len(ms))
	}
	p.stop(t)

	// The deleted source's labels are nowhere; the kept one's are found.
	privscan.Check(t, in.dir, logs.Bytes(), privscan.Options{
		Markers:    []string{deleted.Name, deleted.Address},
		AllowAddrs: ownAddrs(t, in, p),
	})
	hits, err := privscan.Dir(in.dir, privscan.Options{Markers: []string{kept.Name}})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, h := range hits {
		if h.Kind == privscan.Marker {
			found++
		}
	}
	if found == 0 {
		t.Errorf("the kept source's designation %q is not found: the scan does not see the database", kept.Name)
	}
}

// ownAddrs are the relay's own listen addresses (announced at start-up,
// and configured in postern.conf): they may appear; any other address, a
// client's, may not.
func ownAddrs(t *testing.T, in *instance, p *relayProc) []string {
	t.Helper()
	cfg, err := config.Load(in.dir)
	if err != nil {
		t.Fatal(err)
	}
	return []string{p.info.IntakeAddr, p.info.IMAPAddr, p.info.SMTPAddr, cfg.IntakeListen, cfg.IMAPListen, cfg.SMTPListen}
}
