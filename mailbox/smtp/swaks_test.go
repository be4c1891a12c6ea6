package smtpd

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/mailbox/pgp/pgptest"
)

// swaks sends a plaintext reply with a file through the real server, with
// AUTH PLAIN and with AUTH LOGIN.
func TestSwaksPlaintextReply(t *testing.T) {
	pgptest.NeedTool(t, "swaks")
	e := newEnv(t)
	host, port, _ := net.SplitHostPort(e.addr)
	file := filepath.Join(t.TempDir(), "evidence.txt")
	if err := os.WriteFile(file, []byte("file body ZQXMARKERSWAKS-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, mech := range []string{"PLAIN", "LOGIN"} {
		out, errOut, err := pgptest.RunErr(nil, nil, "swaks", "--server", host, "--port", port,
			"--auth", mech, "--auth-user", "jane", "--auth-password", password,
			"--from", "jane@home.example", "--to", e.src.Address,
			"--header", "Subject: swaks ZQXMARKERSWAKS-subject",
			"--header", "User-Agent: swaks-as-journalist",
			"--body", "Reply by swaks ZQXMARKERSWAKS-text "+mech,
			"--attach-type", "text/plain", "--attach", file)
		if err != nil {
			t.Fatalf("swaks %s: %v\n%s\n%s", mech, err, out, errOut)
		}
		reps := e.replies()
		if len(reps) != i+1 {
			t.Fatalf("%d replies after swaks %s", len(reps), mech)
		}
		d := reps[i]
		if !strings.Contains(d.Text, "ZQXMARKERSWAKS-text "+mech) {
			t.Errorf("text %q", d.Text)
		}
		if len(d.Parts) != 1 || d.Parts[0].Name != "evidence.txt" {
			t.Fatalf("parts %+v", d.Parts)
		}
		r, _ := d.Open(0)
		if b, _ := io.ReadAll(r); !bytes.Contains(b, []byte("ZQXMARKERSWAKS-file")) {
			t.Errorf("attachment %q", b)
		}
	}
	stored, _ := e.st.Replies(e.src.ID)
	for _, r := range stored {
		inner := decryptRaw(t, e.blob(r.Blob.ID), e.srcKey)
		for _, tr := range []string{"X-Mailer", "User-Agent", "swaks-as-journalist", "jane@", "home.example"} {
			if bytes.Contains(inner, []byte(tr)) {
				t.Errorf("%q reached the source:\n%s", tr, head(inner))
			}
		}
	}
	if n := len(e.inbox("alice")); n != 2 {
		t.Errorf("alice has %d copies, want 2", n)
	}
	e.grepDataDir("ZQXMARKERSWAKS")
}

// swaks sends a PGP/MIME reply made with gpg, as a prepared message.
func TestSwaksEncryptedReply(t *testing.T) {
	pgptest.NeedTool(t, "swaks")
	e := newEnv(t)
	host, port, _ := net.SplitHostPort(e.addr)
	armored := gpgEncrypt(t, innerMIME("ZQXMARKERSWAKSPGP"), e.sourceKeyFromStore(), e.keys["jane"])
	file := filepath.Join(t.TempDir(), "reply.eml")
	if err := os.WriteFile(file, pgpMIME(e.src.Address, armored), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := pgptest.RunErr(nil, nil, "swaks", "--server", host, "--port", port,
		"--auth", "PLAIN", "--auth-user", "jane", "--auth-password", password,
		"--from", "jane@home.example", "--to", e.src.Address, "--data", file)
	if err != nil {
		t.Fatalf("swaks: %v\n%s\n%s", err, out, errOut)
	}
	reps := e.replies()
	if len(reps) != 1 || !strings.Contains(reps[0].Text, "ZQXMARKERSWAKSPGP-text") {
		t.Fatalf("replies %+v", reps)
	}
	if n := len(e.inbox("bob")); n != 1 {
		t.Fatalf("bob has %d notices", n)
	}
}
