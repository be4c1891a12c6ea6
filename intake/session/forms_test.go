package session

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One GET must not feed a flood: a form token is accepted once, and only
// once even when the replays arrive all at the same instant.
func TestFormTokenSpendsOnce(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	f := NewForms(time.Hour, c.now)
	tok := f.Token()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if f.Check(tok) && f.Spend(tok) {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("one token was spent %d times", n)
	}
	if f.Check(tok) || f.Spend(tok) {
		t.Fatal("a spent token is still accepted")
	}
	if other := f.Token(); !f.Spend(other) {
		t.Fatal("a fresh token was refused")
	}
	// After expiry the record of spent tokens empties, and the token stays
	// refused by its age alone.
	c.add(2 * time.Hour)
	f.Spend(f.Token())
	f.mu.Lock()
	n := f.nSpent
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d spent tokens remembered after expiry, want 1", n)
	}
	if f.Spend(tok) {
		t.Fatal("an expired token was accepted")
	}
}

// A flood of spends keeps the record within its bound, and dropping the
// oldest part of the record never makes one of its tokens spendable again.
func TestFormSpentRecordBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	f := newForms(time.Hour, c.now, 100)
	old := f.Token()
	if !f.Spend(old) {
		t.Fatal("fresh token refused")
	}
	unspentOld := f.Token()
	c.add(time.Minute)
	for range 1000 { // 17 minutes of flood, 60 spends a minute
		c.add(time.Second)
		if !f.Spend(f.Token()) {
			t.Fatal("a fresh token was refused during the flood")
		}
	}
	f.mu.Lock()
	n := f.nSpent
	f.mu.Unlock()
	if n > 100 {
		t.Fatalf("%d spent tokens remembered, bound 100", n)
	}
	if f.Check(old) || f.Spend(old) {
		t.Fatal("a spent token whose record was dropped is accepted again")
	}
	if f.Spend(unspentOld) {
		t.Fatal("a token older than the record's floor was accepted")
	}
}

// A session's own form token is reusable, so a session admits one codename
// derivation at a time.
func TestSessionOneDerivationAtATime(t *testing.T) {
	s, _, _ := New(Options{}).Create(nil)
	done, ok := s.TryDerive()
	if !ok {
		t.Fatal("first derivation refused")
	}
	if _, ok := s.TryDerive(); ok {
		t.Fatal("a second derivation ran alongside the first")
	}
	done()
	if done, ok := s.TryDerive(); !ok {
		t.Fatal("refused after the first ended")
	} else {
		done()
	}
}
