package imapd

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fillInbox delivers n messages of the realistic size mix (tools/corpus)
// to alice's INBOX, each its own blob as form submissions are, and returns
// their sizes in delivery (UID) order.
func fillInbox(t testing.TB, e *env, n int) []int {
	t.Helper()
	sizes := realisticSizes(n)
	for i, size := range sizes {
		e.deliver(t, sampleMessage(fmt.Sprintf("bulk %d", i), size), "alice")
	}
	return sizes
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

// A full sync of a large mailbox of the realistic mix, as mbsync makes it:
// SELECT, the flags and sizes of every message, then every body, one
// message at a time. Bodies are streamed from their files; what may grow
// with the mailbox is the per-message index record. n is kept small enough
// for `go test`; BenchmarkMbsyncVsDovecot and tools/bench sync 10,000.
func TestLargeMailbox(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e := newEnv(t, "alice")
	const n = 400
	sizes := fillInbox(t, e, n)
	c := e.login(t, "alice", nil)
	var count int
	var bytes int64
	grew := peakHeap(func() {
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages != n {
			t.Fatalf("SELECT says %d messages, want %d", sel.NumMessages, n)
		}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != n {
			t.Fatalf("FETCH 1:* FLAGS answered %d messages, want %d", len(msgs), n)
		}
		for _, m := range msgs {
			if m.RFC822Size < int64(sizes[m.UID-1]) {
				t.Fatalf("UID %d is %d bytes, want at least %d", m.UID, m.RFC822Size, sizes[m.UID-1])
			}
			got := fetchBodyDiscard(t, c, m.UID)
			if got != m.RFC822Size {
				t.Fatalf("UID %d: BODY[] is %d bytes, RFC822.SIZE %d", m.UID, got, m.RFC822Size)
			}
			bytes += got
			count++
		}
	})
	if count != n {
		t.Fatalf("fetched %d bodies, want %d", count, n)
	}
	t.Logf("heap growth during SELECT, FETCH 1:* and %d bodies (%d MiB): %d KiB", n, bytes>>20, grew>>10)
	// A bound, not a timing, loose enough for the GC's pacing under -race:
	// the index records take well under a MiB, and the bodies total
	// over 50 MiB (TestFetchLargeBodyStreamsFromFile bounds one body's
	// cost precisely).
	if grew > 16<<20 {
		t.Errorf("heap grew %d MiB", grew>>20)
	}
}

// fetchBodyDiscard fetches one message's BODY.PEEK[] by UID, reading the
// literal as it arrives into io.Discard (never whole in the client's
// memory), and returns its length.
func fetchBodyDiscard(t testing.TB, c *imapclient.Client, uid imap.UID) int64 {
	t.Helper()
	return fetchSection(t, c, uid, &imap.FetchItemBodySection{Peek: true})
}

// fetchSection is fetchBodyDiscard for any body section.
func fetchSection(t testing.TB, c *imapclient.Client, uid imap.UID, item *imap.FetchItemBodySection) int64 {
	t.Helper()
	cmd := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{item}})
	defer cmd.Close()
	var n int64
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		for it := m.Next(); it != nil; it = m.Next() {
			if b, ok := it.(imapclient.FetchItemDataBodySection); ok {
				k, err := io.Copy(io.Discard, b.Literal)
				if err != nil {
					t.Fatal(err)
				}
				n += k
			}
		}
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}
