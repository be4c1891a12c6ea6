package authn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
)

var testParams = kdf.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestThrottleLocksAfterFailures(t *testing.T) {
	c := &clock{time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Now: c.now})
	for i := 0; i < 4; i++ {
		if th.Failure("alice") {
			t.Fatalf("locked after %d failures", i+1)
		}
		c.t = c.t.Add(time.Second)
	}
	if !th.Failure("alice") || !th.Locked("alice") {
		t.Fatal("not locked after 5 failures in a minute")
	}
	if th.Locked("bob") {
		t.Fatal("lock leaked to another name")
	}
	th.Success("alice") // a success during a lock does not lift it
	c.t = c.t.Add(DefaultLockFor - time.Second)
	if !th.Locked("alice") {
		t.Fatal("lock lifted early")
	}
	c.t = c.t.Add(2 * time.Second)
	if th.Locked("alice") {
		t.Fatal("lock did not expire")
	}
}

func TestThrottleWindowForgetsOldFailures(t *testing.T) {
	c := &clock{time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleOptions{Now: c.now})
	for i := 0; i < 20; i++ {
		if th.Failure("alice") {
			t.Fatalf("locked at failure %d spread over %v", i+1, 20*time.Second*time.Duration(i))
		}
		c.t = c.t.Add(20 * time.Second) // 3 per minute
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
	c.t = c.t.Add(2 * time.Minute)
	for i := 0; i < 5; i++ {
		th.Failure("alice")
	}
	if !th.Locked("alice") {
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
	for i := 0; i < 5; i++ {
		a.Login(ctx, "alice", "wrong")
	}
	if _, err := a.Login(ctx, "alice", "right passphrase"); !errors.Is(err, ErrLocked) || !errors.Is(err, ErrFailed) {
		t.Fatalf("locked login: %v", err)
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
	if a.Throttle.Locked("alice") || len(a.Throttle.names) != 0 {
		t.Fatal("a login that never ran was counted")
	}
}
