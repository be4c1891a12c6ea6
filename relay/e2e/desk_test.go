package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	netmail "net/mail"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/pgp"
)

// addDeskJournalist adds a journalist with a derived key through the CLI
// and returns them as an instance view (same data directory).
func addDeskJournalist(t *testing.T, in *instance, name string) *instance {
	t.Helper()
	seed := sha256.Sum256([]byte(t.Name() + " " + name))
	key, err := pgp.DeriveKey(seed[:], name+" <"+name+"@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgp.Armor(key)
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		Passphrase string `json:"passphrase"`
	}
	if err := json.Unmarshal(run(t, pub, "journalist", "add", name, "--key", "-", "--data", in.dir, "--json"), &added); err != nil {
		t.Fatal(err)
	}
	return &instance{dir: in.dir, name: name, pass: added.Passphrase, key: key, keyring: openpgp.EntityList{key}}
}

// TestBrowserDeskChoiceNoJS: with two desks (newsroom: jane; investigations:
// ravi), a source in Chromium with JavaScript off picks a desk from the
// plain radio list; the relay's IMAP shows the submission to ravi only,
// and jane, off the desk, cannot reply over SMTP.
func TestBrowserDeskChoiceNoJS(t *testing.T) {
	needChromium(t)
	in := newInstance(t, cheapConf)
	ravi := addDeskJournalist(t, in, "ravi")
	run(t, nil, "desk", "add", "investigations", "--title", "Investigations",
		"--description", "Long inquiries; only the investigations team reads them.", "--data", in.dir)
	run(t, nil, "desk", "unassign", "newsroom", "ravi", "--data", in.dir)
	run(t, nil, "desk", "assign", "investigations", "ravi", "--data", in.dir)
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay stderr (tail):\n%s", lastBytes(logs.Bytes(), 4000))
		}
	})
	b := startChromium(t)

	b.navigate(t, p.intakeURL()+"/")
	b.click(t, b.waitFor(t, "xpath", xpButton("I am new: get a codename")))
	b.waitFor(t, "css selector", `p[aria-labelledby="codename-label"] strong`)
	b.click(t, b.find(t, "xpath", xpLink("I wrote it down: continue")))
	b.waitText(t, "Who should receive your message?")
	b.waitText(t, "Long inquiries; only the investigations team reads them.")
	if n := b.count(t, `input[type="radio"][name="desk"]`); n != 2 {
		t.Fatalf("%d desks offered, want 2", n)
	}
	if n := b.count(t, `input[name="desk"]:checked`); n != 0 {
		t.Fatalf("%d desks chosen in advance", n)
	}
	b.noScript(t)
	// Choose by clicking the label, as a person would.
	b.click(t, b.find(t, "xpath", `//label[normalize-space()="Investigations"]`))
	if n := b.count(t, `input[name="desk"][value="investigations"]:checked`); n != 1 {
		t.Fatal("clicking the label did not choose the desk")
	}
	msg := strings.Repeat("Documents about the port authority. ", 200) // ~7 KiB
	b.sendKeys(t, b.find(t, "css selector", "#message"), msg+"MKdesk")
	b.click(t, b.find(t, "xpath", xpButton("Send")))
	b.waitText(t, "Thank you. Your submission was received and encrypted.")
	b.navigate(t, p.intakeURL()+"/inbox")
	b.waitText(t, "You are writing to: Investigations")
	b.noScript(t)

	// Over IMAP: ravi reads it, jane sees nothing.
	ms, _ := inbox(t, p, ravi)
	if len(ms) != 1 || !strings.Contains(ms[0].Dec.Text, "MKdesk") {
		t.Fatalf("ravi's INBOX: %d messages", len(ms))
	}
	if js, _ := inbox(t, p, in); len(js) != 0 {
		t.Fatalf("jane, off the desk, sees %d messages", len(js))
	}
	// Jane cannot reply to the source: RCPT is refused with the reason.
	hdr, err := netmail.ReadMessage(bytes.NewReader(ms[0].Raw))
	if err != nil {
		t.Fatal(err)
	}
	from, err := netmail.ParseAddress(hdr.Header.Get("From"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(p.info.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("laptop.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", in.name, in.pass)); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail("jane@newsroom.example", []string{from.Address}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || !strings.Contains(se.Message, "not on this source's desk") {
		t.Fatalf("jane's reply: %v, want 550 not on the desk", err)
	}
	// Ravi can.
	replyBySMTP(t, p, ravi, ms[0], []string{"MKdeskReply", "MKdeskSubj", "MKdeskName", "MKdeskFile"})
}
