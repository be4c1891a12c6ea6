package smtpd

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

// Several journalists reply at once, more than MaxInFlight: every reply is
// stored once, every copy delivered, and the store stays consistent.
func TestConcurrentReplies(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxInFlight = 2 })
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	names := []string{"alice", "bob", "jane"}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.dial(names[i%3])
			errs <- c.SendMail("x@home.example", []string{e.src.Address},
				strings.NewReader(string(crlf(fmt.Sprintf("Subject: r%d\n\nreply number %d\n", i, i)))))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
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
