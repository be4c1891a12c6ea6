package imapd

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// fillInbox makes n messages in alice's INBOX sharing one blob, by
// doubling with COPY in the store (a few transactions instead of n).
func fillInbox(t testing.TB, e *env, n int) {
	t.Helper()
	e.deliver(t, sampleMessage("bulk", 2000), "alice")
	for have := 1; have < n; {
		msgs, err := e.st.Messages("alice", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		var uids []uint32
		for _, m := range msgs[:min(len(msgs), n-have)] {
			uids = append(uids, m.UID)
		}
		if _, err := e.st.Copy("alice", "INBOX", uids, "INBOX"); err != nil {
			t.Fatal(err)
		}
		have += len(uids)
	}
}

// peakHeap runs fn and returns the highest heap in use seen meanwhile,
// above the heap in use before.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// A full sync of a large mailbox: SELECT and FETCH 1:* of what Thunderbird
// asks for first. Bodies are streamed; what grows with the mailbox is the
// per-message index record (store.Messages loads the whole list).
func TestLargeMailbox(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e := newEnv(t, "alice")
	const n = 10000
	fillInbox(t, e, n)
	c := e.login(t, "alice", nil)
	var count int
	grew := peakHeap(func() {
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages != n {
			t.Fatalf("SELECT says %d messages, want %d", sel.NumMessages, n)
		}
		cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, RFC822Size: true, Envelope: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "Subject", "Message-ID"}}},
		})
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			if _, err := m.Collect(); err != nil {
				t.Fatal(err)
			}
			count++
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
	})
	if count != n {
		t.Fatalf("fetched %d messages, want %d", count, n)
	}
	t.Logf("heap growth during SELECT + FETCH 1:* of %d messages: %d KiB", n, grew>>10)
	// A bound, not a timing: 10,000 index records with their cached
	// structure take a few MiB; a server buffering bodies would take more.
	if grew > 64<<20 {
		t.Errorf("heap grew %d MiB", grew>>20)
	}
}
