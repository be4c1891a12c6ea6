package airgap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgpmime"
)

// TestOpenWritesOneFolderPerSource: two sources, one of them answered (the
// reply in Sent); each gets a transcript in order with who wrote what, and
// its files byte for byte.
func TestOpenWritesOneFolderPerSource(t *testing.T) {
	j := key(t, "jane")
	a, b := newSource(t, "quixotic tangerine"), newSource(t, "brave walrus")
	doc := bytes.Repeat([]byte("ledger line\n"), 1500)
	h := newHome(t)
	h.put("INBOX", 1, submission(t, []*openpgp.Entity{j}, a, "a1@"+domain, "Payments", "First: <script>alert(1)</script>",
		file{"ledger.csv", doc}))
	h.put("INBOX", 2, submission(t, []*openpgp.Entity{j}, b, "b1@"+domain, "", "Hello from b"))
	h.put("INBOX", 3, submission(t, []*openpgp.Entity{j}, a, "a2@"+domain, "More", "Second from a", file{"ledger.csv", []byte("v2")}))
	h.put("Sent", 1, newsroomReply(t, []*openpgp.Entity{j, a.key}, a, "r1@"+domain, "a1@"+domain, "Thank you, we read it."))
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)

	sum, lines := open(t, stick, out, j)
	if sum.Opened != 4 || sum.Failed != 0 || sum.Sources != 2 || len(lines) != 0 {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
	dir := filepath.Join(out, "quixotic-tangerine")
	if got := readFile(t, filepath.Join(dir, "files", "ledger.csv")); got != string(doc) {
		t.Fatal("ledger.csv differs from what the source sent")
	}
	if got := readFile(t, filepath.Join(dir, "files", "ledger-2.csv")); got != "v2" {
		t.Fatalf("second ledger.csv: %q", got)
	}
	txt := readFile(t, filepath.Join(dir, "conversation.txt"))
	first := strings.Index(txt, "First: <script>")
	reply := strings.Index(txt, "Thank you, we read it.")
	second := strings.Index(txt, "Second from a")
	if first < 0 || reply < first || second < reply || !strings.Contains(txt, "· newsroom") ||
		!strings.Contains(txt, "· source (quixotic tangerine)") || !strings.Contains(txt, time.Now().UTC().Format("2006-01-02")) {
		t.Fatalf("conversation.txt out of order or without roles:\n%s", txt)
	}
	html := readFile(t, filepath.Join(dir, "conversation.html"))
	if strings.Contains(html, "<script") || !strings.Contains(html, "&lt;script&gt;") ||
		!strings.Contains(html, `http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;`) {
		t.Fatalf("conversation.html is not escaped or has no CSP:\n%s", html)
	}
	if strings.Contains(html, "src=") || strings.Contains(html, "href=") {
		t.Fatalf("conversation.html refers to a resource:\n%s", html)
	}
	if txt := readFile(t, filepath.Join(out, "brave-walrus", "conversation.txt")); !strings.Contains(txt, "Hello from b") {
		t.Fatalf("brave walrus:\n%s", txt)
	}
}

func newsroomReply(t testing.TB, to []*openpgp.Entity, s src, id, inReplyTo, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pgpmime.NewWriter(&b, to, pgpmime.Header{FromAddr: "newsroom@" + domain,
		To: `"` + s.designation + `" <` + s.addr + `>`, Subject: "Re: Payments", OuterSubject: "...",
		MessageID: id, InReplyTo: inReplyTo, References: []string{s.thread, inReplyTo}})
	if err != nil {
		t.Fatal(err)
	}
	w.Text(text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// openedOnce exports one submission of one source (with a file) and opens
// it: jane's key, the source, the reader home, the stick, the output.
func openedOnce(t *testing.T) (*openpgp.Entity, src, *home, string, string) {
	t.Helper()
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	h := newHome(t)
	h.put("INBOX", 1, submission(t, []*openpgp.Entity{j}, a, "a1@"+domain, "", "one", file{"a.pdf", []byte("%PDF-1.4")}))
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)
	if sum, _ := open(t, stick, out, j); sum.Opened != 1 {
		t.Fatalf("first run: %+v", sum)
	}
	return j, a, h, stick, out
}

// TestOpenAgainAddsOnlyNew: a second run over the same stick changes
// nothing; a new batch adds only its messages.
func TestOpenAgainAddsOnlyNew(t *testing.T) {
	j, a, h, stick, out := openedOnce(t)
	if sum, _ := open(t, stick, out, j); sum.Opened != 0 || sum.Skipped != 1 {
		t.Fatalf("second run: %+v", sum)
	}
	h.put("INBOX", 2, submission(t, []*openpgp.Entity{j}, a, "a2@"+domain, "", "two"))
	if b := h.export(stick); b == "" {
		t.Fatal("the second export found nothing new")
	}
	if sum, _ := open(t, stick, out, j); sum.Opened != 1 || sum.Skipped != 1 {
		t.Fatalf("third run: %+v", sum)
	}
	des, _ := os.ReadDir(filepath.Join(out, "quixotic-tangerine", "files"))
	if len(des) != 1 {
		t.Fatalf("files/ holds %d files after three runs, want 1", len(des))
	}
	if txt := readFile(t, filepath.Join(out, "quixotic-tangerine", "conversation.txt")); strings.Count(txt, "====") != 2 {
		t.Fatalf("transcript:\n%s", txt)
	}
}

// TestOpenRefusesAlteredCopyAndGoesOn: a copy changed on the stick, and a
// truncated one, are refused by name; the others are opened.
func TestOpenRefusesAlteredCopyAndGoesOn(t *testing.T) {
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	h := newHome(t)
	for i := 1; i <= 3; i++ {
		h.put("INBOX", i, submission(t, []*openpgp.Entity{j}, a, string(rune('a'+i))+"@"+domain, "", "message"))
	}
	stick, out := t.TempDir(), t.TempDir()
	batch := h.export(stick)
	alter(t, filepath.Join(batch, "INBOX-1700000000-1.eml"), func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	alter(t, filepath.Join(batch, "INBOX-1700000000-2.eml"), func(b []byte) []byte { return b[:len(b)-100] })
	sum, lines := open(t, stick, out, j)
	if sum.Opened != 1 || sum.Failed != 2 || len(lines) != 2 ||
		!strings.Contains(lines[0], "INBOX-1700000000-1.eml: refused: transfer: copy truncated or altered") ||
		!strings.Contains(lines[1], "INBOX-1700000000-2.eml: refused") {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
}

// TestOpenRefusesTamperedManifest: a manifest that does not match its sum
// makes its whole batch refused; another batch is still opened.
func TestOpenRefusesTamperedManifest(t *testing.T) {
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	h := newHome(t)
	h.put("INBOX", 1, submission(t, []*openpgp.Entity{j}, a, "a1@"+domain, "", "one"))
	stick, out := t.TempDir(), t.TempDir()
	first := h.export(stick)
	h.put("INBOX", 2, submission(t, []*openpgp.Entity{j}, a, "a2@"+domain, "", "two"))
	h.export(stick)
	alter(t, filepath.Join(first, "manifest.json"), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"size": `), []byte(`"size": 1`), 1)
	})
	sum, lines := open(t, stick, out, j)
	if sum.Opened != 1 || len(lines) != 1 || !strings.Contains(lines[0], filepath.Base(first)+": refused: transfer: manifest missing, damaged or altered") {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
}

func alter(t testing.TB, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOpenReportsDamagedAndWrongKey: a message damaged before the export
// (so its copy matches the manifest) and one for another key each get one
// line; nothing of them is written; the good one is opened.
func TestOpenReportsDamagedAndWrongKey(t *testing.T) {
	j, other := key(t, "jane"), key(t, "someone else")
	a := newSource(t, "quixotic tangerine")
	h := newHome(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	msg := submission(t, []*openpgp.Entity{j}, a, "a1@"+domain, "", "damaged", file{"big.bin", big})
	i := bytes.Index(msg, []byte("-----BEGIN PGP MESSAGE-----")) + len(msg)/2
	for msg[i] == '\r' || msg[i] == '\n' || msg[i] == 'A' {
		i++
	}
	msg[i] = 'A'
	h.put("INBOX", 1, msg)
	h.put("INBOX", 2, submission(t, []*openpgp.Entity{other}, a, "a2@"+domain, "", "not for jane"))
	h.put("INBOX", 3, submission(t, []*openpgp.Entity{j}, a, "a3@"+domain, "", "good"))
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)
	sum, lines := open(t, stick, out, j)
	if sum.Opened != 1 || sum.Failed != 2 || len(lines) != 2 ||
		!strings.Contains(lines[0], "INBOX-1700000000-1.eml: not opened: damaged") ||
		!strings.Contains(lines[1], "INBOX-1700000000-2.eml: not opened: not encrypted to this key") {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
	des, _ := os.ReadDir(filepath.Join(out, "quixotic-tangerine", "files"))
	if len(des) != 0 {
		t.Fatalf("files of a damaged message were kept: %v", des)
	}
	left, _ := filepath.Glob(filepath.Join(out, ".postern", "stage-*"))
	if len(left) != 0 {
		t.Fatalf("staging folders left: %v", left)
	}
	if txt := readFile(t, filepath.Join(out, "quixotic-tangerine", "conversation.txt")); strings.Contains(txt, "damaged") || !strings.Contains(txt, "good") {
		t.Fatalf("transcript:\n%s", txt)
	}
}

// TestOpenHostileNames: names from the mail never leave files/, never
// clobber, never hide, never name a Windows device.
func TestOpenHostileNames(t *testing.T) {
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	part := func(name, body string) string {
		return "--X\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + name +
			"\"\r\n\r\n" + body + "\r\n"
	}
	inner := "Content-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nnames\r\n" +
		part("../../etc/passwd", "p") + part("con.txt", "c") + part("\x07bell\x1b.txt", "b") + part(".hidden", "h") +
		part("a.txt", "1") + part("A.TXT", "2") + part(`..\..\win.ini`, "w") + part("com1", "d") + "--X--\r\n"
	h := newHome(t)
	h.put("INBOX", 1, rawMessage(t, []*openpgp.Entity{j}, a, "h1@"+domain, inner))
	parent := t.TempDir()
	stick, out := t.TempDir(), filepath.Join(parent, "out")
	h.export(stick)
	if sum, lines := open(t, stick, out, j); sum.Opened != 1 || len(lines) != 0 {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
	des, _ := os.ReadDir(filepath.Join(out, "quixotic-tangerine", "files"))
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	want := "A-2.TXT _com1 _con.txt a.txt bell.txt hidden passwd win.ini"
	if strings.Join(names, " ") != want {
		t.Fatalf("files/: %q, want %q", strings.Join(names, " "), want)
	}
	if top, _ := os.ReadDir(parent); len(top) != 1 {
		t.Fatalf("something was written beside --out: %v", top)
	}
}

// TestOpenRefusesMessageFailingIntegrityCheck: a bit flipped inside the
// encrypted text still decrypts to readable (wrong) text; only OpenPGP's
// integrity check (MDC) at the end of the stream tells, and the message must
// not be opened.
func TestOpenRefusesMessageFailingIntegrityCheck(t *testing.T) {
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	text := strings.Repeat("The minutes of the board meeting follow.\r\n", 400)
	inner := "Content-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\n" + text + "--X--\r\n"
	h := newHome(t)
	h.put("INBOX", 1, rawMessageMangled(t, []*openpgp.Entity{j}, a, "m1@"+domain, inner, func(b []byte) { b[len(b)/2] ^= 0x01 }))
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)
	sum, lines := open(t, stick, out, j)
	if sum.Opened != 0 || len(lines) != 1 || !strings.HasSuffix(lines[0], "not opened: damaged: the decryption or its integrity check failed (integrity check (MDC) failed)") {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
}

// TestOpenReportsOneLinePerMessage: a message whose decrypted MIME header is
// malformed (the parser's error quotes the line, its CRLF included) gets
// one report line, like any other.
func TestOpenReportsOneLinePerMessage(t *testing.T) {
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	h := newHome(t)
	h.put("INBOX", 1, rawMessage(t, []*openpgp.Entity{j}, a, "m1@"+domain, "Content-Type text/plain\r\n\r\nno colon above\r\n"))
	h.put("INBOX", 2, rawMessage(t, []*openpgp.Entity{j}, a, "m2@"+domain, "Content-Type: text/plain\r\n\r\nfine\r\n"))
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)
	sum, lines := open(t, stick, out, j)
	if sum.Opened != 1 || sum.Failed != 1 || len(lines) != 1 || !strings.Contains(lines[0], "INBOX-1700000000-1.eml: not opened: damaged") {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
}

// TestOpenAfterRunCutBeforeThreadSaved: a run cut after it created a new
// source's folder (its state saved, files placed) but before the first
// save of that source's thread and the log (both wait for a flush or the
// end) leaves no thread record; the next run opens the messages again
// into that folder, without a duplicate file.
func TestOpenAfterRunCutBeforeThreadSaved(t *testing.T) {
	j, _, _, stick, out := openedOnce(t)
	// What a cut run leaves: the state and the file, no thread, no log.
	for _, p := range []string{filepath.Join(out, ".postern", "opened.log"), filepath.Join(out, ".postern", "thread-quixotic-tangerine.json")} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	sum, lines := open(t, stick, out, j)
	if sum.Opened != 1 || len(lines) != 0 {
		t.Fatalf("second run: %+v, report %q", sum, lines)
	}
	if des, _ := os.ReadDir(filepath.Join(out, "quixotic-tangerine", "files")); len(des) != 1 {
		t.Fatalf("files/ holds %d files, want 1", len(des))
	}
	if txt := readFile(t, filepath.Join(out, "quixotic-tangerine", "conversation.txt")); strings.Count(txt, "====") != 1 {
		t.Fatalf("transcript:\n%s", txt)
	}
}
