package imapd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A message whose head is real ciphertext to the journalist is kept as it
// is only if it holds nothing else: plaintext in the PGP/MIME preamble
// (beyond the length of the notice clients put there),
// after the armor, in a third part or in the epilogue (or after inline
// armor) is refused, and none of it reaches a blob. Before, the head alone
// decided and the whole message was stored, plaintext included.
func TestAppendCiphertextWithPlaintextTailNotStored(t *testing.T) {
	e := newEnv(t, "alice")
	c := e.login(t, "alice", nil)
	inner := bytes.Repeat([]byte(plainReply), 40)
	good := thunderbirdEncrypted(armoredCiphertext(t, inner, e.keys["alice"]))
	const secret = "MEET ME AT NINE THE DOCUMENTS ARE READY"
	closing := "--------------q0MMKZ4uY4iSvdNAm9XTjLL3--\r\n"
	cases := map[string]string{
		// A preamble of a notice's length is kept (clients write one);
		// a reply's worth of text is not.
		"preamble": strings.Replace(good, "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)",
			strings.Repeat(secret+"\r\n", 40), 1),
		"after END":        strings.Replace(good, "-----END PGP MESSAGE-----\r\n", "-----END PGP MESSAGE-----\r\n"+secret+"\r\n", 1),
		"third part":       strings.Replace(good, closing, "--------------q0MMKZ4uY4iSvdNAm9XTjLL3\r\nContent-Type: text/plain\r\n\r\n"+secret+"\r\n"+closing, 1),
		"epilogue":         good + secret + "\r\n",
		"inside the armor": strings.Replace(good, "-----END PGP MESSAGE-----", secret+"\r\n-----END PGP MESSAGE-----", 1),
		"after inline armor": "Subject: inline\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
			armoredCiphertext(t, inner, e.keys["alice"]) + secret + "\r\n",
	}
	for name, msg := range cases {
		if !strings.Contains(msg, secret) {
			t.Fatalf("%s: the case does not hold the plaintext", name)
		}
		cmd := c.Append("Sent", int64(len(msg)), nil)
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); err == nil {
			t.Errorf("%s: stored", name)
		}
	}
	if msgs, err := e.st.Messages("alice", "Sent"); err != nil || len(msgs) != 0 {
		t.Fatalf("Sent: %v, %d messages", err, len(msgs))
	}
	grepBlobs(t, e, secret)

	// The well-formed message (Thunderbird's layout) is still kept as it is.
	mustAppend(t, c, "Sent", good, nil)
	msgs, err := e.st.Messages("alice", "Sent")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Sent: %v, %d messages", err, len(msgs))
	}
	f, err := e.st.OpenBlob(msgs[0].Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	_, gotBody, _ := strings.Cut(string(got), "\r\n\r\n")
	_, wantBody, _ := strings.Cut(good, "\r\n\r\n")
	if !keptSame(gotBody, wantBody) {
		t.Fatal("a well-formed encrypted message was changed")
	}
}

// grepBlobs fails the test if any file under the data directory (blobs,
// temp files, the database) holds s.
func grepBlobs(t *testing.T, e *env, s string) {
	t.Helper()
	filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
			t.Errorf("%s holds the plaintext", p)
		}
		return nil
	})
}
