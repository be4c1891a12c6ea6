package e2e_test

import (
	"bytes"
	"crypto/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/reply"
	"postern/relay/demokey"
	"postern/tools/sourceclient"
)

// The Thunderbird test drives Debian's Thunderbird ESR (package thunderbird)
// on an Xvfb display (package xvfb) through Marionette, Gecko's remote
// protocol, spoken here by hand. The steps run as privileged chrome
// JavaScript inside Thunderbird, as its own UI code does.
const (
	thunderbirdBin = "thunderbird"
	xvfbBin        = "Xvfb"
	// tbStepLimit bounds each step: start-up, account set-up and sync,
	// showing the message.
	tbStepLimit = 2 * time.Minute
)

// TestThunderbird is a journalist reading a submission in a real
// Thunderbird: a source sends a message with non-ASCII text and two files
// (2 MiB of random bytes, a small UTF-8 text with a non-ASCII name); a fresh
// Thunderbird profile gets the journalist's secret key (a key like the one
// Thunderbird makes, listing ZLIB, so the relay compresses) and an IMAP
// account on the relay, syncs INBOX, shows the submission decrypted by its
// OpenPGP code, and saves both attachments, whose bytes must be the
// originals. Thunderbird's IMAP log must show COMPRESS=DEFLATE in use.
// Then the journalist presses Reply and sends a plaintext answer through the
// relay's SMTP, OpenPGP off for it; the source logs in with the codename and
// reads it, with nothing of the journalist's name or address on the page.
// Last the journalist imports and accepts the source's key attached to the
// submission and replies again, encrypted (to the source's key and the
// journalist's own), which the relay must take and show the source too.
func TestThunderbird(t *testing.T) {
	needThunderbird(t)
	in := newInstance(t, cheapConf)

	// The journalist's key as Thunderbird would make it: give it to the
	// relay, keep the secret half for Thunderbird (and for inbox).
	kp, err := demokey.New("Jane", "jane@newsroom.example")
	if err != nil {
		t.Fatal(err)
	}
	run(t, kp.Public, "journalist", "set-key", in.name, "--key", "-", "--data", in.dir)
	if in.keyring, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(kp.Secret)); err != nil {
		t.Fatal(err)
	}
	in.key = in.keyring[0]

	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay stderr (tail):\n%s", lastBytes(logs.Bytes(), 4000))
		}
	})

	// The source's submission.
	const (
		subject = "Leak: Überweisungen 2026 — Ωmega"
		line1   = "Grüße aus Köln! Документы во вложении — 機密文書."
		line2   = "Zweite Zeile: ✓ ñ ø ß ½ €"
		binName = "zufall-2MiB.bin"
		txtName = "notiz-ünicode.txt"
	)
	bin := make([]byte, 2<<20)
	rand.Read(bin)
	txt := []byte("Notiz über die Konten — ✓ 日本語\nzweite Zeile\n")
	c := sourceclient.New(p.intakeURL(), nil)
	codename, err := c.NewCodename(ctx(t, tbStepLimit))
	if err != nil {
		t.Fatalf("new codename: %v", err)
	}
	if err := c.Submit(ctx(t, tbStepLimit), subject, line1+"\n"+line2,
		sourceclient.File{Name: binName, R: bytes.NewReader(bin)},
		sourceclient.File{Name: txtName, R: bytes.NewReader(txt)}); err != nil {
		t.Fatalf("submit: %v", err)
	}

	tb := startThunderbird(t)

	// Key, account, INBOX.
	host, port, err := net.SplitHostPort(p.info.IMAPAddr)
	if err != nil {
		t.Fatal(err)
	}
	smtpPort := "0"
	if p.info.SMTPAddr != "" {
		_, smtpPort, _ = net.SplitHostPort(p.info.SMTPAddr)
	}
	var setup struct {
		Imported []string `json:"imported"`
		Asks     int      `json:"asks"`
		Total    int      `json:"total"`
		Hdrs     []struct {
			Key     int    `json:"key"`
			Subject string `json:"subject"`
			Size    int    `json:"size"`
		} `json:"hdrs"`
	}
	tb.script(t, "set-up", tbSetupJS, &setup, string(kp.Secret), kp.Fingerprint,
		in.name, host, atoi(t, port), atoi(t, smtpPort), in.pass, 1)
	t.Logf("Thunderbird: imported %v; INBOX %+v after %d update(s)", setup.Imported, setup.Hdrs, setup.Asks)
	if len(setup.Hdrs) != 1 {
		t.Fatalf("Thunderbird's INBOX holds %d messages, want 1: %+v", len(setup.Hdrs), setup.Hdrs)
	}

	// Show it, check the decryption, save the attachments.
	saveDir := t.TempDir()
	var view struct {
		Subject     string   `json:"subject"`
		Body        string   `json:"body"`
		EncIcon     string   `json:"encIcon"`
		EncState    any      `json:"encState"`
		Shown       []string `json:"shown"`
		Attachments []struct {
			Name        string `json:"name"`
			ContentType string `json:"contentType"`
			Size        int    `json:"size"`
			SavedTo     string `json:"savedTo"`
		} `json:"attachments"`
	}
	tb.script(t, "display", tbViewJS, &view, setup.Hdrs[0].Key, subject, line1, []string{binName, txtName}, saveDir)
	t.Logf("Thunderbird shows %q, attachments %q, OpenPGP icon %s, state %v", view.Subject, view.Shown, view.EncIcon, view.EncState)
	if !strings.Contains(view.EncIcon, "message-encrypted-ok") {
		t.Errorf("OpenPGP status icon is %q, want message-encrypted-ok", view.EncIcon)
	}
	if !strings.Contains(view.Subject, subject) {
		t.Errorf("shown subject %q lacks %q", view.Subject, subject)
	}
	if !strings.Contains(view.Body, line1) || !strings.Contains(view.Body, line2) {
		t.Errorf("shown body %q lacks %q or %q", view.Body, line1, line2)
	}
	want := map[string][]byte{binName: bin, txtName: txt}
	for _, a := range view.Attachments {
		orig, ok := want[a.Name]
		if !ok {
			continue
		}
		delete(want, a.Name)
		got, err := os.ReadFile(a.SavedTo)
		if err != nil {
			t.Errorf("attachment %q: %v", a.Name, err)
			continue
		}
		if !bytes.Equal(got, orig) {
			t.Errorf("attachment %q as Thunderbird saved it: %d bytes, want %d identical bytes", a.Name, len(got), len(orig))
		}
	}
	for name := range want {
		t.Errorf("Thunderbird lists no attachment %q: %+v", name, view.Attachments)
	}
	// The message is padded to a Padmé length (RFC822.SIZE as Thunderbird
	// got it), and the padding shows nowhere: no part but the two files and
	// the source's key.
	if size := int64(setup.Hdrs[0].Size); pgp.Padme(size) != size {
		t.Errorf("Thunderbird lists the submission at %d bytes, not a Padmé length", size)
	}
	for _, a := range view.Attachments {
		if a.Name != binName && a.Name != txtName && !strings.HasPrefix(a.Name, "OpenPGP_0x") {
			t.Errorf("Thunderbird shows an extra part %q (%s, %d bytes)", a.Name, a.ContentType, a.Size)
		}
	}

	// COMPRESS=DEFLATE, as Thunderbird's IMAP log tells it.
	tb.waitIMAPLog(t, "COMPRESS DEFLATE", "OK DEFLATE active")

	// The journalist replies from Thunderbird.
	if p.info.SMTPAddr == "" {
		t.Fatal("relay serve runs no SMTP: the journalist cannot reply")
	}
	const (
		replyMarker = "MKtbReplyV5s"
		replyText   = "Danke für die Unterlagen — ответ ✓ " + replyMarker
	)
	tb.reply(t, "reply", replyText, line1, false)

	// The relay took it as a plaintext reply and kept it for the source.
	deadline := waitStored(t, in, 1)
	if st := relayStatus(t, in); strings.Contains(st.events(), reply.KindTeamCopy) {
		t.Errorf("the relay did not deliver the team's copy of Thunderbird's reply: %s", st.events())
	}

	// Thunderbird's copy in Sent, which the relay sealed to the journalist:
	// the text inside, nothing of it outside.
	sentBox, _ := mailbox(t, p, in, "Sent")
	if len(sentBox) != 1 {
		t.Fatalf("Sent holds %d readable messages, want Thunderbird's one copy", len(sentBox))
	}
	if bytes.Contains(sentBox[0].Raw, []byte(replyMarker)) {
		t.Error("the reply's text is in the clear in the Sent copy the relay stored")
	}
	if !strings.Contains(sentBox[0].Dec.Text, replyText) {
		t.Errorf("the Sent copy decrypts to %q, lacking %q", sentBox[0].Dec.Text, replyText)
	}

	// The source logs in with the codename and reads it.
	src := sourceclient.New(p.intakeURL(), nil)
	if err := src.Login(ctx(t, tbStepLimit), codename); err != nil {
		t.Fatalf("source login: %v", err)
	}
	var page sourceclient.Page
	for {
		page, err = src.Inbox(ctx(t, tbStepLimit))
		if err == nil && strings.Contains(page.Body, replyText) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source's inbox lacks %q within %v (%v):\n%s", replyText, tbStepLimit, err, page.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	shown := page.Body
	if i := strings.Index(shown, `<article class="reply"`); i >= 0 {
		shown = shown[i:]
	}
	if j := strings.Index(shown, "</article>"); j >= 0 {
		shown = shown[:j]
	}
	t.Logf("the source reads:\n%s", shown)
	for _, who := range []string{"jane", "newsroom.example"} {
		if strings.Contains(strings.ToLower(page.Body), who) {
			t.Errorf("the source's inbox shows the journalist's %q:\n%s", who, shown)
		}
	}

	// Then the journalist accepts the source's key, attached to the
	// submission, and replies encrypted, Thunderbird's default for a reply
	// to an encrypted message: to the source's key and the journalist's own,
	// whose packet the relay strips.
	var accepted struct {
		Name string `json:"name"`
		Keys []struct {
			ID         string   `json:"id"`
			Fpr        string   `json:"fpr"`
			UserIDs    []string `json:"userIds"`
			Acceptance string   `json:"acceptance"`
		} `json:"keys"`
	}
	tb.script(t, "accept the source's key", tbAcceptKeyJS, &accepted, t.TempDir())
	t.Logf("Thunderbird accepted the source's key from %s: %+v", accepted.Name, accepted.Keys)
	if len(accepted.Keys) != 1 || accepted.Keys[0].Acceptance != "unverified" {
		t.Fatalf("the source's key was not imported and accepted: %+v", accepted)
	}
	const (
		encMarker = "MKtbEncReplyQ7w"
		encText   = "Verschlüsselte Antwort — зашифровано ✓ " + encMarker
	)
	// Its copy in Sent is over 4096 bytes, appended as "APPEND Sent (\Seen)
	// UTF8 (~{n}" (the IMAP library offers UTF8=ACCEPT): the guard once
	// refused that form of the message literal, and Thunderbird showed an
	// error after sending.
	tb.reply(t, "encrypted reply", encText, line1, true)
	deadline = waitStored(t, in, 2)
	for {
		page, err = src.Inbox(ctx(t, tbStepLimit))
		if err == nil && strings.Contains(page.Body, replyText) && strings.Contains(page.Body, encText) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source's inbox lacks %q or %q within %v (%v):\n%s", replyText, encText, tbStepLimit, err, page.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, who := range []string{"jane", "newsroom.example"} {
		if strings.Contains(strings.ToLower(page.Body), who) {
			t.Errorf("after the encrypted reply, the source's inbox shows the journalist's %q:\n%s", who, page.Body)
		}
	}
	// Thunderbird's encrypted copy reached Sent and opens with the
	// journalist's key.
	sentBox, _ = mailbox(t, p, in, "Sent")
	if len(sentBox) != 2 || !strings.Contains(sentBox[1].Dec.Text, encText) {
		t.Errorf("Sent holds %d readable messages, want both replies, the second with %q", len(sentBox), encText)
	}
	if len(sentBox) == 2 && bytes.Contains(sentBox[1].Raw, []byte(encMarker)) {
		t.Error("the encrypted reply's text is in the clear in its Sent copy")
	}
}

// reply answers the message shown with Thunderbird's Reply button, text
// on top of the quote of quoted, encrypted or not, never signed, plain
// text, a copy kept in Sent (tbReplyJS).
func (tb *tbProc) reply(t *testing.T, step, text, quoted string, encrypt bool) {
	t.Helper()
	var sent struct {
		To        string   `json:"to"`
		Encrypted bool     `json:"encrypted"`
		Signed    bool     `json:"signed"`
		HTML      bool     `json:"html"`
		Status    []string `json:"status"`
	}
	tb.script(t, step, tbReplyJS, &sent, text, quoted, encrypt, true)
	t.Logf("Thunderbird's %s to %q (encrypted %v, signed %v, HTML %v): %v",
		step, sent.To, sent.Encrypted, sent.Signed, sent.HTML, sent.Status)
	if sent.Encrypted != encrypt || sent.Signed || sent.HTML {
		t.Fatalf("Thunderbird's %s: want plain text, unsigned, encrypted=%v; got %+v", step, encrypt, sent)
	}
}

// waitStored waits until the running relay holds n replies for sources (it
// logs nothing per reply; `relay status` counts them), and returns the
// deadline for what follows.
func waitStored(t *testing.T, in *instance, n int) time.Time {
	t.Helper()
	deadline := time.Now().Add(tbStepLimit)
	for got := relayStatus(t, in).Replies; got < n; got = relayStatus(t, in).Replies {
		if time.Now().After(deadline) {
			t.Fatalf("the relay holds %d stored replies after %v, want %d", got, tbStepLimit, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return deadline
}

// needThunderbird skips the test when Thunderbird or Xvfb is missing, and
// fails it under CI, which installs both.
func needThunderbird(t *testing.T) {
	t.Helper()
	needPrograms(t, "thunderbird xvfb", thunderbirdBin, xvfbBin)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
