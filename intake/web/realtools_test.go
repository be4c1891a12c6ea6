package web

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"postern/mailbox/pgp"
	"postern/mailbox/pgp/pgptest"
	"postern/mailbox/store"
)

// TestJournalistToolsDecrypt submits through the form and has gpg, rnp and
// sq (what journalists' clients are built on) decrypt the stored mail with
// a journalist key made by gpg: the text, the protected subject and every
// file byte for byte must come out.
func TestJournalistToolsDecrypt(t *testing.T) {
	g := pgptest.NewGPG(t)
	fpr := g.GenKey("Bob <bob@newsroom.example>", "future-default", "default", "never")
	ent, info, err := pgp.ParsePublicKey(g.Export(fpr))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	if err := e.st.AddJournalist(store.Journalist{Name: "bob", PublicKey: pgp.Serialize(ent), Fingerprint: info.Fingerprint,
		PasswordHash: "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}); err != nil {
		t.Fatal(err)
	}
	b, tok := e.loggedIn()
	bin := make([]byte, 300<<10)
	rand.Read(bin)
	want(t, b.postMultipart("/submit", field("csrf", tok), field("subject", "Ünïcode subject"),
		field("message", "The text\r\nof the message"), filePart("data.bin", bytes.NewReader(bin)),
		filePart("../../evil\".sh", strings.NewReader("#!/bin/sh\n"))), 200, "received")

	msgs, err := e.st.Messages("bob", "INBOX")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("bob's INBOX: %v %d", err, len(msgs))
	}
	f, err := e.st.OpenBlob(msgs[0].Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(f)
	f.Close()
	start := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	end := bytes.Index(raw, []byte("-----END PGP MESSAGE-----"))
	if start < 0 || end < start {
		t.Fatal("no armored message in the mail")
	}
	armored := raw[start : end+len("-----END PGP MESSAGE-----\r\n")]
	dir := t.TempDir()
	msgFile := filepath.Join(dir, "msg.asc")
	secFile := filepath.Join(dir, "sec.asc")
	os.WriteFile(msgFile, armored, 0o600)
	os.WriteFile(secFile, g.ExportSecret(fpr), 0o600)

	check := func(tool string, plain []byte) {
		t.Helper()
		ent, err := message.Read(bytes.NewReader(plain))
		if err != nil {
			t.Fatalf("%s: inner MIME: %v", tool, err)
		}
		if subj, err := (&mail.Header{Header: ent.Header}).Subject(); err != nil || subj != "Ünïcode subject" {
			t.Errorf("%s: protected subject %q, %v", tool, subj, err)
		}
		mr := ent.MultipartReader()
		if mr == nil {
			t.Fatalf("%s: inner part not multipart", tool)
		}
		var text string
		files := map[string][]byte{}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tool, err)
			}
			body, _ := io.ReadAll(p.Body)
			mt, _, _ := p.Header.ContentType()
			_, params, _ := p.Header.ContentDisposition()
			switch {
			case mt == "text/plain" && params["filename"] == "":
				text = string(body)
			case mt != "application/pgp-keys":
				files[params["filename"]] = body
			}
		}
		if !strings.Contains(text, "The text") || !strings.Contains(text, "of the message") {
			t.Errorf("%s: text %q", tool, text)
		}
		if !bytes.Equal(files["data.bin"], bin) {
			t.Errorf("%s: data.bin differs (%d files: %v)", tool, len(files), keys(files))
		}
		for name := range files {
			if strings.ContainsAny(name, "/\\\"") {
				t.Errorf("%s: unsanitised name %q", tool, name)
			}
		}
		if len(files) != 2 {
			t.Errorf("%s: %d files: %v", tool, len(files), keys(files))
		}
	}

	check("gpg", g.Run(armored, "--decrypt"))

	if pgptest.NeedTool(t, "sq") != "" {
		check("sq", pgptest.Run(t, armored, "sq", "decrypt", "--recipient-key", secFile))
	}
	if pgptest.NeedTool(t, "rnp") != "" {
		home := filepath.Join(dir, "rnp")
		os.Mkdir(home, 0o700)
		pgptest.Run(t, nil, "rnpkeys", "--homedir", home, "--import", secFile)
		check("rnp", pgptest.Run(t, nil, "rnp", "--homedir", home, "--decrypt", "--output=-", msgFile))
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
