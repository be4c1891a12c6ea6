package kdf

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
)

// heapHeld is the memory the heap holds from the system: in use, or free
// but not yet returned.
func heapHeld() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapSys - ms.HeapReleased
}

// A derivation's memory (64 MiB with the relay's parameters) goes back to
// the system when the derivation ends, instead of staying with the process
// until later collections and the background scavenger get to it: a
// journalist's login left the relay 100 MiB above idle through a whole sync.
func TestKeyReturnsItsMemory(t *testing.T) {
	p := NewPool(PoolOptions{Workers: 1})
	pr := Params{Time: 1, MemoryKiB: 64 * 1024, Threads: 1}
	debug.FreeOSMemory()
	before := heapHeld()
	if _, err := p.Key(context.Background(), []byte("correct horse battery staple"), make([]byte, 16), pr, 32); err != nil {
		t.Fatal(err)
	}
	after := heapHeld()
	grew := int64(after) - int64(before)
	t.Logf("heap held from the system after a %d MiB derivation: %+d KiB", pr.MemoryKiB>>10, grew>>10)
	if grew > 16<<20 {
		t.Errorf("the heap still holds %d MiB after the derivation", grew>>20)
	}
}
