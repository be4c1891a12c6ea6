package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSources(t *testing.T) {
	c := &clock{t: afternoon}
	s, err := Init(filepath.Join(t.TempDir(), "d"), testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := addSource(t, s, "Quixotic Tangerine")
	got, err := s.Source(src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != "quixotic.tangerine@example.onion" || got.Designation != "Quixotic Tangerine" {
		t.Fatalf("%+v", got)
	}
	day := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	if got.Created != day || got.LastActive != day {
		t.Fatalf("dates %v %v", got.Created, got.LastActive)
	}
	for _, lookup := range []func() (Source, error){
		func() (Source, error) { return s.SourceByAddress("QUIXOTIC.tangerine@example.ONION") },
		func() (Source, error) { return s.SourceByDesignation("quixotic tangerine") },
	} {
		if g, err := lookup(); err != nil || !bytes.Equal(g.ID, src.ID) {
			t.Fatalf("lookup: %+v %v", g, err)
		}
	}
	if _, err := s.SourceByAddress("nobody@example.onion"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	if _, err := s.Source([]byte("short")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	dupes := []Source{
		{ID: src.ID, Designation: "other", Address: "other@example.onion"},
		{ID: randomBytes(t, 32), Designation: "QUIXOTIC TANGERINE", Address: "other@example.onion"},
		{ID: randomBytes(t, 32), Designation: "other", Address: "Quixotic.Tangerine@example.onion"},
	}
	for _, d := range dupes {
		if err := s.CreateSource(d); !errors.Is(err, ErrExists) {
			t.Errorf("duplicate %+v: %v", d, err)
		}
	}
	if err := s.CreateSource(Source{ID: randomBytes(t, 31), Designation: "x", Address: "x@y"}); err == nil {
		t.Fatal("short id accepted")
	}

	c.Set(afternoon.Add(30 * 24 * time.Hour))
	if err := s.TouchSource(src.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Source(src.ID)
	if got.LastActive != time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC) || got.Created != day {
		t.Fatalf("after touch %v %v", got.Created, got.LastActive)
	}
	if err := s.TouchSource(randomBytes(t, 32)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	addSource(t, s, "ample badger")
	sums, err := s.Sources()
	if err != nil || len(sums) != 2 || sums[0].Designation != "Quixotic Tangerine" && sums[0].Designation != "ample badger" {
		t.Fatalf("%+v %v", sums, err)
	}
	if sums[0].Designation > sums[1].Designation {
		t.Fatal("sources not sorted")
	}
	mustCheck(t, s)
}

func TestReplies(t *testing.T) {
	s, _ := newTestStore(t)
	src := addSource(t, s, "ample badger")
	var ids []string
	var refs []BlobRef
	for i := 0; i < 3; i++ {
		ref := putBlob(t, s, []byte{'r', byte(i)})
		refs = append(refs, ref)
		id, err := s.AddReply(Reply{SourceID: src.ID, Blob: ref, Created: afternoon})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := s.AddReply(Reply{SourceID: randomBytes(t, 32), Blob: putBlob(t, s, []byte("x"))}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reply to unknown source: %v", err)
	}
	reps, err := s.Replies(src.ID)
	if err != nil || len(reps) != 3 {
		t.Fatalf("%+v %v", reps, err)
	}
	for i, r := range reps {
		if r.ID != ids[i] || r.Blob != refs[i] || r.Created != time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC) {
			t.Fatalf("reply %d: %+v", i, r)
		}
	}
	if ids[0] == ids[1] {
		t.Fatal("reply ids repeat")
	}
	if err := s.DeleteReply(src.ID, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteReply(src.ID, ids[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if blobExists(t, s, refs[1].ID) {
		t.Fatal("deleted reply's blob remains")
	}
	reps, _ = s.Replies(src.ID)
	if len(reps) != 2 || reps[0].ID != ids[0] || reps[1].ID != ids[2] {
		t.Fatalf("after delete %+v", reps)
	}
	sums, _ := s.Sources()
	if sums[0].Replies != 2 {
		t.Fatalf("summary %+v", sums[0])
	}
	mustCheck(t, s)
}

// TestDeleteSourceLeavesNothing deletes a source with submissions in several
// journalists' mailboxes and replies, then searches every file in the data
// directory, the database byte for byte included, for its designation, address,
// thread id and id.
func TestDeleteSourceLeavesNothing(t *testing.T) {
	s, dir := newTestStore(t)
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	victim := addSource(t, s, "quixotic tangerine")
	other := addSource(t, s, "ample badger")
	var victimBlobs []BlobRef
	for i := 0; i < 4; i++ {
		ref := putBlob(t, s, randomBytes(t, 3000))
		victimBlobs = append(victimBlobs, ref)
		meta := []byte(`{"from":"quixotic tangerine <` + victim.Address + `>"}`)
		if err := s.Deliver(Delivery{Blob: ref, SourceID: victim.ID, Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	ref := putBlob(t, s, randomBytes(t, 100))
	victimBlobs = append(victimBlobs, ref)
	if _, err := s.AddReply(Reply{SourceID: victim.ID, Blob: ref}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy("ana", "INBOX", []uint32{1, 2}, "Archive"); err != nil {
		t.Fatal(err)
	}
	keep := putBlob(t, s, []byte("other source"))
	if err := s.Deliver(Delivery{Blob: keep, SourceID: other.ID}); err != nil {
		t.Fatal(err)
	}
	// Rewrite the victim's records a few times so old copies sit in freed pages.
	for i := 0; i < 5; i++ {
		s.opts.Now = func() time.Time { return afternoon.Add(time.Duration(i+1) * 24 * time.Hour) }
		if err := s.TouchSource(victim.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.SetFlags("ana", "INBOX", []uint32{1, 2, 3, 4}, FlagSet, []string{"$v" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	events := 0
	cancel := s.Subscribe(func(e Event) {
		if e.Kind == EventExpunge {
			events += len(e.UIDs)
		}
	})
	defer cancel()

	if err := s.DeleteSource(victim.ID); err != nil {
		t.Fatal(err)
	}
	if events != 10 { // 4 in each INBOX, 2 in ana's Archive
		t.Fatalf("expunge events for %d messages, want 10", events)
	}
	if _, err := s.Source(victim.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("source still found: %v", err)
	}
	if _, err := s.SourceByAddress(victim.Address); !errors.Is(err, ErrNotFound) {
		t.Fatalf("address still found: %v", err)
	}
	if err := s.DeleteSource(victim.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for _, r := range victimBlobs {
		if blobExists(t, s, r.ID) {
			t.Fatalf("blob %s remains", r.ID)
		}
	}
	if !blobExists(t, s, keep.ID) {
		t.Fatal("other source's blob removed")
	}
	for _, j := range []string{"ana", "bob"} {
		for _, m := range messages(t, s, j, "INBOX") {
			if bytes.Equal(m.SourceID, victim.ID) {
				t.Fatal("message of deleted source remains")
			}
		}
	}
	mustCheck(t, s)
	s.Close()

	for _, needle := range [][]byte{
		[]byte(victim.Designation), []byte(victim.Address), []byte(strings.Trim(victim.ThreadID, "<>")),
		[]byte(base64.StdEncoding.EncodeToString(victim.PublicKey)),
		victim.ID, []byte(hex.EncodeToString(victim.ID)), []byte(victimBlobs[0].ID),
	} {
		if hits := scanDataDir(t, dir, needle); len(hits) > 0 {
			t.Errorf("%q still in %v", needle, hits)
		}
	}
	// And the scan can see: the other source is still there.
	if hits := scanDataDir(t, dir, []byte(other.Designation)); len(hits) == 0 {
		t.Fatal("scan found nothing: it is blind")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{blobDir, dbName}) {
		t.Fatalf("data dir holds %v", names)
	}
}

// TestFreedPagesNeedCompaction documents why DeleteSource compacts: with this
// bbolt, a deleted record stays readable in the database file until its page is
// reused.
func TestFreedPagesNeedCompaction(t *testing.T) {
	s, dir := newTestStore(t)
	var srcs []Source
	for i := 0; i < 20; i++ {
		srcs = append(srcs, addSource(t, s, fmt.Sprintf("word%d tangerine", i)))
	}
	src := srcs[7]
	addJournalist(t, s, "bob")
	if _, err := s.AddReply(Reply{SourceID: srcs[8].ID, Blob: putBlob(t, s, []byte("r"))}); err != nil {
		t.Fatal(err)
	}
	needle := []byte(strings.Trim(src.ThreadID, "<>")) // json escapes < and >
	err := s.update("raw delete", func(tx *bolt.Tx, st *txState) error {
		tx.Bucket(bSrcAddr).Delete(indexKey(src.Address))
		tx.Bucket(bSrcDesig).Delete(indexKey(src.Designation))
		return tx.Bucket(bSources).Delete(src.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	if hits := scanDataDir(t, dir, needle); len(hits) == 0 {
		t.Fatal("the deleted record is gone without compaction: bbolt changed; revisit Compact's doc")
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("the compacted file is not locked: %v", err)
	}
	if hits := scanDataDir(t, dir, needle); len(hits) > 0 {
		t.Fatalf("after Compact still in %v", hits)
	}
	// The store is usable after compaction and kept everything else, bucket
	// sequences (mailbox ids, reply order) included.
	if _, err := s.Source(srcs[8].ID); err != nil {
		t.Fatal(err)
	}
	addSource(t, s, "ample badger")
	addJournalist(t, s, "ana")
	if err := s.CreateMailbox("ana", "After"); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("x")), SourceID: srcs[8].ID}); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	s = reopen(t, s)
	mustCheck(t, s)
}

func TestCompactionCrashRecovery(t *testing.T) {
	s, dir := newTestStore(t)
	addJournalist(t, s, "ana")
	s.Close()
	path := filepath.Join(dir, dbName)
	// Crash after the old file was moved aside and before the new one took its place.
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".compact", []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Journalist("ana"); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	for _, p := range []string{path + ".old", path + ".compact"} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s left behind", p)
		}
	}
	// Crash after the swap, before the old copy was shredded.
	if err := os.WriteFile(path+".old", []byte("old copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := os.Stat(path + ".old"); err == nil {
		t.Fatal("old copy left behind")
	}
	if _, err := s3.Journalist("ana"); err != nil {
		t.Fatal(err)
	}
}

// DeleteSourceIfUnused removes only a source that holds nothing.
func TestDeleteSourceIfUnused(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "alice")
	empty := addSource(t, s, "empty one")
	used := addSource(t, s, "used one")
	if err := s.Deliver(Delivery{Blob: putBlob(t, s, []byte("ciphertext")), SourceID: used.ID}); err != nil {
		t.Fatal(err)
	}
	replied := addSource(t, s, "replied one")
	if _, err := s.AddReply(Reply{SourceID: replied.ID, Blob: putBlob(t, s, []byte("reply"))}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []Source{used, replied} {
		if err := s.DeleteSourceIfUnused(src.ID); !errors.Is(err, ErrSourceInUse) {
			t.Fatalf("%s: %v, want ErrSourceInUse", src.Designation, err)
		}
		if _, err := s.Source(src.ID); err != nil {
			t.Fatalf("%s was deleted: %v", src.Designation, err)
		}
	}
	if err := s.DeleteSourceIfUnused(empty.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Source(empty.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty source still there: %v", err)
	}
	mustCheck(t, s)
}
