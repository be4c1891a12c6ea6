package imapd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"postern/mailbox/delivery"
	"postern/mailbox/imap/structure"
	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

// A submission made through mailbox/delivery (what the intake form uses)
// reaches every journalist's INBOX over IMAP, mbsync syncs it into a
// Maildir, and gpg, holding the journalist's private key, decrypts it.
func TestSubmissionSyncedAndDecrypted(t *testing.T) {
	gpg := needTool(t, "gpg")
	mbsync := needTool(t, "mbsync")
	e := newEnv(t)
	gnupg := t.TempDir()
	for _, name := range []string{"alice", "bob"} {
		pub := gpgKey(t, gpg, gnupg, name+" <"+name+"@newsroom.example>")
		e.addJournalist(name)
		if err := e.st.UpdateJournalist(name, func(j *store.Journalist) error {
			j.PublicKey = pub
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	seed := sha256.Sum256([]byte("source"))
	srcKey, err := pgp.DeriveKey(seed[:], "quixotic tangerine <qt@relay.example>")
	if err != nil {
		t.Fatal(err)
	}
	src := store.Source{ID: bytes.Repeat([]byte{7}, 32), Designation: "quixotic tangerine",
		Address: "qt@relay.example", PublicKey: pgp.Serialize(srcKey), ThreadID: "<root@relay.example>"}
	if err := e.st.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	d := delivery.New(delivery.Options{Store: e.st, Domain: "relay.example"})
	tx, err := d.Start(context.Background(), delivery.Submission{Source: src, SourceKey: srcKey, Subject: "secret subject"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	const text = "The documents are attached."
	if err := tx.Text(text); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}

	// bob sees it too, with an envelope that says nothing of the subject.
	b := e.login(t, "bob", nil)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m, err := b.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || len(m) != 1 {
		t.Fatalf("bob: %v %d", err, len(m))
	}
	if strings.Contains(m[0].Envelope.Subject, "secret") || len(m[0].Envelope.From) != 1 || m[0].Envelope.From[0].Name != "quixotic tangerine" {
		t.Errorf("bob's envelope: %+v", m[0].Envelope)
	}
	if mp, ok := m[0].BodyStructure.(*imap.BodyStructureMultiPart); !ok || mp.Subtype != "encrypted" {
		t.Errorf("body structure %#v", m[0].BodyStructure)
	}

	// alice syncs with mbsync and decrypts with gpg.
	maildir := mbsyncInbox(t, mbsync, e, "alice")
	files, _ := filepath.Glob(filepath.Join(maildir, "INBOX", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("mbsync fetched %d messages, want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	st, err := structure.Compute(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := st.Locate(&imap.FetchItemBodySection{Part: []int{2}})
	if !ok {
		t.Fatal("no encrypted part")
	}
	cmd := exec.Command(gpg, "--homedir", gnupg, "--batch", "--quiet", "--decrypt")
	cmd.Stdin = bytes.NewReader(raw[sec.Range.Start:sec.Range.End])
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg --decrypt: %v", err)
	}
	if !strings.Contains(string(out), text) || !strings.Contains(string(out), "secret subject") {
		t.Errorf("decrypted mail lacks the text or protected subject:\n%.500s", out)
	}
}

// gpgKey makes a Curve25519 key in gnupg and returns its binary public key.
func gpgKey(t *testing.T, gpg, home, uid string) []byte {
	t.Helper()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			t.Fatalf("gpg %v: %v\n%s", args, err, msg)
		}
		return out
	}
	run("--quick-gen-key", uid, "ed25519", "sign", "never")
	fpr := ""
	for _, l := range strings.Split(string(run("--with-colons", "--list-keys", uid)), "\n") {
		if strings.HasPrefix(l, "fpr:") {
			fpr = strings.Split(l, ":")[9]
			break
		}
	}
	run("--quick-add-key", fpr, "cv25519", "encr", "never")
	return run("--export", uid)
}

// mbsyncInbox syncs a journalist's mailboxes into a new Maildir.
func mbsyncInbox(t testing.TB, mbsync string, e *env, name string) string {
	t.Helper()
	maildir, _ := mbsyncRun(t, mbsync, e, name)
	return maildir
}

// mbsyncRun is mbsyncInbox with extra mbsync flags; it also returns
// mbsync's output.
func mbsyncRun(t testing.TB, mbsync string, e *env, name string, flags ...string) (maildir, output string) {
	t.Helper()
	dir := t.TempDir()
	maildir = filepath.Join(dir, "mail")
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pass"), []byte(e.pass[name]), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(e.addr, ":")
	conf := "IMAPAccount postern\nHost " + host + "\nPort " + port + "\nUser " + name +
		"\nPassCmd \"cat " + filepath.Join(dir, "pass") + "\"\nSSLType None\nAuthMechs LOGIN\n\n" +
		"IMAPStore remote\nAccount postern\n\nMaildirStore local\nPath " + maildir + "/\nInbox " + maildir + "/INBOX\nSubFolders Verbatim\n\n" +
		"Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Near\nSync Pull\nSyncState *\n"
	rc := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mbsync, append([]string{"-c", rc, "-a"}, flags...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
	return maildir, string(out)
}
