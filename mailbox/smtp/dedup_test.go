package smtpd

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestSameReplySentTwiceStoredOnce: the offline reader may send the same
// outbox twice. The second sending is answered 250 and stores nothing: one
// reply for the source, one team copy for each other journalist; a new
// Message-ID is a new reply, and the same Message-ID to another source is
// that source's reply.
func TestSameReplySentTwiceStoredOnce(t *testing.T) {
	e := newEnv(t)
	msg := thunderbirdPlain(e.src.Address, "ZQXDEDUP", e.keys["jane"])
	for i := range 2 {
		if err := e.send("jane", e.src.Address, msg); err != nil {
			t.Fatalf("sending %d: %v", i+1, err)
		}
	}
	if n := len(e.replies()); n != 1 {
		t.Fatalf("the same reply sent twice: %d replies stored, want 1", n)
	}
	if n := len(e.inbox("alice")); n != 1 {
		t.Errorf("alice got %d team copies, want 1", n)
	}

	other := bytes.Replace(msg, []byte("<0b1c2d3e-aaaa-"), []byte("<1b1c2d3e-aaaa-"), 1)
	if err := e.send("jane", e.src.Address, other); err != nil {
		t.Fatal(err)
	}
	if n := len(e.replies()); n != 2 {
		t.Errorf("a reply with a new Message-ID: %d replies, want 2", n)
	}

	src2, _, _ := e.addSource("placid walrus")
	if err := e.send("jane", src2.Address, thunderbirdPlain(src2.Address, "ZQXDEDUP", e.keys["jane"])); err != nil {
		t.Fatal(err)
	}
	if reps, err := e.st.Replies(src2.ID); err != nil || len(reps) != 1 {
		t.Errorf("the same Message-ID to another source: %d replies (%v), want 1", len(reps), err)
	}
	// Only a keyed hash of the Message-ID is kept.
	e.grepDataDir("0b1c2d3e-aaaa-bbbb-cccc-0123456789ab", "0b1c2d3e")
	if c := e.counted(); c != "" {
		t.Errorf("a duplicate was counted as a failure:\n%s", c)
	}
}

// TestSameReplySentConcurrentlyStoredOnce: two sendings of one reply at the
// same instant (two journalists with copies of one outbox) still store one.
func TestSameReplySentConcurrentlyStoredOnce(t *testing.T) {
	e := newEnv(t)
	msg := thunderbirdPlain(e.src.Address, "ZQXDEDUPC", e.keys["jane"])
	// Logged in first (logins queue for the one argon2 worker), then the
	// four sendings start together.
	var clients []*smtp.Client
	for range 4 {
		clients = append(clients, e.dial("jane"))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	start := make(chan struct{})
	for i, c := range clients {
		wg.Go(func() {
			<-start
			errs[i] = c.SendMail("jane@home.example", []string{e.src.Address}, bytes.NewReader(msg))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("sending %d: %v", i, err)
		}
	}
	if n := len(e.replies()); n != 1 {
		t.Fatalf("one reply sent 4 times at once: %d replies stored, want 1", n)
	}
}

// TestReplyDedupExpiresWithRetention: the record of a reply's Message-ID
// goes with the reply when retention removes it.
func TestReplyDedupExpiresWithRetention(t *testing.T) {
	e := newEnv(t)
	msg := thunderbirdPlain(e.src.Address, "ZQXDEDUPR", e.keys["jane"])
	if err := e.send("jane", e.src.Address, msg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Expire(time.Now().Add(72 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.replies()); n != 0 {
		t.Fatalf("%d replies after retention", n)
	}
	if err := e.send("jane", e.src.Address, msg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.replies()); n != 1 {
		t.Errorf("after retention removed the reply, sending it again stored %d, want 1", n)
	}
}
