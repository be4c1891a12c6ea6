package airgap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message/mail"

	"postern/mailbox/pgpmime"
	"postern/mailbox/reader/airgap"
)

// TestReplyIsEncryptedToTheSourceAutocryptKey: the reply in the outbox opens
// with the source's key taken from its submission, answers the latest
// submission, and says nothing about who wrote it.
func TestReplyIsEncryptedToTheSourceAutocryptKey(t *testing.T) {
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	h := newHome(t)
	h.put("INBOX", 1, submission(t, []*openpgp.Entity{j}, a, "a1@"+domain, "Payments", "first"))
	h.put("INBOX", 2, submission(t, []*openpgp.Entity{j}, a, "a2@"+domain, "Payments", "second"))
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)
	open(t, stick, out, j)
	attach := filepath.Join(t.TempDir(), "questions.txt")
	os.WriteFile(attach, []byte("1. who?\n"), 0o600)

	path, err := airgap.Reply(airgap.ReplyOptions{Out: out, Source: "quixotic tangerine", Text: "Can we meet?\n",
		Attach: []string{attach}, Self: openpgp.EntityList{j}})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(out, "outbox") {
		t.Fatalf("reply at %s", path)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("the reply has bare LF line ends; the relay's SMTP refuses them")
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	hd := mr.Header
	irt, _ := hd.MsgIDList("In-Reply-To")
	refs, _ := hd.MsgIDList("References")
	id, _ := hd.MessageID()
	to, _ := hd.AddressList("To")
	from, _ := hd.AddressList("From")
	date, _ := hd.Date()
	if len(irt) != 1 || irt[0] != "a2@"+domain || len(refs) != 2 || refs[0] != a.thread || refs[1] != "a2@"+domain ||
		id == "" || len(to) != 1 || to[0].Address != a.addr || len(from) != 1 || from[0].Name != "" ||
		!date.Equal(date.Truncate(24*time.Hour)) {
		t.Fatalf("reply header: %v", hd.Header.Map())
	}
	for _, k := range []string{"User-Agent", "X-Mailer", "Organization", "Autocrypt"} {
		if hd.Has(k) {
			t.Errorf("the reply has a %s header", k)
		}
	}
	d, err := pgpmime.Decrypt(bytes.NewReader(raw), openpgp.EntityList{a.key})
	if err != nil {
		t.Fatalf("the source cannot decrypt the reply: %v", err)
	}
	if d.Text != "Can we meet?\n" || d.Subject != "Re: Payments" || len(d.Parts) != 1 || d.Parts[0].Name != "questions.txt" {
		t.Fatalf("decrypted: %+v", d)
	}
	if _, err := pgpmime.Decrypt(bytes.NewReader(raw), openpgp.EntityList{j}); err != nil {
		t.Fatalf("the newsroom cannot read its own reply back: %v", err)
	}
	txt := readFile(t, filepath.Join(out, "quixotic-tangerine", "conversation.txt"))
	if !strings.Contains(txt, "waiting in the outbox") || !strings.Contains(txt, "Can we meet?") {
		t.Fatalf("transcript:\n%s", txt)
	}

	// When the reply comes back from the relay (in Sent), it replaces the
	// outbox entry instead of showing twice.
	h.put("Sent", 1, raw)
	h.export(stick)
	if sum, lines := open(t, stick, out, j); sum.Opened != 1 || len(lines) != 0 {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
	txt = readFile(t, filepath.Join(out, "quixotic-tangerine", "conversation.txt"))
	if strings.Count(txt, "Can we meet?") != 1 || strings.Contains(txt, "waiting in the outbox") {
		t.Fatalf("transcript after the reply came back:\n%s", txt)
	}
}

func TestReplyUnknownSource(t *testing.T) {
	if _, err := airgap.Reply(airgap.ReplyOptions{Out: t.TempDir(), Source: "nobody here", Text: "x"}); err == nil ||
		!strings.Contains(err.Error(), `no source "nobody here"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"../../etc/passwd":                "passwd",
		"con.txt":                         "_con.txt",
		"CON":                             "_CON",
		"nul.tar.gz":                      "_nul.tar.gz",
		"lpt9.doc":                        "_lpt9.doc",
		"console.txt":                     "console.txt",
		"com10.txt":                       "com10.txt",
		"...":                             "file",
		".bashrc":                         "bashrc",
		"a\x00b\nc.pdf":                   "abc.pdf",
		"report.pdf":                      "report.pdf",
		strings.Repeat("é", 200) + ".pdf": strings.Repeat("é", 58) + ".pdf",
	} {
		if got := airgap.SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}
