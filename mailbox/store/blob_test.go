package store

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestBlobWriteCommitOpen(t *testing.T) {
	s, _ := newTestStore(t)
	data := randomBytes(t, 200<<10)
	ref := putBlob(t, s, data)
	if !validBlobID(ref.ID) || ref.Size != int64(len(data)) {
		t.Fatalf("ref %+v", ref)
	}
	f, err := s.OpenBlob(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !slices.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	fi, _ := os.Stat(filepath.Join(s.Dir(), blobDir, ref.ID))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("blob mode %v", fi.Mode().Perm())
	}
	// Committed but unreferenced: pending, so Check is clean and the file stays.
	mustCheck(t, s)
	if err := s.DiscardBlob(ref.ID); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, s, ref.ID) {
		t.Fatal("discarded blob still on disk")
	}
	if err := s.DiscardBlob(ref.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second discard: %v", err)
	}
	if len(blobFiles(t, s)) != 0 {
		t.Fatalf("files left: %v", blobFiles(t, s))
	}
	mustCheck(t, s)
}

func TestBlobAbortRemovesTemp(t *testing.T) {
	s, _ := newTestStore(t)
	w, err := s.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("ciphertext"))
	if len(blobFiles(t, s)) != 1 {
		t.Fatal("no temp file while writing")
	}
	mustCheck(t, s) // an in-flight temp file is not stray
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after abort")
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("commit after abort")
	}
	if n := blobFiles(t, s); len(n) != 0 {
		t.Fatalf("files left: %v", n)
	}
	mustCheck(t, s)
}

func TestOpenBlobRejectsBadIDs(t *testing.T) {
	s, dir := newTestStore(t)
	// A file outside blobs/ that a traversal would reach.
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := putBlob(t, s, []byte("x"))
	for _, id := range []string{"", "../secret", "..", "/etc/passwd", ref.ID[:31], ref.ID + "0",
		"ABCDEF0123456789ABCDEF0123456789", "0123456789abcdef0123456789abcdeg", "../" + ref.ID[3:]} {
		if f, err := s.OpenBlob(id); !errors.Is(err, ErrNotFound) {
			if f != nil {
				f.Close()
			}
			t.Errorf("OpenBlob(%q): %v", id, err)
		}
		if err := s.DiscardBlob(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("DiscardBlob(%q): %v", id, err)
		}
	}
	if _, err := s.OpenBlob("0123456789abcdef0123456789abcdef"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent blob: %v", err)
	}
}

// TestCrashBetweenBlobAndRecord simulates a process killed at each step of a
// submission: mid-write (a temp file), after Commit but before Deliver (an
// unreferenced blob), and after Deliver. Open must remove the first two and keep the
// third, and no record may point at a missing file.
func TestCrashBetweenBlobAndRecord(t *testing.T) {
	s, dir := newTestStore(t)
	addJournalist(t, s, "ana")

	delivered := putBlob(t, s, []byte("delivered"))
	if err := s.Deliver(Delivery{Blob: delivered}); err != nil {
		t.Fatal(err)
	}
	orphan := putBlob(t, s, []byte("committed, never delivered"))
	w, err := s.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half written"))
	// A temp file from an earlier crashed Compact-era shred too.
	if err := os.WriteFile(filepath.Join(dir, blobDir, tmpPrefix+"dead-x"), []byte("zz"), 0o600); err != nil {
		t.Fatal(err)
	}
	// "Kill" the process: close the database without finishing anything.
	w.f.Close()
	s.Close()

	s2, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	files := blobFiles(t, s2)
	if !slices.Equal(files, []string{delivered.ID}) {
		t.Fatalf("after Open: %v (want only %s)", files, delivered.ID)
	}
	mustCheck(t, s2)
	if err := s2.Deliver(Delivery{Blob: orphan}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delivering a collected blob: %v", err)
	}
	msgs := messages(t, s2, "ana", "INBOX")
	if len(msgs) != 1 || msgs[0].Blob != delivered {
		t.Fatalf("messages %+v", msgs)
	}
	f, err := s2.OpenBlob(msgs[0].Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestFailedDeliveryLeavesBlobToDiscard(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	ref := putBlob(t, s, []byte("x"))
	// Unknown journalist: the whole delivery fails, nothing is recorded.
	err := s.Deliver(Delivery{Blob: ref, Journalists: []string{"ana", "nobody"}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("deliver to unknown journalist: %v", err)
	}
	if n := len(messages(t, s, "ana", "INBOX")); n != 0 {
		t.Fatalf("partial delivery: %d messages", n)
	}
	// Wrong size and unknown source are refused too.
	if err := s.Deliver(Delivery{Blob: BlobRef{ID: ref.ID, Size: ref.Size + 1}}); err == nil {
		t.Fatal("size mismatch accepted")
	}
	if err := s.Deliver(Delivery{Blob: ref, SourceID: make([]byte, 32)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown source: %v", err)
	}
	mustCheck(t, s)
	// The blob is still pending: it can be delivered, and then not discarded.
	if err := s.Deliver(Delivery{Blob: ref}); err != nil {
		t.Fatal(err)
	}
	if err := s.DiscardBlob(ref.ID); err == nil {
		t.Fatal("discarded a referenced blob")
	}
	mustCheck(t, s)
}

// A committed blob's file times are the day, not the moment, of the write.
func TestBlobTimesAreDays(t *testing.T) {
	s, dir := newTestStore(t)
	ref := putBlob(t, s, []byte("ciphertext"))
	waitSpares(t, s, spareBlobs) // the spares made meanwhile move blobs/'s times too
	for _, p := range []string{filepath.Join(dir, "blobs", ref.ID), filepath.Join(dir, "blobs")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.ModTime().UTC(); !m.Equal(m.Truncate(24 * time.Hour)) {
			t.Errorf("%s: mtime %s is finer than a day", p, m)
		}
	}
}

// TestBlobBeingWrittenCannotBeReferenced: a blob's file has its final name
// from NewBlob on (its directory entry is fsynced while it is written), so
// nothing may reference that name before Commit has made the data durable:
// a record written first would point at a partial file after a crash.
func TestBlobBeingWrittenCannotBeReferenced(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	w, err := s.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half written"))
	early := BlobRef{ID: w.id, Size: w.size}
	if err := s.Deliver(Delivery{Blob: early}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delivering a blob still being written: %v", err)
	}
	if err := s.DiscardBlob(w.id); err == nil {
		t.Fatal("discarding a blob still being written succeeded")
	}
	ref, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if ref != early {
		t.Fatalf("committed %+v, written as %+v", ref, early)
	}
	if err := s.Deliver(Delivery{Blob: ref}); err != nil {
		t.Fatalf("delivering the committed blob: %v", err)
	}
	mustCheck(t, s)
}

// BenchmarkBlobWriteCommit is one blob of 16 KiB made durable, as an
// APPEND or a submission makes it: what the directory fsync's overlap
// with the writing saves shows here (ns/op), next to the disk's fsync cost.
func BenchmarkBlobWriteCommit(b *testing.B) {
	s, err := Init(filepath.Join(b.TempDir(), "data"), testOptions(&clock{t: afternoon}))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := randomBytes(b, 16<<10)
	for b.Loop() {
		w, err := s.NewBlob()
		if err != nil {
			b.Fatal(err)
		}
		w.Write(data)
		if _, err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
