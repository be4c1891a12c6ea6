package authn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
)

var testParams = kdf.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestThrottleDelayGrowsAndCaps checks the delay per name: nothing for the
// first failures, then doubling up to the cap, per name, forgotten after a
// quiet while or a verified success.
func TestThrottleDelayGrowsAndCaps(t *testing.T) {
	c := &clock{time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Now: c.now})
	var got []time.Duration
	for range 8 {
		th.Failure("alice")
		got = append(got, th.Delay("alice"))
		c.t = c.t.Add(time.Second)
	}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("delays after each failure %v, want %v", got, want)
	}
	if th.Delay("bob") != 0 {
		t.Fatal("delay leaked to another name")
	}
	if l := th.Locks(); len(l) != 1 || l[0].Name != "alice" || l[0].Failures != 8 || l[0].Delay != DefaultMaxDelay {
		t.Fatalf("Locks() = %+v", l)
	}
	c.t = c.t.Add(DefaultForget)
	if th.Delay("alice") != 0 || len(th.Locks()) != 0 {
		t.Fatal("failures not forgotten after a quiet while")
	}
	for range 5 {
		th.Failure("alice")
	}
	th.Success("alice")
	if th.Delay("alice") != 0 {
		t.Fatal("a verified success did not clear the delay")
	}
}

// TestThrottleSerializesParallelGuesses protects against bypassing the
// delay with many connections: attempts for one name are checked one at a
// time, each counted before the next starts, however many arrive at once.
func TestThrottleSerializesParallelGuesses(t *testing.T) {
	th := NewThrottle(ThrottleOptions{Step: time.Microsecond, MaxDelay: 4 * time.Microsecond})
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			release, err := th.Acquire(context.Background(), "alice")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			th.Failure("alice")
			inside.Add(-1)
			release()
		})
	}
	wg.Wait()
	if m := most.Load(); m != 1 {
		t.Fatalf("%d guesses for one name were checked at once, want 1", m)
	}
	if l := th.Locks(); len(l) != 1 || l[0].Failures != 50 || l[0].Delay != 4*time.Microsecond {
		t.Fatalf("Locks() = %+v", l)
	}
	// While one attempt is checked, another for the name cannot start;
	// one for another name can.
	release, err := th.Acquire(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := th.Acquire(ctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a second attempt started while the first was checked: %v", err)
	}
	if rb, err := th.Acquire(context.Background(), "bob"); err != nil {
		t.Fatalf("another name waited: %v", err)
	} else {
		rb()
	}
	release()
}

// TestThrottleAbandonedAttemptsLeaveNoTrace: attempts that give up waiting
// (a connection's deadline) do not push the name's next turn further away,
// so they cannot be used to lock a name out by the back door.
func TestThrottleAbandonedAttemptsLeaveNoTrace(t *testing.T) {
	c := &clock{time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Now: c.now})
	for range 6 {
		th.Failure("alice")
	}
	r := th.names["alice"]
	before := th.wait(r)
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		th.Acquire(ctx, "alice")
	}
	if w := th.wait(r); w != before || w != DefaultMaxDelay {
		t.Fatalf("after 100 abandoned attempts the next turn is %v away, was %v", w, before)
	}
	if r.users != 0 || len(r.turn) != 0 {
		t.Fatalf("abandoned attempts left users=%d turn=%d", r.users, len(r.turn))
	}
}

// TestThrottleWaitIsBounded: an attempt queued behind guesses that hold
// the name's turn is checked after MaxWait anyway, so guessers keeping
// connections queued cannot hold the journalist's login past a client's
// timeout.
func TestThrottleWaitIsBounded(t *testing.T) {
	th := NewThrottle(ThrottleOptions{MaxWait: time.Millisecond})
	for range 6 {
		th.Failure("alice")
	}
	guess, err := th.Acquire(context.Background(), "alice") // waits the spacing, at most MaxWait
	if err != nil {
		t.Fatal(err)
	}
	mine, err := th.Acquire(context.Background(), "alice")
	if err != nil {
		t.Fatalf("an attempt queued behind a guess: %v", err)
	}
	mine()
	guess()
	if r := th.names["alice"]; r == nil || r.users != 0 || len(r.turn) != 0 {
		t.Fatalf("record after both attempts: %+v", r)
	}
}

func TestThrottleBoundsNames(t *testing.T) {
	c := &clock{time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Now: c.now, MaxNames: 10})
	for i := 0; i < 100; i++ {
		th.Failure(fmt.Sprint("invented", i))
	}
	if n := len(th.names); n > 10 {
		t.Fatalf("%d names tracked, limit 10", n)
	}
	c.t = c.t.Add(DefaultForget + time.Minute)
	for i := 0; i < 5; i++ {
		th.Failure("alice")
	}
	if th.Delay("alice") == 0 {
		t.Fatal("a real name could not be tracked after old invented ones expired")
	}
}

func newAuth(t *testing.T) (*Authenticator, *store.Store) {
	t.Helper()
	st, err := store.Init(filepath.Join(t.TempDir(), "data"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pool := kdf.NewPool(kdf.PoolOptions{Workers: 1})
	h, err := pool.HashPassword(context.Background(), "right passphrase", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddJournalist(store.Journalist{Name: "alice", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddJournalist(store.Journalist{Name: "broken", PasswordHash: "$argon2id$garbage"}); err != nil {
		t.Fatal(err)
	}
	return &Authenticator{Store: st, Pool: pool, Throttle: NewThrottle(ThrottleOptions{}), DummyParams: testParams}, st
}

func TestLogin(t *testing.T) {
	a, _ := newAuth(t)
	ctx := context.Background()
	j, err := a.Login(ctx, "alice", "right passphrase")
	if err != nil || j.Name != "alice" {
		t.Fatalf("good login: %v %+v", err, j)
	}
	for _, tc := range []struct{ name, pass string }{
		{"alice", "wrong"},
		{"alice", ""},
		{"nobody", "right passphrase"},
		{"broken", "anything"},
		{string(make([]byte, 1000)), "x"},
	} {
		if _, err := a.Login(ctx, tc.name, tc.pass); !errors.Is(err, ErrFailed) {
			t.Errorf("%.10q/%q: err = %v, want ErrFailed", tc.name, tc.pass, err)
		}
	}
}

// TestRightPassphraseAcceptedWhileSlowed protects against the lockout of
// issue 12 finding 7: after many wrong guesses the right passphrase is still
// accepted (after its turn), and the wrong ones were slowed.
func TestRightPassphraseAcceptedWhileSlowed(t *testing.T) {
	a, _ := newAuth(t)
	a.CacheSize = -1 // every attempt reaches the throttle
	a.Throttle = NewThrottle(ThrottleOptions{Step: time.Millisecond, MaxDelay: 4 * time.Millisecond})
	ctx := context.Background()
	for range 10 {
		if _, err := a.Login(ctx, "alice", "wrong"); !errors.Is(err, ErrFailed) {
			t.Fatalf("wrong passphrase: %v", err)
		}
	}
	if d := a.Throttle.Delay("alice"); d != 4*time.Millisecond {
		t.Fatalf("after 10 failures the delay is %v, want the cap", d)
	}
	if j, err := a.Login(ctx, "alice", "right passphrase"); err != nil || j.Name != "alice" {
		t.Fatalf("right passphrase refused after guesses: %v", err)
	}
	if a.Throttle.Delay("alice") != 0 {
		t.Fatal("a verified login did not clear the delay")
	}
}

// TestThrottleKeepsNamesShort protects the throttle's memory: a failed login
// with a name longer than any journalist's is recorded under its first
// maxNameLen bytes, so invented names cannot each hold a large record.
func TestThrottleKeepsNamesShort(t *testing.T) {
	a, _ := newAuth(t)
	a.CacheSize = -1
	long := strings.Repeat("x", 64<<10)
	if _, err := a.Login(context.Background(), long, "x"); !errors.Is(err, ErrFailed) {
		t.Fatalf("long name: %v", err)
	}
	a.Throttle.mu.Lock()
	defer a.Throttle.mu.Unlock()
	if len(a.Throttle.names) != 1 {
		t.Fatalf("throttle holds %d records, want 1", len(a.Throttle.names))
	}
	for name := range a.Throttle.names {
		if len(name) > maxNameLen {
			t.Fatalf("throttle record keyed on %d bytes, want at most %d", len(name), maxNameLen)
		}
	}
}

func TestLoginBusyIsNotAFailure(t *testing.T) {
	a, _ := newAuth(t)
	a.Pool = kdf.NewPool(kdf.PoolOptions{Workers: 1, Queue: -1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Login(ctx, "alice", "wrong"); err == nil || errors.Is(err, ErrFailed) {
		t.Fatalf("cancelled login: %v", err)
	}
	if a.Throttle.Delay("alice") != 0 || len(a.Throttle.names) != 0 {
		t.Fatal("a login that never ran was counted")
	}
}
