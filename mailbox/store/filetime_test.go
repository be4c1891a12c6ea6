package store_test

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"postern/mailbox/store"
	"postern/tools/privscan"
)

// TestFileTimesAreDays: after everything a source's visit makes the store do
// (a new source, a submission's blob and delivery, a login that only touches
// the record, reading the blob back, an aborted upload, deleting the account
// with its compaction), no file or directory of the data directory carries
// a time of day, in its modification time or in its access time (the reads
// come after the writes, so relatime would have moved atime).
func TestFileTimesAreDays(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Init(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddJournalist(store.Journalist{Name: "jane"}); err != nil {
		t.Fatal(err)
	}
	src := store.Source{ID: bytes.Repeat([]byte{7}, 32), Designation: "quixotic tangerine", Address: "qt@x.example"}
	if err := st.CreateSource(src); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("ciphertext "), 1500) // ~16 KiB
	bw, err := st.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	bw.Write(body)
	ref, err := bw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Deliver(store.Delivery{Blob: ref, SourceID: src.ID, Journalists: []string{"jane"}, Mailbox: "INBOX"}); err != nil {
		t.Fatal(err)
	}
	aborted, err := st.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	aborted.Write(body)
	aborted.Abort()
	// A login-only visit: the record is read and touched, nothing changes.
	if err := st.TouchSource(src.ID); err != nil {
		t.Fatal(err)
	}
	f, err := st.OpenBlob(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(f); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("blob read back: %v", err)
	}
	f.Close()
	if _, err := st.Messages("jane", "INBOX"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		hits, err := privscan.FileTimes(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			t.Errorf("%s: %s", when, h)
		}
	}
	check("after a submission and a login")
	if err := st.DeleteSource(src.ID); err != nil {
		t.Fatal(err)
	}
	check("after the account was deleted")
}
