package smtpd

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/reply"
	"postern/mailbox/store"
)

// heldCounter is a processor wrapper that counts the replies being stored
// at once, each held in memory whole, and keeps them there until released.
type heldCounter struct {
	inner         processor
	mu            sync.Mutex
	now, most     int
	release       chan struct{}
	reached       chan struct{} // closed when now first reaches limit
	limit         int
	closedReached bool
}

func (h *heldCounter) Process(ctx context.Context, r reply.Reply) error {
	h.mu.Lock()
	h.now++
	h.most = max(h.most, h.now)
	if h.now >= h.limit && !h.closedReached {
		h.closedReached = true
		close(h.reached)
	}
	h.mu.Unlock()
	<-h.release
	err := h.inner.Process(ctx, r)
	h.mu.Lock()
	h.now--
	h.mu.Unlock()
	return err
}

func (h *heldCounter) held() (now, most int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now, h.most
}

// Several journalists send 1–5 MiB replies at once, three times
// MaxInFlight: no more than MaxInFlight are ever held in memory at once;
// every reply is stored once, every copy delivered, and the store stays
// consistent.
func TestConcurrentRepliesHeldAtMostMaxInFlight(t *testing.T) {
	const limit, n = 2, 6
	h := &heldCounter{release: make(chan struct{}), reached: make(chan struct{}), limit: limit}
	e := newEnv(t, func(o *Options) {
		o.MaxInFlight = limit
		o.wrapProc = func(p processor) processor { h.inner = p; return h }
	})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	names := []string{"alice", "bob", "jane"}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.dial(names[i%3])
			body := strings.Repeat(fmt.Sprintf("reply number %d, a long one.\n", i), (1+i%5)<<20/28)
			errs <- c.SendMail("x@home.example", []string{e.src.Address},
				strings.NewReader(string(crlf(fmt.Sprintf("Subject: r%d\n\n%s", i, body)))))
		}()
	}
	// The limit is reached; the other four replies are on their way. Give
	// them every chance to get in too (a server without the limit lets
	// them in within milliseconds), then let everything through.
	select {
	case <-h.reached:
	case <-time.After(time.Minute):
		now, _ := h.held()
		t.Fatalf("only %d replies reached the store in a minute", now)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, most := h.held(); most > limit {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(h.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, most := h.held(); most > limit {
		t.Fatalf("%d replies held in memory at once, MaxInFlight is %d", most, limit)
	}
	reps := e.replies()
	if len(reps) != n {
		t.Fatalf("%d replies, want %d", len(reps), n)
	}
	// Each journalist sent 2 and gets the 4 of the others.
	for _, name := range names {
		if got := len(e.inbox(name)); got != n-n/3 {
			t.Errorf("%s has %d copies, want %d", name, got, n-n/3)
		}
	}
	if err := e.st.Check(); err != nil {
		t.Fatal(err)
	}
}

// With one journalist there is no team to copy; with a lapsed key a
// journalist is left out of the copy, not the whole reply refused.
func TestCopyRecipients(t *testing.T) {
	e := newEnv(t)
	if err := e.st.UpdateJournalist("bob", func(j *store.Journalist) error {
		j.PublicKey = []byte("not a key any more")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.send("jane", e.src.Address, crlf("Subject: s\n\nhello\n")); err != nil {
		t.Fatal(err)
	}
	if len(e.inbox("alice")) != 1 || len(e.inbox("bob")) != 0 || len(e.inbox("jane")) != 0 {
		t.Fatalf("copies: alice %d bob %d jane %d", len(e.inbox("alice")), len(e.inbox("bob")), len(e.inbox("jane")))
	}
	for _, name := range []string{"alice", "bob"} {
		if err := e.st.RemoveJournalist(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.send("jane", e.src.Address, crlf("Subject: s\n\nalone now\n")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.replies()); n != 2 {
		t.Fatalf("%d replies", n)
	}
	if err := e.st.Check(); err != nil {
		t.Fatal(err)
	}
}

// The offline archive key can read the team's copy, as it can read every
// submission; it never receives the source's reply.
func TestArchiveKeyGetsCopy(t *testing.T) {
	archive, err := pgp.DeriveKey(randomBytes(t, 32), "archive <archive@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.ArchiveKey = archive })
	if err := e.send("jane", e.src.Address, crlf("Subject: s\n\narchived words\n")); err != nil {
		t.Fatal(err)
	}
	box := e.inbox("alice")
	if len(box) != 1 {
		t.Fatalf("%d copies", len(box))
	}
	d, err := pgpmime.Decrypt(bytes.NewReader(box[0]), openpgp.EntityList{archive})
	if err != nil || !strings.Contains(d.Text, "archived words") {
		t.Fatalf("archive key cannot read the copy: %v", err)
	}
	stored, _ := e.st.Replies(e.src.ID)
	if _, err := pgpmime.Decrypt(bytes.NewReader(e.blob(stored[0].Blob.ID)), openpgp.EntityList{archive}); err == nil {
		t.Fatal("the archive key reads the source's reply")
	}
}
