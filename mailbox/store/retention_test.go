package store

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestExpire(t *testing.T) {
	c := &clock{t: afternoon}
	s, err := Init(t.TempDir()+"/d", testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addJournalist(t, s, "ana")
	addJournalist(t, s, "bob")
	src := addSource(t, s, "elder marmot")
	// Day 0 (2026-03-03): an old submission, copied by ana to Archive, and a reply.
	oldMark := []byte("OLD-SUBMISSION-" + hex.EncodeToString(randomBytes(t, 8)))
	oldRef := putBlob(t, s, oldMark)
	if err := s.Deliver(Delivery{Blob: oldRef, SourceID: src.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy("ana", "INBOX", []uint32{1}, "Archive"); err != nil {
		t.Fatal(err)
	}
	oldReply := putBlob(t, s, []byte("OLD-REPLY"))
	if _, err := s.AddReply(Reply{SourceID: src.ID, Blob: oldReply}); err != nil {
		t.Fatal(err)
	}
	// Day 10: a newer submission and reply.
	c.Set(afternoon.Add(10 * 24 * time.Hour))
	newRef := putBlob(t, s, []byte("NEW"))
	if err := s.Deliver(Delivery{Blob: newRef, SourceID: src.ID}); err != nil {
		t.Fatal(err)
	}
	newReply := putBlob(t, s, []byte("NEW-REPLY"))
	if _, err := s.AddReply(Reply{SourceID: src.ID, Blob: newReply}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var events []Event
	cancel := s.Subscribe(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	defer cancel()

	// Day-granular: the cutoff 2026-03-03 keeps day-0 items; 03-04 removes them.
	day0 := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	if n, err := s.Expiring(day0); err != nil || n != (Expired{}) {
		t.Fatalf("expiring at day 0: %+v %v", n, err)
	}
	if n, err := s.Expire(day0); err != nil || n != (Expired{}) {
		t.Fatalf("expire at day 0: %+v %v", n, err)
	}
	cut := day0.Add(24 * time.Hour)
	want := Expired{Messages: 3, Replies: 1}
	if n, err := s.Expiring(cut); err != nil || n != want {
		t.Fatalf("expiring: %+v %v, want %+v", n, err, want)
	}
	n, err := s.Expire(cut)
	if err != nil || n != want {
		t.Fatalf("expire: %+v %v, want %+v", n, err, want)
	}
	mustCheck(t, s)
	if blobExists(t, s, oldRef.ID) || blobExists(t, s, oldReply.ID) {
		t.Fatal("expired blob file still there")
	}
	if !blobExists(t, s, newRef.ID) || !blobExists(t, s, newReply.ID) {
		t.Fatal("a blob within retention was removed")
	}
	for _, j := range []string{"ana", "bob"} {
		if got := uids(messages(t, s, j, "INBOX")); !slices.Equal(got, []uint32{2}) {
			t.Fatalf("%s INBOX after expiry: %v", j, got)
		}
	}
	if got := messages(t, s, "ana", "Archive"); len(got) != 0 {
		t.Fatalf("Archive after expiry: %v", uids(got))
	}
	reps, err := s.Replies(src.ID)
	if err != nil || len(reps) != 1 || reps[0].Blob != newReply {
		t.Fatalf("replies after expiry: %+v %v", reps, err)
	}
	// Every mailbox touched is told, with the right UIDs.
	mu.Lock()
	got := append([]Event(nil), events...)
	mu.Unlock()
	sort.Slice(got, func(i, j int) bool { return got[i].Journalist+got[i].Mailbox < got[j].Journalist+got[j].Mailbox })
	wantEv := []Event{
		{"ana", "Archive", EventExpunge, []uint32{1}},
		{"ana", "INBOX", EventExpunge, []uint32{1}},
		{"bob", "INBOX", EventExpunge, []uint32{1}},
	}
	if !slices.EqualFunc(got, wantEv, func(a, b Event) bool {
		return a.Journalist == b.Journalist && a.Mailbox == b.Mailbox && a.Kind == b.Kind && slices.Equal(a.UIDs, b.UIDs)
	}) {
		t.Fatalf("events\n got %+v\nwant %+v", got, wantEv)
	}
	// Compaction ran: the expired blob contents are nowhere in the directory.
	if hits := scanDataDir(t, s.Dir(), oldMark); len(hits) > 0 {
		t.Fatalf("expired content found in %v", hits)
	}
	// Reopen: the state holds.
	s2 := reopen(t, s)
	mustCheck(t, s2)
	if n, err := s2.Expiring(cut); err != nil || n != (Expired{}) {
		t.Fatalf("after reopen: %+v %v", n, err)
	}
}

func TestSnapshotPinsBlobs(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	src := addSource(t, s, "pinned heron")
	content := []byte("PINNED-" + hex.EncodeToString(randomBytes(t, 8)))
	ref := putBlob(t, s, content)
	if err := s.Deliver(Delivery{Blob: ref, SourceID: src.ID}); err != nil {
		t.Fatal(err)
	}
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	if got := sn.Blobs(); len(got) != 1 || got[0] != ref {
		t.Fatalf("snapshot blobs %+v", got)
	}
	var db bytes.Buffer
	if n, err := sn.WriteDB(&db); err != nil || n != sn.DBSize() || int64(db.Len()) != n {
		t.Fatalf("WriteDB: %d %v (size %d)", n, err, sn.DBSize())
	}
	if _, err := sn.WriteDB(&db); err == nil {
		t.Fatal("second WriteDB accepted")
	}
	// The source is deleted while the snapshot is open: the blob stays readable
	// for the snapshot, Check is clean, and the file is shredded on Close.
	if err := s.DeleteSource(src.ID); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	f, err := sn.OpenBlob(ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(content)+1)
	n, _ := f.Read(buf)
	f.Close()
	if !bytes.Equal(buf[:n], content) {
		t.Fatalf("pinned blob read %q", buf[:n])
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	if hits := scanDataDir(t, s.Dir(), content); len(hits) > 0 {
		t.Fatalf("blob content left after the snapshot closed: %v", hits)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Fatalf("blob files left: %v", files)
	}
	mustCheck(t, s)
	if _, err := sn.OpenBlob("../postern.db"); err == nil {
		t.Fatal("invalid id accepted")
	}
}

// TestSnapshotConsistent: a delivery completes while a snapshot is open (the
// snapshot does not block writes), and the snapshot's database copy, opened
// as a store of its own, holds the state the snapshot began with.
func TestSnapshotConsistent(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	first := putBlob(t, s, []byte("first"))
	if err := s.Deliver(Delivery{Blob: first}); err != nil {
		t.Fatal(err)
	}
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	// Another goroutine delivers, and finishes, before the copy is written.
	done := make(chan error)
	go func() { done <- s.Deliver(Delivery{Blob: putBlob(t, s, []byte("second"))}) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := messages(t, s, "ana", "INBOX"); len(got) != 2 {
		t.Fatalf("live store has %d messages", len(got))
	}
	dir := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "postern.db"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.WriteDB(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sn.Blobs(); len(got) != 1 || got[0] != first {
		t.Fatalf("snapshot blobs %+v", got)
	}
	cp, err := Open(dir, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if got := messages(t, cp, "ana", "INBOX"); len(got) != 1 || got[0].Blob != first {
		t.Fatalf("the snapshot's database copy holds %+v, want only the first delivery", got)
	}
}

func TestDeleteSources(t *testing.T) {
	s, _ := newTestStore(t)
	addJournalist(t, s, "ana")
	a, b, c := addSource(t, s, "first owl"), addSource(t, s, "second owl"), addSource(t, s, "third owl")
	var refs []BlobRef
	for _, src := range []Source{a, b, c} {
		ref := putBlob(t, s, []byte("from "+src.Designation))
		if err := s.Deliver(Delivery{Blob: ref, SourceID: src.ID}); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
		if _, err := s.AddReply(Reply{SourceID: src.ID, Blob: putBlob(t, s, []byte("reply to "+src.Designation))}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var events []Event
	defer s.Subscribe(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })()
	n, err := s.DeleteSources([][]byte{a.ID, c.ID, randomBytes(t, 32)})
	if err != nil || n != 2 {
		t.Fatalf("deleted %d %v", n, err)
	}
	mustCheck(t, s)
	if got := uids(messages(t, s, "ana", "INBOX")); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("INBOX %v", got)
	}
	if blobExists(t, s, refs[0].ID) || blobExists(t, s, refs[2].ID) || !blobExists(t, s, refs[1].ID) {
		t.Fatal("wrong blobs removed")
	}
	mu.Lock()
	if len(events) != 1 || events[0].Kind != EventExpunge || !slices.Equal(events[0].UIDs, []uint32{1, 3}) {
		t.Fatalf("events %+v", events)
	}
	mu.Unlock()
	for _, d := range []string{"first owl", "third owl"} {
		if hits := scanDataDir(t, s.Dir(), []byte(d)); len(hits) > 0 {
			t.Fatalf("%q left in %v", d, hits)
		}
	}
	if n, err := s.DeleteSources([][]byte{a.ID}); err != nil || n != 0 {
		t.Fatalf("again: %d %v", n, err)
	}
}
