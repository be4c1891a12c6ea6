package tally

import (
	"errors"
	"sync"
	"testing"
)

// Counts survive concurrent adds; Take resets only the fresh view, Total
// keeps everything, and the last error of each kind is kept.
func TestCountsAndTake(t *testing.T) {
	tl := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				tl.Add("b", nil)
			}
		})
	}
	tl.Add("a", errors.New("first"))
	tl.Add("a", errors.New("disk full"))
	tl.Add("a", nil)
	wg.Wait()
	got := tl.Take()
	if len(got) != 2 || got[0] != (Entry{"a", 3, "disk full"}) || got[1] != (Entry{"b", 800, ""}) {
		t.Fatalf("Take = %+v", got)
	}
	if again := tl.Take(); len(again) != 0 {
		t.Fatalf("second Take = %+v, want nothing", again)
	}
	tl.Add("b", nil)
	if tot := tl.Total(); len(tot) != 2 || tot[1].Count != 801 {
		t.Fatalf("Total = %+v", tot)
	}
}

// A nil Tally counts nothing and does not panic.
func TestNilTally(t *testing.T) {
	var tl *Tally
	tl.Add("x", errors.New("y"))
	if tl.Take() != nil || tl.Total() != nil {
		t.Fatal("a nil Tally reported something")
	}
}
