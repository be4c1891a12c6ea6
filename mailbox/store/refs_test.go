package store

import (
	"encoding/binary"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// refcount reads a blob's stored reference count (0 when it has none).
func refcount(t *testing.T, s *Store, id string) uint64 {
	t.Helper()
	var n uint64
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bRefs).Get([]byte(id)); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRefcountsAcrossCopyMoveExpungeDelete(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	src := addSource(t, s, "quixotic tangerine")
	a := putBlob(t, s, []byte("submission a"))
	b := putBlob(t, s, []byte("submission b"))
	for _, ref := range []BlobRef{a, b} {
		if err := s.Deliver(Delivery{Blob: ref, SourceID: src.ID}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(step string, wantA, wantB uint64) {
		t.Helper()
		if ga, gb := refcount(t, s, a.ID), refcount(t, s, b.ID); ga != wantA || gb != wantB {
			t.Fatalf("%s: refcounts %d %d, want %d %d", step, ga, gb, wantA, wantB)
		}
		if blobExists(t, s, a.ID) != (wantA > 0) || blobExists(t, s, b.ID) != (wantB > 0) {
			t.Fatalf("%s: blob files do not follow refcounts", step)
		}
		mustCheck(t, s)
	}
	expect("deliver", 2, 2)

	dst, err := s.Copy("ana", "INBOX", []uint32{1, 2, 77, 1}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst, []uint32{1, 2, 0, 0}) {
		t.Fatalf("copy dst %v", dst)
	}
	expect("copy", 3, 3)

	dst, err = s.Move("ana", "Archive", []uint32{2}, "Trash")
	if err != nil || !slices.Equal(dst, []uint32{1}) {
		t.Fatalf("move %v %v", dst, err)
	}
	if got := uids(messages(t, s, "ana", "Archive")); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("archive after move %v", got)
	}
	trash := messages(t, s, "ana", "Trash")
	if len(trash) != 1 || trash[0].Blob != b || !slices.Equal(trash[0].SourceID, src.ID) {
		t.Fatalf("trash %+v", trash)
	}
	expect("move", 3, 3)

	// Copy within the same mailbox gets a new UID there.
	dst, err = s.Copy("ana", "Trash", []uint32{1}, "Trash")
	if err != nil || !slices.Equal(dst, []uint32{2}) {
		t.Fatalf("self copy %v %v", dst, err)
	}
	expect("self copy", 3, 4)
	// A move within the same mailbox gives a new UID too (as Dovecot does).
	dst, err = s.Move("ana", "Trash", []uint32{1}, "Trash")
	if err != nil || !slices.Equal(dst, []uint32{3}) {
		t.Fatalf("self move %v %v", dst, err)
	}
	if got := uids(messages(t, s, "ana", "Trash")); !slices.Equal(got, []uint32{2, 3}) {
		t.Fatalf("trash after self move %v", got)
	}
	expect("self move", 3, 4)

	if err := s.Expunge("ana", "Trash", []uint32{2, 3}); err != nil {
		t.Fatal(err)
	}
	expect("expunge", 3, 2)

	if err := s.RemoveJournalist("bob"); err != nil {
		t.Fatal(err)
	}
	expect("remove journalist", 2, 1)
	if _, err := s.Mailboxes("bob"); err == nil {
		t.Fatal("removed journalist still has mailboxes")
	}

	// A blob only a journalist holds (an APPEND) goes with them.
	c := putBlob(t, s, []byte("draft"))
	if _, err := s.Append("ana", "Drafts", c, []string{`\Draft`}, nil); err != nil {
		t.Fatal(err)
	}
	if refcount(t, s, c.ID) != 1 {
		t.Fatal("append did not reference")
	}

	if err := s.DeleteSource(src.ID); err != nil {
		t.Fatal(err)
	}
	expect("delete source", 0, 0)
	if !blobExists(t, s, c.ID) {
		t.Fatal("delete source removed a journalist's draft")
	}
	if err := s.RemoveJournalist("ana"); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, s, c.ID) || refcount(t, s, c.ID) != 0 {
		t.Fatal("draft survives its journalist")
	}
	st, _ := s.Stats()
	if st != (Stats{}) {
		t.Fatalf("stats after deleting everything: %+v", st)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Fatalf("files left %v", files)
	}
	mustCheck(t, s)
}
