package store

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// waitSpares waits (generously: a loaded machine) until n spares are
// ready to be taken, and returns the names of all spares.
func waitSpares(t *testing.T, s *Store, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		s.blobMu.Lock()
		ids := make([]string, 0, len(s.spare.ids))
		for id := range s.spare.ids {
			ids = append(ids, id)
		}
		ready := len(s.spare.ready)
		s.blobMu.Unlock()
		if ready >= n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spares ready, want %d", ready, n)
		}
	}
}

// TestSparesAreEmptyInvisibleAndRemovedOnClose: the first blob starts the
// spares; each is an empty file that Check does not call stray and that
// no delivery may reference; the next blobs use them; Close removes the
// rest, so a reopened instance has nothing to collect.
func TestSparesAreEmptyInvisibleAndRemovedOnClose(t *testing.T) {
	s, dir := newTestStore(t)
	addJournalist(t, s, "alice")
	first := putBlob(t, s, randomBytes(t, 10<<10))
	spares := waitSpares(t, s, spareBlobs/2)
	for _, id := range spares {
		fi, err := os.Stat(filepath.Join(dir, blobDir, id))
		if err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("spare %s: %v, %v", id, fi, err)
		}
		if err := s.Deliver(Delivery{Blob: BlobRef{ID: id}, Journalists: []string{"alice"}}); err == nil {
			t.Fatal("a spare was delivered")
		}
	}
	mustCheck(t, s) // spares are not stray
	// The next blob is written into a spare, under its name.
	data := randomBytes(t, 30<<10)
	second := putBlob(t, s, data)
	if !slices.Contains(spares, second.ID) {
		t.Fatalf("blob %s was not made from a spare %v", second.ID, spares)
	}
	f, err := s.OpenBlob(second.ID)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.Close()
	if fi.Size() != int64(len(data)) || s.Spare(second.ID) {
		t.Fatalf("blob from a spare: %d bytes, still a spare %v", fi.Size(), s.Spare(second.ID))
	}
	for _, ref := range []BlobRef{first, second} {
		if err := s.DiscardBlob(ref.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, blobDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("Close left %d files in blobs/", len(entries))
	}
	s.blobMu.Lock()
	_, started := s.takeSpare()
	running := s.spare.ready != nil
	s.blobMu.Unlock()
	if started || running {
		t.Fatal("spares restarted after Close")
	}
}

// TestSparesLeftByACrashAreCollected: an instance copied while it runs
// (as a crash leaves it: spares on disk, never closed) opens with only
// its referenced blobs.
func TestSparesLeftByACrashAreCollected(t *testing.T) {
	s, dir := newTestStore(t)
	addJournalist(t, s, "alice")
	kept := putBlob(t, s, randomBytes(t, 10<<10))
	if err := s.Deliver(Delivery{Blob: kept, Journalists: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	waitSpares(t, s, spareBlobs/2)
	crashed := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(crashed, 0o700); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(crashed, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if files := blobFiles(t, s2); !slices.Equal(files, []string{kept.ID}) {
		t.Fatalf("after Open: %v, want only %s", files, kept.ID)
	}
	mustCheck(t, s2)
}

// TestSparesNotUsedWhenBlobsMoved: with blobs/ moved away and a file in
// its place (as relay/e2e's quiet test does), a new blob fails as it did
// before spares, instead of writing into a spare now outside blobs/; and
// once blobs/ is back, blobs are written again.
func TestSparesNotUsedWhenBlobsMoved(t *testing.T) {
	s, dir := newTestStore(t)
	first := putBlob(t, s, randomBytes(t, 1<<10))
	waitSpares(t, s, spareBlobs/2)
	blobs := filepath.Join(dir, blobDir)
	if err := os.Rename(blobs, blobs+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blobs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if w, err := s.NewBlob(); err == nil {
		w.Write([]byte("ciphertext"))
		_, err = w.Commit()
		w.Abort()
		if err == nil {
			t.Fatal("a blob was committed with blobs/ replaced by a file")
		}
	}
	entries, err := os.ReadDir(blobs + ".away")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == first.ID {
			continue
		}
		if fi, err := e.Info(); err != nil || fi.Size() != 0 {
			t.Errorf("%s in the moved blobs/: %v, %v", e.Name(), fi.Size(), err)
		}
	}
	if err := os.Remove(blobs); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(blobs+".away", blobs); err != nil {
		t.Fatal(err)
	}
	putBlob(t, s, randomBytes(t, 1<<10))
}
