package pgpmime

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"postern/mailbox/pgp"
	"postern/mailbox/pgp/pgptest"
)

const (
	hostileName = "../../etc/passwd\r\nX: y"
	safeHostile = "passwdX_ y"
	testSubject = "Leak: the ünïcode 📎 subject, with \"quotes\""
	testText    = "Hello,\nthis is the source speaking. Ünïcode: żółć 日本語.\n" +
		"A long line that must survive quoted-printable soft breaks without losing a single character of its content, none at all.\n" +
		"From the start of a line, and trailing space \n.\n"
	testFromName = "quixotic tangerine"
	testFromAddr = "quixotic.tangerine@relay.example"
)

// fixture is one message written by the Writer to a gpg-made key.
type fixture struct {
	g       *pgptest.GPG
	secret  []byte // armored secret key of the journalist
	keys    openpgp.EntityList
	reply   *openpgp.Entity // derived source key (Autocrypt, AttachKey)
	mail    []byte
	binFile []byte
	day     time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	g := pgptest.NewGPG(t)
	fpr := g.GenKey("journalist <j@newsroom.example>", "future-default", "default", "never")
	journalist, _, err := pgp.ParsePublicKey(g.Export(fpr))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{g: g, secret: g.ExportSecret(fpr)}
	if f.keys, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(f.secret)); err != nil {
		t.Fatal(err)
	}
	if f.reply, err = pgp.DeriveKey(bytes.Repeat([]byte{42}, 32), testFromName+" <"+testFromAddr+">"); err != nil {
		t.Fatal(err)
	}
	f.binFile = make([]byte, 1<<20)
	if _, err := rand.Read(f.binFile); err != nil {
		t.Fatal(err)
	}
	// Bytes that a line-oriented reader or a MIME parser would touch must
	// come out unchanged.
	tricky := []byte("\x00\r\r\n--\r\n--b\r\n.\r\nFrom x\n \n\t\r\n\xff\xfe")
	copy(f.binFile, tricky)
	copy(f.binFile[len(f.binFile)/2:], tricky)
	copy(f.binFile[len(f.binFile)-2:], "\r\n")
	f.day = time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("X", 5*3600))
	var buf bytes.Buffer
	w, err := NewWriter(&buf, []*openpgp.Entity{journalist}, Header{
		FromName: testFromName, FromAddr: testFromAddr, To: "Newsroom <newsroom@relay.example>",
		Subject: testSubject, MessageID: "abc@relay.example", InReplyTo: "root@relay.example",
		References: []string{"root@relay.example"}, Date: f.day, Autocrypt: f.reply,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Text(testText); err != nil {
		t.Fatal(err)
	}
	fw, err := w.File("data.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes exercise the encoders' buffering.
	for rest := f.binFile; len(rest) > 0; {
		n := min(len(rest), 1+mrand.IntN(70000))
		if _, err := fw.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	hw, err := w.File(hostileName, "text/plain; charset=\"x\"\r\nX-Evil: 1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(hw, "root:x:0:0\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write([]byte("late")); err == nil {
		t.Fatal("write to a finished part succeeded")
	}
	if err := w.AttachKey(f.reply); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Text("after close"); err == nil {
		t.Fatal("Text after Close succeeded")
	}
	f.mail = buf.Bytes()
	return f
}

// armoredPart extracts the application/octet-stream part of the mail, as a
// mail client hands it to gpg.
func armoredPart(t *testing.T, raw []byte) []byte {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("outer message is not multipart")
	}
	var types []string
	var armored []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		mt, _, _ := p.Header.ContentType()
		types = append(types, mt)
		b, _ := io.ReadAll(p.Body)
		if mt == "application/pgp-encrypted" && !strings.Contains(string(b), "Version: 1") {
			t.Errorf("version part %q", b)
		}
		if mt == "application/octet-stream" {
			armored = b
		}
	}
	if strings.Join(types, ",") != "application/pgp-encrypted,application/octet-stream" {
		t.Fatalf("outer parts %v", types)
	}
	return armored
}

// checkInner verifies a decrypted inner MIME entity as a mail client sees
// it: protected headers, the text, every file byte for byte.
func (f *fixture) checkInner(t *testing.T, tool string, inner []byte) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(inner))
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/mixed" || params["protected-headers"] != "v1" {
		t.Fatalf("%s: inner content type %s %v", tool, mt, params)
	}
	mh := mail.Header{Header: e.Header}
	if s, _ := mh.Subject(); s != testSubject {
		t.Errorf("%s: protected subject %q", tool, s)
	}
	if from, _ := mh.AddressList("From"); len(from) != 1 || from[0].Address != testFromAddr || from[0].Name != testFromName {
		t.Errorf("%s: protected From %v", tool, from)
	}
	mr := e.MultipartReader()
	var got []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		pt, _, _ := p.Header.ContentType()
		_, dp, _ := p.Header.ContentDisposition()
		if p.Header.Has("X-Evil") {
			t.Errorf("%s: a content type injected a header", tool)
		}
		got = append(got, pt+" "+dp["filename"])
		switch {
		case pt == "text/plain" && dp["filename"] == "":
			if string(body) != strings.ReplaceAll(testText, "\n", "\r\n") {
				t.Errorf("%s: text %q", tool, body)
			}
		case dp["filename"] == "data.bin":
			// Not binary: Thunderbird 153 splits a decrypted entity into
			// lines, normalises CR and CRLF, and cuts a part at a line
			// that starts with NUL (measured; see docs/benchmarks.md).
			if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
				t.Errorf("%s: data.bin is %q, not base64", tool, cte)
			}
			if !bytes.Equal(body, f.binFile) {
				t.Errorf("%s: data.bin differs (%d bytes)", tool, len(body))
			}
		case dp["filename"] == safeHostile:
			if string(body) != "root:x:0:0\n" {
				t.Errorf("%s: hostile file %q", tool, body)
			}
		case pt == "application/pgp-keys":
			k, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(body))
			if err != nil || len(k) != 1 || !bytes.Equal(k[0].PrimaryKey.Fingerprint, f.reply.PrimaryKey.Fingerprint) {
				t.Errorf("%s: key part: %v", tool, err)
			}
		}
	}
	// The hostile content type (with CRLF) is refused: octet-stream.
	want := "text/plain ,application/octet-stream data.bin,application/octet-stream " + safeHostile +
		",application/pgp-keys OpenPGP_0x" + f.reply.PrimaryKey.KeyIdString() + ".asc"
	if strings.Join(got, ",") != want {
		t.Errorf("%s: parts\n%s\nwant\n%s", tool, strings.Join(got, ","), want)
	}
}

func TestWriterOuterHeaders(t *testing.T) {
	f := newFixture(t)
	raw := f.mail
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in the mail")
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mh := mail.Header{Header: e.Header}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/encrypted" || params["protocol"] != "application/pgp-encrypted" {
		t.Errorf("content type %s %v", mt, params)
	}
	if s, _ := mh.Subject(); s != "Message from "+testFromName {
		t.Errorf("outer subject %q", s)
	}
	if d, _ := mh.Date(); !d.Equal(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date %v, want the UTC day", d)
	}
	if id, _ := mh.MessageID(); id != "abc@relay.example" {
		t.Errorf("message id %q", id)
	}
	if ids, _ := mh.MsgIDList("References"); len(ids) != 1 || ids[0] != "root@relay.example" {
		t.Errorf("references %q", ids)
	}
	if ids, _ := mh.MsgIDList("In-Reply-To"); len(ids) != 1 || ids[0] != "root@relay.example" {
		t.Errorf("in-reply-to %q", ids)
	}
	// Outside the armored ciphertext, where a short word turns up by
	// chance once in a while (base64 of 1 MiB holds "Leak" with
	// probability ~0.1).
	begin := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	end := bytes.Index(raw, []byte("-----END PGP MESSAGE-----"))
	if begin < 0 || end < begin {
		t.Fatal("no armored message in the mail")
	}
	outside := append(bytes.Clone(raw[:begin]), raw[end:]...)
	for _, secret := range []string{"Leak", "data.bin", "passwd", "source speaking", "X-Evil"} {
		if bytes.Contains(outside, []byte(secret)) {
			t.Errorf("%q readable in the mail", secret)
		}
	}
	// Autocrypt: addr, prefer-encrypt, the key, lines below 78.
	ac := e.Header.Get("Autocrypt")
	if !strings.HasPrefix(ac, "addr="+testFromAddr+"; prefer-encrypt=mutual; keydata=") {
		t.Fatalf("autocrypt %q", ac)
	}
	kd := strings.Join(strings.Fields(ac[strings.Index(ac, "keydata=")+8:]), "")
	if kd != base64Std(pgp.Serialize(f.reply)) {
		t.Error("autocrypt keydata is not the key")
	}
	head := raw[:bytes.Index(raw, []byte("\r\n\r\n"))]
	for _, line := range strings.Split(string(head), "\r\n") {
		if len(line) >= 78 {
			t.Errorf("header line of %d chars: %q", len(line), line)
		}
	}
}

func TestWriterGPG(t *testing.T) {
	f := newFixture(t)
	f.checkInner(t, "gpg", f.decryptWith(t, "gpg", armoredPart(t, f.mail)))
}

func TestWriterRNP(t *testing.T) {
	f := newFixture(t)
	f.checkInner(t, "rnp", f.decryptWith(t, "rnp", armoredPart(t, f.mail)))
}

func TestWriterSQ(t *testing.T) {
	f := newFixture(t)
	f.checkInner(t, "sq", f.decryptWith(t, "sq", armoredPart(t, f.mail)))
}

// decryptWith decrypts an armored message with the fixture's secret key
// using tool (gpg, rnp or sq) and returns the plaintext.
func (f *fixture) decryptWith(t *testing.T, tool string, armored []byte) []byte {
	t.Helper()
	if tool == "gpg" {
		return f.g.Run(armored, "--decrypt")
	}
	pgptest.NeedTool(t, tool)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sec := write("sec.asc", f.secret)
	if tool == "sq" {
		return pgptest.Run(t, armored, "sq", "decrypt", "--recipient-key", sec)
	}
	pgptest.NeedTool(t, "rnpkeys")
	in := write("msg.asc", armored)
	home := filepath.Join(dir, "rnp")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	pgptest.Run(t, nil, "rnpkeys", "--homedir", home, "--import", sec)
	out := filepath.Join(dir, "out.eml")
	pgptest.Run(t, nil, "rnp", "--homedir", home, "--password", "", "--decrypt", in, "--output", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	d, err := Decrypt(bytes.NewReader(f.mail), f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject != testSubject {
		t.Errorf("subject %q", d.Subject)
	}
	if d.Text != testText {
		t.Errorf("text %q", d.Text)
	}
	wantParts := []Part{
		{Name: "data.bin", ContentType: "application/octet-stream", Size: 1 << 20},
		{Name: safeHostile, ContentType: "application/octet-stream", Size: 11},
		{Name: "OpenPGP_0x" + f.reply.PrimaryKey.KeyIdString() + ".asc", ContentType: "application/pgp-keys"},
	}
	if len(d.Parts) != len(wantParts) {
		t.Fatalf("parts %+v", d.Parts)
	}
	for i, want := range wantParts {
		got := d.Parts[i]
		if got.Name != want.Name || got.ContentType != want.ContentType || want.Size != 0 && got.Size != want.Size {
			t.Errorf("part %d: %+v, want %+v", i, got, want)
		}
	}
	// Open in reverse order, twice: parts are independent readers.
	for i := len(d.Parts) - 1; i >= 0; i-- {
		r, err := d.Open(i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != d.Parts[i].Size {
			t.Errorf("part %d: opened %d bytes, listed %d", i, len(b), d.Parts[i].Size)
		}
		if i == 0 && !bytes.Equal(b, f.binFile) {
			t.Error("data.bin differs")
		}
	}
	if _, err := d.Open(len(d.Parts)); err == nil {
		t.Error("Open past the end succeeded")
	}

	// The wrong key gives ErrDecrypt; an unencrypted mail ErrNotEncrypted.
	if _, err := Decrypt(bytes.NewReader(f.mail), openpgp.EntityList{f.reply}); !errorsIs(err, ErrDecrypt) {
		t.Errorf("wrong key: %v", err)
	}
	plain := "From: a@b\r\nSubject: hi\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	if _, err := Decrypt(strings.NewReader(plain), f.keys); !errorsIs(err, ErrNotEncrypted) {
		t.Errorf("plain mail: %v", err)
	}
	// A flipped bit in the ciphertext is caught.
	arm := armoredPart(t, f.mail)
	lines := strings.Split(string(arm), "\r\n")
	mid := []byte(lines[len(lines)/2])
	if mid[10] == 'A' {
		mid[10] = 'B'
	} else {
		mid[10] = 'A'
	}
	lines[len(lines)/2] = string(mid)
	tampered := bytes.Replace(f.mail, arm, []byte(strings.Join(lines, "\r\n")), 1)
	if _, err := Decrypt(bytes.NewReader(tampered), f.keys); err == nil {
		t.Error("tampered message decrypted")
	}
}

// TestDecryptGPGMade reads messages that other software writes: gpg's
// signed+encrypted PGP/MIME (what Thunderbird sends as a reply) and an
// inline armored text/plain body.
func TestDecryptGPGMade(t *testing.T) {
	g := pgptest.NewGPG(t)
	signer := g.GenKey("journalist <j@newsroom.example>", "future-default", "default", "never")
	reply, err := pgp.DeriveKey(bytes.Repeat([]byte{9}, 32), "src <src@relay.example>")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgp.Armor(reply)
	if err != nil {
		t.Fatal(err)
	}
	g.Run(pub, "--import")
	fpr := strings.ToUpper(strings.TrimSpace(bytesHex(reply.PrimaryKey.Fingerprint)))
	encrypt := func(in string) string {
		return string(g.Run([]byte(in), "--trust-model", "always", "--armor", "--sign", "--local-user", signer,
			"--encrypt", "--recipient", fpr))
	}
	inner := "Content-Type: multipart/mixed; boundary=\"b1\"; protected-headers=\"v1\"\r\n" +
		"Subject: =?UTF-8?Q?R=C3=A9ponse?=\r\n\r\n" +
		"--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n" +
		"--b2\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nMerci, =E7a marche.\r\n" +
		"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Merci</p>\r\n--b2--\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\"\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b1--\r\n"
	mime := "From: j@newsroom.example\r\nSubject: ...\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"o\"\r\n\r\n" +
		"--o\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n" +
		"--o\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" + encrypt(inner) + "\r\n--o--\r\n"
	d, err := Decrypt(strings.NewReader(mime), openpgp.EntityList{reply})
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject != "Réponse" || d.Text != "Merci, ça marche." {
		t.Errorf("subject %q text %q", d.Subject, d.Text)
	}
	if len(d.Parts) != 1 || d.Parts[0] != (Part{Name: "résumé.pdf", ContentType: "application/pdf", Size: 5}) {
		t.Errorf("parts %+v", d.Parts)
	}

	inline := "From: j@newsroom.example\r\nSubject: Inline\r\nContent-Type: text/plain\r\n\r\nSome text first.\r\n" +
		encrypt("inline secret\n")
	d, err = Decrypt(strings.NewReader(inline), openpgp.EntityList{reply})
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject != "Inline" || d.Text != "inline secret\n" || len(d.Parts) != 0 {
		t.Errorf("inline: %+v", d)
	}

	htmlOnly := "Content-Type: text/html; charset=utf-8\r\nSubject: H\r\n\r\n<html><head><style>p{}</style></head><body><p>One &amp; two</p><script>x()</script><div>three</div></body></html>"
	d, err = Decrypt(strings.NewReader("Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"o\"\r\n\r\n"+
		"--o\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--o\r\nContent-Type: application/octet-stream\r\n\r\n"+
		encrypt(htmlOnly)+"\r\n--o--\r\n"), openpgp.EntityList{reply})
	if err != nil {
		t.Fatal(err)
	}
	if d.Text != "One & two\n\nthree" || d.Subject != "H" {
		t.Errorf("html: %q %q", d.Text, d.Subject)
	}
}

// TestLargeWriterStreams writes a 64 MiB file and checks that the heap does
// not grow with it: nothing on the way buffers a whole file. Under -race it
// writes 24 MiB; make test's second pass (^TestLarge, no -race) runs 64 MiB.
func TestLargeWriterStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB through OpenPGP")
	}
	reply, err := pgp.DeriveKey(bytes.Repeat([]byte{1}, 32), "src <src@relay.example>")
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	if _, err := rand.Read(chunk); err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		var m runtimeMemStats
		readMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	w, err := NewWriter(io.Discard, []*openpgp.Entity{reply}, Header{FromName: "a", FromAddr: "a@b.example", To: "c@d.example"})
	if err != nil {
		t.Fatal(err)
	}
	fw, err := w.File("big", "")
	if err != nil {
		t.Fatal(err)
	}
	mib := 64
	if raceEnabled {
		mib = 24
	}
	var peak uint64
	for i := range mib {
		if _, err := fw.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if i%8 == 7 {
			peak = max(peak, heap())
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if peak > before && peak-before > 16<<20 {
		t.Fatalf("heap grew by %d MiB while streaming %d MiB", (peak-before)>>20, mib)
	}
}

func TestSanitizeFilename(t *testing.T) {
	cases := map[string]string{
		"":                       "file",
		"report.pdf":             "report.pdf",
		hostileName:              safeHostile,
		`C:\Users\x\secret.docx`: "secret.docx",
		"..":                     "file",
		".bashrc":                "bashrc",
		"résumé 日本.pdf":          "résumé 日本.pdf",
		"evil\u202Etxt.exe":      "eviltxt.exe",
		"a\"b'c<d>e|f?g*h":       "a_b_c_d_e_f_g_h",
		"  spaced   out  ":       "spaced out",
		"bad\xffutf8":            "badutf8",
		"trailing dots...":       "trailing dots",
	}
	for in, want := range cases {
		if got := SanitizeFilename(in); got != want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 200) + ".tar.gz"
	got := SanitizeFilename(long)
	if len(got) > maxFilenameBytes || !strings.HasSuffix(got, ".gz") {
		t.Errorf("long name %q (%d bytes)", got, len(got))
	}
}

func FuzzSanitizeFilename(f *testing.F) {
	for _, s := range []string{"", "a.txt", hostileName, "..\\..\\x", "\u202Eexe.txt", strings.Repeat("日", 100) + ".pdf", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := SanitizeFilename(in)
		if out == "" || len(out) > maxFilenameBytes || !utf8Valid(out) {
			t.Fatalf("%q -> %q", in, out)
		}
		if strings.ContainsAny(out, "/\\\"\r\n\x00") || strings.HasPrefix(out, ".") {
			t.Fatalf("%q -> %q", in, out)
		}
		if again := SanitizeFilename(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	key, err := pgp.DeriveKey(bytes.Repeat([]byte{3}, 32), "fuzz <fuzz@relay.example>")
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, []*openpgp.Entity{key}, Header{FromName: "f", FromAddr: "f@relay.example", To: "n@x.example", Subject: "s"})
	if err != nil {
		f.Fatal(err)
	}
	_ = w.Text("text")
	fw, _ := w.File("a.bin", "")
	_, _ = fw.Write([]byte("0123456789"))
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("Content-Type: text/plain\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nwcBMA\r\n-----END PGP MESSAGE-----\r\n"))
	f.Add([]byte("Content-Type: multipart/encrypted; boundary=x\r\n\r\n--x\r\n\r\n--x--\r\n"))
	f.Add([]byte{})
	keys := openpgp.EntityList{key}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decrypt(bytes.NewReader(data), keys)
		if err != nil {
			return
		}
		for i := range d.Parts {
			r, err := d.Open(i)
			if err != nil {
				t.Fatalf("listed part %d does not open: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, bufio.NewReader(r))
		}
	})
}

func TestNormalizeText(t *testing.T) {
	flowed := map[string]string{"format": "flowed"}
	cases := []struct {
		in     string
		params map[string]string
		want   string
	}{
		{"a\r\nb\r\n", nil, "a\nb\n"},
		{"soft \r\nbreak\r\nhard\r\n", flowed, "soft break\nhard\n"},
		{"> quoted \r\n> more\r\nnew\r\n", flowed, "> quoted more\nnew\n"},
		{" >stuffed\r\n-- \r\nsig\r\n", flowed, ">stuffed\n-- \nsig\n"},
		{"del \r\nsp\r\n", map[string]string{"format": "flowed", "delsp": "yes"}, "delsp\n"},
	}
	for _, c := range cases {
		if got := NormalizeText(c.in, c.params); got != c.want {
			t.Errorf("NormalizeText(%q, %v) = %q, want %q", c.in, c.params, got, c.want)
		}
	}
}

func TestWriterLongSubject(t *testing.T) {
	key, err := pgp.DeriveKey(bytes.Repeat([]byte{5}, 32), "k <k@relay.example>")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, []*openpgp.Entity{key}, Header{
		FromName: "a", FromAddr: "a@relay.example", Subject: strings.Repeat("ß", 5000) + "\r\nBcc: x@y",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := Decrypt(&buf, openpgp.EntityList{key})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Subject) > maxSubjectBytes || !strings.HasPrefix(d.Subject, "ßß") || strings.Contains(d.Subject, "Bcc") {
		t.Fatalf("subject of %d bytes: %.40q", len(d.Subject), d.Subject)
	}
	if d.Text != "" || len(d.Parts) != 0 {
		t.Fatalf("empty message decrypted to %+v", d)
	}
}

// TestIncompressible: random bytes are coded Huffman-only, text and tiny
// files are not.
func TestIncompressible(t *testing.T) {
	random := make([]byte, sampleBytes)
	rand.Read(random)
	text := []byte(strings.Repeat(testText+" the quick brown fox, again and again. ", sampleBytes/40))[:sampleBytes]
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"random", random, true},
		{"text", text, false},
		{"tiny random", random[:500], false},
		{"empty", nil, false},
	} {
		if got := incompressible(c.b); got != c.want {
			t.Errorf("%s: incompressible = %v, want %v", c.name, got, c.want)
		}
	}
}
