package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/pgp/pgptest"
	"postern/mailbox/reader/airgap"
	"postern/mailbox/reader/sandbox/sandboxtest"
	"postern/relay/demo"
	"postern/tools/sourceclient"
)

// TestReaderOfflineEndToEnd: sources submit text and files through the
// form of a demo relay; the reader's Maildir is filled over IMAP as `reader
// sync` would; export; open in a network namespace with no network, with a
// passphrase-protected key; the originals match, the cleaned copies carry no
// GPS and no Author, STATUS names the file mat2 cannot clean; the reply made
// offline is accepted by the relay's SMTP and read by the source on the form.
func TestReaderOfflineEndToEnd(t *testing.T) {
	for _, tool := range []string{"mat2", "bwrap", "prlimit", "exiftool", "unshare"} {
		pgptest.NeedTool(t, tool)
	}
	needNetns(t)
	ctx := t.Context()
	base := t.TempDir()
	conf := filepath.Join(base, "small.conf")
	os.WriteFile(conf, []byte(smallConf), 0o600)
	_, info := startDemo(t, filepath.Join(base, "demo-data"), conf)

	files := t.TempDir()
	originals := map[string]string{ // name in files/ → path of what the source sent
		"photo.jpg":    sandboxtest.JPEG(t, files, "photo.jpg"),
		"memo.pdf":     sandboxtest.PDF(t, files, "memo.pdf", "Jane Insider"),
		"minutes.docx": sandboxtest.DOCX(t, files, "minutes.docx", "Jane Insider"),
		"data.bin":     writeTemp(t, files, "data.bin", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 5000)),
		"passwd":       writeTemp(t, files, "passwd", []byte("root:x:0:0\n")),
		"_con.txt":     writeTemp(t, files, "con.txt", []byte("device name\n")),
	}
	sent := map[string]string{"photo.jpg": "photo.jpg", "memo.pdf": "memo.pdf", "minutes.docx": "minutes.docx",
		"data.bin": "data.bin", "passwd": "../../etc/passwd", "_con.txt": "con.txt"}
	var up []sourceclient.File
	for saved, name := range sent {
		f, err := os.Open(originals[saved])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		up = append(up, sourceclient.File{Name: name, R: f})
	}
	a := sourceclient.New(info.IntakeURL, nil)
	if _, err := a.NewCodename(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Submit(ctx, "Payments", "SOURCE-A-MARKER the files", up...); err != nil {
		t.Fatal(err)
	}
	b := sourceclient.New(info.IntakeURL, nil)
	if _, err := b.NewCodename(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(ctx, "", "SOURCE-B-MARKER only words"); err != nil {
		t.Fatal(err)
	}

	home, stick, out := t.TempDir(), t.TempDir(), t.TempDir()
	fillMaildir(t, info, home, 2)
	mustRelay(t, nil, "reader", "export", "--dir", home, "--to", stick)

	key, pass := protectedKey(t, info)
	wrong := writeTemp(t, base, "wrong.pass", []byte("not it\n"))
	if up, _ := airgap.OnlineInterfaces(); len(up) > 0 {
		r := relay(t, nil, "reader", "open", "--from", stick, "--key", key, "--passphrase-file", pass, "--out", out)
		if r.code != 1 || !strings.Contains(r.stderr, "refusing to decrypt: network interface") {
			t.Fatalf("open with %v up: %+v", up, r)
		}
	}
	if r := offline(t, "reader", "open", "--from", stick, "--key", key, "--passphrase-file", wrong, "--out", out); r.code != 1 ||
		!strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("open with a wrong passphrase: %+v", r)
	}
	r := offline(t, "reader", "open", "--from", stick, "--key", key, "--passphrase-file", pass, "--out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "Opened 2 new messages") {
		t.Fatalf("open: %+v", r)
	}

	dir := sourceFolder(t, out, "photo.jpg")
	for saved, orig := range originals {
		got, err := os.ReadFile(filepath.Join(dir, "files", saved))
		want, _ := os.ReadFile(orig)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("files/%s differs from what the source sent (%v)", saved, err)
		}
	}
	for name, leak := range map[string]string{"photo.jpg": "GPS", "memo.pdf": "Jane Insider", "minutes.docx": "Jane Insider"} {
		meta := string(pgptest.Run(t, nil, "exiftool", "-s", filepath.Join(dir, "safe", name)))
		if strings.Contains(meta, leak) {
			t.Errorf("safe/%s still holds %s:\n%s", name, leak, meta)
		}
	}
	status, _ := os.ReadFile(filepath.Join(dir, "safe", "STATUS.txt"))
	if !strings.Contains(string(status), "data.bin: not cleaned: unsupported type") ||
		!strings.Contains(string(status), "photo.jpg: cleaned") {
		t.Errorf("STATUS.txt:\n%s", status)
	}
	if txt, _ := os.ReadFile(filepath.Join(dir, "conversation.txt")); !strings.Contains(string(txt), "SOURCE-A-MARKER") {
		t.Errorf("conversation.txt:\n%s", txt)
	}

	// A second open of the same stick adds nothing.
	if r := offline(t, "reader", "open", "--from", stick, "--key", key, "--passphrase-file", pass, "--out", out); r.code != 0 ||
		!strings.Contains(r.stdout, "Opened 0 new messages (2 already opened before)") {
		t.Fatalf("second open: %+v", r)
	}

	text := writeTemp(t, base, "reply.txt", []byte("REPLY-MARKER can we talk?\n"))
	mustRelay(t, nil, "reader", "reply", "--out", out, "--source", filepath.Base(dir), "--text", text)
	outbox, _ := filepath.Glob(filepath.Join(out, "outbox", "*.eml"))
	if len(outbox) != 1 {
		t.Fatalf("outbox: %v", outbox)
	}
	raw, _ := os.ReadFile(outbox[0])
	sendOutbox(t, info, raw)
	inbox, err := a.Inbox(ctx)
	if err != nil || !strings.Contains(inbox.Body, "REPLY-MARKER can we talk?") {
		t.Fatalf("the source does not read the reply (%v):\n%s", err, inbox.Body)
	}
}

// needNetns skips when network namespaces are unavailable (an unprivileged
// container), failing under CI.
func needNetns(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unshare -n is required under CI: %v %s", err, out)
		}
		t.Skipf("no network namespaces here (unshare -n: %v %s)", err, out)
	}
}

// offline runs a relay command in a network namespace with no network.
func offline(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"-n", relayBin}, args...)...)
	cmd.Env = cleanEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout: o.String(), stderr: e.String(), code: code}
}

func writeTemp(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// protectedKey writes the demo journalist's key protected by a passphrase,
// as gpg or Thunderbird would export it, and the passphrase file.
func protectedKey(t *testing.T, info demo.Info) (keyPath, passPath string) {
	t.Helper()
	f, err := os.Open(info.SecretKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	el, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("correct horse battery staple")
	var b bytes.Buffer
	w, _ := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	for _, e := range el {
		if err := e.EncryptPrivateKeys(pass, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	dir := t.TempDir()
	return writeTemp(t, dir, "secret.asc", b.Bytes()), writeTemp(t, dir, "pass", append(pass, '\n'))
}

// fillMaildir does what `reader sync` does: INBOX and Sent, as served, into
// home/maildir/<MAILBOX>/cur/<UIDVALIDITY>-<UID>:2, once INBOX holds n.
func fillMaildir(t *testing.T, info demo.Info, home string, n uint32) {
	t.Helper()
	c, err := imapclient.DialInsecure(info.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(info.Journalist, info.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, mb := range []string{"INBOX", "Sent"} {
		var sel *imap.SelectData
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if sel, err = c.Select(mb, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if mb != "INBOX" || sel.NumMessages >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("INBOX holds %d messages, want %d", sel.NumMessages, n)
			}
		}
		dir := filepath.Join(home, "maildir", mb, "cur")
		os.MkdirAll(dir, 0o700)
		if sel.NumMessages == 0 {
			continue
		}
		whole := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: sel.NumMessages}},
			&imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			writeTemp(t, dir, fmt.Sprintf("%d-%d:2,", sel.UIDValidity, m.UID), m.FindBodySection(whole))
		}
	}
}

// sourceFolder is the folder under out whose files/ holds name.
func sourceFolder(t *testing.T, out, name string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(out, "*", "files", name))
	if len(m) != 1 {
		t.Fatalf("files/%s in %v", name, m)
	}
	return filepath.Dir(filepath.Dir(m[0]))
}

// sendOutbox submits an outbox message unchanged, as `reader send` does.
func sendOutbox(t *testing.T, info demo.Info, raw []byte) {
	t.Helper()
	msg, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 {
		t.Fatalf("outbox To: %v %v", to, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", info.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", info.Journalist, info.Password)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to[0].Address, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(w, bytes.NewReader(raw))
	if err := w.Close(); err != nil {
		t.Fatalf("the relay refused the reply: %v", err)
	}
	c.Quit()
}
