package imapd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"postern/mailbox/imap/structure"
	"postern/mailbox/store"
)

// TestIdleHearsOfBatchAtRelease protects the delivery window at the IMAP
// boundary: a journalist idling on INBOX hears nothing of pending
// submissions, then of all of them at once when they are released: the
// first EXISTS already counts every one.
func TestIdleHearsOfBatchAtRelease(t *testing.T) {
	e := newEnv(t, "alice")
	_, idle, exists := idleOnInbox(t, e, "alice")
	const n = 3
	for i := range n {
		msg := sampleMessage(fmt.Sprint("pending ", i), 2000)
		bw, err := e.st.NewBlob()
		if err != nil {
			t.Fatal(err)
		}
		bw.Write([]byte(msg))
		ref, err := bw.Commit()
		if err != nil {
			t.Fatal(err)
		}
		s, err := structure.Compute(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		meta, _ := s.Encode()
		if err := e.st.AddPending(store.Delivery{Blob: ref, Journalists: []string{"alice"}, Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	if released, err := e.st.ReleasePending(); err != nil || released != n {
		t.Fatalf("released %d (%v), want %d", released, err, n)
	}
	select {
	case got := <-exists:
		if got != n {
			t.Errorf("first EXISTS while idling is %d, want all %d at once", got, n)
		}
	case <-time.After(waitLimit):
		t.Fatal("no EXISTS after the release")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}
