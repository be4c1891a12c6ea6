package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"postern/mailbox/store"
)

// ackLog counts, per writer, the submissions the store acknowledged, and wakes
// whoever waits for a count.
type ackLog struct {
	mu     sync.Mutex
	acked  []int
	failed error
	change chan struct{} // closed and replaced at every change
}

func newAckLog(writers int) *ackLog {
	return &ackLog{acked: make([]int, writers), change: make(chan struct{})}
}

func (l *ackLog) note(i int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed = errors.Join(l.failed, err)
	} else {
		l.acked[i]++
	}
	close(l.change)
	l.change = make(chan struct{})
}

// counts returns a copy of the per-writer counts.
func (l *ackLog) counts() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// waitTotal waits until the writers acknowledged total submissions in all, a
// writer failed, or stall passed without reaching it (a delivery blocked by
// whatever the test does meanwhile).
func (l *ackLog) waitTotal(total int, stall time.Duration) error {
	deadline := time.NewTimer(stall)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		sum, failed, change := 0, l.failed, l.change
		for _, n := range l.acked {
			sum += n
		}
		l.mu.Unlock()
		switch {
		case failed != nil:
			return failed
		case sum >= total:
			return nil
		}
		select {
		case <-change:
		case <-deadline.C:
			return fmt.Errorf("deliveries stalled: %d of %d acknowledged after %v", sum, total, stall)
		}
	}
}

// holdWriter passes the backup's stream on and, before its first byte
// (the database copy's tar header: the snapshot's read transaction is
// open), calls first and then hold; if hold fails, so does the Write.
type holdWriter struct {
	w       io.Writer
	first   func()
	hold    func() error
	started bool
	err     error
}

func (h *holdWriter) Write(p []byte) (int, error) {
	if !h.started {
		h.started = true
		h.first()
		h.err = h.hold()
	}
	if h.err != nil {
		return 0, h.err
	}
	return h.w.Write(p)
}

// sourceBlobs groups a mailbox's message blobs by source, in UID order.
func sourceBlobs(t *testing.T, st *store.Store, j string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range mustMessages(t, st, j, "INBOX") {
		out[string(m.SourceID)] = append(out[string(m.SourceID)], m.Blob.ID)
	}
	return out
}

// TestBackupDuringDeliveries: a backup taken while submissions and a source
// deletion go on does not hold them up, and restores to one consistent moment:
// every submission acknowledged before the backup began is there, none that
// began after its snapshot is, nothing is half there, and the source deleted
// meanwhile is whole. The backup is held while its database copy is being
// written (its read transaction open) until the source is deleted and the
// writers have had more submissions acknowledged, so the overlap is certain,
// not left to the scheduler. It used to stall: a write that grew the file
// waited for bbolt's remap, and the deletion's Compact for the read
// transaction, both holding the store's write lock (mailbox/store now maps
// ahead and puts the compaction off until the copy ends).
func TestBackupDuringDeliveries(t *testing.T) {
	const during = 8 // acknowledged while the backup is held
	f := newFixture(t, "ana", "bob")
	st := f.a.Store()
	srcs := []*testSource{f.newSource(t), f.newSource(t)}
	doomed := f.newSource(t)
	for i := range 3 {
		f.submit(t, doomed, fmt.Sprintf("doomed %d", i))
	}
	f.reply(t, doomed, "doomed reply")
	for _, s := range srcs {
		f.submit(t, s, "before")
	}
	acks := newAckLog(len(srcs))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// halt stops the writers and waits for them, also when the test fails early.
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	for i, s := range srcs {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				err := f.trySubmit(s, fmt.Sprintf("writer %d message %d", i, n))
				acks.note(i, err)
				if err != nil {
					return
				}
			}
		})
	}
	if err := acks.waitTotal(4, time.Minute); err != nil {
		t.Fatal(err)
	}
	begun := acks.counts() // acknowledged before the backup began
	var atSnap []int       // acknowledged when the backup's snapshot was taken
	hold := func(w io.Writer) io.Writer {
		return &holdWriter{w: w,
			first: func() { atSnap = acks.counts() },
			hold: func() error {
				// The database copy is under way; the blobs are still to
				// come. The source's deletion shreds its blobs, except those
				// the backup still has to read.
				deleted := make(chan error, 1)
				go func() {
					_, err := f.a.SourceDelete(context.Background(), doomed.rec.Designation)
					deleted <- err
				}()
				sum := 0
				for _, n := range acks.counts() {
					sum += n
				}
				if err := acks.waitTotal(sum+during, time.Minute); err != nil {
					return err
				}
				select {
				case err := <-deleted:
					return err
				case <-time.After(time.Minute):
					return errors.New("the source deletion stalled")
				}
			}}
	}
	key := adminKey(t, "a")
	data := takeBackupVia(t, f.a, key, hold)
	halt()
	final := acks.counts()
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}

	_, b := restoreChecked(t, f.a, data, key)
	rst := b.Store()
	live, got := sourceBlobs(t, st, "ana"), sourceBlobs(t, rst, "ana")
	absent := 0
	for i, s := range srcs {
		l, r := live[string(s.rec.ID)], got[string(s.rec.ID)]
		if len(l) != 1+final[i] {
			t.Fatalf("writer %d: %d acknowledged, the live INBOX holds %d", i, final[i], len(l)-1)
		}
		// A writer submits one after the other: the restore holds a prefix
		// of its submissions, with no gap.
		if len(r) > len(l) || !slices.Equal(r, l[:len(r)]) {
			t.Fatalf("writer %d: the restore's messages are not a prefix of the delivered ones", i)
		}
		k := len(r) - 1
		if k < begun[i] {
			t.Fatalf("writer %d: %d acknowledged before the backup began, the restore holds %d", i, begun[i], k)
		}
		// At most the one in flight when the snapshot was taken can be in.
		if k > atSnap[i]+1 {
			t.Fatalf("writer %d: the restore holds %d, only %d(+1) were acknowledged when the backup's snapshot was taken", i, k, atSnap[i])
		}
		absent += final[i] - k
	}
	if absent < during-len(srcs) {
		t.Fatalf("only %d acknowledged deliveries are newer than the backup, want at least %d", absent, during-len(srcs))
	}
	// The source was deleted after the snapshot: the restore holds all of it.
	if n := len(got[string(doomed.rec.ID)]); n != 3 {
		t.Fatalf("the restore holds %d of the source's 3 messages deleted during the backup", n)
	}
	if n := len(live[string(doomed.rec.ID)]); n != 0 {
		t.Fatalf("the deleted source still has %d messages", n)
	}
	// Each journalist got every submission in one transaction: both INBOXes
	// of the restore hold the same submissions.
	var anaBlobs, bobBlobs []string
	for _, m := range mustMessages(t, rst, "ana", "INBOX") {
		anaBlobs = append(anaBlobs, m.Blob.ID)
	}
	for _, m := range mustMessages(t, rst, "bob", "INBOX") {
		bobBlobs = append(bobBlobs, m.Blob.ID)
	}
	slices.Sort(anaBlobs)
	slices.Sort(bobBlobs)
	if !slices.Equal(anaBlobs, bobBlobs) {
		t.Fatalf("a delivery is half there: ana %d, bob %d", len(anaBlobs), len(bobBlobs))
	}
	t.Logf("acknowledged before the backup %v, at its snapshot %v, at the end %v; %d newer than the restore",
		begun, atSnap, final, absent)
}
