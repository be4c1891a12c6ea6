package airgap_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/reader/airgap"
	"postern/mailbox/reader/transfer"
)

const domain = "relay.example"

// key derives a test key (secret half included) named after what.
func key(t testing.TB, what string) *openpgp.Entity {
	t.Helper()
	seed := sha256.Sum256([]byte("airgap test " + what))
	e, err := pgp.DeriveKey(seed[:], what+" <"+strings.ReplaceAll(what, " ", ".")+"@"+domain+">")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// src is a source as the relay knows it.
type src struct {
	designation, addr, thread string
	key                       *openpgp.Entity
}

func newSource(t testing.TB, designation string) src {
	return src{designation: designation, addr: strings.ReplaceAll(designation, " ", "-") + "@" + domain,
		thread: strings.ReplaceAll(designation, " ", "-") + "-thread@" + domain, key: key(t, designation)}
}

type file struct {
	name string
	data []byte
}

// submission is what mailbox/delivery writes for a source's submission.
func submission(t testing.TB, to []*openpgp.Entity, s src, id, subject, text string, files ...file) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pgpmime.NewWriter(&b, to, pgpmime.Header{FromName: s.designation, FromAddr: s.addr,
		To: `"Newsroom" <newsroom@` + domain + `>`, Subject: subject, OuterSubject: "Submission from " + s.designation,
		MessageID: id, InReplyTo: s.thread, References: []string{s.thread}, Date: time.Now(), Autocrypt: s.key})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Text(text); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fw, err := w.File(f.name, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.data)
	}
	if err := w.AttachKey(s.key); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawMessage wraps a hand-written inner MIME entity (CRLF) as PGP/MIME from
// the source, for names and shapes pgpmime's writer would never produce.
func rawMessage(t testing.TB, to []*openpgp.Entity, s src, id, inner string) []byte {
	return rawMessageMangled(t, to, s, id, inner, nil)
}

// rawMessageMangled is rawMessage with mangle applied to the binary
// ciphertext before it is armored.
func rawMessageMangled(t testing.TB, to []*openpgp.Entity, s src, id, inner string, mangle func([]byte)) []byte {
	t.Helper()
	var bin bytes.Buffer
	pw, err := pgp.Encrypt(&bin, to, pgp.EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(pw, inner)
	pw.Close()
	if mangle != nil {
		mangle(bin.Bytes())
	}
	var ct bytes.Buffer
	aw, err := armor.Encode(&ct, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	aw.Write(bin.Bytes())
	aw.Close()
	return armoredMessage(s, id, ct.Bytes())
}

// armoredMessage wraps an armored OpenPGP message as PGP/MIME from s.
func armoredMessage(s src, id string, armored []byte) []byte {
	body := strings.ReplaceAll(strings.ReplaceAll(string(armored), "\r\n", "\n"), "\n", "\r\n")
	return []byte(fmt.Sprintf("From: %q <%s>\r\nTo: <newsroom@%s>\r\nDate: %s\r\nMessage-ID: <%s>\r\n"+
		"Subject: Submission\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"BB\"\r\n\r\n"+
		"--BB\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"+
		"--BB\r\nContent-Type: application/octet-stream\r\n\r\n%s\r\n--BB--\r\n",
		s.designation, s.addr, domain, time.Now().UTC().Format(time.RFC1123Z), id, body))
}

// home is an online reader home with a Maildir, as `reader sync` leaves it.
type home struct {
	t   testing.TB
	dir string
}

func newHome(t testing.TB) *home {
	return &home{t: t, dir: t.TempDir()}
}

func (h *home) put(mailbox string, uid int, msg []byte) {
	h.t.Helper()
	d := filepath.Join(h.dir, "maildir", mailbox, "cur")
	if err := os.MkdirAll(d, 0o700); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("1700000000-%d:2,", uid)), msg, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// export exports to the stick and returns the new batch folder.
func (h *home) export(stick string) string {
	h.t.Helper()
	res, err := transfer.Export(h.dir, stick)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Batch
}

// open runs Open without the cleaner and returns the summary and the
// report lines.
func open(t testing.TB, stick, out string, keys ...*openpgp.Entity) (airgap.Summary, []string) {
	t.Helper()
	var rep bytes.Buffer
	sum, err := airgap.Open(t.Context(), airgap.Options{From: stick, Out: out, Keys: keys, Report: &rep, NoClean: true})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(rep.String()), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return sum, lines
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
