package kdf

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testParams are cheap parameters for tests that are not about the real cost.
func testParams() Params { return Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1} }

// TestPoolBound saturates the pool with blocking jobs and checks that never
// more than Workers run at once, that Queue more wait, and that the next
// request is refused at once with ErrBusy.
func TestPoolBound(t *testing.T) {
	const workers, queue = 2, 3
	p := NewPool(PoolOptions{Workers: workers, Queue: queue, Wait: time.Hour})
	ctx := context.Background()

	var inFlight, maxInFlight atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, workers+queue)
	job := func() {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		inFlight.Add(-1)
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers+queue)
	for range workers + queue {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.do(ctx, job)
		}()
	}
	// Wait until the workers are busy and the queue is full: every ticket taken.
	for range workers {
		<-started
	}
	for len(p.tickets) < workers+queue {
		time.Sleep(time.Millisecond)
	}
	if got := inFlight.Load(); got != workers {
		t.Fatalf("in flight = %d, want %d", got, workers)
	}
	if err := p.do(ctx, func() { t.Error("ran a job past the bound") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("saturated pool: err = %v, want ErrBusy", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("queued job: %v", err)
		}
	}
	if m := maxInFlight.Load(); m != workers {
		t.Errorf("max in flight = %d, want %d", m, workers)
	}
	// Everything released: the pool accepts work again.
	if err := p.do(ctx, func() {}); err != nil {
		t.Errorf("after drain: %v", err)
	}
}

// TestPoolWaitExpires: a queued request whose wait runs out is busy and never runs.
func TestPoolWaitExpires(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 1, Queue: 1, Wait: 20 * time.Millisecond})
	release := make(chan struct{})
	running := make(chan struct{})
	done := make(chan error)
	go func() { done <- p.do(context.Background(), func() { close(running); <-release }) }()
	<-running
	err := p.do(context.Background(), func() { t.Error("ran after wait expired") })
	if !errors.Is(err, ErrBusy) {
		t.Errorf("err = %v, want ErrBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPoolNoQueue: with Queue < 0 a request either runs at once or is busy.
func TestPoolNoQueue(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 1, Queue: -1, Wait: time.Hour})
	release := make(chan struct{})
	running := make(chan struct{})
	done := make(chan error)
	go func() { done <- p.do(context.Background(), func() { close(running); <-release }) }()
	<-running
	if err := p.do(context.Background(), func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("err = %v, want ErrBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPoolContextCancel: a caller that gives up while queued gets ctx.Err()
// and its job never runs; an already cancelled context is refused up front.
func TestPoolContextCancel(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 1, Queue: 4, Wait: time.Hour})
	release := make(chan struct{})
	running := make(chan struct{})
	done := make(chan error)
	go func() { done <- p.do(context.Background(), func() { close(running); <-release }) }()
	<-running

	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error)
	go func() { queued <- p.do(ctx, func() { t.Error("cancelled job ran") }) }()
	for len(p.tickets) < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Errorf("queued: err = %v, want context.Canceled", err)
	}
	if _, err := p.Key(ctx, []byte("x"), make([]byte, 16), testParams(), 32); !errors.Is(err, context.Canceled) {
		t.Errorf("Key with cancelled ctx: err = %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(p.tickets); n != 0 {
		t.Errorf("tickets leaked: %d", n)
	}
}

func TestNewPoolDefaults(t *testing.T) {
	p := NewPool(PoolOptions{})
	if cap(p.slots) < 1 || cap(p.tickets) != cap(p.slots)+DefaultQueue || p.wait != DefaultWait {
		t.Errorf("defaults: slots %d tickets %d wait %v", cap(p.slots), cap(p.tickets), p.wait)
	}
}

// TestKeyDeterministic: same inputs, same
// key; a different salt, secret or parameter, a different key.
func TestKeyDeterministic(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 1})
	ctx := context.Background()
	salt := bytes.Repeat([]byte{7}, 16)
	a, err := p.Key(ctx, []byte("secret"), salt, testParams(), 32)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Key(ctx, []byte("secret"), salt, testParams(), 32)
	if !bytes.Equal(a, b) || len(a) != 32 {
		t.Fatalf("not deterministic: %x %x", a, b)
	}
	c, _ := p.Key(ctx, []byte("secret"), bytes.Repeat([]byte{8}, 16), testParams(), 32)
	pr := testParams()
	pr.Time = 2
	d, _ := p.Key(ctx, []byte("secret"), salt, pr, 32)
	if bytes.Equal(a, c) || bytes.Equal(a, d) {
		t.Error("salt or params do not change the key")
	}
}

func TestKeyRefusesBadInput(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 1})
	ctx := context.Background()
	salt := make([]byte, 16)
	bad := []struct {
		name   string
		secret []byte
		salt   []byte
		pr     Params
		n      int
	}{
		{"time 0", nil, salt, Params{0, 8192, 1}, 32},
		{"time 21", nil, salt, Params{21, 8192, 1}, 32},
		{"memory small", nil, salt, Params{1, 1024, 1}, 32},
		{"memory 2GiB", nil, salt, Params{1, 2 << 20, 1}, 32},
		{"threads 0", nil, salt, Params{1, 8192, 0}, 32},
		{"threads 255", nil, salt, Params{1, 8192, 255}, 32},
		{"short salt", nil, salt[:4], testParams(), 32},
		{"long salt", nil, make([]byte, 65), testParams(), 32},
		{"short key", nil, salt, testParams(), 8},
		{"long key", nil, salt, testParams(), 65},
		{"long secret", make([]byte, MaxSecretLen+1), salt, testParams(), 32},
	}
	for _, c := range bad {
		if _, err := p.Key(ctx, c.secret, c.salt, c.pr, c.n); !errors.Is(err, ErrParams) {
			t.Errorf("%s: err = %v, want ErrParams", c.name, err)
		}
	}
	for _, pr := range []Params{DefaultSourceParams(), DefaultPasswordParams()} {
		if err := pr.Validate(); err != nil {
			t.Errorf("default %+v invalid: %v", pr, err)
		}
	}
}
