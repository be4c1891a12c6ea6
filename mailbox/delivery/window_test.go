package delivery

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

// windowed returns a Deliverer with a ten-minute window whose boundaries
// come when the test sends on tick, its Run started, and a channel of the
// store's new-message events.
func (e *env) windowed(t *testing.T) (d *Deliverer, tick chan time.Time, news chan store.Event) {
	t.Helper()
	tick = make(chan time.Time)
	d = New(Options{Store: e.st, Domain: domain, Window: 10 * time.Minute,
		After: func(time.Duration) <-chan time.Time { return tick }})
	news = make(chan store.Event, 100)
	cancelSub := e.st.Subscribe(func(ev store.Event) {
		if ev.Kind == store.EventNew {
			news <- ev
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; cancelSub() })
	return d, tick, news
}

func (e *env) submit(t *testing.T, d *Deliverer, subject, text string) {
	t.Helper()
	ctx := context.Background()
	tx, err := d.Start(ctx, Submission{Source: e.src, SourceKey: e.srcKey, Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if err := tx.Text(text); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWindowReleasesTogetherInRandomOrder protects the batching of
// deliveries: submissions acknowledged during a window reach no mailbox
// and wake no IMAP session until the boundary, then all arrive in one
// commit, with UIDs in an order that does not follow their arrival.
func TestWindowReleasesTogetherInRandomOrder(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	d, tick, news := e.windowed(t)
	const n = 16
	for i := range n {
		e.submit(t, d, strconv.Itoa(i), strings.Repeat(fmt.Sprintf("submission %d ", i), 400))
	}
	if got := len(e.inbox(t, "alice")) + len(e.inbox(t, "bob")); got != 0 {
		t.Fatalf("%d messages in the mailboxes before the window ended", got)
	}
	if p, err := e.st.PendingCount(); err != nil || p != n {
		t.Fatalf("pending %d (%v), want %d", p, err, n)
	}
	select {
	case ev := <-news:
		t.Fatalf("IMAP would be told before the window ended: %+v", ev)
	default:
	}
	if err := e.st.Check(); err != nil {
		t.Fatalf("check with pending deliveries: %v", err)
	}

	tick <- time.Now()
	got := map[string][]uint32{}
	for len(got["alice"]) < n || len(got["bob"]) < n {
		select {
		case ev := <-news:
			got[ev.Journalist] = append(got[ev.Journalist], ev.UIDs...)
		case <-time.After(time.Minute):
			t.Fatalf("no release after the boundary: %v", got)
		}
	}
	if p, _ := e.st.PendingCount(); p != 0 {
		t.Errorf("%d still pending after the release", p)
	}
	for _, j := range []string{"alice", "bob"} {
		msgs := e.inbox(t, j)
		if len(msgs) != n {
			t.Fatalf("%s: %d messages, want %d", j, len(msgs), n)
		}
		var order []int
		for _, m := range msgs {
			i, err := strconv.Atoi(e.decrypt(t, m, e.keys[j]).Subject)
			if err != nil {
				t.Fatal(err)
			}
			order = append(order, i)
		}
		if slices.IsSorted(order) {
			t.Errorf("%s: UIDs follow the arrival order %v", j, order)
		}
	}
	if err := e.st.Check(); err != nil {
		t.Errorf("check after release: %v", err)
	}
	// The next window starts empty: a submission now waits again.
	e.submit(t, d, "late", "after the release")
	if p, _ := e.st.PendingCount(); p != 1 || len(e.inbox(t, "alice")) != n {
		t.Errorf("a submission after the release: pending %d, alice %d messages", p, len(e.inbox(t, "alice")))
	}
}

// TestNoWindowDeliversAtOnce: with Window 0 a submission is in the
// mailboxes when Commit returns, and Run releases what an earlier run with
// a window left pending.
func TestNoWindowDeliversAtOnce(t *testing.T) {
	e := newEnv(t, "alice")
	held, tick, _ := e.windowed(t)
	_ = tick
	e.submit(t, held, "held", "during a window")
	now := New(Options{Store: e.st, Domain: domain})
	e.submit(t, now, "at once", "no window")
	if msgs := e.inbox(t, "alice"); len(msgs) != 1 {
		t.Fatalf("alice has %d messages, want the one sent without window", len(msgs))
	}
	now.Run(context.Background())
	if msgs := e.inbox(t, "alice"); len(msgs) != 2 {
		t.Fatalf("after Run without window alice has %d messages, want 2", len(msgs))
	}
}

// TestPendingSurvivesRestartAndSourceDeletion: a pending submission is in
// the database (a crash loses nothing acknowledged), and deleting its
// source takes it and its blob away.
func TestPendingSurvivesRestartAndSourceDeletion(t *testing.T) {
	e := newEnv(t, "alice")
	d, _, _ := e.windowed(t)
	e.submit(t, d, "kept", "through a restart")
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(e.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	if p, err := st.PendingCount(); err != nil || p != 1 {
		t.Fatalf("after reopening: pending %d (%v), want 1", p, err)
	}
	if err := st.Check(); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := st.DeleteSourceIfUnused(e.src.ID); err == nil {
		t.Fatal("a source with a pending submission counted as unused")
	}
	if err := st.DeleteSource(e.src.ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := st.PendingCount(); p != 0 {
		t.Errorf("pending %d after deleting the source", p)
	}
	e.assertEmpty(t)
}

// TestCanaryIgnoresWindow: relay selftest's canary is delivered at once even
// while submissions wait for the window (a monitor cannot wait ten minutes),
// and only to the account it is for.
func TestCanaryIgnoresWindow(t *testing.T) {
	e := newEnv(t, "alice")
	d, _, _ := e.windowed(t)
	key := deriveKey(t, "selftest canary", "selftest <selftest@"+domain+">")
	if err := e.st.AddJournalist(store.Journalist{Name: "_selftest", System: true, PublicKey: pgp.Serialize(key)}); err != nil {
		t.Fatal(err)
	}
	tx, err := d.StartCanary(context.Background(), "_selftest", key)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text("canary\n"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if msgs := e.inbox(t, "_selftest"); len(msgs) != 1 {
		t.Fatalf("the canary account holds %d messages during the window, want 1", len(msgs))
	}
	if p, err := e.st.PendingCount(); err != nil || p != 0 {
		t.Fatalf("pending %d (%v), want 0", p, err)
	}
	if msgs := e.inbox(t, "alice"); len(msgs) != 0 {
		t.Fatalf("alice got %d messages from the canary", len(msgs))
	}
}
