package smtpd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"postern/mailbox/pgpmime"
)

// replyWithFile is a Thunderbird-shaped reply to the source: a text part
// with the marker and a base64 attachment (lines of 72 characters, as
// Thunderbird folds them).
func replyWithFile(to, marker string, file []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Jane Doe <jane@home.example>\r\nTo: <%s>\r\nSubject: Re: %s\r\n", to, marker)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"------------b0undary\"\r\n\r\n")
	b.WriteString("--------------b0undary\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n")
	fmt.Fprintf(&b, "The file you asked for, %s.\r\n\r\n", marker)
	b.WriteString("--------------b0undary\r\nContent-Type: application/pdf; name=\"doc.pdf\"\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"doc.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(file)
	for len(enc) > 72 {
		b.WriteString(enc[:72] + "\r\n")
		enc = enc[72:]
	}
	b.WriteString(enc + "\r\n--------------b0undary--\r\n")
	return []byte(b.String())
}

// checkReplies decrypts every stored reply with the source's key and
// requires one per marker, each with its text and its exact attachment.
func (e *env) checkReplies(files map[string][]byte) {
	e.t.Helper()
	reps := e.replies()
	if len(reps) != len(files) {
		e.t.Fatalf("%d replies stored, want %d", len(reps), len(files))
	}
	seen := map[string]bool{}
	for _, d := range reps {
		marker := ""
		for m := range files {
			if strings.Contains(d.Text, m) {
				marker = m
			}
		}
		if marker == "" || seen[marker] {
			e.t.Fatalf("reply text %.200q matches no reply sent, or one twice", d.Text)
		}
		seen[marker] = true
		checkAttachment(e.t, d, files[marker])
	}
}

func checkAttachment(t testing.TB, d *pgpmime.Decrypted, want []byte) {
	t.Helper()
	if len(d.Parts) != 1 {
		t.Fatalf("parts %+v, want the attachment", d.Parts)
	}
	r, err := d.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("attachment of %d bytes stored as %d bytes, not the same", len(want), len(got))
	}
}

// TestMebibyteRepliesStoredWhole: replies of 1 MiB and 5 MiB of attachment
// (1.4 and 6.8 MB on the wire, under the default 25 MiB cap) reach the
// source whole, and the team's copies too.
func TestMebibyteRepliesStoredWhole(t *testing.T) {
	e := newEnv(t)
	files := map[string][]byte{"one-mebibyte": randomBytes(t, 1<<20), "five-mebibytes": randomBytes(t, 5<<20)}
	for marker, file := range files {
		if err := e.send("jane", e.src.Address, replyWithFile(e.src.Address, marker, file)); err != nil {
			t.Fatalf("%s: %v", marker, err)
		}
	}
	e.checkReplies(files)
	for _, name := range []string{"alice", "bob"} {
		box := e.inbox(name)
		if len(box) != len(files) {
			t.Fatalf("%s has %d copies, want %d", name, len(box), len(files))
		}
		for _, raw := range box {
			d := e.decryptAs(name, raw)
			for marker, file := range files {
				if strings.Contains(d.Text, marker) {
					checkAttachment(t, d, file)
				}
			}
		}
	}
	if err := e.st.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestPipelinedReplies: the server offers PIPELINING (RFC 2920), and a
// client that uses it, sending MAIL, RCPT and DATA in one write and the
// next transaction's commands in the same write as the previous body's
// end, gets every answer in order and every reply stored whole.
func TestPipelinedReplies(t *testing.T) {
	e := newEnv(t)
	r := e.raw()
	r.write("EHLO laptop.example\r\n")
	if code, msg := r.resp(); code != 250 || !strings.Contains(msg, "PIPELINING") {
		t.Fatalf("EHLO: %d %s, want PIPELINING offered", code, msg)
	}
	r.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00jane\x00"+password)), 235)
	files := map[string][]byte{"first-of-two": randomBytes(t, 20<<10), "second-of-two": randomBytes(t, 300<<10)}
	envelope := "MAIL FROM:<jane@home.example>\r\nRCPT TO:<" + e.src.Address + ">\r\nDATA\r\n"
	answers := func(want ...int) {
		t.Helper()
		for i, w := range want {
			if code, msg := r.resp(); code != w {
				t.Fatalf("pipelined answer %d: %d %s, want %d", i, code, msg, w)
			}
		}
	}
	r.write(envelope)
	answers(250, 250, 354)
	r.write(string(replyWithFile(e.src.Address, "first-of-two", files["first-of-two"])) + ".\r\n" + envelope)
	answers(250, 250, 250, 354)
	r.write(string(replyWithFile(e.src.Address, "second-of-two", files["second-of-two"])) + ".\r\nQUIT\r\n")
	answers(250, 221)
	e.checkReplies(files)
	if err := e.st.Check(); err != nil {
		t.Fatal(err)
	}
}
