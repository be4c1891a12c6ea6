package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestConcurrentWriters runs many goroutines that create sources, write blobs,
// deliver, reply, copy, expunge and delete sources while others read, then checks
// integrity and the totals.
func TestConcurrentWriters(t *testing.T) {
	s, _ := newTestStore(t)
	for _, j := range []string{"ana", "bob", "cy"} {
		addJournalist(t, s, j)
	}
	var newEvents sync.Map // journalist → count of UIDs announced
	cancel := s.Subscribe(func(e Event) {
		if e.Kind == EventNew && e.Mailbox == "INBOX" {
			v, _ := newEvents.LoadOrStore(e.Journalist, new(int64))
			*(v.(*int64)) += int64(len(e.UIDs)) // writers are serialised around publish
		}
	})
	defer cancel()

	const workers, rounds = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	fail := func(err error) {
		if err != nil {
			errs <- err
		}
	}
	deleted := make([]bool, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			src := Source{ID: []byte(fmt.Sprintf("%032d", w)), Designation: fmt.Sprintf("worker %d", w), Address: fmt.Sprintf("w%d@example.onion", w)}
			fail(s.CreateSource(src))
			for r := 0; r < rounds; r++ {
				bw, err := s.NewBlob()
				if err != nil {
					fail(err)
					return
				}
				fmt.Fprintf(bw, "ciphertext %d/%d", w, r)
				ref, err := bw.Commit()
				if err != nil {
					fail(err)
					return
				}
				fail(s.Deliver(Delivery{Blob: ref, SourceID: src.ID}))
				reply, err := writeBlob(s, []byte("reply"))
				fail(err)
				if _, err := s.AddReply(Reply{SourceID: src.ID, Blob: reply}); err != nil {
					fail(err)
				}
				if r%2 == 0 {
					if _, err := s.Copy("ana", "INBOX", []uint32{1}, "Archive"); err != nil {
						fail(err)
					}
				}
				if _, err := s.Messages("bob", "INBOX"); err != nil {
					fail(err)
				}
				if _, err := s.Stats(); err != nil {
					fail(err)
				}
				// An aborted blob and a discarded one leave nothing behind.
				if ab, err := s.NewBlob(); err == nil {
					ab.Write([]byte("abandoned"))
					ab.Abort()
				}
				if undelivered, err := writeBlob(s, []byte("undelivered")); err != nil {
					fail(err)
				} else {
					fail(s.DiscardBlob(undelivered.ID))
				}
			}
			if w%4 == 3 {
				fail(s.DeleteSource(src.ID))
				deleted[w] = true
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	mustCheck(t, s)

	kept := 0
	for _, d := range deleted {
		if !d {
			kept++
		}
	}
	sums, err := s.Sources()
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != kept {
		t.Fatalf("%d sources, want %d", len(sums), kept)
	}
	for _, sum := range sums {
		if sum.Messages != rounds || sum.Replies != rounds {
			t.Fatalf("summary %+v", sum)
		}
	}
	for _, j := range []string{"ana", "bob", "cy"} {
		msgs := messages(t, s, j, "INBOX")
		if len(msgs) != kept*rounds {
			t.Fatalf("%s: %d messages, want %d", j, len(msgs), kept*rounds)
		}
		if !slices.IsSorted(uids(msgs)) {
			t.Fatalf("%s: UIDs out of order", j)
		}
		mb, _ := s.Mailbox(j, "INBOX")
		if mb.UIDNext != uint32(workers*rounds+1) {
			t.Fatalf("%s: UIDNEXT %d", j, mb.UIDNext)
		}
		v, ok := newEvents.Load(j)
		if !ok || *(v.(*int64)) != int64(workers*rounds) {
			t.Fatalf("%s: new-message events %v", j, v)
		}
	}
	s = reopen(t, s)
	mustCheck(t, s)
}

// writeBlob is putBlob for goroutines other than the test's.
func writeBlob(s *Store, data []byte) (BlobRef, error) {
	w, err := s.NewBlob()
	if err != nil {
		return BlobRef{}, err
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		return BlobRef{}, err
	}
	return w.Commit()
}
