package imapd

import (
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/emersion/go-imap/v2"

	"postern/tools/corpus"
)

// allocated returns the bytes this process allocated while fn ran (the
// runtime's cumulative count, so it does not depend on when the GC runs).
func allocated(fn func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	fn()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// A 5 MiB message's BODY[] (and its sections and partial ranges) is
// streamed from the blob file: fetching it allocates a small fraction of
// its size, in the server and in this test's client together, which reads
// the literal into io.Discard as it arrives.
func TestFetchLargeBodyStreamsFromFile(t *testing.T) {
	e := newEnv(t, "alice")
	e.deliver(t, sampleMessage("large", corpus.Large), "alice")
	c := e.login(t, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fetchBodyDiscard(t, c, 1) // warm-up: structure cache, buffers
	for _, tc := range []struct {
		name string
		item *imap.FetchItemBodySection
		min  int64
	}{
		{"BODY[]", &imap.FetchItemBodySection{Peek: true}, corpus.Large},
		{"BODY[TEXT]", &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierText}, corpus.Large},
		{"BODY[2]", &imap.FetchItemBodySection{Peek: true, Part: []int{2}}, corpus.Large},
		{"BODY[]<0.4000000>", &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: 4000000}}, 4000000},
	} {
		var n int64
		a := allocated(func() { n = fetchSection(t, c, 1, tc.item) })
		if n < tc.min {
			t.Fatalf("%s: %d bytes, want at least %d", tc.name, n, tc.min)
		}
		t.Logf("%s: %d bytes, %d KiB allocated", tc.name, n, a>>10)
		if a > 512<<10 {
			t.Errorf("%s: fetching %d bytes allocated %d KiB; the body is not streamed", tc.name, n, a>>10)
		}
	}
}

// fillCopies makes n messages in alice's INBOX sharing one blob, by
// doubling with COPY in the store (a few transactions instead of n): for
// tests about the per-message index, where the bodies do not matter.
func fillCopies(t testing.TB, e *env, n int) {
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

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// What a selected mailbox keeps in memory grows by little per message: the
// UID, size, flags and blob name, not each message's cached structure
// (Meta, about 1 KiB), which FETCH reads from the store when it needs it.
func TestSelectedMailboxIndexIsSmall(t *testing.T) {
	e := newEnv(t, "alice")
	const n = 4000
	fillCopies(t, e, n)
	c := e.login(t, "alice", nil)
	before := liveHeap()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	after := liveHeap()
	if sel.NumMessages != n {
		t.Fatalf("SELECT says %d messages, want %d", sel.NumMessages, n)
	}
	per := int64(after-before) / n
	t.Logf("a selected mailbox of %d messages holds %d bytes a message", n, per)
	if per > 256 {
		t.Errorf("a selected mailbox holds %d bytes a message, want at most 256", per)
	}
	// The structure is still served, read from the store.
	msgs, err := c.Fetch(imap.SeqSetNum(n), &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Envelope == nil || msgs[0].Envelope.Subject != "bulk" || msgs[0].BodyStructure == nil {
		t.Fatalf("FETCH ENVELOPE BODYSTRUCTURE of the last message: %+v", msgs)
	}
}
